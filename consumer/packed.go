package consumer

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/hookrelay/hookrelay/sender"
)

// Headers of a delivery taken out of a pack to be tried again on its own.
const (
	// HeaderAttempts is the number of attempts already made.
	HeaderAttempts = "Hookrelay-Attempts"
	// HeaderNotBefore is when the next attempt may be made, in Unix
	// milliseconds.
	HeaderNotBefore = "Hookrelay-Not-Before"
)

// workItem is what a worker of a webhook that sends one request per
// delivery takes: a delivery message, or one delivery of a pack.
type workItem struct {
	m    jetstream.Msg
	pack *bodyPack
	i    int
}

// dispatch is the consume handler of such a webhook: a message carrying
// one delivery goes to a worker as it is; a pack of request bodies is
// spread over the workers, a delivery each. It blocks while every worker
// is busy, which holds back the pull.
func (h *hook) dispatch(m jetstream.Msg) {
	if packKind(m.Headers()) != PackBodies {
		h.work <- workItem{m: m}
		return
	}
	meta, ok := h.metadata(m)
	if !ok {
		return
	}
	seq := meta.Sequence.Stream
	items, err := unpack(m)
	if err != nil {
		h.deadLetterPacked(h.ctx, m, seq, meta.NumDelivered, err)
		return
	}
	p := &bodyPack{h: h, m: m, seq: seq, items: items, attempt: h.attempt(seq, meta.NumDelivered)}
	p.pending.Store(int32(len(items)))
	p.waits.Store(int32(len(items)) + 1)
	h.trackPack(p, true)
	for i := range items {
		h.work <- workItem{pack: p, i: i}
	}
}

// bodyPack is one packed message of request bodies being delivered. Each
// delivery is tried once; those that may succeed later are published
// again, each on its own with its count of attempts and the time it may be
// tried, and the pack is acked once every attempt is recorded and every
// retry is stored.
type bodyPack struct {
	h       *hook
	m       jetstream.Msg
	seq     uint64
	items   []packedItem
	attempt int
	pending atomic.Int32 // deliveries not attempted yet
	waits   atomic.Int32 // records not committed yet, plus one for the retries
	cut     atomic.Int32 // deliveries shutdown stopped before an answer

	mu     sync.Mutex
	later  []retryLater
	broken bool // the retries could not be stored: the pack goes again
	back   bool // shutdown stopped every delivery: the pack goes back uncounted
}

// retryLater is a delivery of a pack to be tried again on its own.
type retryLater struct {
	it        *packedItem
	made      int       // attempts made so far
	notBefore time.Time // zero: at once
}

// deliverPacked makes one attempt at delivery i of pack p and settles it
// like deliver does a message, except that a retry is published again
// instead of nakked.
func (h *hook) deliverPacked(ctx context.Context, p *bodyPack, i int) {
	it := &p.items[i]
	att, sendErr := h.s.Send(ctx, sender.Delivery{ID: it.deliveryID, Body: it.body})
	v := h.judge(ctx, it.deliveryID, it.eventID, it.eventType, p.attempt, att, sendErr)
	switch v.outcome {
	case refusedByBreaker:
		p.retry(it, p.attempt-1, h.r.now().Add(v.delay))
	case cutShort:
		// It goes again, uncounted.
		p.cut.Add(1)
		p.retry(it, p.attempt-1, time.Time{})
	case toRetry:
		p.retry(it, p.attempt, h.r.now().Add(v.delay))
	case toDeadLetter:
		if _, err := h.writeDeadLetter(ctx, v.inv, it.body, sendErr, v.se); err != nil {
			// The store cannot take it now: this delivery goes again
			// later, on its own, counted as not yet tried.
			p.retry(it, p.attempt-1, h.r.now().Add(5*time.Second))
		}
	}
	// What judge built an invocation for is recorded here, but for a dead
	// letter, whose invocation writeDeadLetter records.
	if v.inv.Outcome != "" && v.outcome != toDeadLetter {
		h.r.store.RecordAsync(v.inv, func(_ string, err error) {
			h.logRecordErr(err)
			p.release()
		})
	} else {
		p.release()
	}
	p.attempted(ctx)
}

func (p *bodyPack) retry(it *packedItem, made int, notBefore time.Time) {
	p.mu.Lock()
	p.later = append(p.later, retryLater{it: it, made: made, notBefore: notBefore})
	p.mu.Unlock()
}

func (p *bodyPack) fail() {
	p.mu.Lock()
	p.broken = true
	p.mu.Unlock()
}

// attempted counts one delivery of the pack as attempted. After the last
// one, the worker stores the retries, so shutdown waits for them.
func (p *bodyPack) attempted(ctx context.Context) {
	if p.pending.Add(-1) != 0 {
		return
	}
	p.mu.Lock()
	later, broken := p.later, p.broken
	p.mu.Unlock()
	if int(p.cut.Load()) == len(p.items) {
		// Shutdown stopped every one of them: the pack goes back as it
		// is, uncounted, rather than as many messages.
		p.mu.Lock()
		p.back = true
		p.mu.Unlock()
	} else if len(later) > 0 && !broken {
		if err := p.h.r.storeRetries(context.WithoutCancel(ctx), p.h.cfg.Name, later); err != nil {
			p.h.r.log.Warn("storing retries of a pack failed; the pack will be redelivered", zap.String("webhook", p.h.cfg.Name), zap.Error(err))
			p.fail()
		}
	}
	p.release()
}

// release counts one record committed (or one delivery that needs none,
// or the retries stored); the last settles the pack. It may run on the
// store's writer: it only sends an ack.
func (p *bodyPack) release() {
	if p.waits.Add(-1) != 0 {
		return
	}
	p.h.trackPack(p, false)
	p.mu.Lock()
	broken, back := p.broken, p.back
	p.mu.Unlock()
	switch {
	case back:
		p.h.addFree(p.seq)
		_ = p.m.NakWithDelay(time.Second)
	case broken:
		// JetStream did not store the retries: the pack goes back whole
		// (what was delivered goes again, with the same Idempotency-Key).
		_ = p.m.NakWithDelay(5 * time.Second)
	default:
		p.h.forget(p.seq)
		_ = p.m.Ack()
	}
}

// storeRetries publishes each delivery to retry as a message of its own
// and waits until JetStream has stored them all.
func (r *Relay) storeRetries(ctx context.Context, webhook string, later []retryLater) error {
	ctx, cancel := context.WithTimeout(ctx, defaultPublishAckTimeout)
	defer cancel()
	waits := make([]pubWait, 0, len(later))
	for _, l := range later {
		f, err := r.js.PublishMsgAsync(r.retryMsg(webhook, l))
		if err != nil {
			return err
		}
		waits = append(waits, pubWait{f: f})
	}
	for i := range waits {
		if err := waits[i].wait(ctx.Done()); err != nil {
			return err
		}
	}
	return nil
}

// retryMsg is a delivery taken out of a pack, to be tried again on its own
// once l.notBefore has passed. Its dedupe id counts the attempts made, so
// a pack redelivered before its ack stores each retry once.
func (r *Relay) retryMsg(webhook string, l retryLater) *nats.Msg {
	m := r.deliveryMsg(webhook, l.it.deliveryID, l.it.eventID, l.it.eventType, l.it.body)
	m.Header[jetstream.MsgIDHeader] = []string{l.it.deliveryID + ".r" + strconv.Itoa(l.made)}
	m.Header[HeaderAttempts] = []string{strconv.Itoa(l.made)}
	if !l.notBefore.IsZero() {
		m.Header[HeaderNotBefore] = []string{strconv.FormatInt(l.notBefore.UnixMilli(), 10)}
	}
	return m
}

// attemptsMade is the count of attempts a message's delivery had in a
// pack before it was published again on its own.
func attemptsMade(h nats.Header) int {
	n, err := strconv.Atoi(h.Get(HeaderAttempts))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// notBefore is how long after now a message's delivery must still wait
// before its next attempt (0 or less: it may go now); ok is false when the
// message has no such time.
func notBefore(h nats.Header, now time.Time) (wait time.Duration, ok bool) {
	v := h.Get(HeaderNotBefore)
	if v == "" {
		return 0, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, true
	}
	return time.UnixMilli(ms).Sub(now), true
}
