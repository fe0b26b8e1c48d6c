package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/sender"
	"github.com/hookrelay/hookrelay/store"
)

// fakeMsg is a jetstream.Msg carrying only headers and data.
type fakeMsg struct {
	jetstream.Msg
	h nats.Header
	d []byte
}

func (m fakeMsg) Headers() nats.Header { return m.h }
func (m fakeMsg) Data() []byte         { return m.d }

func TestPackMsgs(t *testing.T) {
	// Ensure deliveries packed into messages come back unpacked in order,
	// no message exceeds the item or byte limit, and the same deliveries
	// packed the same way get the same dedupe id.
	r := &Relay{cfg: Config{DeliveriesPrefix: "d"}}
	var items []packedItem
	for i := 0; i < 37; i++ {
		items = append(items, packedItem{
			deliveryID: fmt.Sprintf("did-%d", i), eventID: fmt.Sprint(i), eventType: "RequestCreated",
			body: bytes.Repeat([]byte{'x'}, 10+i*7),
		})
	}
	tests := []struct {
		name                string
		givenItems, givenMB int
	}{
		{"by count", 10, 1 << 20},
		{"by bytes", 100, 600},
		{"one each", 1, 1 << 20},
		{"all in one", 100, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := r.packMsgs("w", PackEntries, items, tt.givenItems, tt.givenMB)
			again := r.packMsgs("w", PackEntries, items, tt.givenItems, tt.givenMB)
			var got []packedItem
			for i, m := range msgs {
				n := itemCount(m.Header)
				if n > tt.givenItems || (n > 1 && len(m.Data) > tt.givenMB) {
					t.Errorf("message %d: %d items, %d bytes", i, n, len(m.Data))
				}
				if m.Header.Get(jetstream.MsgIDHeader) != again[i].Header.Get(jetstream.MsgIDHeader) {
					t.Errorf("message %d: dedupe id not stable", i)
				}
				if m.Subject != "d.w" {
					t.Errorf("subject %s", m.Subject)
				}
				out, err := unpack(fakeMsg{h: m.Header, d: m.Data})
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != n {
					t.Errorf("message %d: header says %d, body has %d", i, n, len(out))
				}
				got = append(got, out...)
			}
			if len(got) != len(items) {
				t.Fatalf("%d items back, want %d", len(got), len(items))
			}
			for i := range items {
				if got[i].deliveryID != items[i].deliveryID || got[i].eventID != items[i].eventID ||
					got[i].eventType != items[i].eventType || !bytes.Equal(got[i].body, items[i].body) {
					t.Errorf("item %d: %+v", i, got[i])
				}
			}
		})
	}
}

func TestUnpack_Errors(t *testing.T) {
	// Ensure a damaged packed message is an error, and a plain message is
	// one delivery described by its headers.
	good := appendPacked(nil, &packedItem{deliveryID: "a", eventID: "1", eventType: "T", body: []byte("{}")})
	tests := []struct {
		name    string
		given   fakeMsg
		wantN   int
		wantErr bool
	}{
		{"plain", fakeMsg{h: nats.Header{HeaderDeliveryID: {"d"}}, d: []byte("{}")}, 1, false},
		{"packed", fakeMsg{h: nats.Header{HeaderPacked: {"1"}}, d: good}, 1, false},
		{"count mismatch", fakeMsg{h: nats.Header{HeaderPacked: {"2"}}, d: good}, 0, true},
		{"truncated", fakeMsg{h: nats.Header{HeaderPacked: {"1"}}, d: good[:len(good)-1]}, 0, true},
		{"bad count", fakeMsg{h: nats.Header{HeaderPacked: {"x"}}, d: good}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unpack(tt.given)
			if (err != nil) != tt.wantErr || len(got) != tt.wantN {
				t.Errorf("got %d items, err %v", len(got), err)
			}
		})
	}
}

func TestHook_PackedMessageForPlainWebhook(t *testing.T) {
	// Ensure a packed message reaching a webhook that no longer batches is
	// not sent: each delivery in it becomes a dead letter of its own.
	var mu sync.Mutex
	var got []string
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 1, MaxAttempts: 3}},
		map[string]Sender{"a": okSender(&mu, &got)})
	items := []packedItem{{deliveryID: "d1", eventID: "1", eventType: "T", body: []byte(`{"a":1}`)}, {deliveryID: "d2", eventID: "2", eventType: "T", body: []byte(`{"a":2}`)}}
	for _, m := range f.relay.packMsgs("a", PackEntries, items, 10, 1<<20) {
		if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	f.waitDead(t, 2, 10*time.Second)
	_, dead, _ := f.store.snapshot()
	if dead[0].DeliveryID != "d1" || string(dead[1].Body) != `{"a":2}` {
		t.Errorf("dead letters %+v", dead)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Errorf("sent %v", got)
	}
}

// publishBodies packs n request bodies for webhook into one message and
// publishes it, as the render stage does for a webhook sending many
// requests at once.
func (f *fixture) publishBodies(tb testing.TB, webhook string, n int) []packedItem {
	tb.Helper()
	items := make([]packedItem, n)
	for i := range items {
		items[i] = packedItem{deliveryID: fmt.Sprintf("d%02d", i), eventID: strconv.Itoa(i), eventType: "RequestCreated", body: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	msgs := f.relay.packMsgs(webhook, PackBodies, items, 64, 1<<20)
	if len(msgs) != 1 || packKind(msgs[0].Header) != PackBodies {
		tb.Fatalf("packed into %d messages", len(msgs))
	}
	if _, err := f.js.PublishMsg(context.Background(), msgs[0]); err != nil {
		tb.Fatal(err)
	}
	return items
}

func TestHook_PackedBodies_RetriesOnTheirOwn(t *testing.T) {
	// Ensure a pack of request bodies sends each once; those that fail
	// retryably are published again on their own and retried after their
	// backoff with the next attempt number, until max_attempts
	// dead-letters them; those that succeed are not sent again; and every
	// message ends acknowledged.
	var mu sync.Mutex
	calls := map[string][]time.Time{}
	s := &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[d.ID] = append(calls[d.ID], time.Now())
		var n int
		fmt.Sscanf(d.ID, "d%d", &n)
		switch {
		case n%3 == 0: // always fails
			return sender.Attempt{Response: &sender.ResponseData{Status: 503}}, &sender.Error{Class: sender.Retryable, Reason: sender.ReasonServerError, StatusCode: 503, Err: errors.New("503")}
		case n%3 == 1 && len(calls[d.ID]) == 1: // fails once
			return sender.Attempt{Response: &sender.ResponseData{Status: 503}}, &sender.Error{Class: sender.Retryable, Reason: sender.ReasonServerError, StatusCode: 503, Err: errors.New("503")}
		}
		return sender.Attempt{Response: &sender.ResponseData{Status: 200}}, nil
	}}
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 8, MaxAttempts: 3}}, map[string]Sender{"a": s})
	const n = 12
	f.publishBodies(t, "a", n)
	checkFor(t, 15*time.Second, 10*time.Millisecond, func() error {
		invs, dead, _ := f.store.snapshot()
		// 4 always failing: 3 attempts each; 4 failing once: 2; 4 fine: 1.
		if len(dead) != 4 || len(invs) != 4*3+4*2+4 {
			return fmt.Errorf("%d invocations, %d dead letters", len(invs), len(dead))
		}
		return nil
	})
	invs, dead, _ := f.store.snapshot()
	attempts := map[string][]int{}
	for _, inv := range invs {
		attempts[inv.DeliveryID] = append(attempts[inv.DeliveryID], inv.Attempt)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("d%02d", i)
		var want []int
		switch i % 3 {
		case 0:
			want = []int{1, 2, 3}
		case 1:
			want = []int{1, 2}
		case 2:
			want = []int{1}
		}
		if !slices.Equal(attempts[id], want) || len(calls[id]) != len(want) {
			t.Errorf("%s: attempts %v, %d calls; want %v", id, attempts[id], len(calls[id]), want)
		}
		// The sender's backoff is 10ms: no retry came sooner.
		for k := 1; k < len(calls[id]); k++ {
			if gap := calls[id][k].Sub(calls[id][k-1]); gap < 10*time.Millisecond {
				t.Errorf("%s: retry %d after %v, before the backoff", id, k, gap)
			}
		}
	}
	for _, dl := range dead {
		if dl.Attempts != 3 || dl.LastStatus != 503 {
			t.Errorf("dead letter %s: attempts %d status %d", dl.DeliveryID, dl.Attempts, dl.LastStatus)
		}
	}
	f.settled(t, "a", 5*time.Second)
}

func TestHook_PackedBodies_BreakerOpenCostsNoAttempt(t *testing.T) {
	// Ensure deliveries of a pack refused by an open breaker are tried
	// later without losing an attempt: the first real attempt of each is
	// attempt 1.
	var mu sync.Mutex
	refused := map[string]int{}
	s := &senderFunc{
		send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
			mu.Lock()
			defer mu.Unlock()
			if refused[d.ID] < 2 {
				refused[d.ID]++
				return sender.Attempt{}, &sender.Error{Class: sender.BreakerOpen, Reason: sender.ReasonBreakerOpen, Err: sender.ErrBreakerOpen}
			}
			return sender.Attempt{Response: &sender.ResponseData{Status: 200}}, nil
		},
		breaker: func() sender.BreakerStatus {
			return sender.BreakerStatus{State: "open", OpenRemaining: 20 * time.Millisecond}
		},
	}
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 4, MaxAttempts: 1}}, map[string]Sender{"a": s})
	f.publishBodies(t, "a", 6)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		invs, _, _ := f.store.snapshot()
		if len(invs) != 6 {
			return fmt.Errorf("%d invocations", len(invs))
		}
		return nil
	})
	invs, dead, _ := f.store.snapshot()
	for _, inv := range invs {
		if inv.Attempt != 1 || inv.Outcome != store.OutcomeDelivered {
			t.Errorf("%s: attempt %d outcome %s", inv.DeliveryID, inv.Attempt, inv.Outcome)
		}
	}
	if len(dead) != 0 {
		t.Errorf("%d dead letters with max_attempts 1: refusals were counted", len(dead))
	}
	if c, _ := f.relay.Counts("a"); c.BreakerOpen != 12 || c.Delivered != 6 {
		t.Errorf("counts %+v", c)
	}
}

func TestHook_PackedBodiesForBatchingWebhook(t *testing.T) {
	// Ensure request bodies packed for a plain webhook that batches
	// Coralogix entries now are not sent as entries: each becomes a dead
	// letter of its own.
	bs := &batchSenderFunc{}
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 2, MaxAttempts: 3, Batch: &BatchPolicy{MaxEvents: 10, MaxBytes: 1 << 20, MaxWait: 10 * time.Millisecond}}},
		map[string]Sender{"a": bs})
	f.publishBodies(t, "a", 3)
	f.waitDead(t, 3, 10*time.Second)
	if n := bs.batches.Load(); n != 0 {
		t.Errorf("%d batches sent", n)
	}
}

// batchSenderFunc is a BatchSender that accepts every batch and counts them.
type batchSenderFunc struct {
	senderFunc
	batches atomic.Int64
}

func (b *batchSenderFunc) SendBatch(_ context.Context, entries []sender.BatchEntry) sender.BatchResult {
	b.batches.Add(1)
	return sender.BatchResult{Errs: make([]error, len(entries))}
}

func TestHook_PackedBodies_RetriesCountedAcrossReplicas(t *testing.T) {
	// Ensure a retry taken out of a pack is counted the same whichever
	// replica it reaches first: with two relays on one consumer and an
	// endpoint that always fails, every delivery gets exactly attempts 1,
	// 2 and 3 and one dead letter after the third.
	var mu sync.Mutex
	calls := map[string]int{}
	fail := func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		mu.Lock()
		calls[d.ID]++
		mu.Unlock()
		return sender.Attempt{Response: &sender.ResponseData{Status: 503}}, &sender.Error{Class: sender.Retryable, Reason: sender.ReasonServerError, StatusCode: 503, Err: errors.New("503")}
	}
	hooks := []Webhook{{Name: "a", Concurrency: 4, MaxAttempts: 3}}
	f := newFixture(t, echoRouter("a"), hooks, map[string]Sender{"a": &senderFunc{send: fail}})
	// A second replica: same streams, same durable consumers.
	_, js2 := connect(t, f.s)
	st2 := &memStore{}
	startRelay(t, js2, Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}, Webhooks: hooks},
		echoRouter("a"), map[string]Sender{"a": &senderFunc{send: fail}}, st2)

	const n = 16
	f.publishBodies(t, "a", n)
	both := func() ([]store.Invocation, []store.DeadLetter) {
		i1, d1, _ := f.store.snapshot()
		i2, d2, _ := st2.snapshot()
		return append(i1, i2...), append(d1, d2...)
	}
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if invs, dead := both(); len(dead) != n || len(invs) != 3*n {
			return fmt.Errorf("%d invocations, %d dead letters", len(invs), len(dead))
		}
		return nil
	})
	invs, dead := both()
	attempts := map[string][]int{}
	for _, inv := range invs {
		attempts[inv.DeliveryID] = append(attempts[inv.DeliveryID], inv.Attempt)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, got := range attempts {
		slices.Sort(got)
		if !slices.Equal(got, []int{1, 2, 3}) || calls[id] != 3 {
			t.Errorf("%s: attempts %v, %d calls; want 1, 2, 3", id, got, calls[id])
		}
	}
	for _, dl := range dead {
		if dl.Attempts != 3 {
			t.Errorf("dead letter %s after %d attempts, want 3", dl.DeliveryID, dl.Attempts)
		}
	}
}

func TestHook_PackedBodies_LongerThanAckWait(t *testing.T) {
	// Ensure a pack that takes longer than AckWait to get through (its
	// webhook's concurrency was lowered since it was packed) is kept alive
	// and each delivery sent once.
	if testing.Short() {
		t.Skip("takes about 7 seconds")
	}
	var mu sync.Mutex
	calls := map[string]int{}
	slow := &senderFunc{send: func(_ context.Context, d sender.Delivery) (sender.Attempt, error) {
		time.Sleep(500 * time.Millisecond)
		mu.Lock()
		calls[d.ID]++
		mu.Unlock()
		return sender.Attempt{Response: &sender.ResponseData{Status: 200}}, nil
	}}
	// Concurrency 1 and a 100ms timeout: AckWait is 5.5s; 12 sends take 6s.
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 1, Timeout: 100 * time.Millisecond, MaxAttempts: 3}}, map[string]Sender{"a": slow})
	const n = 12
	f.publishBodies(t, "a", n)
	f.settled(t, "a", 20*time.Second)
	// The consumer delivered the one message once: no AckWait ran out.
	c, err := f.js.Consumer(context.Background(), DefaultDeliveriesStream, DefaultSenderDurablePfx+"a")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != 1 {
		t.Errorf("the pack was delivered %d times, want once", info.Delivered.Consumer)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < n; i++ {
		if id := fmt.Sprintf("d%02d", i); calls[id] != 1 {
			t.Errorf("%s sent %d times, want once", id, calls[id])
		}
	}
}

func TestRelay_PacksFitASmallMaxPayload(t *testing.T) {
	// Ensure packs of request bodies stay under a NATS max_payload below
	// 64 KiB: a backlog of 4 KiB bodies, taken in one render batch, is
	// packed in several messages and every one is delivered.
	s := runServerMax(t, 48<<10)
	_, js := connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The backlog is there before the relay starts; the relay takes the
	// stream as it finds it.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"apono.events.>"}}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, "apono.events.RequestCreated", []byte(fmt.Sprintf("%03d", i)+strings.Repeat("x", 4<<10))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var got []string
	startRelay(t, js, Config{EventsStream: "EVENTS", EventsSubjects: []string{"apono.events.>"}, Webhooks: []Webhook{{Name: "a", Concurrency: 64, MaxAttempts: 3}}},
		echoRouter("a"), map[string]Sender{"a": okSender(&mu, &got)}, &memStore{})
	checkFor(t, 15*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) != n {
			return fmt.Errorf("%d of %d sent", len(got), n)
		}
		return nil
	})
	// No publish of a pack was refused: no event had to come again.
	c, err := js.Consumer(ctx, "EVENTS", DefaultRendererDurable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != n {
		t.Errorf("events delivered %d times for %d events", info.Delivered.Consumer, n)
	}
}

func TestHook_BatchPullIsBounded(t *testing.T) {
	// Ensure a batching webhook's consumer holds at most maxBatchPull packs
	// while its endpoint hangs (twice max_events would be 4,000 here), and
	// that every entry then goes once.
	release := make(chan struct{})
	bs := &blockingBatchSender{release: release}
	const (
		maxBytes = 16 << 10
		packs    = 700
		perPack  = 2
	)
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 1, Timeout: 10 * time.Second, MaxAttempts: 3,
		Batch: &BatchPolicy{MaxEvents: 2000, MaxBytes: maxBytes, MaxWait: 10 * time.Millisecond}}}, map[string]Sender{"a": bs})
	pad := strings.Repeat("x", 1000)
	for p := range packs {
		items := make([]packedItem, perPack)
		for i := range items {
			n := p*perPack + i
			items[i] = packedItem{deliveryID: fmt.Sprintf("d%05d", n), eventID: strconv.Itoa(n), eventType: "RequestCreated",
				body: []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, n, pad))}
		}
		msgs := f.relay.packMsgs("a", PackEntries, items, 2000, maxBytes)
		if len(msgs) != 1 {
			t.Fatalf("packed into %d messages", len(msgs))
		}
		if _, err := f.js.PublishMsgAsync(msgs[0]); err != nil {
			t.Fatal(err)
		}
	}
	<-f.js.PublishAsyncComplete()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if bs.calls.Load() == 0 {
			return errors.New("no batch sent yet")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // let the pulls that will come, come
	// What the pull holds, plus the batch being filled and the one sent
	// (each at most 16 KiB: 8 packs).
	if _, unacked := f.pending(t, DefaultDeliveriesStream, DefaultSenderDurablePfx+"a"); unacked > maxBatchPull+16 {
		t.Errorf("%d packs taken while the endpoint hangs, want at most %d", unacked, maxBatchPull+16)
	}
	close(release)
	f.settled(t, "a", 20*time.Second)
	if got := bs.entries.Load(); got != packs*perPack {
		t.Errorf("%d entries sent, want %d", got, packs*perPack)
	}
}

// blockingBatchSender accepts every batch once release is closed.
type blockingBatchSender struct {
	senderFunc
	release chan struct{}
	calls   atomic.Int64
	entries atomic.Int64
}

func (b *blockingBatchSender) SendBatch(ctx context.Context, entries []sender.BatchEntry) sender.BatchResult {
	b.calls.Add(1)
	select {
	case <-b.release:
	case <-ctx.Done():
		errs := make([]error, len(entries))
		for i := range errs {
			errs[i] = ctx.Err()
		}
		return sender.BatchResult{Errs: errs}
	}
	b.entries.Add(int64(len(entries)))
	return sender.BatchResult{Errs: make([]error, len(entries))}
}

func TestHook_EntryPacksStaySmall(t *testing.T) {
	// Ensure log entries are packed in messages of at most
	// maxEntryPackBytes whatever batch.max_bytes allows, and that an entry
	// larger than that still goes, alone.
	f := newFixture(t, echoRouter("a"), []Webhook{{Name: "a", Concurrency: 2, MaxAttempts: 3,
		Batch: &BatchPolicy{MaxEvents: 500, MaxBytes: 1 << 20, MaxWait: 10 * time.Millisecond}}}, map[string]Sender{"a": &batchSenderFunc{}})
	kind, maxItems, maxBytes := f.relay.hooks["a"].packLimits()
	items := make([]packedItem, 100)
	for i := range items {
		items[i] = packedItem{deliveryID: fmt.Sprintf("d%03d", i), eventID: strconv.Itoa(i), eventType: "RequestCreated",
			body: []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 2000)))}
	}
	items[50].body = []byte(fmt.Sprintf(`{"big":%q}`, strings.Repeat("y", 100<<10)))
	msgs := f.relay.packMsgs("a", kind, items, maxItems, maxBytes)
	entries := 0
	for _, m := range msgs {
		n := itemCount(m.Header)
		entries += n
		if n > 1 && len(m.Data) > maxEntryPackBytes+n*64 {
			t.Errorf("a pack of %d entries holds %d bytes, want at most about %d", n, len(m.Data), maxEntryPackBytes)
		}
	}
	if entries != len(items) || len(msgs) < 4 {
		t.Fatalf("%d entries in %d messages", entries, len(msgs))
	}
}
