package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookrelay/hookrelay/internal/testutil"
	"github.com/hookrelay/hookrelay/sender"
	"github.com/hookrelay/hookrelay/store"
)

// runServerMax starts an in-process JetStream server for one test, with a
// max_payload (0: the default).
func runServerMax(tb testing.TB, maxPayload int32) *server.Server {
	tb.Helper()
	s := testutil.JetStreamServer(tb, tb.TempDir(), server.Options{MaxPayload: maxPayload})
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func connect(tb testing.TB, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	return connectURL(tb, s.ClientURL())
}

// checkFor polls until f returns nil; see testutil.CheckFor.
var checkFor = testutil.CheckFor

// senderFunc is a Sender whose Send is a function; backoff is 10ms and the
// breaker reports what breaker returns.
type senderFunc struct {
	send    func(ctx context.Context, d sender.Delivery) (sender.Attempt, error)
	breaker func() sender.BreakerStatus
}

var _ Sender = (*senderFunc)(nil)

func (s *senderFunc) Send(ctx context.Context, d sender.Delivery) (sender.Attempt, error) {
	return s.send(ctx, d)
}
func (s *senderFunc) Backoff(int, time.Duration) time.Duration { return 10 * time.Millisecond }
func (s *senderFunc) Breaker() sender.BreakerStatus {
	if s.breaker != nil {
		return s.breaker()
	}
	return sender.BreakerStatus{State: "closed"}
}

// memStore is a Store in memory that records every call.
type memStore struct {
	mu       sync.Mutex
	invs     []store.Invocation
	dead     []store.DeadLetter
	rejected []store.Rejected
}

var _ Store = (*memStore)(nil)

func (m *memStore) RecordAsync(inv store.Invocation, done func(string, error)) {
	id, err := m.Record(context.Background(), inv)
	if done != nil {
		done(id, err)
	}
}

func (m *memStore) Record(_ context.Context, inv store.Invocation) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invs = append(m.invs, inv)
	return strconv.Itoa(len(m.invs)), nil
}

func (m *memStore) PutDeadLetter(_ context.Context, dl store.DeadLetter) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = append(m.dead, dl)
	return strconv.Itoa(len(m.dead)), nil
}

func (m *memStore) PutRejected(_ context.Context, r store.Rejected) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejected = append(m.rejected, r)
	return strconv.Itoa(len(m.rejected)), nil
}

func (m *memStore) snapshot() ([]store.Invocation, []store.DeadLetter, []store.Rejected) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.Invocation(nil), m.invs...), append([]store.DeadLetter(nil), m.dead...), append([]store.Rejected(nil), m.rejected...)
}

// echoRouter routes every event to the given webhooks with the payload as
// body; a payload "bad" is rejected and "broken" fails to render.
func echoRouter(hooks ...string) Router {
	return RouterFunc(func(p []byte, target string) (Routed, error) {
		if string(p) == "bad" {
			return Routed{}, errors.New("not an event")
		}
		out := Routed{EventType: "RequestCreated"}
		for _, h := range hooks {
			if target != "" && h != target {
				continue
			}
			r := Rendered{Webhook: h, Body: p}
			if string(p) == "broken" {
				r.Err = errors.New("invalid JSON at offset 3")
			}
			out.Deliveries = append(out.Deliveries, r)
		}
		return out, nil
	})
}

type fixture struct {
	s     *server.Server
	js    jetstream.JetStream
	relay *Relay
	store *memStore
}

func newFixture(tb testing.TB, router Router, hooks []Webhook, senders map[string]Sender) *fixture {
	return newFixtureMax(tb, 0, router, hooks, senders)
}

func newFixtureMax(tb testing.TB, maxPayload int32, router Router, hooks []Webhook, senders map[string]Sender) *fixture {
	tb.Helper()
	s := runServerMax(tb, maxPayload)
	_, js := connect(tb, s)
	st := &memStore{}
	r := startRelay(tb, js, Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}, Webhooks: hooks}, router, senders, st)
	return &fixture{s: s, js: js, relay: r, store: st}
}

// startRelay builds, sets up and starts a relay, closed when the test ends.
func startRelay(tb testing.TB, js jetstream.JetStream, cfg Config, router Router, senders map[string]Sender, st Store) *Relay {
	tb.Helper()
	r, err := New(js, cfg, router, senders, st, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Setup(ctx); err != nil {
		tb.Fatalf("setup: %v", err)
	}
	if err := r.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func (f *fixture) publish(tb testing.TB, payloads ...string) {
	tb.Helper()
	for _, p := range payloads {
		if _, err := f.js.Publish(context.Background(), "apono.events.RequestCreated", []byte(p)); err != nil {
			tb.Fatal(err)
		}
	}
}

// waitDead waits until the store holds n dead letters.
func (f *fixture) waitDead(tb testing.TB, n int, total time.Duration) {
	tb.Helper()
	checkFor(tb, total, 10*time.Millisecond, func() error {
		if _, dead, _ := f.store.snapshot(); len(dead) != n {
			return fmt.Errorf("%d dead letters, want %d", len(dead), n)
		}
		return nil
	})
}

// settled waits until webhook's sender consumer has nothing pending or
// unacknowledged.
func (f *fixture) settled(tb testing.TB, webhook string, total time.Duration) {
	tb.Helper()
	checkFor(tb, total, 10*time.Millisecond, func() error {
		if p, ack := f.pending(tb, DefaultDeliveriesStream, DefaultSenderDurablePfx+webhook); p != 0 || ack != 0 {
			return fmt.Errorf("%d pending %d unacked", p, ack)
		}
		return nil
	})
}

func (f *fixture) pending(tb testing.TB, stream, durable string) (uint64, int) {
	tb.Helper()
	c, err := f.js.Consumer(context.Background(), stream, durable)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.NumPending, info.NumAckPending
}

func okSender(mu *sync.Mutex, got *[]string) *senderFunc {
	return &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		mu.Lock()
		*got = append(*got, string(d.Body)+"|"+d.ID)
		mu.Unlock()
		return sender.Attempt{StartedAt: time.Now(), Response: &sender.ResponseData{Status: 200}}, nil
	}}
}

func TestRelay_FanOutAndAck(t *testing.T) {
	// Ensure each event reaches every webhook once, with a delivery id per
	// (event, webhook), each invocation is recorded, and every message on
	// both streams ends acknowledged.
	var mu sync.Mutex
	var a, b []string
	f := newFixture(t, echoRouter("a", "b"),
		[]Webhook{{Name: "a", Concurrency: 4, MaxAttempts: 3}, {Name: "b", Concurrency: 1, Ordered: true, MaxAttempts: 3}},
		map[string]Sender{"a": okSender(&mu, &a), "b": okSender(&mu, &b)})
	const n = 200
	for i := 0; i < n; i++ {
		f.publish(t, fmt.Sprintf("e%03d", i))
	}
	checkFor(t, 15*time.Second, 10*time.Millisecond, func() error {
		invs, _, _ := f.store.snapshot()
		if len(invs) < 2*n {
			mu.Lock()
			la, lb := len(a), len(b)
			mu.Unlock()
			return fmt.Errorf("%d invocations (a %d, b %d)", len(invs), la, lb)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(a) != n || len(b) != n {
		t.Fatalf("a got %d, b got %d; want %d each", len(a), len(b), n)
	}
	ids := map[string]bool{}
	for _, x := range append(append([]string(nil), a...), b...) {
		ids[x[5:]] = true
	}
	if len(ids) != 2*n {
		t.Errorf("%d distinct delivery ids, want %d", len(ids), 2*n)
	}
	// The ordered webhook sees events in publish order.
	for i, x := range b {
		if want := fmt.Sprintf("e%03d", i); x[:4] != want {
			t.Fatalf("ordered webhook: position %d got %s, want %s", i, x[:4], want)
		}
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		for _, d := range []struct{ s, c string }{{"EVENTS", DefaultRendererDurable}, {DefaultDeliveriesStream, DefaultSenderDurablePfx + "a"}, {DefaultDeliveriesStream, DefaultSenderDurablePfx + "b"}} {
			if p, ack := f.pending(t, d.s, d.c); p != 0 || ack != 0 {
				return fmt.Errorf("%s: %d pending %d unacked", d.c, p, ack)
			}
		}
		return nil
	})
}

func TestRelay_RejectedAndRenderErrors(t *testing.T) {
	// Ensure a rejected event is recorded and acked, a render failure is
	// dead-lettered without a send, and neither blocks the next event.
	var mu sync.Mutex
	var got []string
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 2, MaxAttempts: 3}},
		map[string]Sender{"a": okSender(&mu, &got)})
	f.publish(t, "bad", "broken", "good")
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		_, dead, rej := f.store.snapshot()
		mu.Lock()
		defer mu.Unlock()
		if len(rej) != 1 || len(dead) != 1 || len(got) != 1 {
			return fmt.Errorf("rejected %d dead %d sent %d", len(rej), len(dead), len(got))
		}
		return nil
	})
	_, dead, rej := f.store.snapshot()
	if rej[0].Reason != "not an event" || rej[0].Sample != "bad" || rej[0].StreamSeq != 1 {
		t.Errorf("rejected: %+v", rej[0])
	}
	if dead[0].Webhook != "a" || string(dead[0].Body) != "broken" || dead[0].DeliveryID == "" {
		t.Errorf("dead letter: %+v", dead[0])
	}
	if p, ack := f.pending(t, "EVENTS", DefaultRendererDurable); p != 0 || ack != 0 {
		t.Errorf("events: %d pending %d unacked", p, ack)
	}
}

func TestHook_RetriesThenDeadLetters(t *testing.T) {
	// Ensure a retryable failure is retried with NakWithDelay until
	// max_attempts, each attempt recorded with its number, and then
	// dead-lettered and terminated.
	var calls sync.Map
	s := &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		v, _ := calls.LoadOrStore(d.ID, new(int))
		*(v.(*int))++
		return sender.Attempt{Response: &sender.ResponseData{Status: 503}}, &sender.Error{Class: sender.Retryable, Reason: sender.ReasonServerError, StatusCode: 503, Err: errors.New("503 Service Unavailable")}
	}}
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 2, MaxAttempts: 3}}, map[string]Sender{"a": s})
	f.publish(t, "x")
	f.waitDead(t, 1, 10*time.Second)
	invs, dead, _ := f.store.snapshot()
	if len(invs) != 3 {
		t.Fatalf("%d invocations, want 3", len(invs))
	}
	for i, inv := range invs {
		want := store.OutcomeRetrying
		if i == 2 {
			want = store.OutcomeDeadLettered
		}
		if inv.Attempt != i+1 || inv.Outcome != want {
			t.Errorf("invocation %d: attempt %d outcome %s", i, inv.Attempt, inv.Outcome)
		}
	}
	if dead[0].Attempts != 3 || dead[0].LastStatus != 503 || dead[0].LastInvocationID != "3" {
		t.Errorf("dead letter %+v", dead[0])
	}
	m := f.relay.metrics
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"deliveries retrying", promtest.ToFloat64(m.deliveries.WithLabelValues("a", store.OutcomeRetrying)), 2},
		{"deliveries dead_lettered", promtest.ToFloat64(m.deliveries.WithLabelValues("a", store.OutcomeDeadLettered)), 1},
		{"deliveries delivered", promtest.ToFloat64(m.deliveries.WithLabelValues("a", store.OutcomeDelivered)), 0},
		{"dead letters", promtest.ToFloat64(m.deadLetters.WithLabelValues("a")), 1},
		{"latency observations", float64(promtest.CollectAndCount(m.latency)), 1}, // one series
	} {
		if c.got != c.want {
			t.Errorf("metric %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	f.settled(t, "a", 5*time.Second)
}

func TestHook_BreakerOpenCostsNoAttempt(t *testing.T) {
	// Ensure deliveries refused by an open breaker are kept, not handed
	// back, so they cost no attempt: after 5 refusals, the first real
	// attempt is attempt 1 (NumDelivered is still 1) and a permanent error
	// dead-letters it with attempts 1.
	var mu sync.Mutex
	refusals := 0
	s := &senderFunc{
		send: func(context.Context, sender.Delivery) (sender.Attempt, error) {
			mu.Lock()
			defer mu.Unlock()
			if refusals < 5 {
				refusals++
				return sender.Attempt{}, &sender.Error{Class: sender.BreakerOpen, Reason: sender.ReasonBreakerOpen, Err: sender.ErrBreakerOpen}
			}
			return sender.Attempt{Response: &sender.ResponseData{Status: 400}}, &sender.Error{Class: sender.Permanent, Reason: sender.ReasonClientError, StatusCode: 400, Err: errors.New("400 Bad Request")}
		},
		breaker: func() sender.BreakerStatus {
			return sender.BreakerStatus{State: "open", OpenRemaining: 20 * time.Millisecond}
		},
	}
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 1, MaxAttempts: 2}}, map[string]Sender{"a": s})
	f.publish(t, "x")
	f.waitDead(t, 1, 20*time.Second)
	invs, dead, _ := f.store.snapshot()
	if len(invs) != 1 || invs[0].Attempt != 1 || dead[0].Attempts != 1 {
		t.Fatalf("invocations %+v dead %+v", invs, dead)
	}
	if c, _ := f.relay.Counts("a"); c.BreakerOpen != 5 || c.DeadLettered != 1 {
		t.Errorf("counts %+v", c)
	}
	// The refusals never reached JetStream as redeliveries: no hand-back
	// had to be remembered, so a restart could not turn them into attempts.
	h := f.relay.hooks["a"]
	h.freeMu.Lock()
	defer h.freeMu.Unlock()
	if len(h.free) != 0 {
		t.Errorf("hand-backs remembered: %v", h.free)
	}
}

func TestRelay_ReplayAndInvoke(t *testing.T) {
	// Ensure a replay keeps the delivery id and an invoke reaches only its
	// target webhook.
	var mu sync.Mutex
	var a, b []string
	f := newFixture(t, echoRouter("a", "b"),
		[]Webhook{{Name: "a", Concurrency: 1, MaxAttempts: 1}, {Name: "b", Concurrency: 1, MaxAttempts: 1}},
		map[string]Sender{"a": okSender(&mu, &a), "b": okSender(&mu, &b)})
	ctx := context.Background()
	if err := f.relay.Replay(ctx, store.DeadLetter{ID: "7", Webhook: "a", DeliveryID: "did-1", EventID: "1", Body: []byte("again")}); err != nil {
		t.Fatal(err)
	}
	if err := f.relay.Invoke(ctx, "b", []byte("manual")); err != nil {
		t.Fatal(err)
	}
	if err := f.relay.Invoke(ctx, "nope", []byte("manual")); !errors.Is(err, ErrUnknownWebhook) {
		t.Errorf("invoke unknown webhook: %v", err)
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(a) != 1 || len(b) != 1 {
			return fmt.Errorf("a %v b %v", a, b)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if a[0] != "again|did-1" {
		t.Errorf("replay delivered %q", a[0])
	}
	if b[0][:7] != "manual|" {
		t.Errorf("invoke delivered %q", b[0])
	}
}

func TestDeliveryID(t *testing.T) {
	// Ensure delivery ids are stable for the same inputs and differ when
	// any input differs.
	tests := []struct {
		name   string
		givenA [3]string
		givenB [3]string
		same   bool
	}{
		{"same", [3]string{"s", "1", "w"}, [3]string{"s", "1", "w"}, true},
		{"other seq", [3]string{"s", "1", "w"}, [3]string{"s", "2", "w"}, false},
		{"other webhook", [3]string{"s", "1", "w"}, [3]string{"s", "1", "v"}, false},
		{"other stream", [3]string{"s", "1", "w"}, [3]string{"t", "1", "w"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sa, _ := strconv.ParseUint(tt.givenA[1], 10, 64)
			sb, _ := strconv.ParseUint(tt.givenB[1], 10, 64)
			a, b := DeliveryID(tt.givenA[0], sa, tt.givenA[2]), DeliveryID(tt.givenB[0], sb, tt.givenB[2])
			if (a == b) != tt.same {
				t.Errorf("%s vs %s", a, b)
			}
			if len(a) != 36 || a[8] != '-' || a[13] != '-' {
				t.Errorf("not UUID-shaped: %s", a)
			}
		})
	}
}

func TestSubjectFor(t *testing.T) {
	// Ensure the conventional subject replaces a trailing wildcard.
	tests := []struct {
		name  string
		given []string
		want  string
	}{
		{"gt", []string{"apono.events.>"}, "apono.events.Manual"},
		{"star", []string{"a.*"}, "a.Manual"},
		{"literal", []string{"a.b"}, "a.b"},
		{"none", nil, "apono.events.Manual"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ManualSubject(tt.given); got != tt.want {
				t.Errorf("got %s want %s", got, tt.want)
			}
		})
	}
}

func TestRelay_BodyLargerThanMaxPayload(t *testing.T) {
	// Ensure a rendered body JetStream would refuse every time is
	// dead-lettered at once with the reason, instead of being retried
	// forever, and the event is acked.
	var mu sync.Mutex
	var got []string
	f := newFixtureMax(t, 100<<10, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 1, MaxAttempts: 3}},
		map[string]Sender{"a": okSender(&mu, &got)})
	f.publish(t, string(make([]byte, 90<<10)), "small")
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		_, dead, _ := f.store.snapshot()
		mu.Lock()
		defer mu.Unlock()
		if len(dead) != 1 || len(got) != 1 {
			return fmt.Errorf("dead %d sent %d", len(dead), len(got))
		}
		return nil
	})
	_, dead, _ := f.store.snapshot()
	if !strings.Contains(dead[0].Reason, "max_payload") {
		t.Errorf("reason %q", dead[0].Reason)
	}
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if p, ack := f.pending(t, "EVENTS", DefaultRendererDurable); p != 0 || ack != 0 {
			return fmt.Errorf("events: %d pending %d unacked", p, ack)
		}
		return nil
	})
}

func TestRelay_Setup_UsesExistingEventsStream(t *testing.T) {
	// Ensure an events stream made beforehand (memory storage, wider
	// subjects, its own max age) is used as it is and not rewritten, that
	// events on it are delivered, and that one whose subjects do not cover
	// events.subjects fails Setup with an error that names both.
	s := runServerMax(t, 0)
	_, js := connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	made := jetstream.StreamConfig{Name: "OPS", Subjects: []string{"apono.>"}, Storage: jetstream.MemoryStorage, MaxAge: time.Hour}
	if _, err := js.CreateStream(ctx, made); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	startRelay(t, js, Config{EventsStream: "OPS", EventsSubjects: []string{"apono.events.>"}, EventsMaxAge: 24 * time.Hour,
		Webhooks: []Webhook{{Name: "a", MaxAttempts: 1}}}, echoRouter("a"), map[string]Sender{"a": okSender(&mu, &got)}, &memStore{})
	st, err := js.Stream(ctx, "OPS")
	if err != nil {
		t.Fatal(err)
	}
	have := st.CachedInfo().Config
	if have.Storage != jetstream.MemoryStorage || have.MaxAge != time.Hour || !slices.Equal(have.Subjects, made.Subjects) {
		t.Errorf("existing stream rewritten: storage %v max_age %v subjects %v", have.Storage, have.MaxAge, have.Subjects)
	}
	if _, err := js.Publish(ctx, "apono.events.RequestCreated", []byte("e1")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 {
			return fmt.Errorf("%d deliveries", len(got))
		}
		return nil
	})

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NARROW", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	r2, err := New(js, Config{EventsStream: "NARROW", EventsSubjects: []string{"apono.events.>"}, DeliveriesStream: "D2", DeliveriesPrefix: "d2",
		Webhooks: []Webhook{{Name: "a"}}}, echoRouter("a"), map[string]Sender{"a": okSender(&mu, &got)}, &memStore{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r2.Setup(ctx)
	if err == nil || !strings.Contains(err.Error(), "NARROW") || !strings.Contains(err.Error(), "other.>") || !strings.Contains(err.Error(), "apono.events.>") {
		t.Errorf("setup on a stream without the subjects: %v, want an error naming the stream and both subject lists", err)
	}
}

func TestSubjectCovers(t *testing.T) {
	tests := []struct {
		pattern, sub string
		want         bool
	}{
		{"apono.>", "apono.events.>", true},                                  // ">" covers a narrower ">"
		{"apono.events.>", "apono.events.>", true},                           // the same
		{"apono.events.>", "apono.>", false},                                 // wider than the pattern
		{"apono.events.>", "apono.events", false},                            // ">" needs a token
		{"apono.*.x", "apono.events.x", true},                                // "*" covers a literal
		{"apono.*.x", "apono.*.x", true},                                     // and a "*"
		{"apono.events.x", "apono.*.x", false},                               // a literal does not cover "*"
		{"apono.*", "apono.events.x", false},                                 // "*" is one token
		{"apono.*.>", "apono.events.>", true},                                // mixed
		{"apono.*", "apono.>", false},                                        // "*" does not cover ">"
		{">", "anything.at.all", true},                                       // everything
		{"other.>", "apono.events.>", false},                                 // elsewhere
		{"apono.events.RequestCreated", "apono.events.RequestCreated", true}, // literal
	}
	for _, tt := range tests {
		if got := subjectCovers(tt.pattern, tt.sub); got != tt.want {
			t.Errorf("subjectCovers(%q, %q) = %v, want %v", tt.pattern, tt.sub, got, tt.want)
		}
	}
}

func TestRelay_Setup_UpdatesItsOwnEventsStream(t *testing.T) {
	// Ensure the events stream hookrelay made follows the config's
	// subjects and max_age on the next start, and that both streams keep
	// what an operator changed besides (the duplicate window, a size
	// limit).
	s := runServerMax(t, 0)
	_, js := connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	setup := func(subjects []string, maxAge time.Duration) {
		t.Helper()
		r, err := New(js, Config{EventsStream: "EVENTS", EventsSubjects: subjects, EventsMaxAge: maxAge, Webhooks: []Webhook{{Name: "a"}}},
			echoRouter("a"), map[string]Sender{"a": &senderFunc{}}, &memStore{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Setup(ctx); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	setup([]string{"apono.events.>"}, 24*time.Hour)
	st, err := js.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Duplicates = time.Minute // an operator's change
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// The deliveries stream keeps an operator's limit too.
	ds, err := js.Stream(ctx, DefaultDeliveriesStream)
	if err != nil {
		t.Fatal(err)
	}
	dcfg := ds.CachedInfo().Config
	dcfg.MaxBytes = 1 << 30
	if _, err := js.UpdateStream(ctx, dcfg); err != nil {
		t.Fatal(err)
	}
	setup([]string{"apono.events.>", "apono.more.>"}, time.Hour)
	st, err = js.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	have := st.CachedInfo().Config
	if !slices.Equal(have.Subjects, []string{"apono.events.>", "apono.more.>"}) || have.MaxAge != time.Hour || have.Duplicates != time.Minute {
		t.Errorf("after the second start: subjects %v max_age %v duplicates %v", have.Subjects, have.MaxAge, have.Duplicates)
	}
	if ds, err = js.Stream(ctx, DefaultDeliveriesStream); err != nil {
		t.Fatal(err)
	}
	if got := ds.CachedInfo().Config.MaxBytes; got != 1<<30 {
		t.Errorf("deliveries stream max_bytes %d after the second start, want the operator's %d", got, 1<<30)
	}
}
