package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/sink"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/store"
)

const sinkKey = "cx-send-your-data-key-42"

// batchLog wraps a sink and records, per request, the decompressed size and
// the number of entries it carried, and the sink's answer.
type batchLog struct {
	mu   sync.Mutex
	reqs []batchReq
	next http.Handler
}

type batchReq struct {
	path    string
	bytes   int
	entries int
	status  int
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (b *batchLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	plain := body
	if r.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			plain, _ = io.ReadAll(zr)
		}
	}
	var arr []json.RawMessage
	_ = json.Unmarshal(plain, &arr)
	r.Body = io.NopCloser(bytes.NewReader(body))
	sr := &statusRecorder{ResponseWriter: w, status: 200}
	b.next.ServeHTTP(sr, r)
	b.mu.Lock()
	b.reqs = append(b.reqs, batchReq{path: r.URL.Path, bytes: len(plain), entries: len(arr), status: sr.status})
	b.mu.Unlock()
}

func (b *batchLog) requests() []batchReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]batchReq(nil), b.reqs...)
}

// entryID finds the event id an entry's text carries.
func entryID(entry json.RawMessage) string {
	var e struct{ Text json.RawMessage }
	if json.Unmarshal(entry, &e) != nil {
		return ""
	}
	text := []byte(e.Text)
	var s string
	if json.Unmarshal(text, &s) == nil {
		text = []byte(s)
	}
	var ev struct {
		Data struct{ ID string } `json:"data"`
	}
	if json.Unmarshal(text, &ev) != nil {
		return ""
	}
	return ev.Data.ID
}

func newSink(tb testing.TB, mod func(*sink.Options)) (*sink.Sink, *batchLog, *httptest.Server) {
	tb.Helper()
	opts := sink.DefaultOptions()
	opts.APIKey = sinkKey
	opts.Keep = 100000
	opts.EntryKey = func(e json.RawMessage) string { return entryID(e) }
	if mod != nil {
		mod(&opts)
	}
	s := sink.New(opts)
	bl := &batchLog{next: s}
	srv := httptest.NewTLSServer(bl)
	tb.Cleanup(srv.Close)
	return s, bl, srv
}

func nativeHook(name, endpoint, extra string) string {
	return fmt.Sprintf(`  - name: %s
    headers:
      Authorization: Bearer ${CORALOGIX_API_KEY}
    coralogix:
      endpoint: %s
      application_name: apono
      subsystem_name: "access-{{data.access_flow.name}}"
%s`, name, endpoint, extra)
}

func TestCoralogix_SeedAndNativeToSink(t *testing.T) {
	// Ensure the seed's generic webhook and a native Coralogix webhook both
	// reach the Coralogix-compatible sink and are accepted (schema, auth,
	// sizes), with timestamps and severities right for all seven types.
	snk, bl, srv := newSink(t, nil)
	hooks := hookYAML("seed", srv.URL+"/api/v1/logs", seedTemplate(t), "    headers:\n      Authorization: Bearer ${CORALOGIX_API_KEY}\n") +
		nativeHook("native", srv.URL, "      batch: {max_events: 500, max_bytes: 1500000, max_wait: 100ms}\n")
	td := startDaemon(t, "", hooks, map[string]string{"CORALOGIX_API_KEY": sinkKey}, srv)

	times := map[string]string{}
	for i, tr := range renderer.Triggers() {
		p := renderer.Sample(tr, i)
		td.publish("apono.events."+string(tr), p)
		var ev struct {
			EventTime json.Number `json:"event_time"`
			Data      struct{ ID string }
		}
		d := json.NewDecoder(bytes.NewReader(p))
		d.UseNumber()
		if err := d.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		times[ev.Data.ID] = ev.EventTime.String()
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		r := snk.Received()
		if r.ByPath["/api/v1/logs"] < 7 || r.Entries < 14 {
			return fmt.Errorf("sink: %+v", r.ByPath)
		}
		return nil
	})
	td.drained(10 * time.Second)
	r := snk.Received()
	if len(r.Rejected) != 0 {
		t.Fatalf("sink rejected requests: %v", r.Rejected)
	}
	if r.ByPath["/logs/v1/singles"] < 1 || r.BySubsystem["access-Production on-call access"] != 7 || r.ByApplication["apono"] != 7 {
		t.Errorf("native entries: paths %v apps %v subsystems %v", r.ByPath, r.ByApplication, r.BySubsystem)
	}
	wantSev := map[string]int{"RequestFailed": 5, "RequestRejected": 4}
	seen := 0
	for _, k := range r.Last {
		if k.Path != "/logs/v1/singles" {
			continue
		}
		seen++
		var e struct {
			Timestamp      json.Number
			HiResTimestamp string
			Severity       int
			Category       string
			ClassName      string
			ComputerName   string
			Text           json.RawMessage
		}
		d := json.NewDecoder(bytes.NewReader(k.Entry))
		d.UseNumber()
		if err := d.Decode(&e); err != nil {
			t.Fatal(err)
		}
		id := entryID(k.Entry)
		sec := times[id]
		if sec == "" {
			t.Fatalf("entry for unknown event %q", id)
		}
		intPart, frac, _ := strings.Cut(sec, ".")
		frac = (frac + "000000")[:6]
		wantMS := strings.TrimLeft(intPart+frac[:3], "0") + "." + strings.TrimRight(frac[3:], "0")
		wantMS = strings.TrimSuffix(wantMS, ".")
		if e.Timestamp.String() != wantMS {
			t.Errorf("%s: timestamp %s, want %s (event_time %s)", e.Category, e.Timestamp, wantMS, sec)
		}
		if !strings.HasPrefix(e.HiResTimestamp, intPart+frac) {
			t.Errorf("%s: hiResTimestamp %s, event_time %s", e.Category, e.HiResTimestamp, sec)
		}
		want := wantSev[e.Category]
		if want == 0 {
			want = 3
		}
		if e.Severity != want {
			t.Errorf("%s: severity %d, want %d", e.Category, e.Severity, want)
		}
		if e.ClassName == "" || e.ComputerName == "" {
			t.Errorf("%s: className %q computerName %q", e.Category, e.ClassName, e.ComputerName)
		}
	}
	if seen != 7 {
		t.Errorf("%d native entries kept, want 7", seen)
	}
	for _, q := range bl.requests() {
		if q.path == "/logs/v1/singles" && q.entries > 7 {
			t.Errorf("batch of %d entries", q.entries)
		}
	}
	// Each event has its own invocation, pointing at the shared request.
	var invs struct{ Invocations []store.Invocation }
	td.apiJSON("GET", "/api/v1/invocations?webhook=native", nil, &invs)
	requests := map[string]store.Invocation{}
	events := 0
	for _, inv := range invs.Invocations {
		if inv.EventType == "batch" {
			requests[inv.BatchID] = inv
			if !strings.Contains(inv.Request.Body, `"applicationName":"apono"`) || inv.Request.Headers["Authorization"] != "Bearer [REDACTED]" {
				t.Errorf("batch request record: %+v", inv)
			}
			continue
		}
		events++
	}
	if events != 7 {
		t.Fatalf("%d event invocations for the native webhook, want 7", events)
	}
	for _, inv := range invs.Invocations {
		if inv.EventType == "batch" {
			continue
		}
		if _, ok := requests[inv.BatchID]; !ok || inv.Outcome != store.OutcomeDelivered || inv.Response == nil || inv.Response.Status != 200 {
			t.Errorf("invocation %+v does not point at a recorded request", inv)
		}
	}
}

func TestCoralogix_BatchLimitsAnd413(t *testing.T) {
	// Ensure batches never exceed max_events or max_bytes with events of
	// mixed sizes up to 1 MB, and that a 413 from the endpoint splits a
	// batch until every event is delivered.
	snk, bl, srv := newSink(t, func(o *sink.Options) { o.MaxBodyBytes = 300_000 })
	dir := t.TempDir()
	cfg := strings.Replace(fmt.Sprintf(baseConfig, dir), "max_event_bytes: 65536", "max_event_bytes: 2097152", 1) +
		nativeHook("native", srv.URL, "      batch: {max_events: 50, max_bytes: 1500000, max_wait: 50ms}\n    retry: {max_attempts: 3, initial_backoff: 10ms, max_backoff: 50ms}\n")
	td := startDaemonYAML(t, cfg, map[string]string{"CORALOGIX_API_KEY": sinkKey}, srv)

	sizes := []int{100, 20_000, 150_000, 1, 280_000, 5_000, 900, 60_000, 250_000, 10}
	const events = 200
	var want int
	for i := 0; i < events; i++ {
		n := sizes[i%len(sizes)]
		td.publish("apono.events.RequestCreated", event(t, renderer.RequestCreated, i, map[string]any{
			"data.justification": strings.Repeat("j", n),
		}))
		want++
	}
	// Three events too large for this endpoint's 300 kB limit even alone.
	for i := 0; i < 3; i++ {
		td.publish("apono.events.RequestCreated", event(t, renderer.RequestCreated, 1000+i, map[string]any{
			"data.justification": strings.Repeat("J", 1_000_000),
		}))
	}
	checkFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		var dls struct{ DeadLetters []deadLetterView }
		td.apiJSON("GET", "/api/v1/deadletters", nil, &dls)
		if tally := snk.Tally(); tally.UniqueEntries < int64(want) || len(dls.DeadLetters) < 3 {
			return fmt.Errorf("%d of %d entries, %d dead letters", tally.UniqueEntries, want, len(dls.DeadLetters))
		}
		return nil
	})
	td.drained(20 * time.Second)
	saw413 := false
	for _, q := range bl.requests() {
		if q.bytes > 1_500_000 || q.entries > 50 {
			t.Errorf("request of %d bytes, %d entries exceeds the batch limits", q.bytes, q.entries)
		}
		if q.status == 413 {
			saw413 = true
		}
	}
	if !saw413 {
		t.Errorf("the endpoint never answered 413; the split went untested")
	}
	var dls struct{ DeadLetters []deadLetterView }
	td.apiJSON("GET", "/api/v1/deadletters", nil, &dls)
	if len(dls.DeadLetters) != 3 {
		t.Errorf("%d dead letters, want the 3 oversized events", len(dls.DeadLetters))
	}
	for _, dl := range dls.DeadLetters {
		if dl.LastStatus != 413 || dl.Attempts != 1 {
			t.Errorf("dead letter: status %d attempts %d reason %q", dl.LastStatus, dl.Attempts, dl.Reason)
		}
	}
	if tally := snk.Tally(); tally.DuplicateEntries > 0 {
		t.Logf("%d entries delivered twice", tally.DuplicateEntries)
	}
}

func TestCoralogix_AuthErrorDeadLetters(t *testing.T) {
	// Ensure a 401 dead-letters every event of the batch at once, without
	// retries, and does not open the breaker.
	_, bl, srv := newSink(t, nil)
	hooks := nativeHook("native", srv.URL, "      batch: {max_events: 100, max_bytes: 1500000, max_wait: 50ms}\n    circuit_breaker: {failure_ratio: 0.5, min_requests: 2, open_for: 1m}\n")
	td := startDaemon(t, "", hooks, map[string]string{"CORALOGIX_API_KEY": "wrong-key"}, srv)
	for i := 0; i < 5; i++ {
		td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i))
	}
	dls := td.waitDeadLetters("", 5)
	td.drained(10 * time.Second)
	for _, dl := range dls {
		if dl.Attempts != 1 || dl.LastStatus != 401 {
			t.Errorf("dead letter: attempts %d status %d", dl.Attempts, dl.LastStatus)
		}
	}
	n := 0
	for _, q := range bl.requests() {
		if q.path == "/logs/v1/singles" {
			n += q.entries
		}
	}
	if n != 5 {
		t.Errorf("%d entries sent, want 5 (one attempt each)", n)
	}
	if st := td.senders["native"].Breaker().State; st != "closed" {
		t.Errorf("breaker %s after 401s", st)
	}
}

// failFirst answers 503 to the first n requests, then passes them on.
type failFirst struct {
	mu   sync.Mutex
	n    int
	next http.Handler
}

func (f *failFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestCoralogix_BatchRetryRecordsAttempts(t *testing.T) {
	// Ensure a batch that gets a 503 and then goes through is recorded as
	// two requests, attempt 1 (failed) and attempt 2 (delivered), sent with
	// the same Idempotency-Key, and each event as attempt 1 retrying, then
	// attempt 2 delivered, pointing at the matching request.
	snk, bl, srv := newSink(t, nil)
	bl.next = &failFirst{n: 1, next: snk}
	hooks := nativeHook("native", srv.URL, "      batch: {max_events: 3, max_bytes: 1500000, max_wait: 1s}\n    retry: {max_attempts: 3, initial_backoff: 10ms, max_backoff: 50ms}\n")
	td := startDaemon(t, "", hooks, map[string]string{"CORALOGIX_API_KEY": sinkKey}, srv)
	for i := 0; i < 3; i++ {
		td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i))
	}
	td.drained(20 * time.Second)

	var invs struct{ Invocations []store.Invocation }
	td.apiJSON("GET", "/api/v1/invocations?webhook=native", nil, &invs)
	requests := map[int]store.Invocation{}
	events := map[int]int{}
	for _, inv := range invs.Invocations {
		if inv.EventType == "batch" {
			if _, dup := requests[inv.Attempt]; dup {
				t.Errorf("two batch requests with attempt %d", inv.Attempt)
			}
			requests[inv.Attempt] = inv
			continue
		}
		events[inv.Attempt]++
	}
	first, second := requests[1], requests[2]
	if len(requests) != 2 || first.Outcome != store.OutcomeFailed || first.Response == nil || first.Response.Status != 503 ||
		second.Outcome != store.OutcomeDelivered || second.Response == nil || second.Response.Status != 200 {
		for a, inv := range requests {
			t.Logf("batch request attempt %d: outcome %s response %+v", a, inv.Outcome, inv.Response)
		}
		t.Fatalf("%d batch request records, want attempt 1 failed with 503 and attempt 2 delivered", len(requests))
	}
	if first.BatchID != second.BatchID || first.Request.Headers["Idempotency-Key"] != second.Request.Headers["Idempotency-Key"] {
		t.Errorf("retry changed the batch: %q/%q, keys %q/%q", first.BatchID, second.BatchID,
			first.Request.Headers["Idempotency-Key"], second.Request.Headers["Idempotency-Key"])
	}
	if events[1] != 3 || events[2] != 3 || len(events) != 2 {
		t.Fatalf("event records by attempt: %v, want 3 and 3", events)
	}
	for _, inv := range invs.Invocations {
		if inv.EventType == "batch" {
			continue
		}
		want := map[int]string{1: store.OutcomeRetrying, 2: store.OutcomeDelivered}[inv.Attempt]
		if inv.Outcome != want || inv.BatchID != first.BatchID {
			t.Errorf("event record attempt %d: outcome %s batch %q, want %s %q", inv.Attempt, inv.Outcome, inv.BatchID, want, first.BatchID)
		}
	}
	if got := snk.Received().Entries; got != 3 {
		t.Errorf("sink kept %d entries, want 3", got)
	}
}
