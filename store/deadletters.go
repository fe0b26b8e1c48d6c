package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PutDeadLetter stores dl through the group-commit writer and returns its ID
// once it is durable. The store assigns dl.ID and sets a zero CreatedAt to
// now; the body is kept full size.
func (s *Store) PutDeadLetter(ctx context.Context, dl DeadLetter) (string, error) {
	if err := checkWebhook(dl.Webhook); err != nil {
		return "", err
	}
	dl.ID = idPlaceholder
	if dl.CreatedAt.IsZero() {
		dl.CreatedAt = s.now()
	}
	v, err := encodeRecord(dl)
	if err != nil {
		return "", err
	}
	if len(v) > bolt.MaxValueSize {
		return "", fmt.Errorf("%w: dead letter encodes to %d bytes, more than %d", ErrInvalidRecord, len(v), bolt.MaxValueSize)
	}
	return s.submit(ctx, &writeReq{kind: kindDeadLetter, webhook: dl.Webhook, index: emptyValue, value: v})
}

// GetDeadLetter returns the dead letter with the given ID, or an error
// wrapping ErrNotFound.
func (s *Store) GetDeadLetter(id string) (DeadLetter, error) {
	var dl DeadLetter
	err := s.get(bucketDeadLetters, id, &dl)
	return dl, err
}

// ListDeadLetters returns up to limit dead letters older than the ID before
// (any age when empty), newest first. An empty webhook lists every webhook's.
// limit 0 means DefaultListLimit; it is capped at MaxListLimit.
func (s *Store) ListDeadLetters(webhook string, limit int, before string) ([]DeadLetter, error) {
	limit = clampLimit(limit)
	b, err := parseBefore(before)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, min(limit, 64))
	err = s.view(func(tx *bolt.Tx) error {
		main := tx.Bucket(bucketDeadLetters)
		c := main.Cursor()
		if webhook != "" {
			ib := tx.Bucket(bucketDeadLettersWebhook).Bucket([]byte(webhook))
			if ib == nil {
				return nil
			}
			c = ib.Cursor()
		}
		for k, v := seekBefore(c, b); k != nil && len(out) < limit; k, v = c.Prev() {
			if webhook != "" {
				if v = main.Get(k); v == nil {
					continue
				}
			}
			var dl DeadLetter
			if err := json.Unmarshal(v, &dl); err != nil {
				return fmt.Errorf("store: decode dead letter %s: %w", keyID(k), err)
			}
			out = append(out, dl)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteDeadLetter removes the dead letter with the given ID (after a replay,
// say), or returns an error wrapping ErrNotFound.
func (s *Store) DeleteDeadLetter(id string) error {
	k, ok := parseID(id)
	if !ok {
		return fmt.Errorf("%w: %q is not a record id", ErrNotFound, id)
	}
	err := s.update(func(tx *bolt.Tx) error {
		main := tx.Bucket(bucketDeadLetters)
		v := main.Get(k)
		if v == nil {
			return fmt.Errorf("%w: dead letter %s", ErrNotFound, id)
		}
		var meta recordMeta
		if err := json.Unmarshal(v, &meta); err != nil {
			return fmt.Errorf("store: decode dead letter %s: %w", id, err)
		}
		if err := main.Delete(k); err != nil {
			return err
		}
		return deleteIndexed(tx.Bucket(bucketDeadLettersWebhook), meta.Webhook, [][]byte{k})
	})
	if err != nil {
		return err
	}
	s.counts[kindDeadLetter].Add(-1)
	return nil
}

// CountDeadLetters returns the number of dead letters of each webhook that
// has any.
func (s *Store) CountDeadLetters() (map[string]int, error) {
	counts := make(map[string]int)
	err := s.view(func(tx *bolt.Tx) error {
		idx := tx.Bucket(bucketDeadLettersWebhook)
		return idx.ForEachBucket(func(name []byte) error {
			counts[string(name)] = idx.Bucket(name).Stats().KeyN
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// recordMeta is the part of a record that index maintenance and pruning need.
type recordMeta struct {
	Webhook    string    `json:"webhook"`
	StartedAt  time.Time `json:"started_at"`
	ReceivedAt time.Time `json:"received_at"`
}

// deleteIndexed removes keys from webhook's bucket under idx, and drops the
// webhook's bucket once it is empty.
func deleteIndexed(idx *bolt.Bucket, webhook string, keys [][]byte) error {
	if webhook == "" {
		return nil
	}
	ib := idx.Bucket([]byte(webhook))
	if ib == nil {
		return nil
	}
	for _, k := range keys {
		if err := ib.Delete(k); err != nil {
			return fmt.Errorf("delete index %s of webhook %q: %w", keyID(k), webhook, err)
		}
	}
	if k, _ := ib.Cursor().First(); k == nil {
		if err := idx.DeleteBucket([]byte(webhook)); err != nil {
			return fmt.Errorf("delete index of webhook %q: %w", webhook, err)
		}
	}
	return nil
}
