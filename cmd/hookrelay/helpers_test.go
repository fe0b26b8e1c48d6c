package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/testutil"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/sender"
)

// checkFor polls until f returns nil; see testutil.CheckFor.
var checkFor = testutil.CheckFor

// seedTemplate is the body template of the seed page, verbatim.
func seedTemplate(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "coralogix-seed.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Parse(b, "coralogix-seed.yaml", config.LoadOptions{Getenv: func(k string) (string, bool) {
		if k == "CORALOGIX_API_KEY" {
			return "x", true
		}
		return "", false
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.Webhooks[0].BodyTemplate
}

// received is one request an testEndpoint saw.
type received struct {
	Method  string
	Path    string
	Header  http.Header
	Body    []byte
	At      time.Time
	Status  int
	Attempt int // 1-based index among requests with the same Idempotency-Key
}

// testEndpoint is a test webhook receiver whose answers a test scripts.
type testEndpoint struct {
	srv *httptest.Server

	mu     sync.Mutex
	reqs   []received
	byKey  map[string]int
	answer func(r *http.Request, n int) (int, http.Header) // n: 1-based request count
}

func newTestEndpoint(tb testing.TB, useTLS bool, answer func(r *http.Request, n int) (int, http.Header)) *testEndpoint {
	tb.Helper()
	e := &testEndpoint{byKey: map[string]int{}, answer: answer}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		key := r.Header.Get("Idempotency-Key")
		e.byKey[key]++
		rec := received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now(), Attempt: e.byKey[key]}
		n := len(e.reqs) + 1
		status, hdr := 200, http.Header(nil)
		if e.answer != nil {
			status, hdr = e.answer(r, n)
		}
		rec.Status = status
		e.reqs = append(e.reqs, rec)
		e.mu.Unlock()
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"status":%d}`, status)
	})
	if useTLS {
		e.srv = httptest.NewTLSServer(h)
	} else {
		e.srv = httptest.NewServer(h)
	}
	tb.Cleanup(e.srv.Close)
	return e
}

func (e *testEndpoint) requests() []received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]received(nil), e.reqs...)
}

func (e *testEndpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.reqs)
}

// waitCount waits up to total until the endpoint has received at least n
// requests.
func (e *testEndpoint) waitCount(tb testing.TB, n int, total time.Duration) {
	tb.Helper()
	checkFor(tb, total, 20*time.Millisecond, func() error {
		if got := e.count(); got < n {
			return fmt.Errorf("%d requests received, want %d", got, n)
		}
		return nil
	})
}

// okKeys counts distinct Idempotency-Keys answered 2xx, and 2xx answers
// beyond the first for a key (duplicates).
func (e *testEndpoint) okKeys() (unique, dups int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range e.reqs {
		if r.Status/100 != 2 {
			continue
		}
		k := r.Header.Get("Idempotency-Key")
		if seen[k] {
			dups++
			continue
		}
		seen[k] = true
	}
	return len(seen), dups
}

// testDaemon is a Daemon started in-process on an embedded NATS server with
// its store in a temp dir.
type testDaemon struct {
	*Daemon
	t    testing.TB
	logs *syncBuffer
	env  map[string]string
}

// syncBuffer is a log sink tests read while the code under test writes.
type syncBuffer = testutil.SyncBuffer

// baseConfig is the non-webhook part of a test config; %s is the temp dir.
const baseConfig = `
nats:
  embedded:
    listen: 127.0.0.1:0
    store_dir: %[1]s/nats
events:
  max_event_bytes: 65536
store:
  path: %[1]s/hookrelay.db
admin:
  listen: 127.0.0.1:0
  token: ${HOOKRELAY_ADMIN_TOKEN}
delivery:
  allow_unsafe_urls: true
webhooks:
`

// startDaemon parses webhooksYAML under baseConfig and starts a daemon.
// tlsServer, when set, is trusted by every sender.
func startDaemon(tb testing.TB, dir, webhooksYAML string, env map[string]string, tlsServer *httptest.Server) *testDaemon {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	return startDaemonYAML(tb, fmt.Sprintf(baseConfig, dir)+webhooksYAML, env, tlsServer)
}

// startDaemonYAML starts a daemon from a whole config.
func startDaemonYAML(tb testing.TB, yaml string, env map[string]string, tlsServer *httptest.Server) *testDaemon {
	tb.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["HOOKRELAY_ADMIN_TOKEN"]; !ok {
		env["HOOKRELAY_ADMIN_TOKEN"] = "admin-token-for-tests"
	}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse([]byte(yaml), "test.yaml", config.LoadOptions{Getenv: getenv})
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	enc := zap.NewProductionEncoderConfig()
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), logs, zapcore.DebugLevel))
	d, err := NewDaemon(cfg, DaemonOptions{Logger: log, SenderOptions: func(o *sender.Options) {
		o.Getenv = getenv
		if tlsServer != nil {
			o.TLSConfig = &tls.Config{RootCAs: tlsServer.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
		}
	}})
	if err != nil {
		tb.Fatalf("daemon: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		tb.Fatalf("start: %v", err)
	}
	td := &testDaemon{Daemon: d, t: tb, logs: logs, env: env}
	tb.Cleanup(func() { td.stop() })
	return td
}

func (td *testDaemon) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := td.Close(ctx); err != nil {
		td.t.Logf("close: %v", err)
	}
}

// publish puts raw payloads on the events stream, each on subject.
func (td *testDaemon) publish(subject string, payloads ...[]byte) {
	td.t.Helper()
	nc, err := nats.Connect(td.NATSURL())
	if err != nil {
		td.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		td.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range payloads {
		if _, err := js.Publish(ctx, subject, p); err != nil {
			td.t.Fatalf("publish: %v", err)
		}
	}
}

// api calls the admin API and returns status and body.
func (td *testDaemon) api(method, path string, body []byte) (int, []byte) {
	td.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+td.AdminAddr()+path, rd)
	if err != nil {
		td.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+td.env["HOOKRELAY_ADMIN_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		td.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (td *testDaemon) apiJSON(method, path string, body []byte, out any) {
	td.t.Helper()
	st, b := td.api(method, path, body)
	if st/100 != 2 {
		td.t.Fatalf("%s %s: %d %s", method, path, st, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			td.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// waitDeadLetters waits until GET /api/v1/deadletters?query lists exactly n
// dead letters and returns them.
func (td *testDaemon) waitDeadLetters(query string, n int) []deadLetterView {
	td.t.Helper()
	var dls struct{ DeadLetters []deadLetterView }
	checkFor(td.t, 20*time.Second, 20*time.Millisecond, func() error {
		td.apiJSON("GET", "/api/v1/deadletters?"+query, nil, &dls)
		if len(dls.DeadLetters) != n {
			return fmt.Errorf("%d dead letters, want %d", len(dls.DeadLetters), n)
		}
		return nil
	})
	return dls.DeadLetters
}

// event makes a sample event of type t with fields overridden by set, a
// map of dotted paths from the payload's root ("data.id") to values.
func event(tb testing.TB, t renderer.Trigger, n int, set map[string]any) []byte {
	tb.Helper()
	var ev map[string]any
	if err := json.Unmarshal(renderer.Sample(t, n), &ev); err != nil {
		tb.Fatal(err)
	}
	for path, v := range set {
		cur := ev
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
	}
	b, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// writeTemp writes content to a file name in a temp dir and returns its path.
func writeTemp(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
