package sender

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
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

// Ensure Send against a real server classifies every final status from 200
// to 599 as the shared status table says, and returns nil only for 2xx.
// Informational 1xx statuses cannot be sent as a final response by net/http
// and are covered by TestClassify.
func TestSender_Send_Statuses(t *testing.T) {
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, body []byte) {
		code, _ := strconv.Atoi(string(body))
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Breaker: BreakerPolicy{MinRequests: 1 << 31}}, Options{})
	for _, tc := range statusTable(t) {
		if tc.status < 200 {
			continue
		}
		att, err := s.Send(t.Context(), Delivery{ID: "d", Body: []byte(strconv.Itoa(tc.status))})
		if att.Response == nil || att.Response.Status != tc.status {
			t.Fatalf("status %d: Attempt.Response = %+v", tc.status, att.Response)
		}
		if tc.wantClass == Delivered {
			if err != nil {
				t.Errorf("status %d: Send error = %v, want nil", tc.status, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("status %d: Send error = %v, want *Error", tc.status, err)
		}
		if e.Class != tc.wantClass || e.Reason != tc.wantReason || e.StatusCode != tc.status {
			t.Errorf("status %d: got (%s, %s, %d), want (%s, %s)", tc.status, e.Class, e.Reason, e.StatusCode, tc.wantClass, tc.wantReason)
		}
		if !errors.Is(err, ErrUnexpectedStatus) {
			t.Errorf("status %d: errors.Is(err, ErrUnexpectedStatus) = false", tc.status)
		}
	}
	if got, want := rc.count.Load(), int64(400); got != want {
		t.Errorf("server saw %d requests, want %d", got, want)
	}
}

// Ensure a 503, 503, 200 sequence yields Retry-After values honoured by
// Backoff and carries the same Idempotency-Key on every request, plus the
// standard headers.
func TestSender_Send_RetrySequence(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var n int
	var mu sync.Mutex
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		switch i {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", now.Add(30*time.Second).Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL + "/ingest", Retry: RetryPolicy{InitialBackoff: time.Second, MaxBackoff: time.Minute}},
		Options{Now: func() time.Time { return now }, UserAgent: "hookrelay/1.2.3", Rand: func() float64 { return 0 }})

	d := Delivery{ID: "evt-1:hook", Body: []byte(`{"a":1}`)}
	wantWaits := []time.Duration{7 * time.Second, 30 * time.Second}
	for attempt := 1; ; attempt++ {
		if attempt > 3 {
			t.Fatal("no success after 3 attempts")
		}
		_, err := s.Send(t.Context(), d)
		if err == nil {
			if attempt != 3 {
				t.Fatalf("delivered on attempt %d, want 3", attempt)
			}
			break
		}
		var e *Error
		if !errors.As(err, &e) || e.Class != Retryable || e.Reason != ReasonServerError {
			t.Fatalf("attempt %d: Send error = %v, want retryable server_error", attempt, err)
		}
		if got := s.Backoff(attempt, e.RetryAfter); got != wantWaits[attempt-1] {
			t.Errorf("attempt %d: Backoff = %s, want %s", attempt, got, wantWaits[attempt-1])
		}
	}
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("server saw %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if got := r.header.Get("Idempotency-Key"); got != d.ID {
			t.Errorf("request %d: Idempotency-Key = %q, want %q", i, got, d.ID)
		}
		if got := r.header.Get("User-Agent"); got != "hookrelay/1.2.3" {
			t.Errorf("request %d: User-Agent = %q", i, got)
		}
		if got := r.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("request %d: Content-Type = %q", i, got)
		}
		if r.method != http.MethodPost || r.path != "/ingest" || string(r.body) != `{"a":1}` {
			t.Errorf("request %d: %s %s %q", i, r.method, r.path, r.body)
		}
	}
}

// Ensure the configured method, headers and Content-Type are sent and the
// Attempt records them.
func TestSender_Send_Headers(t *testing.T) {
	rc := &recorder{}
	ts := newServer(t, rc)
	tests := []struct {
		name            string
		givenHeaders    map[string]string
		givenEndpointCT string
		givenCT         string
		givenBody       string
		wantContentType string
	}{
		{name: "DefaultContentType", givenBody: "x", wantContentType: "application/json"},
		{name: "EndpointContentType", givenEndpointCT: "text/plain; charset=utf-8", givenBody: "x", wantContentType: "text/plain; charset=utf-8"},
		{name: "DeliveryContentType", givenCT: "text/plain", givenBody: "x", wantContentType: "text/plain"},
		{name: "ConfiguredContentTypeWins", givenHeaders: map[string]string{"content-type": "application/x-ndjson"}, givenCT: "text/plain", givenBody: "x", wantContentType: "application/x-ndjson"},
		// The contract: every request carries one, also without a body.
		{name: "NoBodyDefaultContentType", wantContentType: "application/json"},
		{name: "NoBodyConfiguredContentType", givenHeaders: map[string]string{"Content-Type": "text/csv"}, wantContentType: "text/csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := map[string]string{"X-Source": "hookrelay", "X-Env": "${STAGE:-dev}"}
			for k, v := range tc.givenHeaders {
				hs[k] = v
			}
			s := newUnsafe(t, Endpoint{URL: ts.URL, Method: "PUT", Headers: hs, ContentType: tc.givenEndpointCT}, Options{Getenv: fixedEnv(nil)})
			before := len(rc.requests())
			att, err := s.Send(t.Context(), Delivery{ID: "id-1", Body: []byte(tc.givenBody), ContentType: tc.givenCT})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := rc.requests()[before]
			if got.method != http.MethodPut {
				t.Errorf("method = %s, want PUT", got.method)
			}
			if v := got.header.Get("Content-Type"); v != tc.wantContentType {
				t.Errorf("Content-Type = %q, want %q", v, tc.wantContentType)
			}
			if v := got.header.Get("X-Source"); v != "hookrelay" {
				t.Errorf("X-Source = %q", v)
			}
			if v := got.header.Get("X-Env"); v != "dev" {
				t.Errorf("X-Env = %q, want the default dev", v)
			}
			if v, ok := att.Request.Headers["Content-Type"]; v != tc.wantContentType || ok != (tc.wantContentType != "") {
				t.Errorf("Attempt Content-Type = %q (present %v), want %q", v, ok, tc.wantContentType)
			}
			if _, ok := got.header["Content-Type"]; ok != (tc.wantContentType != "") {
				t.Errorf("Content-Type present %v, want %v", ok, tc.wantContentType != "")
			}
			if v := att.Request.Headers["X-Env"]; v != redacted {
				t.Errorf("Attempt X-Env = %q, want redacted (it references a variable)", v)
			}
			if att.Request.Method != http.MethodPut || att.Request.Body != tc.givenBody || att.Response.Status != 200 {
				t.Errorf("Attempt = %+v", att)
			}
		})
	}
}

// Ensure an attempt that outlives Timeout is Retryable with ReasonTimeout.
func TestSender_Send_Timeout(t *testing.T) {
	release := make(chan struct{})
	rc := &recorder{reply: func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}}
	ts := newServer(t, rc)
	t.Cleanup(func() { close(release) }) // runs before ts.Close
	s := newUnsafe(t, Endpoint{URL: ts.URL + "/?sig=abcdef", Timeout: 100 * time.Millisecond}, Options{})
	start := time.Now()
	att, err := s.Send(t.Context(), Delivery{ID: "d", Body: []byte("{}")})
	var e *Error
	if !errors.As(err, &e) || e.Class != Retryable || e.Reason != ReasonTimeout {
		t.Fatalf("Send error = %v, want retryable timeout", err)
	}
	if !errors.Is(err, ErrAttemptTimeout) {
		t.Errorf("errors.Is(err, ErrAttemptTimeout) = false: %v", err)
	}
	if strings.Contains(err.Error(), "abcdef") {
		t.Errorf("error leaks query value: %v", err)
	}
	if time.Since(start) > 5*time.Second || att.Response != nil {
		t.Errorf("attempt took %s, response %+v", time.Since(start), att.Response)
	}
	if c := s.Breaker().Counts; c.TotalFailures != 1 {
		t.Errorf("breaker failures = %d, want 1", c.TotalFailures)
	}
}

// Ensure a refused connection is Retryable with ReasonNetwork.
func TestSender_Send_ConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newUnsafe(t, Endpoint{URL: "http://" + addr + "/hook?api_key=querysecret"}, Options{})
	_, err = s.Send(t.Context(), Delivery{ID: "d", Body: []byte("{}")})
	var e *Error
	if !errors.As(err, &e) || e.Class != Retryable || e.Reason != ReasonNetwork {
		t.Fatalf("Send error = %v, want retryable network", err)
	}
	if strings.Contains(err.Error(), "querysecret") {
		t.Errorf("error leaks query value: %v", err)
	}
}

// Ensure a canceled context stops Send before any request and is not
// counted by the breaker.
func TestSender_Send_ContextCanceled(t *testing.T) {
	rc := &recorder{}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Send(ctx, Delivery{ID: "d"})
	var e *Error
	if !errors.As(err, &e) || e.Class != Retryable || e.Reason != ReasonContextCanceled {
		t.Fatalf("Send error = %v, want retryable context_canceled", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(err, context.Canceled) = false")
	}
	if n := rc.count.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

// Ensure a context canceled during the request is reported as such and
// excluded from the breaker.
func TestSender_Send_CanceledInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	rc := &recorder{reply: func(w http.ResponseWriter, r *http.Request, _ []byte) {
		cancel()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	_, err := s.Send(ctx, Delivery{ID: "d"})
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonContextCanceled {
		t.Fatalf("Send error = %v, want context_canceled", err)
	}
	if c := s.Breaker().Counts; c.TotalFailures != 0 || c.TotalExclusions != 1 {
		t.Errorf("breaker counts = %+v, want one exclusion", c)
	}
}

// Ensure a 302 is not followed and is Permanent.
func TestSender_Send_RedirectNotFollowed(t *testing.T) {
	rc := &recorder{reply: func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == "/elsewhere" {
			t.Error("redirect was followed")
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL + "/hook"}, Options{})
	att, err := s.Send(t.Context(), Delivery{ID: "d", Body: []byte("{}")})
	var e *Error
	if !errors.As(err, &e) || e.Class != Permanent || e.StatusCode != http.StatusFound {
		t.Fatalf("Send error = %v, want permanent 302", err)
	}
	if got := att.Response.Headers["Location"]; got != "/elsewhere" {
		t.Errorf("Location = %q", got)
	}
	if n := rc.count.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// Ensure delivery over TLS works with a trusted CA given as TLSConfig, and
// fails as a retryable network error otherwise.
func TestSender_Send_TLS(t *testing.T) {
	rc := &recorder{}
	ts := httptest.NewUnstartedServer(rc)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case logs a handshake error
	ts.StartTLS()
	t.Cleanup(ts.Close)
	trusted := ts.Client().Transport.(*http.Transport).TLSClientConfig
	tests := []struct {
		name       string
		givenOpts  Options
		wantReason Reason
	}{
		{name: "TLSConfig", givenOpts: Options{TLSConfig: trusted}},
		{name: "UntrustedCA", givenOpts: Options{TLSConfig: &tls.Config{}}, wantReason: ReasonNetwork},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newUnsafe(t, Endpoint{URL: ts.URL + "/tls"}, tc.givenOpts)
			before := rc.count.Load()
			att, err := s.Send(t.Context(), Delivery{ID: "d", Body: []byte("{}")})
			if tc.wantReason == ReasonNone {
				if err != nil || att.Response == nil || att.Response.Status != 200 {
					t.Fatalf("Send = %+v, %v; want delivered", att.Response, err)
				}
				if rc.count.Load() != before+1 {
					t.Errorf("server did not see the request")
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Class != Retryable || e.Reason != tc.wantReason {
				t.Fatalf("Send error = %v, want retryable %s", err, tc.wantReason)
			}
		})
	}
}

// Ensure large response bodies are cut at MaxRecordedBody and error texts
// quote at most a short snippet.
func TestSender_Send_BodyLimits(t *testing.T) {
	big := strings.Repeat("é", MaxRecordedBody) // 2 bytes each
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, big)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	reqBody := []byte(strings.Repeat("a", MaxRecordedBody+10))
	att, err := s.Send(t.Context(), Delivery{ID: "d", Body: reqBody})
	if err == nil {
		t.Fatal("Send succeeded on 400")
	}
	if len(att.Response.Body) != MaxRecordedBody || !att.Response.Truncated {
		t.Errorf("response body %d bytes, truncated %v; want %d, true", len(att.Response.Body), att.Response.Truncated, MaxRecordedBody)
	}
	if len(att.Request.Body) != MaxRecordedBody || !att.Request.Truncated {
		t.Errorf("request body %d bytes, truncated %v", len(att.Request.Body), att.Request.Truncated)
	}
	if n := len(err.Error()); n > 2*maxSnippet+200 {
		t.Errorf("error text is %d bytes long, want a short snippet", n)
	}
	if !strings.Contains(err.Error(), "éé") {
		t.Errorf("error text has no body snippet: %s", err)
	}
}

// Ensure a secret header reaches the server but appears in no error text,
// no Attempt field and no log line, even when the endpoint echoes it.
func TestSender_Send_SecretNeverLeaks(t *testing.T) {
	const secret = "sk-live-5up3r-s3cr3t"
	const querySecret = "q-s3cr3t-987"
	rc := &recorder{reply: func(w http.ResponseWriter, r *http.Request, _ []byte) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Echo", auth)
		w.Header().Set("Set-Cookie", "session="+secret)
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "bad credentials %q for %s", auth, r.URL.RawQuery)
	}}
	ts := newServer(t, rc)
	core, logs := observer.New(zap.DebugLevel)
	ep := Endpoint{
		URL: ts.URL + "/hook?api_key=" + querySecret,
		Headers: map[string]string{
			"Authorization": "Bearer ${TEST_KEY}",
			"X-Api-Key":     "literal-key-value",
		},
		Breaker: BreakerPolicy{MinRequests: 1, OpenFor: time.Hour},
	}
	s := newUnsafe(t, ep, Options{Getenv: fixedEnv(map[string]string{"TEST_KEY": secret}), Logger: zap.New(core)})

	att, err := s.Send(t.Context(), Delivery{ID: "d", Body: []byte("{}")})
	if err == nil {
		t.Fatal("Send succeeded on 500")
	}
	reqs := rc.requests()
	if len(reqs) != 1 || reqs[0].header.Get("Authorization") != "Bearer "+secret {
		t.Fatalf("server did not receive the resolved secret")
	}
	if got := att.Request.Headers["Authorization"]; got != "Bearer "+redacted {
		t.Errorf("Attempt Authorization = %q, want %q", got, "Bearer "+redacted)
	}
	if got := att.Request.Headers["X-Api-Key"]; got != redacted {
		t.Errorf("Attempt X-Api-Key = %q, want redacted", got)
	}
	// The breaker is now open: its error must not leak either.
	_, openErr := s.Send(t.Context(), Delivery{ID: "d2"})
	if !errors.Is(openErr, ErrBreakerOpen) {
		t.Fatalf("second Send error = %v, want ErrBreakerOpen", openErr)
	}

	js, jerr := json.Marshal(att)
	if jerr != nil {
		t.Fatal(jerr)
	}
	var logText strings.Builder
	for _, entry := range logs.All() {
		fmt.Fprintf(&logText, "%s %v\n", entry.Message, entry.ContextMap())
	}
	if logs.Len() == 0 {
		t.Error("no log lines were written")
	}
	for _, leak := range []string{secret, querySecret, "literal-key-value"} {
		for what, text := range map[string]string{
			"error":         err.Error(),
			"breaker error": openErr.Error(),
			"attempt":       string(js),
			"logs":          logText.String(),
		} {
			if strings.Contains(text, leak) {
				t.Errorf("%s leaks %q: %s", what, leak, text)
			}
		}
	}
}

// Ensure a header variable that disappears after New fails the attempt as a
// permanent config error without a request.
func TestSender_Send_EnvVanished(t *testing.T) {
	rc := &recorder{}
	ts := newServer(t, rc)
	env := map[string]string{"TOKEN": "abc"}
	var mu sync.Mutex
	getenv := func(k string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		v, ok := env[k]
		return v, ok
	}
	s := newUnsafe(t, Endpoint{URL: ts.URL, Headers: map[string]string{"X-Token": "${TOKEN}"}}, Options{Getenv: getenv})
	mu.Lock()
	delete(env, "TOKEN")
	mu.Unlock()
	_, err := s.Send(t.Context(), Delivery{ID: "d"})
	var e *Error
	if !errors.As(err, &e) || e.Class != Permanent || e.Reason != ReasonConfig || !errors.Is(err, ErrMissingEnv) {
		t.Fatalf("Send error = %v, want permanent config ErrMissingEnv", err)
	}
	if !strings.Contains(err.Error(), "TOKEN") || rc.count.Load() != 0 {
		t.Errorf("error %v should name TOKEN and no request be made", err)
	}
}

// Ensure concurrent Sends are safe and all delivered.
func TestSender_Send_Concurrent(t *testing.T) {
	rc := &recorder{}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Concurrency: 4}, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			if _, err := s.Send(t.Context(), Delivery{ID: strconv.Itoa(i), Body: []byte("{}")}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := rc.count.Load(); n != 64 {
		t.Errorf("server saw %d requests, want 64", n)
	}
}
