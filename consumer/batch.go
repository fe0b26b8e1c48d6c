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
	size := len(m.Data()) + 1
	b.mu.Lock()
	var full []jetstream.Msg
	if len(b.cur) > 0 && b.bytes+size+1 > b.policy.MaxBytes {
		full = b.takeLocked()
	}
	b.cur = append(b.cur, m)
	b.bytes += size
	if len(b.cur) == 1 {
		gen := b.gen
		b.timer = time.AfterFunc(b.policy.MaxWait, func() { b.flushGen(gen) })
	}
	var full2 []jetstream.Msg
	if len(b.cur) >= b.policy.MaxEvents {
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
	b.cur = make([]jetstream.Msg, 0, b.policy.MaxEvents)
	b.bytes = 1
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

// deliverBatch sends one batch and settles every message in it.
func (h *hook) deliverBatch(ctx context.Context, bs BatchSender, msgs []jetstream.Msg) {
	type item struct {
		m       jetstream.Msg
		seq     uint64
		attempt int
		did     string
		eventID string
		evType  string
	}
	items := make([]item, 0, len(msgs))
	entries := make([]sender.BatchEntry, 0, len(msgs))
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			h.r.log.Error("delivery without metadata", zap.String("webhook", h.cfg.Name), zap.Error(err))
			_ = m.Term()
			continue
		}
		hdr := m.Headers()
		it := item{m: m, seq: meta.Sequence.Stream, did: hdr.Get(HeaderDeliveryID), eventID: hdr.Get(HeaderEventID), evType: hdr.Get(HeaderEventType)}
		it.attempt = h.attempt(it.seq, meta.NumDelivered)
		if len(m.Data())+2 > h.cfg.Batch.MaxBytes {
			// Too large to ever fit a request: no attempt can help.
			e := &sender.Error{Class: sender.Permanent, Reason: sender.ReasonClientError,
				Err: fmt.Errorf("log entry of %d bytes exceeds batch.max_bytes %d", len(m.Data()), h.cfg.Batch.MaxBytes)}
			inv := invocation(h.cfg.Name, it.did, it.eventID, it.evType, it.attempt, sender.Attempt{StartedAt: h.r.now()}, e)
			inv.Outcome = store.OutcomeDeadLettered
			h.deadLetter(ctx, m, it.seq, inv, e, e)
			continue
		}
		items = append(items, it)
		entries = append(entries, sender.BatchEntry{ID: it.did, JSON: m.Data()})
	}
	if len(items) == 0 {
		return
	}
	res := bs.SendBatch(ctx, entries)
	// Which request carried each entry last (413 splits send some twice).
	carrier := make([]int, len(items))
	for i := range carrier {
		carrier[i] = -1
	}
	for k, a := range res.Attempts {
		for j := a.First; j < a.First+a.N && j < len(carrier); j++ {
			carrier[j] = k
		}
	}
	h.recordRequests(res)
	paused := false
	for i, it := range items {
		var err error
		if i < len(res.Errs) {
			err = res.Errs[i]
		}
		var se *sender.Error
		errors.As(err, &se)
		if se != nil && se.Class == sender.BreakerOpen || (err != nil && ctx.Err() != nil) {
			h.addFree(it.seq)
			d := h.s.Breaker().OpenRemaining
			if d < minBreakerPause {
				d = minBreakerPause
			}
			if se != nil && se.Class == sender.BreakerOpen {
				h.breakerOpen.Add(1)
				h.r.metrics.deliveries.WithLabelValues(h.cfg.Name, "breaker_open").Inc()
				if !paused {
					h.requestPause(d)
					paused = true
				}
			}
			_ = it.m.NakWithDelay(d)
			continue
		}
		var att sender.Attempt
		batchID := ""
		if k := carrier[i]; k >= 0 {
			// The event's record points at the shared request, which has
			// its own record with the body and the headers.
			shared := res.Attempts[k].Attempt
			batchID = res.Attempts[k].ID
			att = sender.Attempt{StartedAt: shared.StartedAt, Duration: shared.Duration,
				Request: sender.RequestData{Method: shared.Request.Method, URL: shared.Request.URL}}
			if shared.Response != nil {
				att.Response = &sender.ResponseData{Status: shared.Response.Status}
			}
		}
		inv := invocation(h.cfg.Name, it.did, it.eventID, it.evType, it.attempt, att, err)
		inv.BatchID = batchID
		m, seq := it.m, it.seq
		switch {
		case err == nil:
			inv.Outcome = store.OutcomeDelivered
			h.done(inv.Outcome)
			h.r.store.RecordAsync(inv, func(_ string, err error) {
				if err != nil {
					h.r.log.Error("recording invocation", zap.String("webhook", h.cfg.Name), zap.Error(err))
				}
				h.forget(seq)
				_ = m.Ack()
			})
		case se != nil && se.Class == sender.Retryable && it.attempt < h.cfg.MaxAttempts:
			inv.Outcome = store.OutcomeRetrying
			h.done(inv.Outcome)
			delay := h.s.Backoff(it.attempt, se.RetryAfter)
			h.r.store.RecordAsync(inv, func(_ string, err error) {
				if err != nil {
					h.r.log.Error("recording invocation", zap.String("webhook", h.cfg.Name), zap.Error(err))
				}
				_ = m.NakWithDelay(delay)
			})
		default:
			inv.Outcome = store.OutcomeDeadLettered
			h.deadLetter(ctx, m, seq, inv, err, se)
		}
	}
	if len(res.Attempts) > 0 {
		h.r.metrics.latency.WithLabelValues(h.cfg.Name).Observe(res.Attempts[len(res.Attempts)-1].Attempt.Duration.Seconds())
	}
}

// recordRequests keeps one invocation per batch request made: the shared
// request and response that the events' own records point at.
func (h *hook) recordRequests(res sender.BatchResult) {
	for _, a := range res.Attempts {
		inv := invocation(h.cfg.Name, a.ID, "", "batch", 1, a.Attempt, a.Err)
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
