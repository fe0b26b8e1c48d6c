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

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

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

// clusterTest starts a three-server cluster for a test that runs beside the
// other cluster tests, unless tests are short.
func clusterTest(t *testing.T) *testutil.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	t.Parallel()
	return testutil.StartCluster(t, 3)
}

// connectURL connects to any of urls (comma-separated) and reconnects for
// ever, as the daemon does.
var connectURL = testutil.Connect

func TestRelay_ClusterRollingRestart(t *testing.T) {
	// Ensure that with a three-server JetStream cluster and streams of
	// three replicas, no event is lost while servers are restarted one at
	// a time under traffic: the publisher retries with the same message id,
	// and the relays carry on through the others.
	//   - One relay: the servers leading the deliveries and the events
	//     stream go, but never the one leading the events consumer nor the
	//     relay's own; an ordered webhook keeps the events' order (its
	//     publishes wait out the lost leader in place).
	//   - Two relays: the leaders of both streams and of the events
	//     consumer go, and the relays' own. A consumer's new leader forgets
	//     its pin (NATS keeps it on the leader only), and what a server had
	//     in flight to a relay comes back only after AckWait, so an ordered
	//     webhook may get a few events late (README); that count is logged.
	for _, tt := range []struct {
		name   string
		relays int
		strict bool
		kill   []string
	}{
		{name: "OneRelay", relays: 1, strict: true, kill: []string{DefaultDeliveriesStream, "EVENTS", DefaultDeliveriesStream}},
		{name: "TwoRelays", relays: 2, kill: []string{"EVENTS", DefaultDeliveriesStream, DefaultRendererDurable}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rollingRestart(t, clusterTest(t), tt.relays, tt.strict, tt.kill)
		})
	}
}

// rollingRestart restarts, one after the other, the server leading each of
// kill (a stream, or DefaultRendererDurable for the events consumer) while
// events are published. strict keeps the relays on the first server and
// keeps it and the events consumer's leader up (a stream led by either is
// made to step down first), and fails on an ordered delivery out of order.
func rollingRestart(t *testing.T, c *testutil.Cluster, relays int, strict bool, kill []string) {
	var mu sync.Mutex
	got := map[string]map[string]int{"a": {}, "o": {}}
	var order []int // the ordered webhook's deliveries, by event number
	snd := func(hook string) *senderFunc {
		return &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
			mu.Lock()
			got[hook][string(d.Body)]++
			if hook == "o" {
				n, _ := strconv.Atoi(strings.TrimPrefix(string(d.Body), "e-"))
				order = append(order, n)
			}
			mu.Unlock()
			return sender.Attempt{StartedAt: time.Now(), Response: &sender.ResponseData{Status: 200}}, nil
		}}
	}
	cfg := Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}, Replicas: 3,
		Webhooks: []Webhook{{Name: "a", Concurrency: 4, MaxAttempts: 1000}, {Name: "o", Ordered: true, MaxAttempts: 1000}}}
	// Strictly, the relay stays on the first server, which never goes:
	// what a server had in flight to a relay when it went away comes back
	// only after AckWait.
	urls := c.URLs()
	if strict {
		urls = c.Servers[0].ClientURL()
	}
	for range relays {
		_, js := connectURL(t, urls)
		startRelay(t, js, cfg, echoRouter("a", "o"), map[string]Sender{"a": snd("a"), "o": snd("o")}, &memStore{})
	}

	_, pub := connectURL(t, c.URLs())
	for _, name := range []string{"EVENTS", DefaultDeliveriesStream} {
		s, err := pub.Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("stream %s has %d replicas, want 3", name, r)
		}
	}
	// Events go out at a steady pace all through the restarts.
	stop := make(chan struct{})
	published := make(chan int)
	go func() {
		n := 0
		defer func() { published <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			publishRetry(t, pub, "e-"+strconv.Itoa(n))
			n++
		}
	}()
	var restarted []string
	for _, what := range kill {
		time.Sleep(500 * time.Millisecond)
		var i int
		switch {
		case what == DefaultRendererDurable:
			i = c.LeaderOf(pub, "EVENTS", DefaultRendererDurable)
		case strict:
			for i = c.LeaderOf(pub, what); i == 0 || i == c.LeaderOf(pub, "EVENTS", DefaultRendererDurable); i = c.LeaderOf(pub, what) {
				c.StepDown(pub, what)
			}
		default:
			i = c.LeaderOf(pub, what)
		}
		restarted = append(restarted, c.Servers[i].Name()+" (leading "+what+")")
		c.Servers[i].Shutdown()
		c.Servers[i].WaitForShutdown()
		time.Sleep(time.Second)
		c.Start(i)
		c.Formed()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	events := <-published

	checkFor(t, 120*time.Second, 50*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		for hook, bodies := range got {
			if len(bodies) < events {
				return fmt.Errorf("webhook %s: %d of %d events delivered", hook, len(bodies), events)
			}
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	dups := map[string]int{}
	for hook, bodies := range got {
		for i := range events {
			n := bodies["e-"+strconv.Itoa(i)]
			if n == 0 {
				t.Errorf("webhook %s: event %d never delivered", hook, i)
			}
			dups[hook] += max(n-1, 0)
		}
		if len(bodies) != events {
			t.Errorf("webhook %s: %d distinct bodies delivered, want %d", hook, len(bodies), events)
		}
	}
	// A repeat of a delivery already made is allowed; a first delivery
	// after a later event's is not.
	seen, last, late := map[int]bool{}, -1, 0
	for _, n := range order {
		if seen[n] {
			continue
		}
		seen[n] = true
		if n < last {
			late++
		}
		last = max(last, n)
	}
	if late > 0 && strict {
		t.Errorf("ordered webhook: %d events delivered after a later one", late)
	}
	t.Logf("restarted %s; %d events, repeated deliveries %v, ordered webhook's late deliveries %d",
		strings.Join(restarted, ", "), events, dups, late)
}

func TestRelay_Setup_ScalesItsStreams(t *testing.T) {
	// Ensure nats.replicas scales the streams the relay made with one
	// replica, that their consumers follow their stream, and that delivery
	// goes on.
	c := clusterTest(t)
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

func TestRelay_Setup_ScaleRefusedIsNotFatal(t *testing.T) {
	// Ensure a scale the cluster cannot make (five replicas on three
	// servers) leaves the streams as they are and the relay running.
	c := clusterTest(t)
	var mu sync.Mutex
	var got []string
	cfg := Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}, Replicas: 5,
		Webhooks: []Webhook{{Name: "a", MaxAttempts: 3}}}
	_, js := connectURL(t, c.URLs())
	// Made with one replica first, as if nats.replicas had been unset.
	for _, name := range []string{"EVENTS", DefaultDeliveriesStream} {
		subjects := map[string][]string{"EVENTS": cfg.EventsSubjects, DefaultDeliveriesStream: {DefaultDeliveriesPrefix + ".>"}}[name]
		retention := map[string]jetstream.RetentionPolicy{"EVENTS": jetstream.LimitsPolicy, DefaultDeliveriesStream: jetstream.WorkQueuePolicy}[name]
		if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: subjects, Retention: retention,
			Metadata: map[string]string{metadataManaged: "true"}}); err != nil {
			t.Fatal(err)
		}
	}
	core, logs := observer.New(zap.WarnLevel)
	r, err := New(js, cfg, echoRouter("a"), map[string]Sender{"a": okSender(&mu, &got)}, &memStore{}, Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	if err := r.Setup(t.Context()); err != nil {
		t.Fatalf("setup: %v", err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"EVENTS", DefaultDeliveriesStream} {
		s, err := js.Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 1 {
			t.Errorf("stream %s has %d replicas, want 1 (the scale cannot be made)", name, r)
		}
	}
	if n := logs.FilterMessage("could not scale the stream to nats.replicas; using it as it is").Len(); n != 2 {
		t.Errorf("%d warnings of a refused scale, want one per stream: %v", n, logs.All())
	}
	// A stream that cannot be made with that many replicas stops the
	// start, saying why.
	fresh := cfg
	fresh.EventsStream, fresh.EventsSubjects = "FRESH", []string{"fresh.events.>"}
	r2, err := New(js, fresh, echoRouter("a"), map[string]Sender{"a": okSender(&mu, &got)}, &memStore{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Setup(t.Context()); err == nil || !strings.Contains(err.Error(), "creating it with 5 replicas") {
		t.Errorf("setup of a new stream with 5 replicas on 3 servers: %v", err)
	}
	publishRetry(t, js, "1")
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 {
			return fmt.Errorf("delivered %v", got)
		}
		return nil
	})
}
