package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/hookrelay/hookrelay/sender"
	"github.com/hookrelay/hookrelay/store"
)

// BatchPolicy turns a webhook's sender stage into a batching one: many
// deliveries, each a complete JSON log entry, go out in one request.
type BatchPolicy struct {
	MaxEvents int
	MaxBytes  int
	MaxWait   time.Duration
}

// BatchSender is a Sender that can also send many entries at once.
type BatchSender interface {
	Sender
	SendBatch(ctx context.Context, entries []sender.BatchEntry) sender.BatchResult
}

// batcher collects a webhook's delivery messages into batches. The consume
// handler adds to the open batch; a batch closes when it holds MaxEvents,
// when the next entry would take it past MaxBytes, or MaxWait after its
// first entry, and goes to the workers. Each message is acked, nakked or
// dead-lettered on its own once its batch is answered.
type batcher struct {
	h      *hook
	policy BatchPolicy
	out    chan []jetstream.Msg

	mu      sync.Mutex
	cur     []jetstream.Msg
	items   int
	bytes   int
	gen     uint64
	timer   *time.Timer
	closed  bool
	sending sync.WaitGroup // timer flushes on their way to out
}

func newBatcher(h *hook, p BatchPolicy) *batcher {
	return &batcher{h: h, policy: p, out: make(chan []jetstream.Msg)}
}

// add is the consume handler of a batching webhook. It runs on one
// goroutine; it blocks while every worker is busy, which holds back the
// pull.
func (b *batcher) add(m jetstream.Msg) {
	size, n := len(m.Data())+1, itemCount(m.Headers())
	b.mu.Lock()
	var full []jetstream.Msg
	if len(b.cur) > 0 && (b.bytes+size+1 > b.policy.MaxBytes || b.items+n > b.policy.MaxEvents) {
		full = b.takeLocked()
	}
	b.cur = append(b.cur, m)
	b.bytes += size
	b.items += n
	if len(b.cur) == 1 {
		gen := b.gen
		b.timer = time.AfterFunc(b.policy.MaxWait, func() { b.flushGen(gen) })
	}
	var full2 []jetstream.Msg
	if b.items >= b.policy.MaxEvents {
		full2 = b.takeLocked()
	}
	b.mu.Unlock()
	if full != nil {
		b.out <- full
	}
	if full2 != nil {
		b.out <- full2
	}
}

// takeLocked closes the open batch and returns it.
func (b *batcher) takeLocked() []jetstream.Msg {
	batch := b.cur
	b.cur = make([]jetstream.Msg, 0, 16)
	b.bytes, b.items = 1, 0
	b.gen++
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	return batch
}

// flushGen sends the open batch if it is still the one the timer was set
// for.
func (b *batcher) flushGen(gen uint64) {
	b.mu.Lock()
	if b.closed || b.gen != gen || len(b.cur) == 0 {
		b.mu.Unlock()
		return
	}
	batch := b.takeLocked()
	b.sending.Add(1)
	b.mu.Unlock()
	b.out <- batch
	b.sending.Done()
}

// flush sends whatever is open; called once the consume context is
// closed, so nothing is added concurrently.
func (b *batcher) flush() {
	b.mu.Lock()
	var batch []jetstream.Msg
	if len(b.cur) > 0 {
		batch = b.takeLocked()
	}
	b.mu.Unlock()
	if batch != nil {
		b.out <- batch
	}
}

// close flushes the open batch, waits for timer flushes under way and
// ends the workers' input.
func (b *batcher) close() {
	b.flush()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.sending.Wait()
	close(b.out)
}

// batchMsg is one delivery message of a batch and the deliveries it
// carries (several when the render stage packed them).
type batchMsg struct {
	m       jetstream.Msg
	seq     uint64
	attempt int
	items   []packedItem
	errs    []error // per item, once sent; errOversize for items never sent
	carrier []int   // per item, the request that carried it last (-1: none)
}

// deliverBatch sends the deliveries of a batch of messages in one request
// (or several, after 413 splits) and settles each message: Ack once all
// its deliveries are delivered or dead-lettered, NakWithDelay when one may
// succeed on a later attempt, and, when the breaker refused, a NakWithDelay
// that costs no attempt.
func (h *hook) deliverBatch(ctx context.Context, bs BatchSender, msgs []jetstream.Msg) {
	batch := make([]*batchMsg, 0, len(msgs))
	var entries []sender.BatchEntry
	var index [][2]int // entry → (message, item)
	for _, m := range msgs {
		meta, ok := h.metadata(m)
		if !ok {
			continue
		}
		if packKind(m.Headers()) == PackBodies {
			// Packed for a webhook that did not batch then.
			h.deadLetterPacked(ctx, m, meta.Sequence.Stream, meta.NumDelivered, errBodiesForBatch)
			continue
		}
		items, err := unpack(m)
		if err != nil {
			h.deadLetterPacked(ctx, m, meta.Sequence.Stream, meta.NumDelivered, err)
			continue
		}
		bm := &batchMsg{m: m, seq: meta.Sequence.Stream, items: items, errs: make([]error, len(items)), carrier: make([]int, len(items))}
		bm.attempt = h.attempt(bm.seq, meta.NumDelivered)
		for k := range items {
			bm.carrier[k] = -1
			if len(items[k].body)+2 > h.cfg.Batch.MaxBytes {
				// Too large to ever fit a request: no attempt can help.
				bm.errs[k] = &sender.Error{Class: sender.Permanent, Reason: sender.ReasonClientError,
					Err: fmt.Errorf("log entry of %d bytes exceeds batch.max_bytes %d", len(items[k].body), h.cfg.Batch.MaxBytes)}
				continue
			}
			index = append(index, [2]int{len(batch), k})
			entries = append(entries, sender.BatchEntry{ID: items[k].deliveryID, JSON: items[k].body})
		}
		batch = append(batch, bm)
	}
	if len(batch) == 0 {
		return
	}
	var res sender.BatchResult
	if len(entries) > 0 {
		res = bs.SendBatch(ctx, entries)
		for e, at := range index {
			if e < len(res.Errs) {
				batch[at[0]].errs[at[1]] = res.Errs[e]
			}
		}
		// A request's attempt is the highest of the messages whose entries
		// it carried: a batch mixes first tries with retries.
		attempts := make([]int, len(res.Attempts))
		for k, a := range res.Attempts {
			attempts[k] = 1
			for e := a.First; e < a.First+a.N && e < len(index); e++ {
				bm := batch[index[e][0]]
				bm.carrier[index[e][1]] = k
				attempts[k] = max(attempts[k], bm.attempt)
			}
		}
		h.recordRequests(res, attempts)
		if n := len(res.Attempts); n > 0 {
			h.m.latency.Observe(res.Attempts[n-1].Attempt.Duration.Seconds())
		}
	}
	paused := false
	for _, bm := range batch {
		h.settleBatchMsg(ctx, bm, res, &paused)
	}
}

// settleBatchMsg records a message's deliveries and picks its ack verb.
func (h *hook) settleBatchMsg(ctx context.Context, bm *batchMsg, res sender.BatchResult, paused *bool) {
	retry, refused := false, false
	var retryAfter time.Duration
	for _, err := range bm.errs {
		var se *sender.Error
		if !errors.As(err, &se) {
			continue
		}
		switch {
		case se.Class == sender.BreakerOpen || ctx.Err() != nil:
			refused = true
		case se.Class == sender.Retryable:
			retry = true
			retryAfter = max(retryAfter, se.RetryAfter)
		}
	}
	if refused {
		// Not attempted. At shutdown the message goes back, uncounted
		// here; a refusal of the breaker keeps it parked until the breaker
		// lets it through.
		if ctx.Err() != nil {
			h.addFree(bm.seq)
			_ = bm.m.NakWithDelay(minBreakerPause)
			return
		}
		h.refused(len(bm.items))
		h.park(bm.m)
		if !*paused {
			h.requestPause(max(h.s.Breaker().OpenRemaining, minBreakerPause))
			*paused = true
		}
		return
	}
	again := retry && bm.attempt < h.cfg.MaxAttempts
	invs := make([]store.Invocation, len(bm.items))
	for k, it := range bm.items {
		err := bm.errs[k]
		var att sender.Attempt
		batchID := ""
		if c := bm.carrier[k]; c >= 0 {
			// The event's record points at the shared request, which has
			// its own record with the body and the headers.
			shared := res.Attempts[c].Attempt
			batchID = res.Attempts[c].ID
			att = sender.Attempt{StartedAt: shared.StartedAt, Duration: shared.Duration,
				Request: sender.RequestData{Method: shared.Request.Method, URL: shared.Request.URL}}
			if shared.Response != nil {
				att.Response = &sender.ResponseData{Status: shared.Response.Status}
			}
		}
		inv := Invocation(h.cfg.Name, it.deliveryID, it.eventID, it.eventType, bm.attempt, att, err)
		inv.BatchID = batchID
		var se *sender.Error
		errors.As(err, &se)
		switch {
		case err == nil:
			inv.Outcome = store.OutcomeDelivered
		case again:
			// The whole message goes again; this delivery with it.
			inv.Outcome = store.OutcomeRetrying
		default:
			inv.Outcome = store.OutcomeDeadLettered
			if _, err := h.writeDeadLetter(ctx, inv, it.body, err, se); err != nil {
				h.addFree(bm.seq)
				_ = bm.m.NakWithDelay(5 * time.Second)
				return
			}
			continue
		}
		invs[k] = inv
	}
	// Records commit in order: the last one's callback settles the message.
	last := -1
	for k := range invs {
		if invs[k].Outcome != "" {
			last = k
		}
	}
	settle := func() {
		if again {
			_ = bm.m.NakWithDelay(h.s.Backoff(bm.attempt, retryAfter))
			return
		}
		h.forget(bm.seq)
		_ = bm.m.Ack()
	}
	if last < 0 {
		settle()
		return
	}
	for k := range invs {
		if invs[k].Outcome == "" {
			continue
		}
		h.done(invs[k].Outcome)
		var done func(string, error)
		if k == last {
			done = func(_ string, err error) {
				h.logRecordErr(err)
				settle()
			}
		}
		h.r.store.RecordAsync(invs[k], done)
	}
}

// recordRequests keeps one invocation per batch request made, with its
// attempt: the shared request and response that the events' own records
// point at.
func (h *hook) recordRequests(res sender.BatchResult, attempts []int) {
	for k, a := range res.Attempts {
		inv := Invocation(h.cfg.Name, a.ID, "", "batch", attempts[k], a.Attempt, a.Err)
		inv.BatchID = a.ID
		inv.Outcome = store.OutcomeDelivered
		if a.Err != nil {
			inv.Outcome = store.OutcomeFailed
		}
		h.r.store.RecordAsync(inv, func(_ string, err error) {
			if err != nil {
				h.r.log.Error("recording batch request", zap.String("webhook", h.cfg.Name), zap.Error(err))
			}
		})
	}
}
