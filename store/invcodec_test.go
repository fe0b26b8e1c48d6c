package store

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// jsonRoundTrip returns inv as the store gave it back when records were
// JSON: what encoding/json writes and reads back.
func jsonRoundTrip(tb testing.TB, inv Invocation) Invocation {
	tb.Helper()
	b, err := json.Marshal(inv)
	if err != nil {
		tb.Fatal(err)
	}
	var out Invocation
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// codecCases are invocations that exercise every field of the encoding.
func codecCases() []struct {
	name  string
	given Invocation
} {
	full := newInvocation("wh", OutcomeRetrying, "dlv-1", time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC))
	full.Error, full.BatchID, full.Test, full.Attempt = "server error: 503", "batch-9", true, 7
	full.Request.Body = renderedInvocation(3).Request.Body // long enough to be compressed
	full.Response = &HTTPResponse{Status: 503, Headers: map[string]string{"Retry-After": "3", "": ""}, Body: strings.Repeat("busy ", 100)}
	unicode := full
	unicode.Webhook, unicode.Error = "wëbhook-✅", "ошибка 😀 \u2028"
	unicode.Request.Body = strings.Repeat("日本語 <&> ", 50)
	invalid := full
	invalid.EventID, invalid.Error = "ev\xff\xfe", "bad \xed\xa0\x80 surrogate"
	invalid.Request.Headers = map[string]string{"X-\xff": "v\xc3", "X-\xfe": "w", "Ok": "\xff"}
	invalid.Request.Body = strings.Repeat("\xffx", 300)
	invalid.Response = &HTTPResponse{Status: 200, Body: "\xc3\x28"}
	empty := Invocation{Webhook: "w", StartedAt: t0}
	emptyMaps := empty
	emptyMaps.Request.Headers = map[string]string{}
	emptyMaps.Response = &HTTPResponse{Headers: map[string]string{}}
	incompressible := full
	incompressible.Request.Body = pseudoRandom(2000)
	negative := full
	negative.Attempt, negative.DurationMS, negative.Response.Status = -1, math.Copysign(0, -1), -5
	zones := []struct {
		name string
		t    time.Time
	}{
		{"Local", time.Date(2025, 6, 1, 12, 0, 0, 1, time.Local)},
		{"Plus0530", time.Date(2025, 6, 1, 12, 0, 0, 999999999, time.FixedZone("IST", 5*3600+1800))},
		{"Minus0800", time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -8*3600))},
		{"OffsetSeconds", time.Date(1900, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", -75))},
		{"SubMinute", time.Date(1900, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 30))},
		{"NamedZero", time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC", 0))},
		{"Monotonic", time.Now()},
		{"Year0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"Year9999", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}
	cases := []struct {
		name  string
		given Invocation
	}{
		{"Full", full}, {"Unicode", unicode}, {"InvalidUTF8", invalid}, {"Empty", empty},
		{"EmptyMaps", emptyMaps}, {"Incompressible", incompressible}, {"Negative", negative},
	}
	for _, z := range zones {
		inv := full
		inv.StartedAt = z.t
		cases = append(cases, struct {
			name  string
			given Invocation
		}{"Time" + z.name, inv})
	}
	return cases
}

// pseudoRandom returns n bytes of printable noise that S2 cannot compress.
func pseudoRandom(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(' ' + x%94)
	}
	return string(b)
}

// Ensure every field decodes to exactly what a JSON round trip gave back.
func TestEncodeInvocation_RoundTrip(t *testing.T) {
	for _, test := range codecCases() {
		t.Run(test.name, func(t *testing.T) {
			given := test.given
			var scratch []byte
			v, err := encodeInvocation(&given, &scratch)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeInvocation([]byte{0, 0, 0, 0, 0, 0, 0, 42}, v)
			if err != nil {
				t.Fatal(err)
			}
			want := jsonRoundTrip(t, test.given)
			want.ID = "000000000000002a"
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%#v\nwant\n%#v", got, want)
			}
			if got.StartedAt.Location().String() != want.StartedAt.Location().String() {
				t.Fatalf("location %v, want %v", got.StartedAt.Location(), want.StartedAt.Location())
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if string(gj) != string(wj) {
				t.Fatalf("JSON\n%s\nwant\n%s", gj, wj)
			}
			m, err := readInvMeta(v)
			if err != nil || string(m.webhook) != want.Webhook || string(m.outcome) != want.Outcome ||
				string(m.deliveryID) != want.DeliveryID || !m.startedAt.Equal(want.StartedAt) {
				t.Fatalf("readInvMeta = %+v, %v", m, err)
			}
			if !reflect.DeepEqual(given, test.given) {
				t.Fatal("encodeInvocation modified its argument")
			}
		})
	}
}

// Ensure long compressible bodies are stored compressed and short or
// incompressible ones as they are.
func TestEncodeInvocation_Compression(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bool
	}{
		{name: "Short", body: strings.Repeat("a", compressMinBytes-1), want: false},
		{name: "Long", body: strings.Repeat("a", compressMinBytes), want: true},
		{name: "Rendered", body: renderedInvocation(1).Request.Body, want: true},
		{name: "Incompressible", body: pseudoRandom(4096), want: false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			inv := newInvocation("wh", OutcomeDelivered, "d", t0)
			inv.Request.Body = test.body
			var scratch []byte
			v, err := encodeInvocation(&inv, &scratch)
			if err != nil {
				t.Fatal(err)
			}
			if got := v[1]&invFlagRequestS2 != 0; got != test.want {
				t.Fatalf("compressed = %v, want %v (%d bytes for a %d-byte body)", got, test.want, len(v), len(test.body))
			}
		})
	}
}

// Ensure values JSON cannot encode are rejected as encoding/json rejected them.
func TestEncodeInvocation_Invalid(t *testing.T) {
	tests := []struct {
		name  string
		given func(*Invocation)
	}{
		{name: "NaN", given: func(inv *Invocation) { inv.DurationMS = math.NaN() }},
		{name: "Inf", given: func(inv *Invocation) { inv.DurationMS = math.Inf(1) }},
		{name: "Year10000", given: func(inv *Invocation) { inv.StartedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{name: "NegativeYear", given: func(inv *Invocation) { inv.StartedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	s := mustOpen(t, Options{})
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			inv := newInvocation("wh", OutcomeDelivered, "d", t0)
			test.given(&inv)
			if _, err := json.Marshal(inv); err == nil {
				t.Fatal("encoding/json accepts it")
			}
			if _, err := s.Record(t.Context(), inv); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Record error = %v, want ErrInvalidRecord", err)
			}
		})
	}
}

// Ensure the store gives every case back through Record, GetInvocation and
// ListInvocations, and still reads invocations written as JSON.
func TestStore_Record_Codec(t *testing.T) {
	s := mustOpen(t, Options{})
	for _, test := range codecCases() {
		t.Run(test.name, func(t *testing.T) {
			id := mustRecord(t, s, test.given)
			want := jsonRoundTrip(t, test.given)
			want.ID = id
			got, err := s.GetInvocation(id)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("GetInvocation =\n%#v\nwant\n%#v", got, want)
			}
			list, err := s.ListInvocations(InvocationFilter{Webhook: want.Webhook, DeliveryID: want.DeliveryID, Limit: 1})
			if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], want) {
				t.Fatalf("ListInvocations = %v, %v", list, err)
			}
		})
	}

	t.Run("LegacyJSON", func(t *testing.T) {
		want := codecCases()[0].given
		id := mustRecord(t, s, want)
		k, _ := parseID(id)
		want.ID = id
		legacy, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketInvocations).Put(k, legacy) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetInvocation(id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, jsonRoundTrip(t, want)) {
			t.Fatalf("GetInvocation of a JSON record =\n%#v\nwant\n%#v", got, want)
		}
		list, err := s.ListInvocations(InvocationFilter{Outcome: want.Outcome, DeliveryID: want.DeliveryID, Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != id {
			t.Fatalf("ListInvocations = %v, %v", list, err)
		}
	})
}

// FuzzDecodeInvocation checks that the decoder never panics or allocates
// without bound on damaged records, and that whatever it accepts encodes
// back to a record that decodes the same.
func FuzzDecodeInvocation(f *testing.F) {
	for _, c := range codecCases() {
		var scratch []byte
		v, err := encodeInvocation(&c.given, &scratch)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
	}
	f.Add([]byte{})
	f.Add([]byte("{}"))
	f.Add([]byte{invFormatV1})
	f.Fuzz(func(t *testing.T, v []byte) {
		key := []byte{0, 0, 0, 0, 0, 0, 0, 1}
		_, _ = readInvMeta(v)
		inv, err := decodeInvocation(key, v)
		if err != nil || (len(v) > 0 && v[0] == '{') {
			return
		}
		if _, err := json.Marshal(inv); err != nil {
			return // e.g. a year outside [0,9999] or NaN, which Record refuses
		}
		var scratch []byte
		again, err := encodeInvocation(&inv, &scratch)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		inv2, err := decodeInvocation(key, again)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if !reflect.DeepEqual(jsonRoundTrip(t, inv), jsonRoundTrip(t, inv2)) {
			t.Fatalf("re-encoded record decodes to\n%#v\nwant\n%#v", inv2, inv)
		}
	})
}
