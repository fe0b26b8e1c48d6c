package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestByteBudget(t *testing.T) {
	// Ensure take blocks while the bytes are held, an item larger than the
	// whole budget waits until it is alone, and give wakes the waiters.
	b := newByteBudget(100)
	b.take(60)
	b.take(40)
	got := make(chan string, 2)
	go func() { b.take(10); got <- "small" }()
	select {
	case s := <-got:
		t.Fatalf("%s took bytes the budget did not have", s)
	case <-time.After(50 * time.Millisecond):
	}
	b.give(40)
	if s := <-got; s != "small" {
		t.Fatal(s)
	}
	go func() { b.take(1000); got <- "large" }()
	b.give(60)
	select {
	case s := <-got:
		t.Fatalf("%s went while 10 bytes were held", s)
	case <-time.After(50 * time.Millisecond):
	}
	b.give(10)
	if s := <-got; s != "large" {
		t.Fatal(s)
	}
	if b.free != 0 {
		t.Fatalf("free %d after the large item took all", b.free)
	}
	b.give(1000)
	if b.free != 100 {
		t.Fatalf("free %d, want 100", b.free)
	}
}

func TestRelay_LargeEventsBacklogIsBoundedInBytes(t *testing.T) {
	// Ensure a backlog of large events reaches the relay in bounded pulls:
	// every pull request carries a byte limit, what the relay holds while
	// its render stage is stuck stays within the pull and render budgets,
	// and neither side drops the other as a slow consumer. Before, one pull
	// asked for 2,048 events, and at 1 MB each the server overran its
	// per-client buffer and cut the connection over and over.
	const (
		maxPayload = 2 << 20
		eventSize  = 1 << 20
		events     = 100
	)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	router := RouterFunc(func(p []byte, _ string) (Routed, error) {
		<-release
		return Routed{}, errors.New("not an event")
	})
	s := runServerMax(t, maxPayload)
	nc, js := connect(t, s)

	var mu sync.Mutex
	var pulls []map[string]any
	sub, err := nc.Subscribe("$JS.API.CONSUMER.MSG.NEXT.EVENTS."+DefaultRendererDurable, func(m *nats.Msg) {
		var req map[string]any
		_ = json.Unmarshal(m.Data, &req)
		mu.Lock()
		pulls = append(pulls, req)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	st := &memStore{}
	r := startRelay(t, js, Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}}, router, nil, st)
	// Cleanups run last first: the router must let go before the relay
	// closes, or closing waits on it.
	t.Cleanup(unblock)
	payload := bytes.Repeat([]byte("x"), eventSize)
	for range events {
		if _, err := js.PublishAsync("apono.events.RequestCreated", payload); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishing timed out")
	}

	// Stuck: the relay holds at most one pull's worth beyond the render
	// stage's budget, and the stream keeps the rest.
	cons, err := js.Consumer(context.Background(), "EVENTS", DefaultRendererDurable)
	if err != nil {
		t.Fatal(err)
	}
	limit := (pullBytesFor(maxPayload)+max(renderHeldBytes, pullBytesFor(maxPayload)))/eventSize + 2
	var held int
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		info, err := cons.Info(context.Background())
		if err != nil {
			return err
		}
		if held = info.NumAckPending; held < limit/2 {
			return fmt.Errorf("%d events delivered, waiting for the pulls to fill", held)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	if info, err := cons.Info(context.Background()); err != nil || info.NumAckPending > limit {
		t.Fatalf("relay holds %v events of %d bytes while stuck, want at most %d (%v)", info.NumAckPending, eventSize, limit, err)
	}

	unblock()
	checkFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if _, _, rej := st.snapshot(); len(rej) != events {
			return fmt.Errorf("%d of %d events recorded", len(rej), events)
		}
		return nil
	})
	if n := s.NumSlowConsumers(); n != 0 {
		t.Errorf("server saw %d slow consumers", n)
	}
	if n := r.js.Conn().Stats().Reconnects; n != 0 {
		t.Errorf("relay reconnected %d times", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pulls) == 0 {
		t.Fatal("no pull requests seen")
	}
	for _, p := range pulls {
		mb, _ := p["max_bytes"].(float64)
		if mb <= 0 || int(mb) > pullBytesFor(maxPayload) {
			t.Fatalf("pull request %v: max_bytes must be set and at most %d", p, pullBytesFor(maxPayload))
		}
	}
}
