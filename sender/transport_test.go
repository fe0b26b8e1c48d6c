package sender

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

// Ensure a delivery on a kept-alive connection that the server has since
// closed goes out again on a new one: the server sees each request once
// and the sender reports no error.
func TestSender_Send_ServerClosedIdleConnection(t *testing.T) {
	rc := &recorder{}
	ts := httptest.NewUnstartedServer(rc)
	ts.Config.IdleTimeout = 20 * time.Millisecond
	conns := countConns(ts)
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
	// No "Connection: close": the client learns only from EOF.
	rs := startRaw(t, func(_, _ int, c net.Conn) bool {
		_, _ = io.WriteString(c, rawOK)
		return false
	})
	s := newUnsafe(t, Endpoint{URL: rs.url(), Concurrency: 2}, Options{})
	for i := range 5 {
		if _, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: []byte(`{}`)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := rs.requests(); len(got) != 5 {
		t.Errorf("server saw %v; want 5 requests, each once", got)
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

// rawServer is a loopback HTTP/1.1 server written by hand, for answers
// net/http's server would not give. serve answers request ri (from 1) of
// connection ci (from 1) and says whether to go on with the connection.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int64
	mu    sync.Mutex
	seen  []string // "c<conn> <Idempotency-Key>" per request read
}

func startRaw(t *testing.T, serve func(ci, ri int, c net.Conn) bool) *rawServer {
	t.Helper()
	return startRawOn(t, nil, serve)
}

// startRawOn is startRaw with each accepted connection wrapped first (in
// TLS, say) when wrap is not nil.
func startRawOn(t *testing.T, wrap func(net.Conn) net.Conn, serve func(ci, ri int, c net.Conn) bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ci := int(rs.conns.Add(1))
			if wrap != nil {
				c = wrap(c)
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for ri := 1; ; ri++ {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					rs.mu.Lock()
					rs.seen = append(rs.seen, fmt.Sprintf("c%d %s", ci, r.Header.Get("Idempotency-Key")))
					rs.mu.Unlock()
					if !serve(ci, ri, c) {
						return
					}
				}
			}()
		}
	}()
	return rs
}

func (rs *rawServer) url() string { return "http://" + rs.ln.Addr().String() + "/hook" }

func (rs *rawServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.seen...)
}

const rawOK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// Ensure a connection is not reused after an answer that leaves it unfit:
// a 101 (it speaks another protocol now) or bytes the server sent while
// it was idle (a 408 before closing it).
func TestSender_Send_UnfitConnectionNotReused(t *testing.T) {
	tests := []struct {
		name  string
		first string        // the first connection's first answer
		idle  string        // sent on it once idle
		pause time.Duration // between the two sends
	}{
		{name: "SwitchingProtocols", first: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"},
		{name: "StaleAnswerWhileIdle", first: rawOK, idle: "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n", pause: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := startRaw(t, func(ci, ri int, c net.Conn) bool {
				if ci == 1 && ri == 1 {
					_, _ = io.WriteString(c, tt.first)
					if tt.idle != "" {
						time.Sleep(20 * time.Millisecond)
						_, _ = io.WriteString(c, tt.idle)
					}
					return true
				}
				_, _ = io.WriteString(c, rawOK)
				return true
			})
			s := newUnsafe(t, Endpoint{URL: rs.url(), Concurrency: 2, Timeout: 2 * time.Second}, Options{})
			_, _ = s.Send(t.Context(), Delivery{ID: "d-1", Body: []byte(`{}`)})
			time.Sleep(tt.pause)
			att, err := s.Send(t.Context(), Delivery{ID: "d-2", Body: []byte(`{}`)})
			if err != nil || att.Response == nil || att.Response.Status != 200 {
				t.Fatalf("second send: %+v, %v; want 200", att.Response, err)
			}
			if got := rs.requests(); len(got) != 2 || got[1] != "c2 d-2" {
				t.Errorf("server saw %v; want d-2 on a second connection", got)
			}
		})
	}
}

// Ensure a request is not sent again once its answer has begun: a
// connection that breaks in the middle of an answer fails the attempt,
// reused or not.
func TestSender_Send_NoResendAfterAnswerBegan(t *testing.T) {
	tests := []struct {
		name   string
		answer func(c net.Conn)
	}{
		{"ChunkedThenEOF", func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		}},
		{"PartialThenReset", func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			time.Sleep(20 * time.Millisecond)
			_ = c.(*net.TCPConn).SetLinger(0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := startRaw(t, func(ci, ri int, c net.Conn) bool {
				if ci == 1 && ri == 2 {
					tt.answer(c)
					return false
				}
				_, _ = io.WriteString(c, rawOK)
				return true
			})
			s := newUnsafe(t, Endpoint{URL: rs.url(), Concurrency: 2, Timeout: 2 * time.Second}, Options{})
			if _, err := s.Send(t.Context(), Delivery{ID: "d-1", Body: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Send(t.Context(), Delivery{ID: "d-2", Body: []byte(`{}`)}); err == nil {
				t.Error("the broken answer was taken as delivered")
			}
			if got := rs.requests(); len(got) != 2 {
				t.Errorf("server saw %v; want d-2 once", got)
			}
		})
	}
}

// Ensure an answer that comes before the body is written (a 413 for a
// large body, and the connection closed) is the attempt's result, not the
// failed write.
func TestSender_Send_EarlyAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	t.Cleanup(ts.Close)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Timeout: 5 * time.Second}, Options{})
	for i := range 3 {
		_, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: make([]byte, 16<<20)})
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusRequestEntityTooLarge || e.Class != Permanent {
			t.Fatalf("Send %d: %v; want the 413", i, err)
		}
	}
}

// Ensure an answer that comes before a large body is written is the
// attempt's result when the server then stops reading and keeps the
// connection open: the write does not hold the attempt until its timeout.
func TestSender_Send_EarlyAnswerServerStopsReading(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP", true: "HTTPS"}[secure], func(t *testing.T) {
			ts := httptest.NewUnstartedServer(http.NotFoundHandler())
			ts.StartTLS() // for its certificate and a client config trusting it
			t.Cleanup(ts.Close)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			release := make(chan struct{})
			t.Cleanup(func() { close(release); ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if secure {
						c = tls.Server(c, ts.TLS.Clone())
					}
					go func() {
						defer c.Close()
						// Read the head only, answer, and read no more.
						if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
							return
						}
						_, _ = io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large")
						<-release
					}()
				}
			}()
			scheme := map[bool]string{false: "http", true: "https"}[secure]
			s := newUnsafe(t, Endpoint{URL: scheme + "://" + ln.Addr().String() + "/hook", Timeout: 20 * time.Second},
				Options{TLSConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig})
			for i := range 2 {
				att, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: make([]byte, 32<<20)})
				var e *Error
				if !errors.As(err, &e) || e.StatusCode != http.StatusRequestEntityTooLarge || e.Class != Permanent {
					t.Fatalf("Send %d: %v; want the 413", i, err)
				}
				if att.Response == nil || att.Response.Body != "too large" {
					t.Fatalf("Send %d: response %+v", i, att.Response)
				}
			}
		})
	}
}

// Ensure an interim 1xx or a 2xx that comes while a large body is being
// written does not end the write: the server reads the whole body, and the
// attempt's result is the final answer.
func TestSender_Send_EarlyAnswerNotARefusal(t *testing.T) {
	const size = 32 << 20
	for _, tt := range []struct{ name, first, final string }{
		{name: "EarlyHints", first: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", final: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "Accepted", first: "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			got := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				// Answer first, then read the whole body.
				_, _ = io.WriteString(c, tt.first)
				n, _ := io.Copy(io.Discard, r.Body)
				got <- n
				_, _ = io.WriteString(c, tt.final)
			}()
			s := newUnsafe(t, Endpoint{URL: "http://" + ln.Addr().String() + "/hook", Timeout: 20 * time.Second}, Options{})
			att, err := s.Send(t.Context(), Delivery{ID: "d-1", Body: make([]byte, size)})
			if err != nil || att.Response == nil || att.Response.Status/100 != 2 {
				t.Fatalf("Send: %v, response %+v; want a 2xx", err, att.Response)
			}
			if n := <-got; n != size {
				t.Fatalf("server read %d body bytes, want %d", n, size)
			}
		})
	}
}

// Ensure large bodies answered at once still reuse one connection.
func TestSender_Send_LargeBodiesReuseConnection(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	conns := countConns(ts)
	ts.Start()
	t.Cleanup(ts.Close)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Concurrency: 1, Timeout: 10 * time.Second}, Options{})
	for i := range 300 {
		if _, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: make([]byte, watchedBody)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 300 requests in a row, want 1", n)
	}
}

// Ensure only a final status of 300 or more, or no status line, stops the
// write of a large body.
func TestRefusal(t *testing.T) {
	for given, want := range map[string]bool{
		"HTTP/1.1 413": true, "HTTP/1.1 301": true, "HTTP/1.0 500": true,
		"HTTP/1.1 200": false, "HTTP/1.1 204": false, "HTTP/1.1 100": false, "HTTP/1.1 103": false,
		"HTTP/1.1 2x0": true, "SSH-2.0-Open": true, "HTTP/1.1": true, "": true,
	} {
		if got := refusal([]byte(given)); got != want {
			t.Errorf("refusal(%q) = %v; want %v", given, got, want)
		}
	}
}

// Ensure a canceled context ends an attempt wherever it waits: for a free
// connection, in a dial, in a TLS handshake.
func TestSender_Send_CanceledWhileWaiting(t *testing.T) {
	// A server that takes connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	silent := ln.Addr().String()
	tests := []struct {
		name  string
		url   string
		setup func(s *Sender)
	}{
		{name: "ForAConnection", url: "http://" + silent + "/", setup: func(s *Sender) {
			go func() { _, _ = s.Send(context.Background(), Delivery{ID: "busy", Body: []byte(`{}`)}) }()
			checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
				if len(s.pool.slots) != 1 {
					return errors.New("the only connection is not taken yet")
				}
				return nil
			})
		}},
		{name: "InADial", url: "http://" + silent + "/", setup: func(s *Sender) {
			s.pool.connect = func(ctx context.Context) (net.Conn, error) {
				<-ctx.Done() // a dial that gets no answer
				return nil, ctx.Err()
			}
		}},
		{name: "InATLSHandshake", url: "https://" + silent + "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newUnsafe(t, Endpoint{URL: tt.url, Concurrency: 1, Timeout: 10 * time.Second}, Options{})
			if tt.setup != nil {
				tt.setup(s)
			}
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			_, err := s.Send(ctx, Delivery{ID: "d", Body: []byte(`{}`)})
			var e *Error
			if !errors.As(err, &e) || e.Reason != ReasonContextCanceled {
				t.Errorf("Send: %v; want context_canceled", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Send returned %s after the cancel; want at once", d)
			}
		})
	}
}

// Ensure configured headers go out as written: a Cookie byte for byte,
// values without surrounding blanks, an empty Host leaving the URL's, and
// "Connection: close" honoured (each request on a new connection).
func TestSender_Send_HeadersAsConfigured(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	}))
	conns := countConns(ts)
	ts.Start()
	t.Cleanup(ts.Close)
	const cookie = `=x; a="q;r"; a=1;;b=2`
	s := newUnsafe(t, Endpoint{URL: ts.URL + "/h", Headers: map[string]string{
		"Cookie": cookie, "X-Padded": "  v w\t ", "Host": "", "Connection": "close",
	}}, Options{})
	for i := range 2 {
		if _, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	host := strings.TrimPrefix(ts.URL, "http://")
	for _, r := range got {
		if r.Header.Get("Cookie") != cookie || r.Header.Get("X-Padded") != "v w" || r.Host != host {
			t.Errorf("server got Cookie %q, X-Padded %q, Host %q; want %q, %q, %q",
				r.Header.Get("Cookie"), r.Header.Get("X-Padded"), r.Host, cookie, "v w", host)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for 2 requests with Connection: close", n)
	}
}

// Ensure the recorded response headers are those the server sent: none
// that fasthttp infers (a default Content-Type, the length of a body that
// ends at close, the close of an HTTP/1.0 answer), and those it sent.
func TestSender_Send_RecordedHeadersAsSent(t *testing.T) {
	tests := []struct {
		name, answer string
		want         map[string]string
	}{
		{"NoContent", "HTTP/1.1 204 No Content\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
			map[string]string{"X-A": "1, 2"}},
		{"HTTP10EndsAtClose", "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
			map[string]string{"Content-Type": "application/json"}},
		{"SentLengthAndClose", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			map[string]string{"Connection": "close", "Content-Length": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := startRaw(t, func(_, _ int, c net.Conn) bool {
				_, _ = io.WriteString(c, tt.answer)
				return strings.HasPrefix(tt.answer, "HTTP/1.1 204")
			})
			s := newUnsafe(t, Endpoint{URL: rs.url()}, Options{})
			att, err := s.Send(t.Context(), Delivery{ID: "d", Body: []byte(`{}`)})
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(att.Response.Headers, tt.want) {
				t.Errorf("recorded headers %v; want %v", att.Response.Headers, tt.want)
			}
		})
	}
}

// Ensure every host CheckURL lets through builds a Sender, dialed at the
// right address and named right in Host: an internationalized name in its
// ASCII (punycode) form, IPv6 literals with their brackets and without a
// zone in Host, names with underscores as they are.
func TestNew_Hosts(t *testing.T) {
	tests := []struct {
		url, wantAddr, wantHost string
	}{
		{"https://bücher.example/hook", "xn--bcher-kva.example:443", "xn--bcher-kva.example"},
		{"https://bücher.example:8443/hook", "xn--bcher-kva.example:8443", "xn--bcher-kva.example:8443"},
		{"http://[::1]:8080/x", "[::1]:8080", "[::1]:8080"},
		{"https://[2001:db8::1]/x", "[2001:db8::1]:443", "[2001:db8::1]"},
		{"http://[fe80::1%25eth0]:8080/x", "[fe80::1%eth0]:8080", "[fe80::1]:8080"},
		{"http://my_sink:8080/x", "my_sink:8080", "my_sink:8080"},
		{"https://Sink.Example.COM/x", "Sink.Example.COM:443", "Sink.Example.COM"},
		{"http://h:/x", "h:80", "h"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if err := CheckURL(tt.url, true); err != nil {
				t.Skipf("CheckURL refuses it: %v", err)
			}
			s := newUnsafe(t, Endpoint{URL: tt.url}, Options{})
			if s.pool.addr != tt.wantAddr || s.host != tt.wantHost {
				t.Errorf("address %q, Host %q; want %q, %q", s.pool.addr, s.host, tt.wantAddr, tt.wantHost)
			}
		})
	}
}

// Ensure a connection that comes back after Close is closed, not kept.
func TestSender_Close_InFlightConnectionClosed(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(ts.Close)
	s := newUnsafe(t, Endpoint{URL: ts.URL}, Options{})
	done := make(chan error, 1)
	go func() { _, err := s.Send(t.Context(), Delivery{ID: "d", Body: []byte(`{}`)}); done <- err }()
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if len(s.pool.slots) != 1 {
			return errors.New("not in flight yet")
		}
		return nil
	})
	s.Close()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	if len(s.pool.idle) != 0 {
		t.Errorf("%d connections kept after Close", len(s.pool.idle))
	}
}

// Ensure a request that a reused connection fails before any byte of an
// answer (the server closed it as the request came) goes again on a new
// connection, as net/http does; the Idempotency-Key lets the endpoint see
// it is the same.
func TestSender_Send_RetryOnClosedReusedConnection(t *testing.T) {
	rs := startRaw(t, func(ci, ri int, c net.Conn) bool {
		if ci == 1 && ri == 2 {
			return false // closed, no answer
		}
		_, _ = io.WriteString(c, rawOK)
		return true
	})
	s := newUnsafe(t, Endpoint{URL: rs.url(), Concurrency: 2}, Options{})
	for i := 1; i <= 2; i++ {
		if _, err := s.Send(t.Context(), Delivery{ID: fmt.Sprint("d-", i), Body: []byte(`{}`)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if got, want := rs.requests(), []string{"c1 d-1", "c1 d-2", "c2 d-2"}; !slices.Equal(got, want) {
		t.Errorf("server saw %v, want %v", got, want)
	}
}

// Ensure the scan of an answer's header block, which decides the headers
// recorded, reads it as fasthttp does whichever way it arrives: byte by
// byte, with spaces before a colon, with bare LF line ends; and gives up on
// an interim 1xx answer however it is spaced.
// Ensure only errors not of the connection count as local write errors:
// after those no answer is awaited.
func TestLocal(t *testing.T) {
	tests := []struct {
		name  string
		given error
		want  bool
	}{
		{name: "None", given: nil, want: false},
		{name: "BrokenPipe", given: &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, want: false},
		{name: "Reset", given: syscall.ECONNRESET, want: false},
		{name: "Deadline", given: fmt.Errorf("write: %w", os.ErrDeadlineExceeded), want: false},
		{name: "Closed", given: net.ErrClosed, want: false},
		{name: "ShortWrite", given: io.ErrShortWrite, want: false},
		{name: "Refused", given: errors.New("fasthttp: invalid header"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := local(tt.given); got != tt.want {
				t.Fatalf("local(%v) = %v; want %v", tt.given, got, tt.want)
			}
		})
	}
}

func TestScanWireHeaders(t *testing.T) {
	tests := []struct {
		name, given string
		want        wireHeaders
	}{
		{"LengthAndClose", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", wireHeaders{known: true, length: true, connection: true}},
		{"Neither", "HTTP/1.0 200 OK\r\nContent-Type: a/b\r\n\r\nbody", wireHeaders{known: true}},
		{"SpaceBeforeColon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", wireHeaders{known: true, length: true}},
		{"BareLF", "HTTP/1.0 200 OK\nContent-Length: 2\n\nok", wireHeaders{known: true, length: true}},
		{"BodyLooksLikeHeaders", "HTTP/1.0 200 OK\r\nX: y\r\n\r\nConnection: close\r\n", wireHeaders{known: true}},
		{"Interim", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", wireHeaders{}},
		{"InterimSpaced", "\r\nHTTP/1.1  100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", wireHeaders{}},
	}
	for _, tt := range tests {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bytewise=%v", tt.name, split), func(t *testing.T) {
				var r io.Reader = strings.NewReader(tt.given)
				if split {
					r = iotest.OneByteReader(r)
				}
				br := bufio.NewReaderSize(r, 4096)
				if _, err := br.Peek(1); err != nil {
					t.Fatal(err)
				}
				if got := scanWireHeaders(br); got != tt.want {
					t.Errorf("scan = %+v, want %+v", got, tt.want)
				}
				if rest, _ := io.ReadAll(br); string(rest) != tt.given {
					t.Errorf("the scan consumed input: %q left", rest)
				}
			})
		}
	}
}

// Ensure a TLS connection is not reused when a record that came with the
// last answer (a stale 408) waits in the connection's own buffer, where a
// look at the socket does not see it.
func TestSender_Send_TLSStaleRecordNotReused(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.StartTLS() // for its certificate and a client config trusting it
	t.Cleanup(ts.Close)
	wrap := func(raw net.Conn) net.Conn { return tls.Server(&heldConn{Conn: raw}, ts.TLS.Clone()) }
	rs := startRawOn(t, wrap, func(ci, ri int, c net.Conn) bool {
		if ci == 1 && ri == 1 {
			// Two records in one TCP write: the answer and a stale 408.
			hc := c.(*tls.Conn).NetConn().(*heldConn)
			hc.hold()
			_, _ = io.WriteString(c, rawOK)
			_, _ = io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
			hc.flush()
			return true
		}
		_, _ = io.WriteString(c, rawOK)
		return true
	})
	s := newUnsafe(t, Endpoint{URL: "https://" + rs.ln.Addr().String() + "/hook", Concurrency: 2, Timeout: 5 * time.Second},
		Options{TLSConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig})
	if _, err := s.Send(t.Context(), Delivery{ID: "d-1", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	att, err := s.Send(t.Context(), Delivery{ID: "d-2", Body: []byte(`{}`)})
	if err != nil || att.Response.Status != 200 {
		t.Fatalf("second send: %v; want 200", err)
	}
	if got := rs.requests(); len(got) != 2 || got[1] != "c2 d-2" {
		t.Errorf("server saw %v; want d-2 on a second connection", got)
	}
}

// heldConn gathers writes while held and sends them in one write at flush.
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  bytes.Buffer
}

func (h *heldConn) Write(b []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held {
		return h.buf.Write(b)
	}
	return h.Conn.Write(b)
}

func (h *heldConn) hold() {
	h.mu.Lock()
	h.held = true
	h.mu.Unlock()
}

func (h *heldConn) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = false
	_, _ = h.Conn.Write(h.buf.Bytes())
	h.buf.Reset()
}
