package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Connection settings of every endpoint.
const (
	// idleConnTimeout closes a connection unused this long.
	idleConnTimeout = 30 * time.Second
	// readBufferSize bounds a response's status line and headers.
	readBufferSize = 64 << 10
	// maxResponseBody is the most of a response body read; past it the
	// body is not kept and the connection is closed.
	maxResponseBody = MaxRecordedBody + maxDrain
)

// newClient builds the connection pool of one endpoint: up to concurrency
// HTTP/1.1 connections, no proxy, and (unless allowUnsafe) a dialer that
// refuses blocked addresses after name resolution. The pool only dials and
// keeps connections: Sender.exchange writes each request and reads its
// answer itself, so that a context can interrupt it.
func newClient(u *url.URL, allowUnsafe bool, tlsConf *tls.Config, concurrency int, timeout time.Duration) *fasthttp.HostClient {
	d := &net.Dialer{Timeout: min(timeout, 30*time.Second), KeepAlive: 30 * time.Second}
	if !allowUnsafe {
		d.Control = safeControl
	}
	isTLS := u.Scheme == "https"
	port := u.Port()
	switch {
	case port != "":
	case isTLS:
		port = "443"
	default:
		port = "80"
	}
	var tc *tls.Config
	if isTLS {
		tc = &tls.Config{}
		if tlsConf != nil {
			tc = tlsConf.Clone()
		}
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS12
		}
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		// Requests are HTTP/1.1 only: a server that also speaks HTTP/2
		// must not pick it.
		tc.NextProtos = []string{"http/1.1"}
	}
	return &fasthttp.HostClient{
		Addr:                          net.JoinHostPort(u.Hostname(), port),
		IsTLS:                         isTLS,
		TLSConfig:                     tc,
		Dial:                          func(addr string) (net.Conn, error) { return d.Dial("tcp", addr) },
		MaxConns:                      concurrency,
		MaxConnWaitTimeout:            timeout,
		MaxIdleConnDuration:           idleConnTimeout,
		ReadBufferSize:                readBufferSize,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
	}
}

// aLongTimeAgo is a deadline in the past: setting it interrupts every read
// and write on a connection at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip sends req and reads the answer into resp before ctx is done. A
// reused connection that the server had closed while it was idle fails
// before any answer; the request then goes again on another connection, as
// net/http does, until a connection of its own fails.
func (s *Sender) roundTrip(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) error {
	for tries := 0; ; tries++ {
		reused, err := s.exchange(ctx, req, resp)
		if err == nil || !reused || ctx.Err() != nil || !closedIdle(err) || tries > s.hc.MaxConns {
			return err
		}
		resp.Reset()
	}
}

// exchange makes one request on one connection from the pool and reports
// whether the connection had served a request before. Once ctx is done the
// connection's deadline passes, which interrupts the write or read, and the
// connection is closed.
func (s *Sender) exchange(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) (reused bool, err error) {
	wait := s.timeout
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	cc, err := s.hc.AcquireConn(wait, false)
	if err != nil {
		return false, err
	}
	reused = !cc.LastUseTime().IsZero()
	conn := cc.Conn()
	if err := conn.SetDeadline(time.Time{}); err != nil {
		s.hc.CloseConn(cc)
		return reused, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	bw := s.hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	s.hc.ReleaseWriter(bw)
	if err == nil {
		br := s.hc.AcquireReader(conn)
		err = resp.ReadLimitBody(br, maxResponseBody)
		s.hc.ReleaseReader(br)
	}
	interrupted := !stop()
	if err != nil || interrupted || resp.ConnectionClose() {
		s.hc.CloseConn(cc)
	} else {
		s.hc.ReleaseConn(cc)
	}
	return reused, err
}

// closedIdle reports whether err is how a connection the server closed
// while idle fails: the write is refused, or the read ends before the first
// byte of an answer.
func closedIdle(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
