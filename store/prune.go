package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// pruneChunk is the most records one pruning transaction deletes, so the
// writer never waits long behind Prune.
const pruneChunk = 10_000

// Prune deletes the invocations (with their index entries) and rejected
// events older than Options.Retention at now, and returns how many it
// deleted. With no Retention it does nothing. Records are appended in
// sequence order, so Prune walks each bucket from the oldest key and stops at
// the first record that is new enough; a record written late with an old
// timestamp waits behind it for a later Prune. Prune deletes in transactions
// of at most 10,000 records and stops early when Close starts.
func (s *Store) Prune(now time.Time) (int, error) {
	if s.opts.Retention <= 0 {
		return 0, nil
	}
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	cutoff := now.Add(-s.opts.Retention)
	total := 0
	for _, k := range []kind{kindInvocation, kindRejected} {
		n, err := s.pruneKind(k, cutoff)
		total += n
		if err != nil {
			return total, err
		}
	}
	if total > 0 {
		s.logger.Debug("pruned", zap.Int("records", total), zap.Time("cutoff", cutoff))
	}
	return total, nil
}

// pruneKind deletes the records of kind k older than cutoff, chunk by chunk.
func (s *Store) pruneKind(k kind, cutoff time.Time) (int, error) {
	total := 0
	for {
		select {
		case <-s.closing:
			return total, ErrClosed
		default:
		}
		var n int
		var more bool
		err := s.update(func(tx *bolt.Tx) error {
			var err error
			n, more, err = pruneChunkTx(tx, k, cutoff)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: prune %s: %w", kinds[k].bucket, err)
		}
		s.counts[k].Add(-int64(n))
		total += n
		if !more {
			return total, nil
		}
	}
}

// pruneMeta returns the time by which a record of kind k is pruned and its
// webhook.
func pruneMeta(k kind, v []byte) (time.Time, []byte, error) {
	if k == kindInvocation {
		m, err := readInvMeta(v)
		return m.startedAt, m.webhook, err
	}
	var meta recordMeta
	if err := json.Unmarshal(v, &meta); err != nil {
		return time.Time{}, nil, err
	}
	if k == kindRejected {
		return meta.ReceivedAt, []byte(meta.Webhook), nil
	}
	return meta.StartedAt, []byte(meta.Webhook), nil
}

// pruneChunkTx deletes up to pruneChunk of the oldest records of kind k that
// are older than cutoff. more reports whether older records may remain.
func pruneChunkTx(tx *bolt.Tx, k kind, cutoff time.Time) (n int, more bool, err error) {
	main := tx.Bucket(kinds[k].bucket)
	var keys [][]byte
	byWebhook := make(map[string][][]byte)
	c := main.Cursor()
	key, v := c.First()
	for ; key != nil && len(keys) < pruneChunk; key, v = c.Next() {
		t, webhook, err := pruneMeta(k, v)
		if err != nil {
			return 0, false, fmt.Errorf("decode %s: %w", keyID(key), err)
		}
		if !t.Before(cutoff) {
			break
		}
		kc := bytes.Clone(key)
		keys = append(keys, kc)
		if len(webhook) > 0 {
			byWebhook[string(webhook)] = append(byWebhook[string(webhook)], kc)
		}
	}
	more = len(keys) == pruneChunk && key != nil
	for _, kc := range keys {
		if err := main.Delete(kc); err != nil {
			return 0, false, err
		}
	}
	if kinds[k].index != nil {
		idx := tx.Bucket(kinds[k].index)
		for webhook, ks := range byWebhook {
			if err := deleteIndexed(idx, webhook, ks); err != nil {
				return 0, false, err
			}
		}
	}
	return len(keys), more, nil
}
