package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/sender"
	"github.com/hookrelay/hookrelay/store"
)

func TestRelay_OrderedAcrossReplicas(t *testing.T) {
	// Ensure an ordered webhook gets its deliveries in the events' order
	// when several replicas share the consumers: only one replica renders
	// at a time (the events consumer pins one client), so the deliveries
	// reach their stream in order. Before, each replica rendered its own
	// batches and published them side by side, and a burst came out with
	// neighbours swapped.
	const events = 600
	s := runServerMax(t, 0)
	var mu sync.Mutex
	var got []int
	snd := &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		n, _ := strconv.Atoi(string(d.Body))
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		return sender.Attempt{StartedAt: time.Now(), Response: &sender.ResponseData{Status: 200}}, nil
	}}
	cfg := Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"},
		Webhooks: []Webhook{{Name: "ordered", Ordered: true, MaxAttempts: 3}}}
	for range 3 {
		_, js := connect(t, s)
		startRelay(t, js, cfg, echoRouter("ordered"), map[string]Sender{"ordered": snd}, &memStore{})
	}
	_, pub := connect(t, s)
	for i := 1; i <= events; i++ {
		if _, err := pub.PublishAsync("apono.events.RequestCreated", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	<-pub.PublishAsyncComplete()
	checkFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < events {
			return fmt.Errorf("%d of %d delivered", len(got), events)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	swapped := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			swapped++
		}
	}
	if swapped > 0 || len(got) != events {
		t.Errorf("%d deliveries, %d after a later one; want %d in order", len(got), swapped, events)
	}
}

func TestHook_StopStartsNothingNew(t *testing.T) {
	// Ensure stopping finishes the delivery in flight but does not start
	// the ones already fetched behind it: they go back, for another
	// replica or the next start.
	started, release := make(chan string, 8), make(chan struct{})
	snd := &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		started <- string(d.Body)
		<-release
		return sender.Attempt{StartedAt: time.Now(), Response: &sender.ResponseData{Status: 200}}, nil
	}}
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 1, MaxAttempts: 3}}, map[string]Sender{"a": snd})
	f.publish(t, "1", "2", "3")
	if got := <-started; got != "1" {
		t.Fatalf("first delivery %s", got)
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, ack := f.pending(t, DefaultDeliveriesStream, DefaultSenderDurablePfx+"a"); ack != 3 {
			return fmt.Errorf("%d deliveries fetched, want all 3", ack)
		}
		return nil
	})
	closed := make(chan error, 1)
	go func() { closed <- f.relay.Close(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-started:
		t.Errorf("delivery %s started after the stop", got)
	default:
	}
}

func TestHook_AttemptCutShortAtShutdownIsRecorded(t *testing.T) {
	// Ensure an attempt that the shutdown bound cuts short, after its
	// request went out, is in the invocation data (as going again), and
	// its delivery goes back.
	for _, tt := range []struct {
		name        string
		concurrency int // 1: one delivery per message; more: packed
	}{{"plain", 1}, {"packed", 4}} {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{}, 8)
			snd := &senderFunc{send: func(ctx context.Context, d sender.Delivery) (sender.Attempt, error) {
				att := sender.Attempt{StartedAt: time.Now(), Request: sender.RequestData{Method: "POST", URL: "https://x/hook"}}
				started <- struct{}{}
				<-ctx.Done()
				att.Duration = time.Since(att.StartedAt)
				return att, &sender.Error{Class: sender.Retryable, Reason: sender.ReasonContextCanceled, Err: ctx.Err()}
			}}
			f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: tt.concurrency, MaxAttempts: 3}}, map[string]Sender{"a": snd})
			f.publish(t, "1")
			<-started
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := f.relay.Close(ctx); err == nil {
				t.Fatal("Close returned nil; want the shutdown bound's error")
			}
			invs, dead, _ := f.store.snapshot()
			if len(invs) != 1 || len(dead) != 0 {
				t.Fatalf("%d invocations, %d dead letters; want the cut attempt recorded once", len(invs), len(dead))
			}
			inv := invs[0]
			if inv.Outcome != store.OutcomeRetrying || inv.Attempt != 1 || inv.Error == "" || inv.StartedAt.IsZero() {
				t.Errorf("invocation %+v; want outcome retrying, attempt 1, the error and the start", inv)
			}
			checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if p, ack := f.pending(t, DefaultDeliveriesStream, DefaultSenderDurablePfx+"a"); p+uint64(ack) == 0 {
					return fmt.Errorf("the delivery was settled; want it handed back")
				}
				return nil
			})
		})
	}
}

func TestRelay_CloseReleasesThePin(t *testing.T) {
	// Ensure a replica that stops releases the events consumer's pin once
	// its events are acked, so that the next replica (or the same one,
	// restarted) renders at once rather than after renderPinnedTTL.
	s := runServerMax(t, 0)
	var mu sync.Mutex
	var got []string
	cfg := Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"},
		Webhooks: []Webhook{{Name: "a", MaxAttempts: 3}}}
	_, js := connect(t, s)
	r := startRelay(t, js, cfg, echoRouter("a"), map[string]Sender{"a": okSender(&mu, &got)}, &memStore{})
	if _, err := js.Publish(t.Context(), "apono.events.RequestCreated", []byte("1")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 || pinnedClient(t, js) == "" {
			return fmt.Errorf("delivered %v, pinned to %q", got, pinnedClient(t, js))
		}
		return nil
	})
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if id := pinnedClient(t, js); id != "" {
		t.Errorf("still pinned to %q after the replica stopped", id)
	}
}

// rejectFails is a store whose rejected-event records fail, so that the
// render stage gives the event back.
type rejectFails struct {
	memStore
	tried chan struct{}
}

func (f *rejectFails) PutRejected(context.Context, store.Rejected) (string, error) {
	select {
	case f.tried <- struct{}{}:
	default:
	}
	return "", errors.New("disk full")
}

func TestRelay_CloseKeepsThePinAfterGivingBack(t *testing.T) {
	// Ensure a replica that gave an event back unacked (here: its rejection
	// could not be recorded) keeps the pin when it stops: the event must
	// come again before the next replica renders newer ones.
	s := runServerMax(t, 0)
	cfg := Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"},
		Webhooks: []Webhook{{Name: "a", MaxAttempts: 3}}}
	_, js := connect(t, s)
	st := &rejectFails{tried: make(chan struct{}, 1)}
	var mu sync.Mutex
	var got []string
	r := startRelay(t, js, cfg, echoRouter("a"), map[string]Sender{"a": okSender(&mu, &got)}, st)
	if _, err := js.Publish(t.Context(), "apono.events.RequestCreated", []byte("bad")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.tried:
	case <-time.After(10 * time.Second):
		t.Fatal("the rejected event never reached the store")
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if id := pinnedClient(t, js); id == "" {
		t.Error("the pin was released although an event went back unacked")
	}
}

// pinnedClient returns the client the events consumer is pinned to, or "".
func pinnedClient(tb testing.TB, js jetstream.JetStream) string {
	tb.Helper()
	cons, err := js.Consumer(context.Background(), "EVENTS", DefaultRendererDurable)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for _, g := range info.PriorityGroups {
		if g.Group == renderGroup {
			return g.PinnedClientID
		}
	}
	return ""
}

func TestRelay_PublishRefusedForGood(t *testing.T) {
	// Ensure a delivery JetStream refuses for good (here: larger than the
	// deliveries stream's max_msg_size, which an operator set) is
	// dead-lettered with the reason, for an ordered webhook and a plain one,
	// not tried again in place nor handed back for ever: the events behind
	// it go on, and the relay stops promptly.
	s := runServerMax(t, 0)
	_, js := connect(t, s)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: DefaultDeliveriesStream,
		Subjects: []string{DefaultDeliveriesPrefix + ".>"}, Retention: jetstream.WorkQueuePolicy, MaxMsgSize: 600}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	cfg := Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"},
		Webhooks: []Webhook{{Name: "a", MaxAttempts: 3}, {Name: "o", Ordered: true, MaxAttempts: 3}}}
	st := &memStore{}
	r := startRelay(t, js, cfg, echoRouter("a", "o"), map[string]Sender{"a": okSender(&mu, &got), "o": okSender(&mu, &got)}, st)
	for _, p := range []string{strings.Repeat("x", 1000), "small"} {
		if _, err := js.Publish(t.Context(), "apono.events.RequestCreated", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, g := range got {
			if strings.HasPrefix(g, "small|") {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("delivered %d of the small event's 2 deliveries", n)
		}
		return nil
	})
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		_, dead, _ := st.snapshot()
		hooks := map[string]int{}
		for _, dl := range dead {
			if strings.HasPrefix(dl.Reason, ReasonRefusedPrefix) && len(dl.Body) == 1000 {
				hooks[dl.Webhook]++
			}
		}
		if len(dead) != 2 || hooks["a"] != 1 || hooks["o"] != 1 {
			return fmt.Errorf("dead letters %v of %d; want one of the refused delivery per webhook", hooks, len(dead))
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), DefaultShutdownTimeout/2)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// Ensure only a 4xx from JetStream counts as refused for good: timeouts,
// no responders and 5xx may pass.
func TestRefusedForGood(t *testing.T) {
	tests := []struct {
		name  string
		given error
		want  bool
	}{
		{name: "Timeout", given: fmt.Errorf("publish: %w", context.DeadlineExceeded), want: false},
		{name: "AsyncTimeout", given: jetstream.ErrAsyncPublishTimeout, want: false},
		{name: "NoStreamResponse", given: jetstream.ErrNoStreamResponse, want: false},
		{name: "NoResponders", given: nats.ErrNoResponders, want: false},
		{name: "Unavailable", given: &jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}, want: false},
		{name: "LimitReached", given: &jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum messages exceeded"}, want: false},
		{name: "TooLarge", given: fmt.Errorf("ordered: %w", &jetstream.APIError{Code: 400, ErrorCode: 10054, Description: "message size exceeds maximum allowed"}), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusedForGood(tt.given); got != tt.want {
				t.Fatalf("refusedForGood(%v) = %v; want %v", tt.given, got, tt.want)
			}
		})
	}
}
