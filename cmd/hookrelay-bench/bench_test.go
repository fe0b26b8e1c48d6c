package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/renderer"
)

// Ensure markerIndex finds the event index in a rendered body and rejects
// bodies without a well-formed marker.
func TestMarkerIndex(t *testing.T) {
	tests := []struct {
		name   string
		given  string
		want   int
		wantOK bool
	}{
		{name: "Marker", given: `{"id": "bench-000123-7c66"}`, want: 123, wantOK: true},
		{name: "Escaped", given: `"{ \"id\": \"bench-1000000-x\"}"`, want: 1000000, wantOK: true},
		{name: "NoMarker", given: `{"id": "7c66"}`},
		{name: "NoDigits", given: `bench--`},
		{name: "NotTerminated", given: `bench-0001`},
		{name: "TooLong", given: `bench-1234567890-`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := markerIndex([]byte(tt.given))
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("markerIndex(%q) = %d, %v; want %d, %v", tt.given, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// Ensure every benchmark event decodes, carries its marker in data.id and
// renders to a per-event body the marker can be found in again.
func TestPerEventMode_Body(t *testing.T) {
	m := perEventMode()
	for i := range 14 {
		p, typ, err := benchEvent(i)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := renderer.DecodeEvent(p, 0)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if id, _ := ev.Get("data.id"); !strings.HasPrefix(id.(string), marker(i)) {
			t.Fatalf("event %d: data.id %v lacks %q", i, id, marker(i))
		}
		if string(ev.Trigger) != typ {
			t.Fatalf("event %d: trigger %s, want %s", i, ev.Trigger, typ)
		}
		body, err := m.body(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := m.extract(body); !ok || got != i {
			t.Fatalf("event %d: extract = %d, %v", i, got, ok)
		}
	}
}

// Ensure parseStatCPU reads utime+stime after a command name holding
// spaces and parentheses.
func TestParseStatCPU(t *testing.T) {
	line := "42 (hook relay) (x)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 2 3\n"
	got, err := parseStatCPU([]byte(line), 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if _, err := parseStatCPU([]byte("42 (x) S 1"), 100); err == nil {
		t.Fatal("want an error for a short line")
	}
}

// Ensure parseVmHWM returns VmHWM in bytes.
func TestParseVmHWM(t *testing.T) {
	got, err := parseVmHWM(strings.NewReader("Name:\thookrelay\nVmPeak:\t  9 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 1 kB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got != 2048*1024 {
		t.Fatalf("got %d", got)
	}
	if _, err := parseVmHWM(strings.NewReader("Name:\tx\n")); err == nil {
		t.Fatal("want an error without VmHWM")
	}
}

// Ensure the recorder counts first deliveries, duplicates and strays, and
// computes nearest-rank percentiles of publish→delivery latency.
func TestRecorder_Stats(t *testing.T) {
	r := newRecorder(100, time.Now())
	r.on.Store(true)
	for i := range 100 {
		r.pub[i] = 1
		r.got[i] = 1 + int64(i+1)*int64(time.Millisecond)
	}
	r.entry(500, true)
	r.entry(0, false)
	if r.stray.Load() != 2 {
		t.Fatalf("stray = %d, want 2", r.stray.Load())
	}
	r.entry(3, true)
	if r.duplicates.Load() != 1 {
		t.Fatalf("duplicates = %d, want 1", r.duplicates.Load())
	}
	l := r.stats()
	if l.n != 100 || l.p50 != 50*time.Millisecond || l.p99 != 99*time.Millisecond || l.max != 100*time.Millisecond {
		t.Fatalf("stats = %+v", l)
	}
}

// Ensure the JetStream ceiling measures all three phases on a real embedded
// server: publish, consume, and the hop with its CPU per message.
func TestJSCeiling(t *testing.T) {
	payloads := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, hop := jsCeiling(ctx, t.TempDir(), payloads, 2000, clockTicks())
	for name, c := range map[string]ceiling{"ceiling": res, "hop": hop} {
		if c.skipped != "" || c.errors != 0 || c.perSec <= 0 || c.n != 2000 {
			t.Fatalf("%s: %+v", name, c)
		}
	}
	if !strings.HasPrefix(res.extra, "publish ") {
		t.Fatalf("ceiling extra %q lacks the publish rate", res.extra)
	}
	if hop.cores < 0 || hop.cpuPer < 0 {
		t.Fatalf("hop CPU: %+v", hop)
	}
}
