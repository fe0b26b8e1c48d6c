package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hookrelay/hookrelay/sender"
	"github.com/hookrelay/hookrelay/store"
)

// Header names carried by messages on the two streams.
const (
	// HeaderDeliveryID carries a delivery's id; it is the Idempotency-Key.
	HeaderDeliveryID = "Hookrelay-Delivery-Id"
	// HeaderEventID carries the id of the event a delivery came from.
	HeaderEventID = "Hookrelay-Event-Id"
	// HeaderEventType carries the event_type of the event a delivery came from.
	HeaderEventType = "Hookrelay-Event-Type"
	// HeaderTarget on an event restricts it to one webhook (the Manual trigger).
	HeaderTarget = "Hookrelay-Target"
	// HeaderReplayOf on a delivery names the dead letter it replays.
	HeaderReplayOf = "Hookrelay-Replay-Of"
	// HeaderContentType on a replayed delivery is the Content-Type its body
	// was first sent with, which the webhook's template may no longer give.
	HeaderContentType = "Hookrelay-Content-Type"
)

// ReasonRenderPrefix starts the reason of every dead letter made by the
// render stage (the body could not be rendered or is too large to queue).
const ReasonRenderPrefix = "render: "

// ReasonRefusedPrefix starts the reason of a dead letter whose delivery the
// deliveries stream refused for good (one of its limits, say), so that it
// could not be queued.
const ReasonRefusedPrefix = "deliveries stream refused it: "

// Defaults for Config fields left zero.
const (
	DefaultDeliveriesStream  = "HOOKRELAY_DELIVERIES"
	DefaultDeliveriesPrefix  = "hookrelay.deliveries"
	DefaultRendererDurable   = "hookrelay-renderer"
	DefaultSenderDurablePfx  = "hookrelay-send-"
	DefaultDuplicateWindow   = 2 * time.Minute
	DefaultEventsAckWait     = 20 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultRenderBatch       = 256
	DefaultEventsMaxPending  = 8192
	DefaultWatchInterval     = 5 * time.Second
	minBreakerPause          = 100 * time.Millisecond
	defaultRepublishDelay    = time.Second
	defaultPublishAckTimeout = 10 * time.Second
)

// Config says which streams and consumers the relay uses.
type Config struct {
	EventsStream     string
	EventsSubjects   []string
	EventsMaxAge     time.Duration
	DeliveriesStream string
	DeliveriesPrefix string
	// Replicas is the replica count of the streams the relay creates. 0
	// creates them with one and leaves the replicas of existing streams as
	// they are (an operator may have scaled them); above 0 it also scales
	// the deliveries stream (the relay's, whoever made it) and an events
	// stream the relay made. An events stream made by someone else keeps
	// its own. Consumers follow their stream.
	Replicas        int
	DuplicateWindow time.Duration
	ShutdownTimeout time.Duration
	// WatchInterval is how often each consumer's state is read, for the
	// lag metric and to spot one stuck behind a message too large for its
	// pulls (see watch.go); 0 means DefaultWatchInterval.
	WatchInterval time.Duration
	Webhooks      []Webhook
}

// Webhook is what the consumer needs to know of one webhook.
type Webhook struct {
	Name        string
	Concurrency int
	Ordered     bool
	Timeout     time.Duration
	MaxAttempts int
	// Batch, when set, sends many deliveries per request; the webhook's
	// Sender must then be a BatchSender.
	Batch *BatchPolicy
}

// Router decides which webhooks an event goes to and renders each body. An
// error means the event itself is unacceptable; it is recorded as rejected.
type Router interface {
	Route(payload []byte, target string) (Routed, error)
}

// RouterFunc adapts a function to Router.
type RouterFunc func(payload []byte, target string) (Routed, error)

// Route calls f.
func (f RouterFunc) Route(payload []byte, target string) (Routed, error) { return f(payload, target) }

// Routed is the outcome of routing one event.
type Routed struct {
	EventType  string
	Deliveries []Rendered
}

// Rendered is one webhook's body for an event. A non-nil Err (a template
// that rendered invalid JSON) dead-letters the delivery with that reason.
type Rendered struct {
	Webhook string
	Body    []byte
	Err     error
}

// Sender delivers one body to one webhook.
type Sender interface {
	Send(ctx context.Context, d sender.Delivery) (sender.Attempt, error)
	Backoff(attempt int, retryAfter time.Duration) time.Duration
	Breaker() sender.BreakerStatus
}

// Store keeps invocations, dead letters and rejected events.
type Store interface {
	RecordAsync(inv store.Invocation, done func(id string, err error))
	Record(ctx context.Context, inv store.Invocation) (string, error)
	PutDeadLetter(ctx context.Context, dl store.DeadLetter) (string, error)
	PutRejected(ctx context.Context, r store.Rejected) (string, error)
}

// Options carries the relay's dependencies.
type Options struct {
	Logger     *zap.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Relay runs the renderer stage and one sender stage per webhook.
type Relay struct {
	js      jetstream.JetStream
	cfg     Config
	router  Router
	store   Store
	log     *zap.Logger
	now     func() time.Time
	metrics *metrics

	hooks    map[string]*hook
	order    []string
	streamID string // part of every delivery id, so a recreated stream gives new ids

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	// watchCancel and watchDone stop the consumer watcher, first thing on
	// Close.
	watchCancel context.CancelFunc
	watchDone   chan struct{}
	render      *renderStage
}

// New checks cfg and builds a Relay. senders must hold one Sender per
// configured webhook.
func New(js jetstream.JetStream, cfg Config, router Router, senders map[string]Sender, st Store, opts Options) (*Relay, error) {
	if js == nil || router == nil || st == nil {
		return nil, errors.New("consumer: jetstream, router and store are required")
	}
	if cfg.EventsStream == "" || len(cfg.EventsSubjects) == 0 {
		return nil, errors.New("consumer: events stream and subjects are required")
	}
	if cfg.DeliveriesStream == "" {
		cfg.DeliveriesStream = DefaultDeliveriesStream
	}
	if cfg.DeliveriesPrefix == "" {
		cfg.DeliveriesPrefix = DefaultDeliveriesPrefix
	}
	if cfg.DuplicateWindow <= 0 {
		cfg.DuplicateWindow = DefaultDuplicateWindow
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.WatchInterval <= 0 {
		cfg.WatchInterval = DefaultWatchInterval
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Relay{
		js:     js,
		cfg:    cfg,
		router: router,
		store:  st,
		log:    opts.Logger,
		now:    opts.Now,
		hooks:  make(map[string]*hook, len(cfg.Webhooks)),
	}
	r.metrics = newMetrics()
	for _, w := range cfg.Webhooks {
		s, ok := senders[w.Name]
		if !ok {
			return nil, fmt.Errorf("%w: no sender for %q", ErrUnknownWebhook, w.Name)
		}
		if _, dup := r.hooks[w.Name]; dup {
			return nil, fmt.Errorf("consumer: duplicate webhook %q", w.Name)
		}
		if w.Concurrency <= 0 {
			w.Concurrency = 1
		}
		if w.Ordered {
			w.Concurrency = 1
		}
		if w.MaxAttempts <= 0 {
			w.MaxAttempts = 1
		}
		if w.Timeout <= 0 {
			w.Timeout = 10 * time.Second
		}
		if w.Batch != nil {
			if _, ok := s.(BatchSender); !ok {
				return nil, fmt.Errorf("consumer: webhook %q batches but its sender cannot send batches", w.Name)
			}
			b := *w.Batch
			if b.MaxEvents <= 0 || b.MaxBytes <= 0 || b.MaxWait <= 0 {
				return nil, fmt.Errorf("consumer: webhook %q: batch limits must be positive", w.Name)
			}
			w.Batch = &b
		}
		r.hooks[w.Name] = newHook(r, w, s)
		r.order = append(r.order, w.Name)
	}
	// Registered last: a scrape may come at once (the admin server is up
	// before the relay) and the breaker collector reads the webhooks.
	r.metrics.register(opts.Registerer, r)
	return r, nil
}

// Setup creates or updates the streams and durable consumers. It is
// idempotent and safe to run from several replicas at once.
func (r *Relay) Setup(ctx context.Context) error {
	events, err := r.eventsStream(ctx)
	if err != nil {
		return fmt.Errorf("consumer: events stream %s: %w", r.cfg.EventsStream, err)
	}
	info := events.CachedInfo()
	r.streamID = strconv.FormatInt(info.Created.UnixNano(), 36)

	if err := r.deliveriesStream(ctx); err != nil {
		return fmt.Errorf("consumer: deliveries stream %s: %w", r.cfg.DeliveriesStream, err)
	}

	cc := jetstream.ConsumerConfig{
		Durable:        DefaultRendererDurable,
		Description:    "hookrelay: match and render events into deliveries",
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        DefaultEventsAckWait,
		MaxAckPending:  DefaultEventsMaxPending * 2,
		MaxDeliver:     -1,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		FilterSubjects: r.cfg.EventsSubjects,
		// One replica renders at a time: the server serves one client of
		// the group and moves the pin when it stops pulling for
		// renderPinnedTTL. Replicas rendering side by side published their
		// deliveries side by side, and an ordered webhook got neighbours
		// swapped.
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{renderGroup},
		PinnedTTL:      renderPinnedTTL,
	}
	cons, err := r.js.CreateOrUpdateConsumer(ctx, r.cfg.EventsStream, cc)
	if err == nil && cons.CachedInfo().Config.PriorityPolicy != jetstream.PriorityPolicyPinned {
		// A server before 2.11 ignores priority groups.
		r.log.Warn("the NATS server does not pin consumers (it is older than 2.11): with several replicas, ordered webhooks may get events out of order")
		cc.PriorityPolicy, cc.PriorityGroups, cc.PinnedTTL = jetstream.PriorityPolicyNone, nil, 0
		cons, err = r.js.CreateOrUpdateConsumer(ctx, r.cfg.EventsStream, cc)
	}
	if err != nil {
		return fmt.Errorf("consumer: renderer consumer on stream %s (subjects %v) for events.subjects %v: %w",
			r.cfg.EventsStream, info.Config.Subjects, r.cfg.EventsSubjects, err)
	}
	r.render = newRenderStage(r, events, cons)

	for _, name := range r.order {
		h := r.hooks[name]
		c, err := r.js.CreateOrUpdateConsumer(ctx, r.cfg.DeliveriesStream, h.consumerConfig())
		if err != nil {
			return fmt.Errorf("consumer: sender consumer for webhook %q: %w", name, err)
		}
		h.cons = c
	}
	return nil
}

// eventsStream returns the events stream, creating it when it is missing.
// A stream hookrelay created (marked so in its metadata) follows the
// config's subjects and max_age on every start. Any other stream is used as
// it is: its subjects, limits, storage and replicas belong to whoever made
// it, so a difference from the config is logged, never applied.
func (r *Relay) eventsStream(ctx context.Context) (jetstream.Stream, error) {
	want := jetstream.StreamConfig{
		Name:       r.cfg.EventsStream,
		Subjects:   r.cfg.EventsSubjects,
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     r.cfg.EventsMaxAge,
		Duplicates: r.cfg.DuplicateWindow,
		Replicas:   max(r.cfg.Replicas, 1),
		Metadata:   map[string]string{metadataManaged: "true"},
	}
	s, managed, err := r.ensureStream(ctx, want, false, func(c *jetstream.StreamConfig) {
		c.Subjects, c.MaxAge = want.Subjects, want.MaxAge
	})
	if err != nil || managed {
		return s, err
	}
	have := s.CachedInfo().Config
	for _, sub := range want.Subjects {
		if !slices.ContainsFunc(have.Subjects, func(p string) bool { return subjectCovers(p, sub) }) {
			// The server would take such a consumer and it would never
			// see an event.
			return nil, fmt.Errorf("stream exists with subjects %v, which do not cover events.subjects %q", have.Subjects, sub)
		}
	}
	if !slices.Equal(have.Subjects, want.Subjects) || have.MaxAge != want.MaxAge || have.Storage != want.Storage ||
		(r.cfg.Replicas > 0 && have.Replicas != r.cfg.Replicas) {
		r.log.Warn("events stream was not made by hookrelay and has other settings than the config; using it as it is",
			zap.String("stream", want.Name),
			zap.Strings("subjects", have.Subjects), zap.Strings("config_subjects", want.Subjects),
			zap.Duration("max_age", have.MaxAge), zap.Duration("config_max_age", want.MaxAge),
			zap.Stringer("storage", have.Storage), zap.Int("replicas", have.Replicas), zap.Int("config_replicas", r.cfg.Replicas))
	}
	return s, nil
}

// deliveriesStream creates the deliveries stream, or brings the one made
// before in line: its subjects and duplicate window are the relay's, and its
// replicas when Config.Replicas is set; what an operator changed besides
// (limits, replicas otherwise) stays.
func (r *Relay) deliveriesStream(ctx context.Context) error {
	want := jetstream.StreamConfig{
		Name:       r.cfg.DeliveriesStream,
		Subjects:   []string{r.cfg.DeliveriesPrefix + ".>"},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: r.cfg.DuplicateWindow,
		Replicas:   max(r.cfg.Replicas, 1),
		Metadata:   map[string]string{metadataManaged: "true"},
	}
	_, _, err := r.ensureStream(ctx, want, true, func(c *jetstream.StreamConfig) {
		c.Subjects, c.Duplicates = want.Subjects, want.Duplicates
	})
	return err
}

// ensureStream returns the stream want names, creating it from want when it
// is missing. On a stream the relay made (marked so in its metadata, or any
// stream of that name when mine is set), own sets the fields the relay
// owns, and the stream is updated when that changes it, then scaled to the
// configured replicas (see scale); what an operator changed besides stays.
// Any other stream is returned as it is, with managed false.
func (r *Relay) ensureStream(ctx context.Context, want jetstream.StreamConfig, mine bool, own func(*jetstream.StreamConfig)) (s jetstream.Stream, managed bool, err error) {
	s, err = r.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = r.js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Made meanwhile, by another replica or by hand.
			s, err = r.js.Stream(ctx, want.Name)
		} else if err != nil && want.Replicas > 1 {
			err = fmt.Errorf("creating it with %d replicas (nats.replicas; the cluster must have as many servers with JetStream): %w", want.Replicas, err)
		}
	}
	if err != nil {
		return nil, false, err
	}
	have := s.CachedInfo().Config
	if !mine && have.Metadata[metadataManaged] != "true" {
		return s, false, nil
	}
	upd := have
	own(&upd)
	if !reflect.DeepEqual(upd, have) {
		if s, err = r.js.UpdateStream(ctx, upd); err != nil {
			return nil, true, fmt.Errorf("updating it from the config: %w", err)
		}
		r.log.Info("stream updated from the config", zap.String("stream", want.Name),
			zap.Strings("subjects", upd.Subjects), zap.Duration("max_age", upd.MaxAge), zap.Duration("duplicates", upd.Duplicates))
	}
	return r.scale(ctx, s), true, nil
}

// scale gives a stream the relay made the configured replicas, when they
// are configured. A scale the cluster refuses (a server is down, say) is
// logged and the stream used as it is: it works, and the next start tries
// again.
func (r *Relay) scale(ctx context.Context, s jetstream.Stream) jetstream.Stream {
	upd := s.CachedInfo().Config
	if r.cfg.Replicas <= 0 || upd.Replicas == r.cfg.Replicas {
		return s
	}
	from := upd.Replicas
	upd.Replicas = r.cfg.Replicas
	scaled, err := r.js.UpdateStream(ctx, upd)
	if err != nil {
		r.log.Warn("could not scale the stream to nats.replicas; using it as it is", zap.String("stream", upd.Name),
			zap.Int("replicas", from), zap.Int("config_replicas", r.cfg.Replicas), zap.Error(err))
		return s
	}
	r.log.Info("stream scaled to nats.replicas", zap.String("stream", upd.Name), zap.Int("from", from), zap.Int("to", r.cfg.Replicas))
	return scaled
}

// metadataManaged marks, in a stream's metadata, a stream hookrelay made.
const metadataManaged = "hookrelay.managed"

// subjectCovers reports whether every subject matching sub also matches
// pattern, under NATS wildcards ("*" one token, ">" one or more at the end).
func subjectCovers(pattern, sub string) bool { return server.SubjectMatchesFilter(sub, pattern) }

// Start begins consuming. Setup must have run.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.render == nil {
		return ErrNotStarted
	}
	if r.closed {
		return ErrClosed
	}
	if r.started {
		return nil
	}
	r.started = true
	// Work runs under its own context: Close stops fetching first and lets
	// in-flight deliveries finish, cancelling them only at the deadline.
	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	for _, name := range r.order {
		if err := r.hooks[name].start(workCtx); err != nil {
			return err
		}
	}
	if err := r.render.start(workCtx); err != nil {
		return err
	}
	wctx, wcancel := context.WithCancel(workCtx)
	r.watchCancel, r.watchDone = wcancel, make(chan struct{})
	go func() {
		defer close(r.watchDone)
		r.watchLoop(wctx)
	}()
	return nil
}

// Close stops fetching, lets in-flight work finish within ctx's deadline
// (ShutdownTimeout when ctx has none) and returns once every worker is done.
// Acks that wait on store commits are sent when the store is closed, so the
// caller closes the store after the relay and before the NATS connection.
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	started := r.started
	r.mu.Unlock()
	if !started {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.ShutdownTimeout)
		defer cancel()
	}
	if r.watchCancel != nil {
		r.watchCancel()
		<-r.watchDone
	}
	done := make(chan struct{})
	go func() {
		// Renderer first: the deliveries it is publishing still reach the
		// senders' streams, and are picked up on the next start.
		r.render.stop()
		var wg sync.WaitGroup
		for _, h := range r.hooks {
			wg.Add(1)
			go func(h *hook) { defer wg.Done(); h.stop() }(h)
		}
		wg.Wait()
		done <- struct{}{}
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("consumer: shutdown: %w", context.Cause(ctx))
		r.cancel()
		<-done
	}
	r.cancel()
	return err
}

// Webhooks lists the configured webhook names in config order.
func (r *Relay) Webhooks() []string { return append([]string(nil), r.order...) }

// Counts returns the outcomes seen for a webhook since start.
func (r *Relay) Counts(name string) (Counts, bool) {
	h, ok := r.hooks[name]
	if !ok {
		return Counts{}, false
	}
	return h.counts(), true
}

// room is what a delivery message may carry: the server's max_payload less
// room for headers and framing (0 when unknown).
func (r *Relay) room() int {
	mp := int(r.js.Conn().MaxPayload())
	return mp - min(64<<10, mp/4)
}

// tooLarge is the error of a body of n bytes over room.
func tooLarge(n, room int) error {
	return fmt.Errorf("%w: rendered body of %d bytes, a delivery message may carry %d (raise the NATS server's max_payload)", ErrBodyTooLarge, n, room)
}

// Replay publishes a dead letter's delivery again, with the same delivery id
// (so the same Idempotency-Key) and a fresh count of attempts.
func (r *Relay) Replay(ctx context.Context, dl store.DeadLetter) error {
	if _, ok := r.hooks[dl.Webhook]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownWebhook, dl.Webhook)
	}
	if room := r.room(); room > 0 && len(dl.Body) > room {
		return tooLarge(len(dl.Body), room)
	}
	m := r.deliveryMsg(dl.Webhook, dl.DeliveryID, dl.EventID, dl.EventType, dl.Body)
	m.Header.Set(HeaderReplayOf, dl.ID)
	if ct := dl.Headers["Content-Type"]; ct != "" {
		m.Header.Set(HeaderContentType, ct)
	}
	m.Header.Set(jetstream.MsgIDHeader, dl.DeliveryID+".replay."+dl.ID)
	if _, err := r.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("consumer: replay %s: %w", dl.ID, err)
	}
	return nil
}

// Invoke publishes an event for one webhook only (the Manual trigger). It
// goes through the whole pipeline like any other event.
func (r *Relay) Invoke(ctx context.Context, webhook string, payload []byte) error {
	if _, ok := r.hooks[webhook]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownWebhook, webhook)
	}
	m := nats.NewMsg(ManualSubject(r.cfg.EventsSubjects))
	m.Header.Set(HeaderTarget, webhook)
	m.Data = payload
	if _, err := r.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("consumer: invoke %s: %w", webhook, err)
	}
	return nil
}

// ManualSubject picks the subject a Manual event is published on: the first
// configured subject with its wildcard tail replaced by "Manual".
func ManualSubject(subjects []string) string {
	return SubjectFor(subjects, "Manual")
}

// SubjectFor gives the conventional subject for an event type: the first
// configured subject with a trailing wildcard token replaced by eventType.
func SubjectFor(subjects []string, eventType string) string {
	if len(subjects) == 0 {
		return "apono.events." + eventType
	}
	s := subjects[0]
	if strings.HasSuffix(s, ".>") || strings.HasSuffix(s, ".*") {
		return s[:len(s)-1] + eventType
	}
	if s == ">" || s == "*" {
		return eventType
	}
	return s
}

// DeliveryID derives the id of the delivery of one event to one webhook. It
// is stable across redeliveries of the event, so the deliveries stream drops
// a second publish, and it is the Idempotency-Key the endpoint sees.
func DeliveryID(streamID string, seq uint64, webhook string) string {
	h := sha256.New()
	h.Write([]byte(streamID))
	var b [8]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(seq >> (56 - 8*i))
	}
	h.Write(b[:])
	h.Write([]byte(webhook))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var out [36]byte
	hex.Encode(out[0:8], sum[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], sum[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], sum[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], sum[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], sum[10:16])
	return string(out[:])
}

func (r *Relay) deliverySubject(webhook string) string {
	return r.cfg.DeliveriesPrefix + "." + webhook
}

func (r *Relay) deliveryMsg(webhook, deliveryID, eventID, eventType string, body []byte) *nats.Msg {
	m := &nats.Msg{
		Subject: r.deliverySubject(webhook),
		Header:  make(nats.Header, 5),
		Data:    body,
	}
	m.Header[jetstream.MsgIDHeader] = []string{deliveryID}
	m.Header[HeaderDeliveryID] = []string{deliveryID}
	m.Header[HeaderEventID] = []string{eventID}
	m.Header[HeaderEventType] = []string{eventType}
	return m
}

// pullExpiry is how long each pull request of a Consume lives. nats.go asks
// the server for more only when a message or status arrives while its
// previous pull request is not still being sent; when the last message it
// waits for lands in that moment, it asks for nothing more until it has
// missed two heartbeats, half the expiry each by default. Short pull
// requests bound that stall to twice the heartbeat, here the expiry: with
// the default of 30 s, a webhook pulling two packs at a time stalled for
// 30 s in about one run in three of the paced benchmark at 4,000 events/s,
// and with 5 s for 5 s in one in six.
const pullExpiry = 2 * time.Second

// renderGroup is the priority group of the events consumer, and
// renderPinnedTTL how long it stays pinned to a replica that stopped
// pulling (a crashed or stopped one) before another takes over.
const (
	renderGroup     = "render"
	renderPinnedTTL = 10 * time.Second
	// pinHeader carries, on each message a pinned pull gets, the pin id.
	pinHeader = "Nats-Pin-Id"
)

// defaultPullBytes bounds the bytes one pull request asks for. Without a
// bound a pull of hundreds of messages is hundreds of the largest events:
// a backlog of 1 MB events made the server push gigabytes at the relay,
// past its 64 MB per-client buffer, and it cut the connection as a slow
// consumer again and again; the client would likewise drop messages past
// a subscription's 64 MiB. Every consumer's pulls share the relay's one
// connection, so the bound is small: thousands of events of a few
// kilobytes, or dozens of packed deliveries.
const defaultPullBytes = 4 << 20

// pullBytes is the byte bound of every pull: defaultPullBytes, or more when
// the server's max_payload allows larger messages, for a pull smaller than
// a message stored in the stream would never get it.
func (r *Relay) pullBytes() int {
	return pullBytesFor(int(r.js.Conn().MaxPayload()))
}

func pullBytesFor(maxPayload int) int {
	// A message counts its subject, reply subject and headers too.
	return max(defaultPullBytes, maxPayload+64<<10)
}

// pullOptions are the options of every Consume: at most maxMsgs messages
// and maxBytes bytes held, short pull requests, and for a pull of a few
// messages a new request after each one, which gives the trigger above more
// than one chance. what and fields name the consumer in the log; a stalled
// pull is a warning.
func pullOptions(maxMsgs, maxBytes int, log *zap.Logger, what string, fields ...zap.Field) []jetstream.PullConsumeOpt {
	opts := []jetstream.PullConsumeOpt{
		jetstream.PullMaxMessagesWithBytesLimit(maxMsgs, maxBytes),
		jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			fs := append(slices.Clip(fields), zap.Error(err))
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				log.Warn(what+": pull request lost, asking again", fs...)
				return
			}
			log.Debug(what, fs...)
		}),
	}
	if maxMsgs <= minPull {
		opts = append(opts, jetstream.PullThresholdMessages(maxMsgs))
	}
	return opts
}
