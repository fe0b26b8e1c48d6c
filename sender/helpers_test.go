package sender

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookrelay/hookrelay/internal/testutil"
)

// checkFor polls until f returns nil; see testutil.CheckFor.
var checkFor = testutil.CheckFor

// recorder is an httptest handler that records every request and answers
// with a status chosen by reply.
type recorder struct {
	mu    sync.Mutex
	reqs  []recorded
	count atomic.Int64
	reply func(w http.ResponseWriter, r *http.Request, body []byte)
}

type recorded struct {
	header http.Header
	body   []byte
	method string
	path   string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := make([]byte, 0, 512)
	buf := make([]byte, 512)
	for {
		n, err := r.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, recorded{header: r.Header.Clone(), body: body, method: r.Method, path: r.URL.Path})
	rc.mu.Unlock()
	rc.count.Add(1)
	if rc.reply == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	rc.reply(w, r, body)
}

func (rc *recorder) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

// newServer starts a loopback httptest server for rc, closed at cleanup.
func newServer(tb testing.TB, rc *recorder) *httptest.Server {
	tb.Helper()
	ts := httptest.NewServer(rc)
	tb.Cleanup(ts.Close)
	return ts
}

// newUnsafe builds a Sender for a loopback test URL, closed at cleanup.
func newUnsafe(tb testing.TB, ep Endpoint, opts Options) *Sender {
	tb.Helper()
	if ep.Name == "" {
		ep.Name = "test-hook"
	}
	opts.AllowUnsafe = true
	s, err := New(ep, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// fixedEnv returns a Getenv backed by m.
func fixedEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// countConns makes ts (not started yet) count the connections it accepts.
func countConns(ts *httptest.Server) *atomic.Int64 {
	var n atomic.Int64
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}
