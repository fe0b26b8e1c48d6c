package consumer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/hookrelay/hookrelay/store"
)

// renderStage consumes events, routes and renders them in parallel batches,
// publishes the deliveries in arrival order and acks each event once all its
// deliveries are stored.
type renderStage struct {
	r      *Relay
	stream jetstream.Stream // the events stream
	cons   jetstream.Consumer

	in   chan jetstream.Msg
	acks chan []*eventJob
	// held bounds the bytes of the events taken from the consumer and not
	// yet acked: the channel above and the batches in flight hold messages
	// by the thousand, which at large events is gigabytes.
	held *byteBudget
	// inMu guards closing in: a handler may still be waiting on held when
	// the consume context has closed (it closes at once when the
	// subscription is already gone).
	inMu     sync.RWMutex
	inClosed bool
	cc       jetstream.ConsumeContext
	wg       sync.WaitGroup
	// pin is the pin id the server gave this replica's pulls, when the
	// events consumer is pinned; stop releases the pin if it still holds it,
	// unless an event went back unacked (gaveBack): the next replica would
	// render newer events before it came back.
	pin      atomic.Pointer[string]
	gaveBack atomic.Bool

	stopOnce sync.Once
}

type eventJob struct {
	msg     jetstream.Msg
	seq     uint64
	again   bool // delivered before: its deliveries may be stored already
	eventID string
	routed  Routed
	reject  error
	futures []*pubWait
	pubErr  error
	dead    []store.DeadLetter
}

func newRenderStage(r *Relay, stream jetstream.Stream, cons jetstream.Consumer) *renderStage {
	return &renderStage{
		r:      r,
		stream: stream,
		cons:   cons,
		in:     make(chan jetstream.Msg, DefaultRenderBatch*4),
		acks:   make(chan []*eventJob, 64),
		held:   newByteBudget(max(renderHeldBytes, r.pullBytes())),
	}
}

// renderHeldBytes bounds the event bytes the render stage holds between
// taking events from the consumer and acking them; thousands of events of
// the usual few kilobytes fit.
const renderHeldBytes = 32 << 20

func (s *renderStage) start(ctx context.Context) error {
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.batchLoop(ctx) }()
	go func() { defer s.wg.Done(); s.ackLoop(ctx) }()
	// Once stopping, an event stray refuses stays unacked and comes back.
	opts := pullOptions(DefaultRenderBatch*8, s.r.pullBytes(), s.r.log, "events consumer")
	if s.pinned() {
		opts = append(opts, jetstream.PullPriorityGroup(renderGroup))
	}
	cc, err := s.cons.Consume(func(m jetstream.Msg) { s.stray(m) }, opts...)
	if err != nil {
		s.stop()
		return err
	}
	s.cc = cc
	return nil
}

// stop drains the consume context (buffered messages still reach the
// handler), waits for it to close, then lets the batcher and acker finish.
// Only the first call does anything.
func (s *renderStage) stop() {
	s.stopOnce.Do(func() {
		pulled := time.Now() // the last pull is no later than this
		if s.cc != nil {
			s.cc.Drain()
			<-s.cc.Closed()
		}
		s.inMu.Lock()
		s.inClosed = true
		close(s.in)
		s.inMu.Unlock()
		s.wg.Wait()
		s.unpin(pulled)
	})
}

// unpin releases the events consumer's pin when this replica holds it, so
// that another replica, or this one restarted, renders at once instead of
// after renderPinnedTTL. It runs once every event taken was acked, after
// its deliveries were stored: the next replica's come after them. It does
// nothing when an event went back unacked or is still pending, which must
// come first, or when the pin may have expired since the last pull (at
// pulled) and moved to another replica: the unpin names no pin, and would
// take that one's.
func (s *renderStage) unpin(pulled time.Time) {
	pin := s.pin.Load()
	if pin == nil || !s.pinned() {
		return
	}
	if s.gaveBack.Load() {
		s.r.log.Info("keeping the events consumer's pin: events went back unacked and come first; another replica renders after " + renderPinnedTTL.String())
		return
	}
	// Pulls go out at least every pullExpiry, so the pin lasts until
	// renderPinnedTTL after pulled, less that: the release must be done
	// before then.
	deadline := pulled.Add(renderPinnedTTL - unpinMargin)
	if time.Until(deadline) <= 0 {
		return
	}
	if limit := time.Now().Add(unpinTimeout); limit.Before(deadline) {
		deadline = limit
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// The acks go out first; an event still pending after them was lost on
	// its way here (with a server that went away) and comes back only after
	// AckWait, before the next replica's events.
	err := s.r.js.Conn().FlushWithContext(ctx)
	var info *jetstream.ConsumerInfo
	if err == nil {
		info, err = s.cons.Info(ctx)
	}
	if err != nil {
		s.r.log.Warn("reading the events consumer to release its pin", zap.Error(err))
		return
	}
	if info.NumAckPending > 0 {
		s.r.log.Info("keeping the events consumer's pin: events are still pending and come first; another replica renders after "+renderPinnedTTL.String(),
			zap.Int("pending", info.NumAckPending))
		return
	}
	held := slices.ContainsFunc(info.PriorityGroups, func(g jetstream.PriorityGroupState) bool {
		return g.Group == renderGroup && g.PinnedClientID == *pin
	})
	if !held {
		return
	}
	if err := s.stream.UnpinConsumer(ctx, DefaultRendererDurable, renderGroup); err != nil {
		s.r.log.Warn("releasing the events consumer's pin; another replica renders after "+renderPinnedTTL.String(), zap.Error(err))
		return
	}
	s.r.log.Info("released the events consumer's pin")
}

// unpinTimeout bounds releasing the pin at stop; unpinMargin is how long
// before the pin could expire the relay stops trying: the last pull may be
// a pullExpiry older than the drain, and the requests that release the pin
// take time.
const (
	unpinTimeout = 2 * time.Second
	unpinMargin  = pullExpiry + time.Second
)

// pinned reports whether the events consumer serves one replica at a time.
func (s *renderStage) pinned() bool {
	return s.cons.CachedInfo().Config.PriorityPolicy == jetstream.PriorityPolicyPinned
}

// stray takes one event into the stage: the consume handler's path, and
// the stuck-consumer watcher's. It reports false once the stage stopped.
func (s *renderStage) stray(m jetstream.Msg) bool {
	if id := m.Headers().Get(pinHeader); id != "" {
		if p := s.pin.Load(); p == nil || *p != id {
			s.pin.Store(&id)
		}
	}
	s.held.take(len(m.Data()))
	s.inMu.RLock()
	defer s.inMu.RUnlock()
	if s.inClosed {
		s.held.give(len(m.Data()))
		s.gaveBack.Store(true)
		return false
	}
	s.in <- m
	return true
}

func (s *renderStage) batchLoop(ctx context.Context) {
	defer close(s.acks)
	workers := runtime.GOMAXPROCS(0)
	for first := range s.in {
		batch := make([]*eventJob, 0, DefaultRenderBatch)
		batch = append(batch, &eventJob{msg: first})
	fill:
		for len(batch) < DefaultRenderBatch {
			select {
			case m, ok := <-s.in:
				if !ok {
					break fill
				}
				batch = append(batch, &eventJob{msg: m})
			default:
				break fill
			}
		}
		s.route(batch, workers)
		s.publish(ctx, batch)
		s.acks <- batch
	}
}

// route renders a batch, split across workers when it is large enough to
// be worth it. Results land in each job, so order is kept.
func (s *renderStage) route(batch []*eventJob, workers int) {
	if len(batch) < 16 || workers < 2 {
		for _, j := range batch {
			s.routeOne(j)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(batch) + workers - 1) / workers
	for i := 0; i < len(batch); i += chunk {
		end := min(i+chunk, len(batch))
		wg.Add(1)
		go func(part []*eventJob) {
			defer wg.Done()
			for _, j := range part {
				s.routeOne(j)
			}
		}(batch[i:end])
	}
	wg.Wait()
}

func (s *renderStage) routeOne(j *eventJob) {
	meta, err := j.msg.Metadata()
	if err == nil {
		j.seq = meta.Sequence.Stream
		j.again = meta.NumDelivered > 1
	}
	j.eventID = strconv.FormatUint(j.seq, 10)
	target := ""
	if h := j.msg.Headers(); h != nil {
		target = h.Get(HeaderTarget)
	}
	j.routed, j.reject = s.r.router.Route(j.msg.Data(), target)
}

// publish sends every delivery of the batch in arrival order. Async
// publishes on one connection keep their order in the stream, which is
// what ordered webhooks rely on.
func (s *renderStage) publish(ctx context.Context, batch []*eventJob) {
	var touched time.Time // when the batch was last kept from redelivery
	blocked := map[string]error{}
	packs := map[string]*pack{}
	var order []string
	room := s.r.room()
	for _, j := range batch {
		if j.reject != nil {
			continue
		}
		for _, d := range j.routed.Deliveries {
			id := DeliveryID(s.r.streamID, j.seq, d.Webhook)
			if d.Err == nil && room > 0 && len(d.Body) > room {
				// JetStream would refuse it every time: dead-letter it now.
				d.Err = tooLarge(len(d.Body), room)
			}
			if d.Err != nil {
				dl := s.deadLetter(j, d, id, ReasonRenderPrefix+d.Err.Error())
				// The event, so a replay renders it again: the template
				// may have been fixed by then.
				dl.Event = append([]byte(nil), j.msg.Data()...)
				j.dead = append(j.dead, dl)
				continue
			}
			h := s.r.hooks[d.Webhook]
			if h != nil && h.packing() && (h.batch != nil || !j.again) {
				// Batching webhooks, and those sending many requests at
				// once, get their deliveries packed, many to a message,
				// below; but a redelivered event's request bodies go one
				// to a message, whose dedupe ids catch a second copy.
				p := packs[d.Webhook]
				if p == nil {
					p = &pack{}
					packs[d.Webhook] = p
					order = append(order, d.Webhook)
				}
				p.items = append(p.items, packedItem{deliveryID: id, eventID: j.eventID, eventType: j.routed.EventType, body: d.Body})
				p.jobs = append(p.jobs, j)
				continue
			}
			m := s.r.deliveryMsg(d.Webhook, id, j.eventID, j.routed.EventType, d.Body)
			if h != nil && h.cfg.Ordered {
				// An ordered webhook's deliveries are stored one by one,
				// each tried again in place while JetStream is unavailable
				// (see publishOrdered). When one fails (at shutdown, or
				// refused for good), none behind it is stored: the failed
				// event and those after it come back in order.
				if err := blocked[d.Webhook]; err != nil {
					j.pubErr = err
					break
				}
				err := s.publishOrdered(ctx, m, batch, &touched)
				if err != nil && ctx.Err() == nil && refusedForGood(err) {
					// Refused for good (a limit of the stream's, say):
					// handing it back would refuse it again and again, and
					// hold the webhook's later events with it.
					j.dead = append(j.dead, s.deadLetter(j, d, id, ReasonRefusedPrefix+err.Error()))
					continue
				}
				if err != nil {
					blocked[d.Webhook] = fmt.Errorf("ordered webhook %q: %w", d.Webhook, err)
					j.pubErr = err
					break
				}
				continue
			}
			f, err := s.r.js.PublishMsgAsync(m)
			if err != nil {
				// The event goes back, but its other deliveries are still
				// published: an ordered webhook's must not wait for it
				// while later events' go through. When it comes back, the
				// dedupe ids drop the copies.
				j.pubErr = err
				continue
			}
			j.futures = append(j.futures, &pubWait{f: f, d: d, id: id})
		}
	}
	for _, name := range order {
		p := packs[name]
		kind, maxItems, maxBytes := s.r.hooks[name].packLimits()
		if room > 0 && room < maxBytes {
			maxBytes = room
		}
		first := 0
		for _, m := range s.r.packMsgs(name, kind, p.items, maxItems, maxBytes) {
			n := itemCount(m.Header)
			f, err := s.r.js.PublishMsgAsync(m)
			w := &pubWait{f: f}
			for _, j := range p.jobs[first : first+n] {
				if err != nil {
					j.pubErr = err
				} else if len(j.futures) == 0 || j.futures[len(j.futures)-1] != w {
					// Every event in the pack waits on the one publish.
					j.futures = append(j.futures, w)
				}
			}
			first += n
		}
	}
}

// pubWait is one publish that one or more events wait on. A future answers
// once, so its outcome is kept for the others; only the ack loop calls
// wait.
type pubWait struct {
	f        jetstream.PubAckFuture
	resolved bool
	err      error
	// d and id are the one delivery f publishes, to dead-letter when the
	// stream refuses it for good; id is empty for a pack of many.
	d  Rendered
	id string
}

func (w *pubWait) wait(deadline <-chan struct{}) error {
	if w.resolved {
		return w.err
	}
	select {
	case <-w.f.Ok():
	case err := <-w.f.Err():
		w.err = err
	case <-deadline:
		// Not resolved: a later event may still see the answer.
		return context.DeadlineExceeded
	}
	w.resolved = true
	return w.err
}

// pack gathers one batching webhook's deliveries of a render batch, with
// the event each came from.
type pack struct {
	items []packedItem
	jobs  []*eventJob
}

func (s *renderStage) ackLoop(ctx context.Context) {
	for batch := range s.acks {
		// One deadline for the whole batch's publishes; once past, it
		// stays past for every later event of the batch.
		dctx, cancel := context.WithTimeout(ctx, defaultPublishAckTimeout)
		for _, j := range batch {
			s.finish(ctx, j, dctx.Done())
			s.held.give(len(j.msg.Data()))
		}
		cancel()
	}
}

// publishOrdered stores one delivery of an ordered webhook, trying again
// until JetStream takes it, refuses it for good (see refusedForGood), or
// ctx ends. Handing the event back instead would let the events behind it,
// rendered meanwhile, overtake it: a lost stream leader fails publishes for
// seconds, and the next batch's would go through before the event came
// back. Every try carries the same dedupe id, so a try whose answer was lost
// stores nothing twice. Meanwhile the batch's events are kept from being
// redelivered (touched is when that was last done).
func (s *renderStage) publishOrdered(ctx context.Context, m *nats.Msg, batch []*eventJob, touched *time.Time) error {
	wait := orderedRetryMin
	for try := 1; ; try++ {
		pctx, cancel := context.WithTimeout(ctx, defaultPublishAckTimeout)
		_, err := s.r.js.PublishMsg(pctx, m)
		cancel()
		if err == nil {
			if try > 1 {
				s.r.log.Info("ordered delivery stored after failed tries", zap.String("subject", m.Subject), zap.Int("tries", try))
			}
			return nil
		}
		if ctx.Err() != nil || refusedForGood(err) {
			return err
		}
		if try == 1 || try%10 == 0 {
			s.r.log.Warn("storing an ordered delivery failed; trying again, events wait behind it",
				zap.String("subject", m.Subject), zap.Int("tries", try), zap.Error(err))
		}
		if touched.IsZero() || time.Since(*touched) > DefaultEventsAckWait/4 {
			for _, j := range batch {
				_ = j.msg.InProgress()
			}
			*touched = time.Now()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, orderedRetryMax)
	}
}

// refusedForGood reports a publish error that trying again cannot cure:
// JetStream answered with a 4xx (a message over the stream's max_msg_size,
// say). Everything else, a timeout, nobody serving the stream while a
// leader is elected, a 5xx (unavailable, a limit that consumers will make
// room under), may pass.
func refusedForGood(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code >= 400 && api.Code < 500
}

// orderedRetryMin and orderedRetryMax bound the pause between tries of an
// ordered delivery's publish.
const (
	orderedRetryMin = 50 * time.Millisecond
	orderedRetryMax = 2 * time.Second
)

// deadLetter is the dead letter of delivery d of event j, with its id.
func (s *renderStage) deadLetter(j *eventJob, d Rendered, id, reason string) store.DeadLetter {
	return store.DeadLetter{
		Webhook:    d.Webhook,
		DeliveryID: id,
		EventID:    j.eventID,
		EventType:  j.routed.EventType,
		Body:       d.Body,
		Reason:     reason,
		CreatedAt:  s.r.now(),
	}
}

// giveBack returns an event unacked, to come again after a pause.
func (s *renderStage) giveBack(m jetstream.Msg) {
	s.gaveBack.Store(true)
	_ = m.NakWithDelay(defaultRepublishDelay)
}

// finish acks an event once every output is durable: its deliveries are
// stored by JetStream, and its rejection or dead letters by the store.
func (s *renderStage) finish(ctx context.Context, j *eventJob, deadline <-chan struct{}) {
	m := s.r.metrics
	m.eventsConsumed.Inc()
	if j.reject != nil {
		reason := j.reject.Error()
		_, err := s.r.store.PutRejected(context.WithoutCancel(ctx), store.Rejected{
			Subject:    j.msg.Subject(),
			StreamSeq:  j.seq,
			Reason:     reason,
			Size:       len(j.msg.Data()),
			Sample:     sample(j.msg.Data()),
			ReceivedAt: s.r.now(),
		})
		if err != nil {
			s.r.log.Error("recording rejected event", zap.Uint64("seq", j.seq), zap.Error(err))
			s.giveBack(j.msg)
			return
		}
		m.eventsRejected.WithLabelValues(rejectLabel(j.reject)).Inc()
		s.r.log.Warn("event rejected", zap.Uint64("seq", j.seq), zap.String("subject", j.msg.Subject()), zap.String("reason", reason))
		_ = j.msg.Ack()
		return
	}
	failed := j.pubErr
	for _, w := range j.futures {
		if failed != nil {
			break
		}
		failed = w.wait(deadline)
		if failed != nil && w.id != "" && refusedForGood(failed) {
			// Refused for good (a limit of the stream's, say): handing
			// the event back would refuse it again and again.
			j.dead = append(j.dead, s.deadLetter(j, w.d, w.id, ReasonRefusedPrefix+failed.Error()))
			failed = nil
		}
	}
	if failed != nil {
		s.r.log.Warn("publishing deliveries failed; event will be redelivered", zap.Uint64("seq", j.seq), zap.Error(failed))
		s.giveBack(j.msg)
		return
	}
	for _, dl := range j.dead {
		if _, err := s.r.store.PutDeadLetter(context.WithoutCancel(ctx), dl); err != nil {
			s.r.log.Error("writing dead letter", zap.String("webhook", dl.Webhook), zap.Error(err))
			s.giveBack(j.msg)
			return
		}
		if h := s.r.hooks[dl.Webhook]; h != nil {
			h.deadLettered()
		}
		s.r.log.Warn("delivery dead-lettered at render", zap.String("webhook", dl.Webhook), zap.String("event_id", dl.EventID), zap.String("reason", dl.Reason))
	}
	_ = j.msg.Ack()
}

// sample keeps the start of a rejected payload, as valid UTF-8.
func sample(b []byte) string {
	const max = 1024
	if len(b) > max {
		b = b[:max]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// RejectReasoner is implemented by Router errors that carry a short,
// fixed reason suitable as a metric label ("too_large", "not_json", …).
type RejectReasoner interface {
	RejectReason() string
}

func rejectLabel(err error) string {
	var rr RejectReasoner
	if errors.As(err, &rr) {
		return rr.RejectReason()
	}
	return "invalid"
}
