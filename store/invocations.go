package store

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// RecordAsync queues inv for the next group commit and returns; it blocks
// only while the write queue (Options.MaxBatch entries) is full. done, which
// may be nil, runs once on the writer goroutine after the commit that made
// inv durable, with its ID, or with the error that kept it from being stored
// (ErrInvalidRecord, ErrClosed, a commit error). done must return quickly:
// the next commit waits for it. After Close, and for an invalid record, done
// runs before RecordAsync returns.
//
// The store assigns inv.ID, sets a zero StartedAt to now and cuts the
// request and response bodies to MaxBodyBytes. inv is encoded before
// RecordAsync returns, so the caller may reuse it.
func (s *Store) RecordAsync(inv Invocation, done func(id string, err error)) {
	r, err := s.invocationReq(inv)
	if err == nil {
		r.done = done
		if s.enqueue(nil, r) {
			return
		}
		err = ErrClosed
	}
	if done != nil {
		done("", err)
	}
}

// Record stores inv like RecordAsync, through the same writer, and returns
// its ID once it is durable. If ctx ends while the write is queued, Record
// returns ctx's error and the write may still be committed.
func (s *Store) Record(ctx context.Context, inv Invocation) (string, error) {
	r, err := s.invocationReq(inv)
	if err != nil {
		return "", err
	}
	return s.submit(ctx, r)
}

// invocationReq validates, normalizes and encodes inv (see invcodec.go).
func (s *Store) invocationReq(inv Invocation) (*writeReq, error) {
	if err := checkWebhook(inv.Webhook); err != nil {
		return nil, err
	}
	inv.ID = idPlaceholder
	if inv.StartedAt.IsZero() {
		inv.StartedAt = s.now()
	}
	inv.Request.Body = cutUTF8(inv.Request.Body, MaxBodyBytes)
	if inv.Response != nil && len(inv.Response.Body) > MaxBodyBytes {
		resp := *inv.Response
		resp.Body = cutUTF8(resp.Body, MaxBodyBytes)
		inv.Response = &resp
	}
	scratch := s.scratch.Get().(*[]byte)
	v, err := encodeInvocation(&inv, scratch)
	s.scratch.Put(scratch)
	if err != nil {
		return nil, err
	}
	return &writeReq{kind: kindInvocation, webhook: inv.Webhook, index: outcomeValue(inv.Outcome), value: v}, nil
}

// Index values of the known outcomes, shared by every write (bbolt does not
// modify values).
var (
	outcomeDelivered    = []byte(OutcomeDelivered)
	outcomeRetrying     = []byte(OutcomeRetrying)
	outcomeDeadLettered = []byte(OutcomeDeadLettered)
	outcomeFailed       = []byte(OutcomeFailed)
)

// outcomeValue returns the index value of an invocation with outcome o.
func outcomeValue(o string) []byte {
	switch o {
	case OutcomeDelivered:
		return outcomeDelivered
	case OutcomeRetrying:
		return outcomeRetrying
	case OutcomeDeadLettered:
		return outcomeDeadLettered
	case OutcomeFailed:
		return outcomeFailed
	}
	return []byte(o)
}

// checkWebhook reports whether name can name an index bucket.
func checkWebhook(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: webhook is empty", ErrInvalidRecord)
	case len(name) > bolt.MaxKeySize:
		return fmt.Errorf("%w: webhook name is %d bytes, more than %d", ErrInvalidRecord, len(name), bolt.MaxKeySize)
	}
	return nil
}

// GetInvocation returns the invocation with the given ID, or an error
// wrapping ErrNotFound.
func (s *Store) GetInvocation(id string) (Invocation, error) {
	k, ok := parseID(id)
	if !ok {
		return Invocation{}, fmt.Errorf("%w: %q is not a record id", ErrNotFound, id)
	}
	var inv Invocation
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketInvocations).Get(k)
		if v == nil {
			return fmt.Errorf("%w: %s %s", ErrNotFound, bucketInvocations, id)
		}
		var err error
		if inv, err = decodeInvocation(k, v); err != nil {
			return fmt.Errorf("store: decode invocation %s: %w", id, err)
		}
		return nil
	})
	return inv, err
}

// get decodes the record id of bucket into v.
func (s *Store) get(bucket []byte, id string, v any) error {
	k, ok := parseID(id)
	if !ok {
		return fmt.Errorf("%w: %q is not a record id", ErrNotFound, id)
	}
	return s.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucket).Get(k)
		if raw == nil {
			return fmt.Errorf("%w: %s %s", ErrNotFound, bucket, id)
		}
		// Unmarshal copies everything out of the mmap'd value.
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("store: decode %s %s: %w", bucket, id, err)
		}
		return nil
	})
}

// ListInvocations returns the invocations matching f, newest first. A
// Webhook filter reads that webhook's index; other filters examine at most
// MaxScan records.
func (s *Store) ListInvocations(f InvocationFilter) ([]Invocation, error) {
	limit := clampLimit(f.Limit)
	before, err := parseBefore(f.Before)
	if err != nil {
		return nil, err
	}
	switch f.Outcome {
	case "", OutcomeDelivered, OutcomeRetrying, OutcomeDeadLettered, OutcomeFailed:
	default:
		return nil, fmt.Errorf("%w: unknown outcome %q", ErrInvalidFilter, f.Outcome)
	}
	out := make([]Invocation, 0, min(limit, 64))
	err = s.view(func(tx *bolt.Tx) error {
		main := tx.Bucket(bucketInvocations)
		c := main.Cursor()
		byIndex := f.Webhook != ""
		if byIndex {
			ib := tx.Bucket(bucketInvocationsWebhook).Bucket([]byte(f.Webhook))
			if ib == nil {
				return nil
			}
			c = ib.Cursor()
		}
		scanned := 0
		for k, v := seekBefore(c, before); k != nil && len(out) < limit && scanned < MaxScan; k, v = c.Prev() {
			scanned++
			if byIndex {
				if f.Outcome != "" && string(v) != f.Outcome {
					continue
				}
				if v = main.Get(k); v == nil {
					continue
				}
			}
			// Filter on the record's first fields before decoding it.
			m, err := readInvMeta(v)
			if err != nil {
				return fmt.Errorf("store: decode invocation %s: %w", keyID(k), err)
			}
			if (f.Outcome != "" && string(m.outcome) != f.Outcome) ||
				(f.DeliveryID != "" && string(m.deliveryID) != f.DeliveryID) ||
				(f.Webhook != "" && string(m.webhook) != f.Webhook) {
				continue
			}
			inv, err := decodeInvocation(k, v)
			if err != nil {
				return fmt.Errorf("store: decode invocation %s: %w", keyID(k), err)
			}
			out = append(out, inv)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// clampLimit applies DefaultListLimit and MaxListLimit.
func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultListLimit
	case limit > MaxListLimit:
		return MaxListLimit
	}
	return limit
}

// parseBefore returns the key of a Before cursor, nil for none.
func parseBefore(before string) ([]byte, error) {
	if before == "" {
		return nil, nil
	}
	k, ok := parseID(before)
	if !ok {
		return nil, fmt.Errorf("%w: before %q is not a record id", ErrInvalidFilter, before)
	}
	return k, nil
}

// seekBefore moves c to the last key lower than before (the last key when
// before is nil).
func seekBefore(c *bolt.Cursor, before []byte) ([]byte, []byte) {
	if before == nil {
		return c.Last()
	}
	if k, _ := c.Seek(before); k == nil {
		return c.Last()
	}
	return c.Prev()
}
