package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/testutil"
	"github.com/hookrelay/hookrelay/sender"
)

// storeLarge stores msgs while the server allows 16 MiB, then restarts it
// on the same store allowing 1 MiB: the pulls then ask for less than the
// large messages.
func storeLarge(tb testing.TB, stream jetstream.StreamConfig, msgs ...*nats.Msg) *server.Server {
	tb.Helper()
	dir := tb.TempDir()
	s1 := testutil.JetStreamServer(tb, dir, server.Options{MaxPayload: 16 << 20})
	nc1, js1 := connect(tb, s1)
	ctx := context.Background()
	if _, err := js1.CreateStream(ctx, stream); err != nil {
		tb.Fatal(err)
	}
	for _, m := range msgs {
		if _, err := js1.PublishMsg(ctx, m); err != nil {
			tb.Fatal(err)
		}
	}
	nc1.Close()
	s1.Shutdown()
	s1.WaitForShutdown()
	s := testutil.JetStreamServer(tb, dir, server.Options{MaxPayload: 1 << 20})
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func TestRelay_EventLargerThanPullsIsFetchedOnItsOwn(t *testing.T) {
	// Ensure an event stored while max_payload was larger than now, which
	// no pull asks enough bytes for, is fetched on its own and recorded,
	// with the other event, rather than the consumer spinning on it for
	// ever.
	s := storeLarge(t, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"apono.events.>"}, Storage: jetstream.FileStorage},
		&nats.Msg{Subject: "apono.events.RequestCreated", Data: bytes.Repeat([]byte("x"), 10<<20)},
		&nats.Msg{Subject: "apono.events.RequestCreated", Data: []byte("small")})
	_, js := connect(t, s)
	st := &memStore{}
	router := RouterFunc(func(p []byte, _ string) (Routed, error) { return Routed{}, errors.New("not an event") })
	startRelay(t, js, Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}, WatchInterval: 100 * time.Millisecond}, router, nil, st)
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if _, _, rej := st.snapshot(); len(rej) != 2 {
			return fmt.Errorf("%d of 2 events recorded", len(rej))
		}
		return nil
	})
	_, _, rej := st.snapshot()
	sizes := map[int]bool{rej[0].Size: true, rej[1].Size: true}
	if !sizes[10<<20] || !sizes[5] {
		t.Errorf("rejected events of %d and %d bytes", rej[0].Size, rej[1].Size)
	}
}

func TestHook_DeliveryLargerThanPullsIsFetchedOnItsOwn(t *testing.T) {
	// The same for a webhook's delivery: it is sent, and the other one too.
	r := &Relay{cfg: Config{DeliveriesPrefix: DefaultDeliveriesPrefix}}
	big := bytes.Repeat([]byte("y"), 4<<20)
	s := storeLarge(t, jetstream.StreamConfig{Name: DefaultDeliveriesStream, Subjects: []string{DefaultDeliveriesPrefix + ".>"}, Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy},
		r.deliveryMsg("a", "d-big", "1", "RequestCreated", big),
		r.deliveryMsg("a", "d-small", "2", "RequestCreated", []byte("small")))
	_, js := connect(t, s)
	got := make(chan string, 4)
	snd := &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		got <- fmt.Sprintf("%s:%d", d.ID, len(d.Body))
		return sender.Attempt{StartedAt: time.Now(), Response: &sender.ResponseData{Status: 200}}, nil
	}}
	startRelay(t, js, Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}, WatchInterval: 100 * time.Millisecond,
		Webhooks: []Webhook{{Name: "a", Concurrency: 1, MaxAttempts: 3}}}, echoRouter("a"), map[string]Sender{"a": snd}, &memStore{})
	want := map[string]bool{fmt.Sprintf("d-big:%d", len(big)): true, "d-small:5": true}
	for len(want) > 0 {
		select {
		case g := <-got:
			if !want[g] {
				t.Fatalf("sent %s, want one of %v", g, want)
			}
			delete(want, g)
		case <-time.After(20 * time.Second):
			t.Fatalf("never sent: %v", want)
		}
	}
}

type noJetStream struct{ jetstream.JetStream }

func TestNew_ScrapeWhileBuilding(t *testing.T) {
	// Ensure a scrape during New (the admin server is up before the relay)
	// does not read the webhooks while New adds them. Run under -race.
	reg := prometheus.NewRegistry()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = reg.Gather()
			}
		}
	}()
	var hooks []Webhook
	senders := map[string]Sender{}
	for i := range 500 {
		n := fmt.Sprintf("w%d", i)
		hooks = append(hooks, Webhook{Name: n})
		senders[n] = &senderFunc{breaker: func() sender.BreakerStatus { return sender.BreakerStatus{State: "closed"} }}
	}
	_, err := New(noJetStream{}, Config{EventsStream: "E", EventsSubjects: []string{"a.>"}, Webhooks: hooks}, echoRouter(), senders, &memStore{}, Options{Registerer: reg})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "hookrelay_breaker_state" && len(mf.GetMetric()) != len(hooks) {
			t.Errorf("breaker state for %d webhooks, want %d", len(mf.GetMetric()), len(hooks))
		}
	}
}
