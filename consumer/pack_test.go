package consumer

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
			msgs := r.packMsgs("w", items, tt.givenItems, tt.givenMB)
			again := r.packMsgs("w", items, tt.givenItems, tt.givenMB)
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
	for _, m := range f.relay.packMsgs("a", items, 10, 1<<20) {
		if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		_, dead, _ := f.store.snapshot()
		if len(dead) != 2 {
			return fmt.Errorf("%d dead letters", len(dead))
		}
		return nil
	})
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
