package sender

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// makeEntries returns n entries with ids "<prefix>-<i>" and bodies
// {"i":<i>,"id":"<id>","pad":"<hex>"} of about size bytes; the pad is
// pseudo-random, so the entries compress about as well as hex does.
func makeEntries(prefix string, n, size int) []BatchEntry {
	const digits = "0123456789abcdef"
	out := make([]BatchEntry, n)
	for i := range out {
		id := prefix + "-" + strconv.Itoa(i)
		js := fmt.Sprintf(`{"i":%d,"id":%q,"pad":"`, i, id)
		pad := make([]byte, max(size-len(js)-2, 0))
		r := rand.New(rand.NewPCG(uint64(i), uint64(len(prefix))))
		for k := range pad {
			pad[k] = digits[r.IntN(16)]
		}
		out[i] = BatchEntry{ID: id, JSON: []byte(js + string(pad) + `"}`)}
	}
	return out
}

// gunzipArray decompresses a batch body and splits it into its entries.
func gunzipArray(tb testing.TB, body []byte) ([]json.RawMessage, []byte) {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("body is not gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatalf("gunzip: %v", err)
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil {
		tb.Fatalf("body is not a JSON array: %v", err)
	}
	return arr, raw
}

// wantArray is the uncompressed array SendBatch should send for entries.
func wantArray(entries []BatchEntry) string {
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = string(e.JSON)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// errsOf checks that every entry error is an *Error and returns them, nil
// for delivered entries.
func errsOf(tb testing.TB, res BatchResult, n int) []*Error {
	tb.Helper()
	if len(res.Errs) != n {
		tb.Fatalf("len(Errs) = %d, want %d", len(res.Errs), n)
	}
	out := make([]*Error, n)
	for i, err := range res.Errs {
		if err == nil {
			continue
		}
		if !errors.As(err, &out[i]) {
			tb.Fatalf("Errs[%d] = %v, want *Error", i, err)
		}
	}
	return out
}

// Ensure SendBatch sends one gzip-compressed JSON array of exactly the
// entries in order, with the batch headers, over plain HTTP, TLS and HTTP/2,
// and records the uncompressed array.
func TestSender_SendBatch_Body(t *testing.T) {
	tests := []struct {
		name      string
		givenTLS  bool
		givenH2   bool
		wantProto string
	}{
		{name: "HTTP", wantProto: "HTTP/1.1"},
		{name: "TLS", givenTLS: true, wantProto: "HTTP/1.1"},
		// A server that also speaks HTTP/2 is sent HTTP/1.1: ALPN offers
		// nothing else.
		{name: "TLSHTTP2Server", givenTLS: true, givenH2: true, wantProto: "HTTP/1.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var proto []string
			rc := &recorder{reply: func(w http.ResponseWriter, r *http.Request, _ []byte) {
				mu.Lock()
				proto = append(proto, r.Proto)
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
			}}
			ts := httptest.NewUnstartedServer(rc)
			ts.EnableHTTP2 = tc.givenH2
			var opts Options
			if tc.givenTLS {
				ts.StartTLS()
				opts.TLSConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig
			} else {
				ts.Start()
			}
			t.Cleanup(ts.Close)
			opts.Getenv = fixedEnv(map[string]string{"CX_KEY": "cx-secret-value"})
			opts.UserAgent = "hookrelay/9.9"
			s := newUnsafe(t, Endpoint{URL: ts.URL + "/logs/v1/singles",
				Headers: map[string]string{"Authorization": "Bearer ${CX_KEY}"}}, opts)

			entries := makeEntries("d", 200, 300)
			res := s.SendBatch(t.Context(), entries)
			for i, err := range res.Errs {
				if err != nil {
					t.Fatalf("Errs[%d] = %v", i, err)
				}
			}
			if len(res.Errs) != len(entries) || len(res.Attempts) != 1 {
				t.Fatalf("got %d errs and %d attempts, want %d and 1", len(res.Errs), len(res.Attempts), len(entries))
			}
			reqs := rc.requests()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(reqs))
			}
			if proto[0] != tc.wantProto {
				t.Errorf("protocol = %s, want %s", proto[0], tc.wantProto)
			}
			arr, raw := gunzipArray(t, reqs[0].body)
			if string(raw) != wantArray(entries) || len(arr) != len(entries) {
				t.Errorf("server got %d entries, body differs from the entries in order", len(arr))
			}
			if len(reqs[0].body) >= len(raw) {
				t.Errorf("compressed body %d bytes, not smaller than %d", len(reqs[0].body), len(raw))
			}
			id := BatchID(entries)
			for name, want := range map[string]string{
				"Content-Encoding": "gzip",
				"Content-Type":     "application/json",
				"Authorization":    "Bearer cx-secret-value",
				"Idempotency-Key":  id,
				"User-Agent":       "hookrelay/9.9",
			} {
				if got := reqs[0].header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			ba := res.Attempts[0]
			if ba.ID != id || ba.First != 0 || ba.N != len(entries) || ba.Err != nil {
				t.Errorf("Attempts[0] = {%s %d %d %v}, want {%s 0 %d nil}", ba.ID, ba.First, ba.N, ba.Err, id, len(entries))
			}
			rd := ba.Attempt.Request
			if rd.Body != string(raw) || rd.Truncated {
				t.Errorf("recorded body is not the uncompressed array (truncated %v)", rd.Truncated)
			}
			if rd.Headers["Content-Encoding"] != "gzip" || rd.Headers["Idempotency-Key"] != id ||
				rd.Headers["Authorization"] != "Bearer "+redacted {
				t.Errorf("recorded headers = %v", rd.Headers)
			}
			if ba.Attempt.Response == nil || ba.Attempt.Response.Status != http.StatusOK {
				t.Errorf("recorded response = %+v", ba.Attempt.Response)
			}
		})
	}
}

// Ensure the recorded request body of a large batch is the start of the
// uncompressed array cut at MaxRecordedBody.
func TestSender_SendBatch_RecordedBodyCut(t *testing.T) {
	rc := &recorder{}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	entries := makeEntries("big", 500, 1024)
	res := s.SendBatch(t.Context(), entries)
	if len(res.Attempts) != 1 || res.Errs[0] != nil {
		t.Fatalf("SendBatch = %+v", res)
	}
	rd := res.Attempts[0].Attempt.Request
	want := wantArray(entries)[:MaxRecordedBody]
	if rd.Body != want || !rd.Truncated {
		t.Errorf("recorded body %d bytes, truncated %v; want the first %d bytes, true", len(rd.Body), rd.Truncated, MaxRecordedBody)
	}
	_, raw := gunzipArray(t, rc.requests()[0].body)
	if string(raw) != wantArray(entries) {
		t.Errorf("server did not get the whole array")
	}
}

// Ensure BatchID depends on exactly the entry IDs in order.
func TestBatchID(t *testing.T) {
	ids := func(v ...string) []BatchEntry {
		out := make([]BatchEntry, len(v))
		for i, id := range v {
			out[i] = BatchEntry{ID: id, JSON: []byte(`{"other":` + strconv.Itoa(i) + `}`)}
		}
		return out
	}
	base := BatchID(ids("a", "b", "c"))
	tests := []struct {
		name      string
		given     []BatchEntry
		wantEqual bool
	}{
		{name: "SameIDs", given: ids("a", "b", "c"), wantEqual: true},
		{name: "SameIDsOtherBodies", given: []BatchEntry{{ID: "a"}, {ID: "b"}, {ID: "c"}}, wantEqual: true},
		{name: "OtherOrder", given: ids("b", "a", "c")},
		{name: "Subset", given: ids("a", "b")},
		{name: "OtherID", given: ids("a", "b", "d")},
		{name: "OtherBoundaries", given: ids("ab", "c", "")},
		{name: "Concatenated", given: ids("abc")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BatchID(tc.given)
			if !strings.HasPrefix(got, "b-") || len(got) != 34 {
				t.Errorf("BatchID = %q, want b- and 32 hex digits", got)
			}
			if (got == base) != tc.wantEqual {
				t.Errorf("BatchID = %q, base %q, want equal %v", got, base, tc.wantEqual)
			}
		})
	}
}

// Ensure a retry of the same entries carries the same Idempotency-Key and
// other entries another one.
func TestSender_SendBatch_IdempotencyKey(t *testing.T) {
	rc := &recorder{}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	a, b := makeEntries("a", 3, 50), makeEntries("b", 3, 50)
	for _, entries := range [][]BatchEntry{a, a, b} {
		if res := s.SendBatch(t.Context(), entries); res.Errs[0] != nil {
			t.Fatal(res.Errs[0])
		}
	}
	reqs := rc.requests()
	k0, k1, k2 := reqs[0].header.Get("Idempotency-Key"), reqs[1].header.Get("Idempotency-Key"), reqs[2].header.Get("Idempotency-Key")
	if k0 == "" || k0 != k1 {
		t.Errorf("retry keys %q and %q differ", k0, k1)
	}
	if k2 == k0 {
		t.Errorf("other entries got the same key %q", k2)
	}
}

// Ensure a 413 for bodies over a limit splits the batch in halves until
// each part fits, delivers every entry exactly once, and lists the split in
// Attempts; this holds whether the endpoint decompresses the body first or
// answers from Content-Length without reading it.
func TestSender_SendBatch_SplitOn413(t *testing.T) {
	tests := []struct {
		name       string
		givenEarly bool // answer 413 from Content-Length alone
		givenLimit int
		wantSplits []string // First+N:status of each request; nil checks only the first
	}{
		{name: "DecompressedLimit", givenLimit: 2500,
			wantSplits: []string{"0+40:413", "0+20:413", "0+10:200", "10+10:200", "20+20:413", "20+10:200", "30+10:200"}},
		{name: "EarlyAnswer", givenEarly: true, givenLimit: 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			delivered := map[string]int{}
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.givenEarly && r.ContentLength > int64(tc.givenLimit) {
					w.WriteHeader(http.StatusRequestEntityTooLarge)
					return
				}
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Error(err)
					return
				}
				arr, raw := gunzipArray(t, body)
				if !tc.givenEarly && len(raw) > tc.givenLimit {
					w.WriteHeader(http.StatusRequestEntityTooLarge)
					return
				}
				mu.Lock()
				for _, e := range arr {
					var v struct{ ID string }
					_ = json.Unmarshal(e, &v)
					delivered[v.ID]++
				}
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(ts.Close)
			s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
			entries := makeEntries("e", 40, 230)
			res := s.SendBatch(t.Context(), entries)
			for i, err := range res.Errs {
				if err != nil {
					t.Errorf("Errs[%d] = %v", i, err)
				}
			}
			mu.Lock()
			for _, e := range entries {
				if n := delivered[e.ID]; n != 1 {
					t.Errorf("entry %s delivered %d times, want 1", e.ID, n)
				}
			}
			mu.Unlock()
			var got []string
			for _, a := range res.Attempts {
				status := 0
				if a.Attempt.Response != nil {
					status = a.Attempt.Response.Status
				}
				got = append(got, fmt.Sprintf("%d+%d:%d", a.First, a.N, status))
				if a.ID != BatchID(entries[a.First:a.First+a.N]) {
					t.Errorf("attempt %d+%d has id %s", a.First, a.N, a.ID)
				}
				if (status == http.StatusRequestEntityTooLarge) != (a.Err != nil) {
					t.Errorf("attempt %d+%d: status %d, Err %v", a.First, a.N, status, a.Err)
				}
			}
			switch {
			case tc.wantSplits != nil && strings.Join(got, " ") != strings.Join(tc.wantSplits, " "):
				t.Errorf("Attempts = %v, want %v", got, tc.wantSplits)
			case len(got) < 3 || got[0] != "0+40:413":
				t.Errorf("Attempts = %v, want a split of 0+40", got)
			}
		})
	}
}

// Ensure an entry that is refused with 413 even alone fails Permanent with
// its size while the other entries are delivered.
func TestSender_SendBatch_OversizedEntry(t *testing.T) {
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, body []byte) {
		if _, raw := gunzipArray(t, body); bytes.Contains(raw, []byte("huge")) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, "payload too large")
			return
		}
		w.WriteHeader(http.StatusOK)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	entries := makeEntries("e", 7, 100)
	entries[4] = BatchEntry{ID: "e-4", JSON: []byte(`{"huge":"` + strings.Repeat("h", 5000) + `"}`)}
	res := s.SendBatch(t.Context(), entries)
	errs := errsOf(t, res, len(entries))
	for i, e := range errs {
		if i != 4 {
			if e != nil {
				t.Errorf("Errs[%d] = %v, want delivered", i, e)
			}
			continue
		}
		if e == nil || e.Class != Permanent || e.Reason != ReasonClientError || e.StatusCode != 413 {
			t.Fatalf("Errs[4] = %v, want permanent client_error 413", e)
		}
		if !errors.Is(e, ErrEntryTooLarge) || !errors.Is(e, ErrUnexpectedStatus) {
			t.Errorf("Errs[4] = %v, want ErrEntryTooLarge wrapping ErrUnexpectedStatus", e)
		}
		if want := strconv.Itoa(len(entries[4].JSON)) + " bytes"; !strings.Contains(e.Error(), want) {
			t.Errorf("Errs[4] = %q, want it to name the size %q", e, want)
		}
	}
	last := res.Attempts[len(res.Attempts)-1]
	for _, a := range res.Attempts {
		if a.N == 1 && a.First == 4 {
			last = a
		}
	}
	if last.First != 4 || last.N != 1 || !errors.Is(last.Err, ErrEntryTooLarge) {
		t.Errorf("no attempt of the oversized entry alone: %+v", last)
	}
}

// Ensure every status gives all entries of the batch Send's class and
// reason; 413 is left to the split tests.
func TestSender_SendBatch_Statuses(t *testing.T) {
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, body []byte) {
		arr, _ := gunzipArray(t, body)
		var v struct{ Status int }
		_ = json.Unmarshal(arr[0], &v)
		w.WriteHeader(v.Status)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Breaker: BreakerPolicy{MinRequests: 1 << 31}}, Options{})
	for _, tc := range statusTable(t) {
		if tc.status < 200 || tc.status == http.StatusRequestEntityTooLarge {
			continue
		}
		entries := []BatchEntry{
			{ID: "s", JSON: []byte(`{"status":` + strconv.Itoa(tc.status) + `}`)},
			{ID: "t", JSON: []byte(`{"n":2}`)},
		}
		res := s.SendBatch(t.Context(), entries)
		errs := errsOf(t, res, 2)
		if len(res.Attempts) != 1 {
			t.Fatalf("status %d: %d attempts, want 1", tc.status, len(res.Attempts))
		}
		for i, e := range errs {
			if tc.wantClass == Delivered {
				if e != nil {
					t.Errorf("status %d: Errs[%d] = %v, want nil", tc.status, i, e)
				}
				continue
			}
			if e == nil || e.Class != tc.wantClass || e.Reason != tc.wantReason || e.StatusCode != tc.status {
				t.Errorf("status %d: Errs[%d] = %v, want (%s, %s)", tc.status, i, e, tc.wantClass, tc.wantReason)
			}
		}
	}
}

// Ensure 401 makes every entry Permanent with ReasonAuthError and does not
// trip the breaker however often it happens.
func TestSender_SendBatch_AuthError(t *testing.T) {
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusUnauthorized)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Breaker: BreakerPolicy{MinRequests: 1, FailureRatio: 0.1}}, Options{})
	entries := makeEntries("a", 5, 80)
	for round := range 20 {
		res := s.SendBatch(t.Context(), entries)
		for i, e := range errsOf(t, res, len(entries)) {
			if e == nil || e.Class != Permanent || e.Reason != ReasonAuthError || e.StatusCode != 401 {
				t.Fatalf("round %d: Errs[%d] = %v, want permanent auth_error", round, i, e)
			}
		}
	}
	if st := s.Breaker(); st.State != "closed" {
		t.Errorf("breaker %s after 20 batches answered 401, want closed", st.State)
	}
	if n := rc.count.Load(); n != 20 {
		t.Errorf("server saw %d requests, want 20", n)
	}
}

// Ensure 503 makes every entry Retryable with the endpoint's Retry-After.
func TestSender_SendBatch_Unavailable(t *testing.T) {
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "12")
		w.WriteHeader(http.StatusServiceUnavailable)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	entries := makeEntries("u", 4, 80)
	res := s.SendBatch(t.Context(), entries)
	for i, e := range errsOf(t, res, len(entries)) {
		if e == nil || e.Class != Retryable || e.Reason != ReasonServerError || e.RetryAfter != 12*time.Second {
			t.Errorf("Errs[%d] = %v, want retryable server_error after 12s", i, e)
		}
	}
	if len(res.Attempts) != 1 || res.Attempts[0].Err == nil {
		t.Errorf("Attempts = %+v, want one failed attempt", res.Attempts)
	}
	if c := s.Breaker().Counts; c.TotalFailures != 1 {
		t.Errorf("breaker failures = %d, want 1", c.TotalFailures)
	}
}

// Ensure an open breaker fails every entry with BreakerOpen without a
// request and without an attempt record.
func TestSender_SendBatch_BreakerOpen(t *testing.T) {
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusBadGateway)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Breaker: BreakerPolicy{MinRequests: 1, OpenFor: time.Hour}}, Options{})
	entries := makeEntries("o", 6, 80)
	s.SendBatch(t.Context(), entries)
	if st := s.Breaker().State; st != "open" {
		t.Fatalf("breaker %s after a 502, want open", st)
	}
	seen := rc.count.Load()
	res := s.SendBatch(t.Context(), entries)
	for i, e := range errsOf(t, res, len(entries)) {
		if e == nil || e.Class != BreakerOpen || !errors.Is(e, ErrBreakerOpen) {
			t.Errorf("Errs[%d] = %v, want BreakerOpen", i, e)
		}
	}
	if len(res.Attempts) != 0 || rc.count.Load() != seen {
		t.Errorf("%d attempts and %d new requests, want none", len(res.Attempts), rc.count.Load()-seen)
	}
}

// Ensure a canceled context fails every entry as context_canceled without
// a request, and an empty batch makes no request.
func TestSender_SendBatch_NoRequest(t *testing.T) {
	rc := &recorder{}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := s.SendBatch(ctx, makeEntries("c", 3, 50))
	for i, e := range errsOf(t, res, 3) {
		if e == nil || e.Reason != ReasonContextCanceled || !errors.Is(e, context.Canceled) {
			t.Errorf("Errs[%d] = %v, want context_canceled", i, e)
		}
	}
	if res := s.SendBatch(t.Context(), nil); len(res.Errs) != 0 || len(res.Attempts) != 0 {
		t.Errorf("empty batch gave %+v", res)
	}
	if n := rc.count.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

// Ensure an entry that is not a JSON object fails Permanent with
// ErrBadEntry and is left out while the entries around it are sent.
func TestSender_SendBatch_BadEntry(t *testing.T) {
	rc := &recorder{}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	tests := []struct {
		name         string
		givenBad     []int
		wantRequests []string // First+N of each request
	}{
		{name: "Middle", givenBad: []int{2}, wantRequests: []string{"0+2", "3+2"}},
		{name: "FirstAndLast", givenBad: []int{0, 4}, wantRequests: []string{"1+3"}},
		{name: "Adjacent", givenBad: []int{1, 2}, wantRequests: []string{"0+1", "3+2"}},
		{name: "All", givenBad: []int{0, 1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries := makeEntries("b", 5, 60)
			bad := map[int]bool{}
			for k, i := range tc.givenBad {
				bad[i] = true
				entries[i].JSON = [][]byte{[]byte(`not json`), []byte(`  `), []byte(`[1]`), nil, []byte(`{"a":1`)}[k%5]
			}
			before := len(rc.requests())
			res := s.SendBatch(t.Context(), entries)
			for i, e := range errsOf(t, res, len(entries)) {
				switch {
				case bad[i] && (e == nil || e.Class != Permanent || !errors.Is(e, ErrBadEntry)):
					t.Errorf("Errs[%d] = %v, want ErrBadEntry", i, e)
				case !bad[i] && e != nil:
					t.Errorf("Errs[%d] = %v, want delivered", i, e)
				}
			}
			var got []string
			for _, a := range res.Attempts {
				got = append(got, fmt.Sprintf("%d+%d", a.First, a.N))
			}
			if strings.Join(got, " ") != strings.Join(tc.wantRequests, " ") {
				t.Errorf("requests %v, want %v", got, tc.wantRequests)
			}
			for _, r := range rc.requests()[before:] {
				gunzipArray(t, r.body) // every request is a valid array
			}
		})
	}
}

// Ensure the secret header value and query value reach the server but
// appear in no attempt record, error or log line of a batch.
func TestSender_SendBatch_SecretNeverLeaks(t *testing.T) {
	const secret = "cx-s3cr3t-api-key-42"
	const querySecret = "q-s3cr3t-4711"
	rc := &recorder{reply: func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		if _, raw := gunzipArray(t, body); len(raw) > 400 {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		} else {
			w.WriteHeader(http.StatusForbidden)
		}
		fmt.Fprintf(w, "key %q query %s rejected", r.Header.Get("Authorization"), r.URL.RawQuery)
	}}
	ts := newServer(t, rc)
	core, logs := observer.New(zap.DebugLevel)
	s := newUnsafe(t, Endpoint{URL: ts.URL + "/logs/v1/singles?token=" + querySecret,
		Headers: map[string]string{"Authorization": "Bearer ${CX_KEY}"}},
		Options{Getenv: fixedEnv(map[string]string{"CX_KEY": secret}), Logger: zap.New(core)})
	res := s.SendBatch(t.Context(), makeEntries("s", 8, 100))
	if len(res.Attempts) < 3 {
		t.Fatalf("%d attempts, want a split", len(res.Attempts))
	}
	if got := rc.requests()[0].header.Get("Authorization"); got != "Bearer "+secret {
		t.Fatalf("server got Authorization %q", got)
	}
	js, err := json.Marshal(res.Attempts)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	text.Write(js)
	for _, a := range res.Attempts {
		fmt.Fprintf(&text, "\n%v", a.Err)
	}
	for _, e := range res.Errs {
		fmt.Fprintf(&text, "\n%v", e)
	}
	for _, entry := range logs.All() {
		fmt.Fprintf(&text, "\n%s %v", entry.Message, entry.ContextMap())
	}
	if logs.Len() < len(res.Attempts) {
		t.Errorf("%d log lines for %d attempts", logs.Len(), len(res.Attempts))
	}
	for _, leak := range []string{secret, querySecret} {
		if strings.Contains(text.String(), leak) {
			t.Errorf("attempts, errors or logs leak %q", leak)
		}
	}
	if !strings.Contains(text.String(), redacted) {
		t.Errorf("echoed secret was not masked")
	}
}

// Ensure concurrent batches each reach the server intact, so pooled
// buffers and writers are never shared between requests in flight.
func TestSender_SendBatch_Concurrent(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	rc := &recorder{reply: func(w http.ResponseWriter, r *http.Request, body []byte) {
		_, raw := gunzipArray(t, body)
		mu.Lock()
		got[r.Header.Get("Idempotency-Key")] = string(raw)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Concurrency: 4}, Options{})
	var wg sync.WaitGroup
	batches := make([][]BatchEntry, 16)
	for g := range batches {
		batches[g] = makeEntries("g"+strconv.Itoa(g), 50+g, 200+10*g)
		wg.Go(func() {
			for range 3 {
				if res := s.SendBatch(t.Context(), batches[g]); res.Errs[0] != nil {
					t.Error(res.Errs[0])
					return
				}
			}
		})
	}
	wg.Wait()
	for g, b := range batches {
		if got[BatchID(b)] != wantArray(b) {
			t.Errorf("batch %d arrived altered", g)
		}
	}
}
