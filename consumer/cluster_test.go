package consumer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/testutil"
	"github.com/hookrelay/hookrelay/sender"
)

// publishRetry publishes body as an event until the stream takes it, each
// try with the same message id, as a publisher does through a failover.
func publishRetry(tb testing.TB, js jetstream.JetStream, body string) {
	tb.Helper()
	checkFor(tb, 30*time.Second, 10*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.Publish(ctx, "apono.events.RequestCreated", []byte(body), jetstream.WithMsgID(body))
		return err
	})
}

// connectURL connects to any of urls (comma-separated) and reconnects for
// ever, as the daemon does.
func connectURL(tb testing.TB, urls string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

func TestRelay_ClusterRollingRestart(t *testing.T) {
	// Ensure that with a three-server JetStream cluster, streams of three
	// replicas and two relay replicas, no event is lost while the servers
	// are restarted one at a time under traffic, each time the one leading
	// the events or the deliveries stream: the publisher retries with the
	// same message id, and the relays carry on through the others.
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	t.Parallel()
	const events = 800
	c := testutil.StartCluster(t, 3)
	var mu sync.Mutex
	got := map[string]int{}
	snd := &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		mu.Lock()
		got[string(d.Body)]++
		mu.Unlock()
		return sender.Attempt{StartedAt: time.Now(), Response: &sender.ResponseData{Status: 200}}, nil
	}}
	cfg := Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}, Replicas: 3,
		Webhooks: []Webhook{{Name: "a", Concurrency: 4, MaxAttempts: 1000}}}
	for range 2 {
		_, js := connectURL(t, c.URLs())
		startRelay(t, js, cfg, echoRouter("a"), map[string]Sender{"a": snd}, &memStore{})
	}

	_, pub := connectURL(t, c.URLs())
	ctx := t.Context()
	for _, name := range []string{"EVENTS", DefaultDeliveriesStream} {
		s, err := pub.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("stream %s has %d replicas, want 3", name, r)
		}
	}
	next := 0
	publish := func(n int) {
		for end := next + n; next < end; next++ {
			publishRetry(t, pub, "e-"+strconv.Itoa(next))
		}
	}
	var restarted []string
	for _, stream := range []string{"EVENTS", DefaultDeliveriesStream, "EVENTS"} {
		publish(events / 5)
		i := c.LeaderOf(pub, stream)
		restarted = append(restarted, c.Servers[i].Name()+" (leading "+stream+")")
		c.Servers[i].Shutdown()
		c.Servers[i].WaitForShutdown()
		publish(events / 10)
		c.Start(i)
		c.Formed()
	}
	publish(events - next)

	checkFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < events {
			return fmt.Errorf("%d of %d events delivered", len(got), events)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for i := range events {
		n := got["e-"+strconv.Itoa(i)]
		if n == 0 {
			t.Errorf("event %d never delivered", i)
		}
		dups += max(n-1, 0)
	}
	if len(got) != events {
		t.Errorf("%d distinct bodies delivered, want %d", len(got), events)
	}
	t.Logf("restarted %s; %d events delivered, %d deliveries repeated", strings.Join(restarted, ", "), events, dups)
}

func TestRelay_Setup_ScalesItsStreams(t *testing.T) {
	// Ensure nats.replicas scales the streams the relay made with one
	// replica, that their consumers follow their stream, and that delivery
	// goes on.
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	t.Parallel()
	c := testutil.StartCluster(t, 3)
	var mu sync.Mutex
	var got []string
	snd := okSender(&mu, &got)
	cfg := Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"},
		Webhooks: []Webhook{{Name: "a", MaxAttempts: 3}}}
	_, js := connectURL(t, c.URLs())
	r := startRelay(t, js, cfg, echoRouter("a"), map[string]Sender{"a": snd}, &memStore{})
	replicas := func() map[string]int {
		out := map[string]int{}
		for _, name := range []string{"EVENTS", DefaultDeliveriesStream} {
			s, err := js.Stream(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = s.CachedInfo().Config.Replicas
		}
		return out
	}
	if got := replicas(); got["EVENTS"] != 1 || got[DefaultDeliveriesStream] != 1 {
		t.Fatalf("replicas unset: streams made with %v, want 1", got)
	}
	if _, err := js.Publish(t.Context(), "apono.events.RequestCreated", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	cfg.Replicas = 3
	startRelay(t, js, cfg, echoRouter("a"), map[string]Sender{"a": snd}, &memStore{})
	if got := replicas(); got["EVENTS"] != 3 || got[DefaultDeliveriesStream] != 3 {
		t.Fatalf("replicas 3: streams have %v", got)
	}
	// The consumers name no replicas of their own: the server moves them
	// to their stream's (it takes it some seconds).
	for _, d := range [][2]string{{"EVENTS", DefaultRendererDurable}, {DefaultDeliveriesStream, DefaultSenderDurablePfx + "a"}} {
		cons, err := js.Consumer(t.Context(), d[0], d[1])
		if err != nil {
			t.Fatal(err)
		}
		if r := cons.CachedInfo().Config.Replicas; r != 0 {
			t.Errorf("consumer %s has replicas %d of its own, want 0 (its stream's)", d[1], r)
		}
	}
	// While the stream takes its new peers, publishing may time out.
	publishRetry(t, js, "after")
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		has := func(body string) bool {
			return slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, body+"|") })
		}
		if !has("before") || !has("after") {
			return fmt.Errorf("delivered %v, want before and after", got)
		}
		return nil
	})
}
