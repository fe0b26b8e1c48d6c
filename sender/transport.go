package sender

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Connection settings of every endpoint.
const (
	// idleConnTimeout closes a connection unused this long.
	idleConnTimeout = 30 * time.Second
	// readBufferSize bounds a response's status line and headers.
	readBufferSize = 64 << 10
	// writeBufferSize is the buffer a request is written through: a usual
	// request goes out in one write.
	writeBufferSize = 8 << 10
	// maxResponseBody is the most of a response body read; past it the
	// body is not kept and the connection is closed.
	maxResponseBody = MaxRecordedBody + maxDrain
	// watchedBody is the body size from which a request is written while
	// its answer is awaited (see writeWatched). Smaller bodies fit the
	// socket buffers, so their write does not wait for the server to read.
	watchedBody = 64 << 10
)

// pool keeps the HTTP/1.1 connections of one endpoint: at most cap(slots)
// in use at once and as many idle. fasthttp writes the requests and parses
// the answers; the pool dials, with the context of the attempt, and hands
// out only connections that are still open and quiet, the most recently
// used first (as net/http does), so that the others age out.
type pool struct {
	addr    string      // host:port to dial
	tls     *tls.Config // nil for http
	connect func(ctx context.Context) (net.Conn, error)
	slots   chan struct{} // one per connection in use
	readers sync.Pool     // *bufio.Reader of readBufferSize
	writers sync.Pool     // *bufio.Writer of writeBufferSize

	mu       sync.Mutex
	idle     []*pconn // oldest first
	closed   bool     // by close: nothing goes back
	sweeping bool     // the sweeper runs
}

// pconn is one connection of a pool.
type pconn struct {
	net.Conn
	raw  syscall.RawConn // the TCP socket under any TLS, for the liveness check
	used time.Time       // when it was last put back; zero until then
}

// newPool builds the pool of an endpoint at addr (host:port). tlsConf is
// nil for http. Unless allowUnsafe, the dialer refuses blocked addresses
// after name resolution.
func newPool(addr string, tlsConf *tls.Config, allowUnsafe bool, concurrency int, timeout time.Duration) *pool {
	d := &net.Dialer{Timeout: min(timeout, 30*time.Second), KeepAlive: 30 * time.Second}
	if !allowUnsafe {
		d.Control = safeControl
	}
	p := &pool{
		addr:  addr,
		tls:   tlsConf,
		slots: make(chan struct{}, concurrency),
	}
	p.connect = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", p.addr) }
	p.readers.New = func() any { return bufio.NewReaderSize(nil, readBufferSize) }
	p.writers.New = func() any { return bufio.NewWriterSize(nil, writeBufferSize) }
	return p
}

// get returns a connection for one request, waiting for a free slot and
// dialing if no idle connection is fit to use, until ctx is done.
func (p *pool) get(ctx context.Context) (*pconn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	for c := p.popIdle(); c != nil; c = p.popIdle() {
		if time.Since(c.used) < idleConnTimeout && c.quiet() {
			return c, nil
		}
		c.Close()
	}
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// popIdle takes the most recently used idle connection, or nil.
func (p *pool) popIdle() *pconn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	c := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return c
}

// put hands a connection back for reuse; after close, or with as many
// idle as the pool may use, it is closed instead.
func (p *pool) put(c *pconn) {
	c.used = time.Now()
	p.mu.Lock()
	keep := !p.closed && len(p.idle) < cap(p.slots)
	if keep {
		p.idle = append(p.idle, c)
		if !p.sweeping {
			p.sweeping = true
			go p.sweep()
		}
	}
	p.mu.Unlock()
	if !keep {
		c.Close()
	}
	<-p.slots
}

// discard closes a connection that must not be reused.
func (p *pool) discard(c *pconn) {
	c.Close()
	<-p.slots
}

// dial opens a connection, with its TLS handshake for https, within ctx.
func (p *pool) dial(ctx context.Context) (*pconn, error) {
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	c := &pconn{Conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	if p.tls != nil {
		tc := tls.Client(conn, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		c.Conn = tc
	}
	return c, nil
}

// sweep closes connections idle for idleConnTimeout. It runs while any
// connection is idle; put starts it again.
func (p *pool) sweep() {
	for {
		time.Sleep(idleConnTimeout / 2)
		p.mu.Lock()
		n := 0
		for n < len(p.idle) && time.Since(p.idle[n].used) >= idleConnTimeout {
			n++
		}
		old := append([]*pconn(nil), p.idle[:n]...)
		p.idle = append(p.idle[:0], p.idle[n:]...)
		clear(p.idle[len(p.idle):cap(p.idle)])
		done := len(p.idle) == 0
		if done {
			p.sweeping = false
		}
		p.mu.Unlock()
		for _, c := range old {
			c.Close()
		}
		if done {
			return
		}
	}
}

// close closes the idle connections; those in use are closed when they
// come back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// aLongTimeAgo is a deadline in the past: setting it interrupts every read
// and write on a connection at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip sends req and reads the answer into resp before ctx is done. A
// reused connection that the server closed while it was idle fails before
// any byte of an answer; the request then goes again on another
// connection, as net/http does, until a connection of its own fails.
func (s *Sender) roundTrip(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) (wireHeaders, error) {
	for tries := 0; ; tries++ {
		again, wire, err := s.exchange(ctx, req, resp)
		if err == nil || !again || ctx.Err() != nil || tries > cap(s.pool.slots) {
			return wire, err
		}
		if ce := s.log.Check(zap.DebugLevel, "connection closed by the endpoint before an answer; sending again on another"); ce != nil {
			ce.Write(zap.String("url", s.displayURL), zap.Error(err))
		}
		resp.Reset()
	}
}

// exchange makes one request on one connection of the pool. again reports
// a connection that had served requests before and failed before any byte
// of an answer came: one the server had closed, so that the request may go
// again. Once ctx is done the connection's deadline passes, which
// interrupts the dial, write or read, and the connection is closed. wire
// says which headers fasthttp lists that the server sent.
func (s *Sender) exchange(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) (again bool, wire wireHeaders, err error) {
	c, err := s.pool.get(ctx)
	if err != nil {
		return false, wire, err
	}
	reused := !c.used.IsZero()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(aLongTimeAgo) })

	// Even when the write failed, the server may have answered first (a
	// 413 before reading a large body): the answer is what counts. A large
	// body is written while the answer is awaited, since a server may refuse
	// it early and stop reading without closing, which would hold the write
	// until ctx ends.
	br := s.pool.readers.Get().(*bufio.Reader)
	br.Reset(c)
	var werr error
	if len(req.Body()) >= watchedBody {
		werr, err = s.writeWatched(c, br, req)
	} else if werr = s.write(c, req); local(werr) {
		err = werr
	} else {
		_, err = br.Peek(1)
	}
	answered := err == nil
	if answered {
		wire = scanWireHeaders(br)
		resp.Header.SetNoDefaultContentType(true)
		err = resp.ReadLimitBody(br, maxResponseBody)
	} else if werr != nil && (closedIdle(err) || isTimeout(err)) {
		// The failed write says more than the read that followed it; a
		// read that failed otherwise (a TLS alert) says more than both.
		err = werr
	}
	leftover := br.Buffered() > 0
	br.Reset(nil)
	s.pool.readers.Put(br)

	interrupted := !stop()
	if err != nil || werr != nil || interrupted || leftover || s.connClose ||
		resp.ConnectionClose() || resp.StatusCode() < 200 {
		s.pool.discard(c)
	} else {
		s.pool.put(c)
	}
	return reused && !answered && closedIdle(err), wire, err
}

// write writes req to c through a pooled buffer.
func (s *Sender) write(c *pconn, req *fasthttp.Request) error {
	bw := s.pool.writers.Get().(*bufio.Writer)
	bw.Reset(c)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	s.pool.writers.Put(bw)
	return err
}

// writeWatched writes req to c while it waits for the first byte of an
// answer in br. A final answer of 300 or more that comes before the write is
// over ends the write, since the server will not take the rest (RFC 9112,
// 9.3); an interim 1xx or a 2xx does not, as the server may still be reading.
// It returns the write's error and the wait's.
func (s *Sender) writeWatched(c *pconn, br *bufio.Reader, req *fasthttp.Request) (werr, err error) {
	written := make(chan struct{})
	peeked := make(chan error, 1)
	go func() {
		_, err := br.Peek(1)
		if err == nil {
			if b, _ := br.Peek(len("HTTP/1.1 200")); refusal(b) {
				select {
				case <-written:
				default:
					_ = c.SetWriteDeadline(aLongTimeAgo)
				}
			}
		}
		peeked <- err
	}()
	werr = s.write(c, req)
	close(written)
	if local(werr) {
		// No answer is coming to a request that never went out whole.
		_ = c.SetReadDeadline(aLongTimeAgo)
		<-peeked
		return werr, werr
	}
	err = <-peeked
	if werr == nil {
		// The whole request went out; the answer may have come as the
		// write ended, and the connection may serve another.
		_ = c.SetWriteDeadline(time.Time{})
	}
	return werr, err
}

// refusal reports whether b, the start of an answer, is a final status of
// 300 or more, or no HTTP status line at all.
func refusal(b []byte) bool {
	if len(b) < len("HTTP/1.1 200") || !bytes.HasPrefix(b, []byte("HTTP/")) || b[8] != ' ' {
		return true
	}
	code := b[9:12]
	for _, d := range code {
		if d < '0' || d > '9' {
			return true
		}
	}
	return code[0] >= '3'
}

// local reports a write error of the client's own making (a request
// fasthttp refused to write), not of the connection: no answer can follow.
// Every error of a connection's write is a net.Error (syscall.Errno is one).
func local(err error) bool {
	var ne net.Error
	return err != nil && !errors.As(err, &ne) && !errors.Is(err, io.ErrShortWrite)
}

// wireHeaders says, when known, whether an answer's own header block held a
// Content-Length and a Connection header: fasthttp lists both when it
// infers them (the length of a body that ends at close, the close of an
// HTTP/1.0 answer), and a record shows only what the server sent.
type wireHeaders struct {
	known, length, connection bool
}

// scanWireHeaders reads the header block of the answer waiting in br,
// without consuming it: fasthttp reads the same bytes next. It gives up
// (known false) on an interim 1xx answer and on a block larger than br's
// buffer.
func scanWireHeaders(br *bufio.Reader) wireHeaders {
	var b []byte
	end := -1
	for {
		b, _ = br.Peek(br.Buffered())
		if end = headerEnd(b); end >= 0 || br.Buffered() == br.Size() {
			break
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return wireHeaders{}
		}
	}
	if end < 0 || interim(b) {
		return wireHeaders{}
	}
	w := wireHeaders{known: true}
	b = b[:end]
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		b = b[i+1:]
		line := b
		if j := bytes.IndexByte(line, '\n'); j >= 0 {
			line = line[:j]
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimRight(name, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			w.length = true
		case bytes.EqualFold(name, []byte("Connection")):
			w.connection = true
		}
	}
	return w
}

// headerEnd returns where the blank line ending a header block starts in
// b (CRLF or bare LF line ends), or -1.
func headerEnd(b []byte) int {
	crlf := bytes.Index(b, []byte("\r\n\r\n"))
	if crlf >= 0 {
		b = b[:crlf] // a bare-LF end counts only before it: the body may hold one
	}
	lf := bytes.Index(b, []byte("\n\n"))
	switch {
	case lf < 0:
		return crlf
	case crlf < 0 || lf < crlf:
		return lf
	}
	return crlf
}

// interim reports whether the answer in b starts with a 1xx status line,
// read as leniently as fasthttp reads it.
func interim(b []byte) bool {
	b = bytes.TrimLeft(b, "\r\n")
	_, rest, ok := bytes.Cut(b, []byte(" "))
	rest = bytes.TrimLeft(rest, " ")
	return ok && len(rest) > 0 && rest[0] == '1'
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tlsQuiet reports whether a TLS connection holds no data already read
// from the network: a record that came with the last answer waits in the
// connection's own buffer, where a look at the socket does not see it. A
// read with the deadline past returns such data at once and otherwise
// times out without touching the socket; a timeout does not break the
// connection.
func tlsQuiet(tc *tls.Conn) bool {
	if err := tc.SetReadDeadline(aLongTimeAgo); err != nil {
		return false
	}
	var b [1]byte
	n, err := tc.Read(b[:])
	if tc.SetReadDeadline(time.Time{}) != nil {
		return false
	}
	return n == 0 && isTimeout(err)
}

// closedIdle reports whether err is how a connection the server closed
// while idle fails: the write is refused, or the read ends at once.
func closedIdle(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
