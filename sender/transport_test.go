package sender

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Ensure a delivery on a kept-alive connection that the server has since
// closed goes out again on a new one: the server sees each request once
// and the sender reports no error.
func TestSender_Send_ServerClosedIdleConnection(t *testing.T) {
	rc := &recorder{}
	ts := httptest.NewUnstartedServer(rc)
	ts.Config.IdleTimeout = 20 * time.Millisecond
	var conns atomic.Int64
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	s := newUnsafe(t, Endpoint{URL: ts.URL + "/hook", Concurrency: 4}, Options{})
	for i := range 3 {
		if _, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: []byte(`{}`)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond) // the server closes the idle connection
	}
	if n := rc.count.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("server saw %d connections, want one per request", n)
	}
}

// Ensure a connection the server closes without saying so is not reused
// for a request that then fails: a server that answers one request per
// connection and closes it still gets every request exactly once.
func TestSender_Send_ServerClosesAfterEachAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var reqs atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, r.Body)
				reqs.Add(1)
				// No "Connection: close": the client learns only from EOF.
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	s := newUnsafe(t, Endpoint{URL: "http://" + ln.Addr().String() + "/hook", Concurrency: 2}, Options{})
	for i := range 5 {
		if _, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: []byte(`{}`)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := reqs.Load(); n != 5 {
		t.Errorf("server saw %d requests, want 5", n)
	}
}

// Ensure the request goes out as configured: the URL's path and query
// byte for byte, a configured Host header, and no configured header that
// the body decides (Content-Length).
func TestSender_Send_RequestAsConfigured(t *testing.T) {
	var mu sync.Mutex
	var got struct {
		uri, host, length, te string
		body                  string
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got.uri, got.host, got.body = r.RequestURI, r.Host, string(b)
		got.length, got.te = r.Header.Get("Content-Length"), strings.Join(r.TransferEncoding, ",")
		mu.Unlock()
	}))
	t.Cleanup(ts.Close)
	const path = "/a//b/%2F/./c?x=1&y=%20z&x=2"
	s := newUnsafe(t, Endpoint{URL: ts.URL + path, Headers: map[string]string{
		"Host": "logs.example.com", "Content-Length": "1",
	}}, Options{})
	if _, err := s.Send(t.Context(), Delivery{ID: "d", Body: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.uri != path || got.host != "logs.example.com" || got.body != `{"a":1}` || got.te != "" {
		t.Errorf("server got %+v; want URI %s, Host logs.example.com, the body as is", got, path)
	}
}

// Ensure a response with headers far above 4 KiB and a body above what is
// read (maxResponseBody) is still an answer: delivered, recorded cut.
func TestSender_Send_LargeResponse(t *testing.T) {
	big := strings.Repeat("v", 32<<10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", big)
		w.Header().Set("Content-Length", fmt.Sprint(maxResponseBody+1))
		_, _ = io.CopyN(w, strings.NewReader(strings.Repeat("x", maxResponseBody+1)), maxResponseBody+1)
	}))
	t.Cleanup(ts.Close)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	for i := range 2 { // the second on a new connection: the first was closed
		att, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: []byte(`{}`)})
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if r := att.Response; r == nil || r.Status != 200 || !r.Truncated || r.Headers["X-Big"] != big {
			t.Fatalf("response recorded as %+v; want 200, cut, with the large header", r)
		}
	}
}
