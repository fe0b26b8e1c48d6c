package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// kind is the type of record a write stores.
type kind uint8

const (
	kindInvocation kind = iota
	kindDeadLetter
	kindRejected
	numKinds
)

// kinds maps a kind to its buckets; index is nil for kinds without a
// per-webhook index.
var kinds = [numKinds]struct {
	bucket, index []byte
}{
	kindInvocation: {bucketInvocations, bucketInvocationsWebhook},
	kindDeadLetter: {bucketDeadLetters, bucketDeadLettersWebhook},
	kindRejected:   {bucketRejected, nil},
}

// writeReq is one queued write. value is the encoded record with the ID
// placeholder; it is owned by the request and patched in place.
type writeReq struct {
	kind    kind
	webhook string // index bucket; empty when the kind has no index
	index   []byte // index value (the outcome, for invocations)
	value   []byte
	done    func(id string, err error)
}

// emptyValue is the index value of kinds that keep nothing in their index.
var emptyValue = []byte{}

// enqueue hands r to the writer. done, when not nil, aborts the wait; a nil
// done waits until the queue has room.
func (s *Store) enqueue(done <-chan struct{}, r *writeReq) bool {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return false
	}
	s.senders.Add(1)
	s.mu.RUnlock()
	defer s.senders.Done()
	select {
	case s.queue <- r:
		return true
	case <-done:
		return false
	}
}

// submit queues r and waits for the commit that makes it durable.
func (s *Store) submit(ctx context.Context, r *writeReq) (string, error) {
	type result struct {
		id  string
		err error
	}
	res := make(chan result, 1)
	r.done = func(id string, err error) { res <- result{id, err} }
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("store: %w", context.Cause(ctx))
	}
	if !s.enqueue(ctx.Done(), r) {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("store: queueing write: %w", context.Cause(ctx))
		}
		return "", ErrClosed
	}
	select {
	case got := <-res:
		return got.id, got.err
	case <-ctx.Done():
		// The write stays queued and may still be committed.
		return "", fmt.Errorf("store: waiting for commit: %w", context.Cause(ctx))
	}
}

// Lingering: a commit costs two fdatasyncs and rewrites the pages on the
// paths to the records it appends, whatever its size, so at high rates the
// writer waits a little for more records before committing. It lingers only
// when the previous commit carried at least lingerMinPrev records (records
// are arriving concurrently), for at most lingerMax after taking the first
// record, and stops once it has lingerTarget records. A lone writer waiting
// for each commit (the next record follows the previous callback) never
// waits. lingerMax stays short because an ordered webhook's next delivery
// waits for the commit of the one before: 5 ms saved a fifth of the CPU
// per record at 9,000 records/s but would hold such a webhook near 200
// deliveries/s whenever other traffic makes the writer linger.
const (
	lingerMax     = 2 * time.Millisecond
	lingerMinPrev = 4
	lingerTarget  = 128
)

// runWriter is the group-commit loop: it takes every write queued (up to
// MaxBatch), commits them in one transaction, then runs their callbacks. It
// exits once Close has stopped all senders and the queue is empty.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	target := min(lingerTarget, s.opts.MaxBatch)
	prev := 0
	for {
		var first *writeReq
		select {
		case first = <-s.queue:
		case <-s.sendersDone:
			select {
			case first = <-s.queue:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
		batch = s.drain(batch)
		if prev >= lingerMinPrev && len(batch) < target {
			linger.Reset(lingerMax)
		wait:
			for len(batch) < target {
				select {
				case r := <-s.queue:
					batch = s.drain(append(batch, r))
				case <-linger.C:
					break wait
				case <-s.sendersDone:
					break wait
				case <-s.abort:
					break wait
				}
			}
			linger.Stop()
		}
		prev = len(batch)
		s.commit(batch)
		clear(batch)
	}
}

// drain appends the writes queued, without waiting, until batch holds
// MaxBatch.
func (s *Store) drain(batch []*writeReq) []*writeReq {
	for len(batch) < s.opts.MaxBatch {
		select {
		case r := <-s.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit writes batch in one transaction and runs the callbacks with the
// outcome. After Close gave up waiting, it fails the batch with ErrClosed.
func (s *Store) commit(batch []*writeReq) {
	select {
	case <-s.abort:
		s.abandoned.Add(int64(len(batch)))
		for _, r := range batch {
			if r.done != nil {
				r.done("", ErrClosed)
			}
		}
		return
	default:
	}
	keys := make([]byte, 8*len(batch))
	var added [numKinds]int64
	err := s.update(func(tx *bolt.Tx) error {
		added = [numKinds]int64{}
		if s.testHook != nil {
			if err := s.testHook(len(batch)); err != nil {
				return err
			}
		}
		var main [numKinds]*bolt.Bucket
		var index [numKinds]map[string]*bolt.Bucket
		for i, r := range batch {
			b := main[r.kind]
			if b == nil {
				b = tx.Bucket(kinds[r.kind].bucket)
				b.FillPercent = fillPercent
				main[r.kind] = b
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			k := keys[8*i : 8*i+8 : 8*i+8]
			putSeq(k, seq)
			if r.kind != kindInvocation { // invocations do not store their ID
				patchID(r.value, k)
			}
			if err := b.Put(k, r.value); err != nil {
				return fmt.Errorf("put %s %s: %w", kinds[r.kind].bucket, keyID(k), err)
			}
			added[r.kind]++
			if r.webhook == "" || kinds[r.kind].index == nil {
				continue
			}
			if index[r.kind] == nil {
				index[r.kind] = make(map[string]*bolt.Bucket)
			}
			ib := index[r.kind][r.webhook]
			if ib == nil {
				ib, err = tx.Bucket(kinds[r.kind].index).CreateBucketIfNotExists([]byte(r.webhook))
				if err != nil {
					return fmt.Errorf("index bucket for webhook %q: %w", r.webhook, err)
				}
				ib.FillPercent = fillPercent
				index[r.kind][r.webhook] = ib
			}
			if err := ib.Put(k, r.index); err != nil {
				return fmt.Errorf("put index %s: %w", keyID(k), err)
			}
		}
		return nil
	})
	s.commits.Add(1)
	if err != nil {
		err = fmt.Errorf("store: commit of %d records: %w", len(batch), err)
		s.logger.Error("group commit failed", zap.Int("records", len(batch)), zap.Error(err))
		for _, r := range batch {
			if r.done != nil {
				r.done("", err)
			}
		}
		return
	}
	for k := range numKinds {
		s.counts[k].Add(added[k])
	}
	for i, r := range batch {
		if r.done != nil {
			r.done(keyID(keys[8*i:8*i+8]), nil)
		}
	}
}
