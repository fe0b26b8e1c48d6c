package store

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutRejected stores r through the group-commit writer and returns its ID
// once it is durable. The store assigns r.ID, sets a zero ReceivedAt to now,
// and replaces invalid UTF-8 in r.Sample and cuts it to MaxSampleBytes (use
// SampleOf to build it from the payload).
func (s *Store) PutRejected(ctx context.Context, r Rejected) (string, error) {
	r.ID = idPlaceholder
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = s.now()
	}
	r.Sample = sanitizeSample(r.Sample)
	v, err := encodeRecord(r)
	if err != nil {
		return "", err
	}
	return s.submit(ctx, &writeReq{kind: kindRejected, value: v})
}

// GetRejected returns the rejected event with the given ID, or an error
// wrapping ErrNotFound.
func (s *Store) GetRejected(id string) (Rejected, error) {
	var r Rejected
	err := s.get(bucketRejected, id, &r)
	return r, err
}

// ListRejected returns up to limit rejected events older than the ID before
// (any age when empty), newest first. limit 0 means DefaultListLimit; it is
// capped at MaxListLimit.
func (s *Store) ListRejected(limit int, before string) ([]Rejected, error) {
	limit = clampLimit(limit)
	b, err := parseBefore(before)
	if err != nil {
		return nil, err
	}
	out := make([]Rejected, 0, min(limit, 64))
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRejected).Cursor()
		for k, v := seekBefore(c, b); k != nil && len(out) < limit; k, v = c.Prev() {
			var r Rejected
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("store: decode rejected %s: %w", keyID(k), err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
