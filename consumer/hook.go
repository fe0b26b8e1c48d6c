package consumer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hookrelay/hookrelay/sender"
	"github.com/hookrelay/hookrelay/store"
)

// Counts are the outcomes seen for one webhook since the relay started.
type Counts struct {
	Delivered    uint64 `json:"delivered"`
	Retrying     uint64 `json:"retrying"`
	DeadLettered uint64 `json:"dead_lettered"`
	BreakerOpen  uint64 `json:"breaker_open"`
}

// hook is the sender stage of one webhook: a durable consumer, a pump that
// pauses while the breaker is open, and a pool of workers.
type hook struct {
	r     *Relay
	cfg   Webhook
	s     Sender
	bs    BatchSender // set for batching webhooks
	batch *batcher
	cons  jetstream.Consumer
	ctx   context.Context // the work context, for the consume handler

	work  chan workItem
	pause chan time.Duration
	// strays carries a message the stuck-consumer watcher fetched to the
	// pump, which hands it to the consume handler.
	strays chan jetstream.Msg
	wg     sync.WaitGroup
	stopc  chan struct{}

	// parked holds deliveries the breaker refused. They stay in flight,
	// kept alive with InProgress, until the breaker lets them through, so
	// a refusal never shows in NumDelivered and costs no attempt, whatever
	// restarts or replicas come in between.
	parkMu sync.Mutex
	parked []jetstream.Msg

	// packs are the packs of request bodies being delivered. A pack may
	// hold more deliveries than there are workers (the concurrency was
	// lowered since it was packed), so they are kept alive with
	// InProgress until they settle, like parked deliveries.
	packsMu sync.Mutex
	packs   map[*bodyPack]struct{}

	// free counts, per stream sequence, deliveries that were handed back
	// without an attempt at shutdown, so they do not count against
	// max_attempts. It is in memory: a hand-back at a shutdown does count
	// after the restart, so such a message may be retried once fewer,
	// never more.
	freeMu sync.Mutex
	free   map[uint64]uint64
	nfree  atomic.Int64 // len(free), so the usual case (none) takes no lock

	delivered, retrying, dead, breakerOpen atomic.Uint64
	m                                      hookMetrics
}

// hookMetrics are one webhook's series, looked up once rather than by label
// on every delivery.
type hookMetrics struct {
	latency                            prometheus.Observer
	delivered, retrying, dead, refused prometheus.Counter
	deadLetters                        prometheus.Counter
}

func newHookMetrics(m *metrics, name string) hookMetrics {
	return hookMetrics{
		latency:     m.latency.WithLabelValues(name),
		delivered:   m.deliveries.WithLabelValues(name, store.OutcomeDelivered),
		retrying:    m.deliveries.WithLabelValues(name, store.OutcomeRetrying),
		dead:        m.deliveries.WithLabelValues(name, store.OutcomeDeadLettered),
		refused:     m.deliveries.WithLabelValues(name, "breaker_open"),
		deadLetters: m.deadLetters.WithLabelValues(name),
	}
}

func newHook(r *Relay, w Webhook, s Sender) *hook {
	h := &hook{
		r:      r,
		cfg:    w,
		s:      s,
		work:   make(chan workItem),
		pause:  make(chan time.Duration, 1),
		strays: make(chan jetstream.Msg),
		stopc:  make(chan struct{}),
		free:   make(map[uint64]uint64),
		packs:  make(map[*bodyPack]struct{}),
		m:      newHookMetrics(r.metrics, w.Name),
	}
	if w.Batch != nil {
		h.bs = s.(BatchSender)
		h.batch = newBatcher(h, *w.Batch)
	}
	return h
}

// consumerConfig keeps AckWait above the time a message can spend waiting
// for a worker plus one attempt, and MaxAckPending above the concurrency
// plus the acks waiting on a store commit.
func (h *hook) consumerConfig() jetstream.ConsumerConfig {
	maxPending := h.cfg.Concurrency * 16
	if maxPending < 1024 {
		maxPending = 1024
	}
	// A buffered message may wait for the rounds of in-flight attempts
	// the pull holds (twice the concurrency, at least minPull) before its
	// own.
	rounds := (h.pullMax() + h.cfg.Concurrency - 1) / max(1, h.cfg.Concurrency)
	if h.cfg.Ordered {
		rounds = 2 // the server hands out one message at a time
	}
	ackWait := time.Duration(rounds+1)*h.cfg.Timeout + 5*time.Second
	if b := h.cfg.Batch; b != nil {
		// A whole batch per worker in flight, one filling and one queued;
		// a message may wait MaxWait, then a request and its 413 splits.
		maxPending = max(b.MaxEvents*(h.cfg.Concurrency+2), 1024)
		ackWait = b.MaxWait + 6*h.cfg.Timeout + 5*time.Second
	}
	if h.packing() && h.batch == nil {
		// A pack settles when its last delivery does: it may wait for the
		// pack being fed to the workers and the others the pull holds,
		// then take a round.
		ackWait = time.Duration(h.pullMax()+2)*h.cfg.Timeout + 5*time.Second
	}
	if h.cfg.Ordered {
		maxPending = 1
	}
	return jetstream.ConsumerConfig{
		Durable:       DefaultSenderDurablePfx + h.cfg.Name,
		Description:   "hookrelay: deliver to webhook " + h.cfg.Name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: h.r.deliverySubject(h.cfg.Name),
	}
}

func (h *hook) pullMax() int {
	switch {
	case h.batch != nil:
		return max(min(h.cfg.Batch.MaxEvents*2, maxBatchPull), minPull)
	case h.cfg.Ordered:
		// The consumer lets one message be in flight; a standing pull for
		// a few more means the next one comes as soon as the ack lands.
		return 16
	case h.packing():
		// Packs hold up to Concurrency deliveries each.
		return minPull
	}
	return max(h.cfg.Concurrency*2, minPull)
}

// minPull is the fewest messages a webhook's pull holds. A pull of one or
// two messages asks the server for more only as its last message arrives,
// which nats.go can miss (see pullExpiry); four, each asking again, leave
// it four chances.
const minPull = 4

// maxPackedBodies bounds the request bodies packed into one message.
const maxPackedBodies = 64

// maxEntryPackBytes bounds the log entries packed into one message. Larger
// packs save little per entry and cost memory: the NATS server keeps the
// buffer a message was loaded into for reuse, so pack-sized buffers pile up
// in its pool (at 1 MB packs, a 300,000-event backlog held about 240 MB of
// them). It also bounds what a pack redelivered after a crash sends again.
const maxEntryPackBytes = 64 << 10

// packing reports whether the render stage packs this webhook's deliveries
// many to a message: a batching webhook's log entries, and the request
// bodies of one that sends several requests at once. An ordered webhook's
// deliveries go one to a message, so each can be retried in its place.
func (h *hook) packing() bool {
	return h.batch != nil || (!h.cfg.Ordered && h.cfg.Concurrency > 1)
}

// packLimits are the kind and the limits of this webhook's packs.
func (h *hook) packLimits() (kind string, maxItems, maxBytes int) {
	if b := h.cfg.Batch; b != nil {
		return PackEntries, b.MaxEvents, min(b.MaxBytes, maxEntryPackBytes)
	}
	return PackBodies, min(h.cfg.Concurrency, maxPackedBodies), math.MaxInt
}

func (h *hook) start(ctx context.Context) error {
	h.ctx = ctx
	for i := 0; i < h.cfg.Concurrency; i++ {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if h.batch != nil {
				for b := range h.batch.out {
					h.deliverBatch(ctx, h.bs, b)
				}
				return
			}
			for w := range h.work {
				if w.pack != nil {
					h.deliverPacked(ctx, w.pack, w.i)
				} else {
					h.deliver(ctx, w.m)
				}
			}
		}()
	}
	cc, err := h.consume()
	if err != nil {
		h.closeWork()
		h.wg.Wait()
		return err
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.pump(cc)
	}()
	if h.batch == nil {
		// Also when this webhook does not pack now: packs made before a
		// change of its concurrency may still arrive.
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.keepPacksAlive()
		}()
	}
	return nil
}

// keepPacksAlive tells JetStream, well within AckWait, that the packs in
// hand are still being worked on.
func (h *hook) keepPacksAlive() {
	t := time.NewTicker(h.keepAlive())
	defer t.Stop()
	for {
		select {
		case <-h.stopc:
			return
		case <-t.C:
		}
		h.packsMu.Lock()
		for p := range h.packs {
			_ = p.m.InProgress()
		}
		h.packsMu.Unlock()
	}
}

func (h *hook) trackPack(p *bodyPack, on bool) {
	h.packsMu.Lock()
	if on {
		h.packs[p] = struct{}{}
	} else {
		delete(h.packs, p)
	}
	h.packsMu.Unlock()
}

// closeWork ends the workers' input once nothing more can arrive.
func (h *hook) closeWork() {
	if h.batch != nil {
		h.batch.close()
		return
	}
	close(h.work)
}

// maxBatchPull bounds the messages a batching webhook's pull holds. Its
// deliveries come packed, up to maxEntryPackBytes of entries to a message,
// and its handler blocks while every worker is busy, so what the pull holds
// waits in the client: 512 full packs are 32 MiB, half the client's
// slow-consumer limit, and fewer messages held means fewer rounds of
// requests for the last of them to wait through within AckWait.
const maxBatchPull = 512

// handler is the consume handler: the batcher's for a batching webhook.
func (h *hook) handler() jetstream.MessageHandler {
	if h.batch != nil {
		return h.batch.add
	}
	return h.dispatch
}

// stray hands a message the stuck-consumer watcher fetched to the pump. It
// reports false when the pump does not take it soon (paused, or stopped).
func (h *hook) stray(m jetstream.Msg) bool {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case h.strays <- m:
		return true
	case <-h.stopc:
	case <-t.C:
	}
	return false
}

func (h *hook) consume() (jetstream.ConsumeContext, error) {
	return h.cons.Consume(h.handler(), pullOptions(h.pullMax(), h.r.pullBytes(), h.r.log, "deliveries consumer", zap.String("webhook", h.cfg.Name))...)
}

// pump owns the consume context. While the breaker is open it drains it
// (buffered messages are handed back without an attempt) and fetches
// nothing until the breaker lets a probe through.
func (h *hook) pump(cc jetstream.ConsumeContext) {
	defer h.closeWork()
	for {
		select {
		case <-h.stopc:
			cc.Drain()
			<-cc.Closed()
			return
		case m := <-h.strays:
			h.handler()(m)
		case d := <-h.pause:
			cc.Drain()
			<-cc.Closed()
			if h.batch != nil {
				h.batch.flush()
			}
			h.r.log.Info("breaker open: pausing deliveries", zap.String("webhook", h.cfg.Name), zap.Duration("for", d))
			t := time.NewTimer(d)
			keep := time.NewTicker(h.keepAlive())
		wait:
			for {
				select {
				case <-h.stopc:
					t.Stop()
					keep.Stop()
					return
				case <-keep.C:
					h.touchParked()
				case <-t.C:
					break wait
				}
			}
			keep.Stop()
			// Drop pause requests made by messages drained above.
			select {
			case <-h.pause:
			default:
			}
			// The breaker lets probes through now: the parked deliveries
			// go first, oldest first; those refused again park again.
			for _, m := range h.takeParked() {
				if h.batch != nil {
					h.batch.add(m)
				} else {
					h.work <- workItem{m: m}
				}
			}
			for {
				var err error
				cc, err = h.consume()
				if err == nil {
					break
				}
				h.r.log.Warn("resuming deliveries consumer", zap.String("webhook", h.cfg.Name), zap.Error(err))
				select {
				case <-h.stopc:
					return
				case <-time.After(time.Second):
				}
			}
		}
	}
}

func (h *hook) stop() {
	close(h.stopc)
	h.wg.Wait()
	// Hand back what the breaker kept, for the next start or another
	// replica.
	for _, m := range h.takeParked() {
		if meta, err := m.Metadata(); err == nil {
			h.addFree(meta.Sequence.Stream)
		}
		_ = m.NakWithDelay(minBreakerPause)
	}
}

// park keeps a delivery the breaker refused until it may be tried.
func (h *hook) park(m jetstream.Msg) {
	h.parkMu.Lock()
	h.parked = append(h.parked, m)
	h.parkMu.Unlock()
}

func (h *hook) takeParked() []jetstream.Msg {
	h.parkMu.Lock()
	defer h.parkMu.Unlock()
	out := h.parked
	h.parked = nil
	return out
}

// touchParked tells JetStream the parked deliveries are still being worked
// on, so their AckWait does not run out.
func (h *hook) touchParked() {
	h.parkMu.Lock()
	defer h.parkMu.Unlock()
	for _, m := range h.parked {
		_ = m.InProgress()
	}
}

// keepAlive is how often parked deliveries are touched: well within the
// consumer's AckWait.
func (h *hook) keepAlive() time.Duration {
	return min(h.consumerConfig().AckWait/3, 5*time.Second)
}

func (h *hook) requestPause(d time.Duration) {
	select {
	case h.pause <- d:
	default:
	}
}

func (h *hook) addFree(seq uint64) {
	h.freeMu.Lock()
	if len(h.free) >= maxFree {
		// Entries of messages another replica settled are never removed
		// here; start over rather than grow without bound.
		clear(h.free)
	}
	h.free[seq]++
	h.nfree.Store(int64(len(h.free)))
	h.freeMu.Unlock()
}

// maxFree bounds the hand-back counts a hook keeps.
const maxFree = 1 << 20

func (h *hook) forget(seq uint64) {
	if h.nfree.Load() == 0 {
		return
	}
	h.freeMu.Lock()
	delete(h.free, seq)
	h.nfree.Store(int64(len(h.free)))
	h.freeMu.Unlock()
}

func (h *hook) attempt(seq, delivered uint64) int {
	if h.nfree.Load() == 0 {
		return int(delivered)
	}
	h.freeMu.Lock()
	f := h.free[seq]
	h.freeMu.Unlock()
	if f >= delivered {
		return 1
	}
	return int(delivered - f)
}

// done counts an attempt's outcome (delivered, retrying or dead-lettered).
func (h *hook) done(outcome string) {
	switch outcome {
	case store.OutcomeDelivered:
		h.delivered.Add(1)
		h.m.delivered.Inc()
	case store.OutcomeRetrying:
		h.retrying.Add(1)
		h.m.retrying.Inc()
	case store.OutcomeDeadLettered:
		h.dead.Add(1)
		h.m.dead.Inc()
	}
}

// deadLettered counts a dead letter written.
func (h *hook) deadLettered() {
	h.done(store.OutcomeDeadLettered)
	h.m.deadLetters.Inc()
}

// refused counts n deliveries the breaker refused.
func (h *hook) refused(n int) {
	h.breakerOpen.Add(uint64(n))
	h.m.refused.Add(float64(n))
}

func (h *hook) counts() Counts {
	return Counts{
		Delivered:    h.delivered.Load(),
		Retrying:     h.retrying.Load(),
		DeadLettered: h.dead.Load(),
		BreakerOpen:  h.breakerOpen.Load(),
	}
}

// metadata returns m's JetStream metadata. A message without any did not
// come from a consumer and cannot be settled otherwise: it is terminated.
func (h *hook) metadata(m jetstream.Msg) (*jetstream.MsgMetadata, bool) {
	meta, err := m.Metadata()
	if err != nil {
		h.r.log.Error("delivery without metadata", zap.String("webhook", h.cfg.Name), zap.Error(err))
		_ = m.Term()
		return nil, false
	}
	return meta, true
}

// deliver makes one attempt and picks the ack verb for its outcome.
func (h *hook) deliver(ctx context.Context, m jetstream.Msg) {
	meta, ok := h.metadata(m)
	if !ok {
		return
	}
	seq := meta.Sequence.Stream
	hdr := m.Headers()
	if packKind(hdr) == PackEntries {
		// Packed for a batching webhook that no longer batches.
		h.deadLetterPacked(ctx, m, seq, meta.NumDelivered, errPackedForPlain)
		return
	}
	select {
	case <-h.stopc:
		// Fetched before the stop but not started: shutdown finishes what
		// is in flight and starts nothing new. It goes back at once, to
		// another replica or the next start, and this arrival does not
		// count as an attempt here.
		h.addFree(seq)
		_ = m.Nak()
		return
	default:
	}
	attempt := h.attempt(seq, meta.NumDelivered)
	if wait, ok := notBefore(hdr, h.r.now()); ok {
		// A delivery taken out of a pack to be tried again. Its first
		// arrival always goes back until its time, so that arrival is
		// never an attempt, on whichever replica, after whatever restart.
		if meta.NumDelivered == 1 {
			_ = m.NakWithDelay(max(wait, 0))
			return
		}
		attempt--
	}
	attempt += attemptsMade(hdr)
	did := hdr.Get(HeaderDeliveryID)
	eventID := hdr.Get(HeaderEventID)
	eventType := hdr.Get(HeaderEventType)

	att, sendErr := h.s.Send(ctx, sender.Delivery{ID: did, Body: m.Data(), ContentType: hdr.Get(HeaderContentType)})
	v := h.judge(ctx, did, eventID, eventType, attempt, att, sendErr)
	switch v.outcome {
	case refusedByBreaker:
		h.park(m)
	case cutShort:
		// Handed back, uncounted.
		h.addFree(seq)
		if v.inv.Outcome == "" {
			_ = m.NakWithDelay(time.Second)
			break
		}
		h.r.store.RecordAsync(v.inv, func(_ string, err error) {
			h.logRecordErr(err)
			_ = m.NakWithDelay(time.Second)
		})
	case deliveredOK:
		h.r.store.RecordAsync(v.inv, func(_ string, err error) {
			h.logRecordErr(err)
			h.forget(seq)
			_ = m.Ack()
		})
	case toRetry:
		h.r.store.RecordAsync(v.inv, func(_ string, err error) {
			h.logRecordErr(err)
			_ = m.NakWithDelay(v.delay)
		})
	default:
		h.deadLetter(ctx, m, seq, v.inv, sendErr, v.se)
	}
}

// outcome is what one attempt's result means for its delivery.
type outcome int

const (
	refusedByBreaker outcome = iota // no attempt was made
	cutShort                        // shutdown stopped it before an answer
	deliveredOK
	toRetry
	toDeadLetter
)

// verdict is the outcome of an attempt with what its caller needs: the
// invocation to record (unless refused, or cut short before the request
// went out), the sender's error
// and, for a retry or a refusal, how long until the next try.
type verdict struct {
	outcome outcome
	inv     store.Invocation
	se      *sender.Error
	delay   time.Duration
}

// judge sorts the result of attempt number attempt of a delivery, counts
// it, asks for a pause when the breaker refused it, and builds its
// invocation. Each caller then settles the delivery its own way.
func (h *hook) judge(ctx context.Context, did, eventID, eventType string, attempt int, att sender.Attempt, sendErr error) verdict {
	var v verdict
	errors.As(sendErr, &v.se)
	switch {
	case v.se != nil && v.se.Class == sender.BreakerOpen:
		h.refused(1)
		v.outcome = refusedByBreaker
		v.delay = max(h.s.Breaker().OpenRemaining, minBreakerPause)
		h.requestPause(v.delay)
		return v
	case sendErr != nil && ctx.Err() != nil:
		v.outcome = cutShort
		if !att.StartedAt.IsZero() {
			// The request went out and may have reached the endpoint:
			// it is recorded, as going again, though it is not counted.
			v.inv = Invocation(h.cfg.Name, did, eventID, eventType, attempt, att, sendErr)
			v.inv.Outcome = store.OutcomeRetrying
		}
		return v
	}
	v.inv = Invocation(h.cfg.Name, did, eventID, eventType, attempt, att, sendErr)
	h.m.latency.Observe(att.Duration.Seconds())
	switch {
	case sendErr == nil:
		v.outcome, v.inv.Outcome = deliveredOK, store.OutcomeDelivered
	case v.se != nil && v.se.Class == sender.Retryable && attempt < h.cfg.MaxAttempts:
		v.outcome, v.inv.Outcome = toRetry, store.OutcomeRetrying
		v.delay = h.s.Backoff(attempt, v.se.RetryAfter)
		h.r.log.Debug("delivery failed, will retry", zap.String("webhook", h.cfg.Name), zap.String("delivery_id", did),
			zap.Int("attempt", attempt), zap.Duration("in", v.delay), zap.Error(sendErr))
	default:
		// Counted once the dead letter is written.
		v.outcome, v.inv.Outcome = toDeadLetter, store.OutcomeDeadLettered
		return v
	}
	h.done(v.inv.Outcome)
	return v
}

// logRecordErr logs a failure to record an invocation; the delivery is
// settled all the same.
func (h *hook) logRecordErr(err error) {
	if err != nil {
		h.r.log.Error("recording invocation", zap.String("webhook", h.cfg.Name), zap.Error(err))
	}
}

// deadLetter writes the invocation and the dead letter, and only then
// terminates the message. If the store cannot take them the message is
// handed back for another try rather than lost.
func (h *hook) deadLetter(ctx context.Context, m jetstream.Msg, seq uint64, inv store.Invocation, sendErr error, se *sender.Error) {
	reason, err := h.writeDeadLetter(ctx, inv, m.Data(), sendErr, se)
	if err != nil {
		h.addFree(seq)
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	h.forget(seq)
	_ = m.TermWithReason(truncate(reason, 200))
}

// writeDeadLetter records the last invocation and writes the dead letter
// for one delivery, durably, and returns the reason. An error means the
// store could not take them: the caller hands the delivery back instead.
func (h *hook) writeDeadLetter(ctx context.Context, inv store.Invocation, body []byte, sendErr error, se *sender.Error) (string, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	reason := "delivery failed"
	if sendErr != nil {
		reason = sendErr.Error()
	}
	if se != nil && se.Class == sender.Retryable {
		reason = "max attempts exhausted: " + reason
	}
	invID, err := h.r.store.Record(wctx, inv)
	h.logRecordErr(err)
	var headers map[string]string
	if ct := inv.Request.Headers["Content-Type"]; ct != "" {
		// A replay sends the body as it was labelled.
		headers = map[string]string{"Content-Type": ct}
	}
	dl := store.DeadLetter{
		Webhook:          h.cfg.Name,
		DeliveryID:       inv.DeliveryID,
		EventID:          inv.EventID,
		EventType:        inv.EventType,
		Headers:          headers,
		Body:             append([]byte(nil), body...),
		Reason:           reason,
		Attempts:         inv.Attempt,
		LastInvocationID: invID,
		CreatedAt:        h.r.now(),
	}
	if inv.Response != nil {
		dl.LastStatus = inv.Response.Status
	}
	if _, err := h.r.store.PutDeadLetter(wctx, dl); err != nil {
		h.r.log.Error("writing dead letter; delivery kept for another try", zap.String("webhook", h.cfg.Name), zap.Error(err))
		return reason, err
	}
	h.deadLettered()
	h.r.log.Warn("delivery dead-lettered", zap.String("webhook", h.cfg.Name), zap.String("delivery_id", inv.DeliveryID),
		zap.Int("attempts", inv.Attempt), zap.String("reason", reason))
	return reason, nil
}

// errPackedForPlain is the reason given to deliveries packed for a batching
// webhook that reached it after its coralogix block was removed.
var errPackedForPlain = errors.New("packed Coralogix delivery reached a webhook that no longer batches")

// errBodiesForBatch is the reason given to request bodies packed for a
// webhook that batches Coralogix log entries now.
var errBodiesForBatch = errors.New("request bodies packed for a plain webhook reached a webhook that batches Coralogix entries now")

// deadLetterPacked dead-letters every delivery of a message that cannot be
// sent as it is, each with its own body, so each can be replayed, and then
// terminates the message. A message that does not even decode is kept
// whole as one dead letter.
func (h *hook) deadLetterPacked(ctx context.Context, m jetstream.Msg, seq, delivered uint64, cause error) {
	items, err := unpack(m)
	if err != nil {
		cause = err
		items = []packedItem{{deliveryID: fmt.Sprintf("undecodable-%d", seq), body: m.Data()}}
	}
	attempt := h.attempt(seq, delivered)
	for _, it := range items {
		inv := Invocation(h.cfg.Name, it.deliveryID, it.eventID, it.eventType, attempt, sender.Attempt{StartedAt: h.r.now()}, cause)
		inv.Outcome = store.OutcomeDeadLettered
		if _, err := h.writeDeadLetter(ctx, inv, it.body, cause, nil); err != nil {
			h.addFree(seq)
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
	}
	h.forget(seq)
	_ = m.TermWithReason(truncate(cause.Error(), 200))
}

// Invocation turns an attempt into the record the store keeps ("View
// Invocation Data"); err, when set, is the attempt's error.
func Invocation(webhook, did, eventID, eventType string, attempt int, att sender.Attempt, err error) store.Invocation {
	inv := store.Invocation{
		Webhook:    webhook,
		DeliveryID: did,
		EventID:    eventID,
		EventType:  eventType,
		Attempt:    attempt,
		StartedAt:  att.StartedAt,
		DurationMS: float64(att.Duration.Microseconds()) / 1000,
		Request: store.HTTPRequest{
			Method:  att.Request.Method,
			URL:     att.Request.URL,
			Headers: att.Request.Headers,
			Body:    att.Request.Body,
		},
	}
	if att.Response != nil {
		inv.Response = &store.HTTPResponse{
			Status:  att.Response.Status,
			Headers: att.Response.Headers,
			Body:    att.Response.Body,
		}
	}
	if err != nil {
		inv.Error = err.Error()
	}
	return inv
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
