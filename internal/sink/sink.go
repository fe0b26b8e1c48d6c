package sink

import (
	"bufio"
	"compress/gzip"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Paths served by a Sink.
const (
	// PathSingles takes a JSON array of log entries.
	PathSingles = "/logs/v1/singles"
	// PathBulk takes one object with shared names and logEntries.
	PathBulk = "/logs/v1/bulk"
	// PathLegacy takes the legacy privateKey object or any JSON object (the
	// generic-webhook body of the seed).
	PathLegacy = "/api/v1/logs"
	// PathReceived serves the counters (GET) and resets them (DELETE).
	PathReceived = "/received"
	// PathHealth answers 200 while the sink runs.
	PathHealth = "/healthz"
)

// StatusClientClosed is counted as rejected for a request whose context
// ended while the sink waited Options.Latency; nothing is written back.
const StatusClientClosed = 499

// initialBufBytes is the starting capacity of a pooled body buffer.
const initialBufBytes = 64 << 10

// endpoint enumerates the ingestion paths.
type endpoint int

const (
	epSingles endpoint = iota
	epBulk
	epLegacy
	numEndpoints
)

func (e endpoint) path() string {
	switch e {
	case epSingles:
		return PathSingles
	case epBulk:
		return PathBulk
	default:
		return PathLegacy
	}
}

// Sink is a local Coralogix-compatible log ingestion server. It implements
// http.Handler; counters are safe for concurrent use.
type Sink struct {
	opts Options
	log  *zap.Logger
	now  func() time.Time
	rand func() float64

	requests, accepted, entries, bytes, rejected atomic.Int64

	byStatus [600]atomic.Int64
	bySev    [7]atomic.Int64
	byPath   [numEndpoints]atomic.Int64
	byApp    nameCounts
	bySub    nameCounts

	keys      *keySet
	entryKeys *keySet
	kept      *ring

	states sync.Pool // *reqState

	okBody []byte
	jsonCT []string
	textCT []string
}

// Ensure Sink is an http.Handler.
var _ http.Handler = (*Sink)(nil)

// New returns a sink configured by opts. Zero values select defaults and
// values that Options.Check rejects are replaced by defaults, so callers
// taking options from users should call Check first.
func New(opts Options) *Sink {
	if err := opts.Check(); err != nil && opts.Logger != nil {
		opts.Logger.Warn("sink: replacing invalid option by its default", zap.Error(err))
	}
	opts = opts.withDefaults()
	s := &Sink{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		rand:      opts.Rand,
		keys:      newKeySet(),
		entryKeys: newKeySet(),
		okBody:    []byte("{}"),
		jsonCT:    []string{"application/json"},
		textCT:    []string{"text/plain; charset=utf-8"},
	}
	s.byApp.m = make(map[string]*atomic.Int64)
	s.bySub.m = make(map[string]*atomic.Int64)
	if opts.Keep > 0 {
		s.kept = &ring{items: make([]KeptEntry, opts.Keep)}
	}
	s.states.New = func() any {
		return &reqState{
			buf: make([]byte, 0, initialBufBytes),
			br:  bufio.NewReaderSize(nil, 32<<10),
		}
	}
	return s
}

// reqState is the reusable per-request working memory.
type reqState struct {
	buf []byte
	lim limitReader
	br  *bufio.Reader
	zr  *gzip.Reader
	chk checker
}

// release returns st to the pool without references to the finished request.
func (s *Sink) release(st *reqState) {
	st.lim.r = nil
	st.br.Reset(nil)
	st.chk.p.reset()
	s.states.Put(st)
}

// limitReader reads at most n more bytes and fails with ErrTooLarge after.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// ServeHTTP routes a request to the ingestion endpoints, /received or /healthz.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathSingles:
		s.ingest(w, r, epSingles)
	case PathBulk:
		s.ingest(w, r, epBulk)
	case PathLegacy:
		s.ingest(w, r, epLegacy)
	case PathReceived:
		s.serveReceived(w, r)
	case PathHealth:
		w.Header()["Content-Type"] = s.textCT
		io.WriteString(w, "ok\n")
	default:
		s.requests.Add(1)
		s.answer(w, r, http.StatusNotFound, "no such endpoint", false, false)
	}
}

func (s *Sink) serveReceived(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		w.Header()["Content-Type"] = s.jsonCT
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.Received())
	case http.MethodDelete:
		s.Reset()
		w.Header()["Content-Type"] = s.jsonCT
		w.Write(s.okBody)
	default:
		w.Header().Set("Allow", "GET, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// ingest handles one request to an ingestion endpoint: fault injection,
// authentication, size, decoding, validation, then counting.
func (s *Sink) ingest(w http.ResponseWriter, r *http.Request, ep endpoint) {
	s.requests.Add(1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.answer(w, r, http.StatusMethodNotAllowed, "method not allowed", false, true)
		return
	}
	if s.opts.Status != 0 {
		s.answer(w, r, s.opts.Status, "injected failure", true, true)
		return
	}
	authErr := s.checkBearer(r)
	if authErr != nil && ep != epLegacy {
		s.answer(w, r, http.StatusUnauthorized, authErr.Error(), false, true)
		return
	}

	st := s.states.Get().(*reqState)
	defer s.release(st)
	body, code, err := s.readBody(r, st)
	if err != nil {
		s.answer(w, r, code, err.Error(), false, true)
		return
	}
	st.chk.strict = s.opts.Validate
	st.chk.wantSpans = s.kept != nil || s.opts.EntryKey != nil
	st.chk.p.reset()
	switch ep {
	case epSingles:
		err = st.chk.singles(body)
	case epBulk:
		err = st.chk.bulk(body, false)
	default:
		err = st.chk.legacy(body)
	}
	if err != nil {
		s.answer(w, r, http.StatusBadRequest, err.Error(), false, true)
		return
	}
	if authErr != nil && !s.privateKeyOK(st) {
		s.answer(w, r, http.StatusUnauthorized, authErr.Error(), false, true)
		return
	}
	if s.opts.FailRate > 0 && s.rand() < s.opts.FailRate {
		s.answer(w, r, s.opts.FailStatus, "injected failure", true, true)
		return
	}
	if !s.wait(r) {
		s.abandoned(w)
		return
	}
	s.commit(r, ep, body, st)
	w.Header()["Content-Type"] = s.jsonCT
	w.WriteHeader(http.StatusOK)
	w.Write(s.okBody)
}

// checkBearer checks the Authorization header against Options.APIKey.
func (s *Sink) checkBearer(r *http.Request) error {
	if s.opts.APIKey == "" {
		return nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return fmt.Errorf("%w: missing Authorization header", ErrUnauthorized)
	}
	const scheme = "Bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return fmt.Errorf("%w: Authorization is not a Bearer token", ErrUnauthorized)
	}
	if !s.keyOK(strings.TrimSpace(h[len(scheme):])) {
		return fmt.Errorf("%w: invalid API key", ErrUnauthorized)
	}
	return nil
}

func (s *Sink) keyOK(key string) bool {
	return subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.APIKey)) == 1
}

// privateKeyOK reports whether a legacy body's privateKey is the API key.
func (s *Sink) privateKeyOK(st *reqState) bool {
	p := &st.chk.p
	if !p.hasPrivateKey {
		return false
	}
	key := p.privateKey
	if p.privateKeyEsc {
		key = appendUnescaped(nil, key)
	}
	return s.keyOK(string(key))
}

// readBody reads the (decompressed) body into st.buf. On failure it returns
// the status to answer with.
func (s *Sink) readBody(r *http.Request, st *reqState) ([]byte, int, error) {
	limit := s.opts.MaxBodyBytes
	var src io.Reader = r.Body
	enc := r.Header.Get("Content-Encoding")
	switch {
	case enc == "" || strings.EqualFold(enc, "identity"):
		if r.ContentLength > int64(limit) {
			return nil, http.StatusRequestEntityTooLarge, tooLarge(limit)
		}
		if r.ContentLength > int64(cap(st.buf)) {
			st.buf = make([]byte, 0, r.ContentLength+1)
		}
	case strings.EqualFold(enc, "gzip") || strings.EqualFold(enc, "x-gzip"):
		// Deflate output can be slightly larger than its input, never twice
		// as large; anything beyond that is not an honest body.
		rawLimit := 2*int64(limit) + 64<<10
		if r.ContentLength > rawLimit {
			return nil, http.StatusRequestEntityTooLarge, tooLarge(limit)
		}
		st.lim = limitReader{r: r.Body, n: rawLimit}
		st.br.Reset(&st.lim)
		var err error
		if st.zr == nil {
			st.zr, err = gzip.NewReader(st.br)
		} else {
			err = st.zr.Reset(st.br)
		}
		if err != nil {
			return nil, bodyErrStatus(err), bodyErr(err, limit)
		}
		src = st.zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("%w %q: use gzip or none", ErrUnsupportedEncoding, enc)
	}

	buf := st.buf[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				break
			}
			grown := make([]byte, len(buf), min(2*cap(buf)+initialBufBytes, limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			break
		}
		if err == io.EOF {
			st.buf = buf
			return buf, 0, nil
		}
		if err != nil {
			st.buf = buf
			return nil, bodyErrStatus(err), bodyErr(err, limit)
		}
	}
	st.buf = buf
	return nil, http.StatusRequestEntityTooLarge, tooLarge(limit)
}

func tooLarge(limit int) error {
	return fmt.Errorf("%w: decompressed body exceeds %d bytes", ErrTooLarge, limit)
}

func bodyErrStatus(err error) int {
	if errors.Is(err, ErrTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func bodyErr(err error, limit int) error {
	switch {
	case errors.Is(err, ErrTooLarge):
		return tooLarge(limit)
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %v", ErrBadEncoding, err)
	default:
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return tooLarge(limit)
		}
		return fmt.Errorf("%w: reading body: %v", ErrBadEncoding, err)
	}
}

// wait sleeps Options.Latency and reports whether the request is still
// wanted afterwards.
func (s *Sink) wait(r *http.Request) bool {
	if s.opts.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.opts.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// abandoned counts a request whose client left during Options.Latency and
// answers it 499, so that no implicit 200 ever reaches a client still there.
func (s *Sink) abandoned(w http.ResponseWriter) {
	s.count(StatusClientClosed)
	w.WriteHeader(StatusClientClosed)
}

// count records one answer other than 200.
func (s *Sink) count(code int) {
	s.rejected.Add(1)
	if code >= 0 && code < len(s.byStatus) {
		s.byStatus[code].Add(1)
	}
}

// answer writes a non-200 answer with a short text reason, after the
// configured latency when delay is set. injected marks fault injection,
// which carries Options.RetryAfter.
func (s *Sink) answer(w http.ResponseWriter, r *http.Request, code int, reason string, injected, delay bool) {
	if delay && !s.wait(r) {
		s.abandoned(w)
		return
	}
	s.count(code)
	if ce := s.log.Check(zap.DebugLevel, "sink: request rejected"); ce != nil {
		ce.Write(zap.String("path", r.URL.Path), zap.Int("status", code), zap.String("reason", reason))
	}
	h := w.Header()
	if injected && s.opts.RetryAfter != "" {
		h.Set("Retry-After", s.opts.RetryAfter)
	}
	h["Content-Type"] = s.textCT
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, reason+"\n")
}

// commit counts an accepted request.
func (s *Sink) commit(r *http.Request, ep endpoint, body []byte, st *reqState) {
	p := &st.chk.p
	s.accepted.Add(1)
	s.entries.Add(p.entries)
	s.bytes.Add(int64(len(body)))
	s.byPath[ep].Add(1)
	for sev := 1; sev < len(p.sev); sev++ {
		if n := p.sev[sev]; n > 0 {
			s.bySev[sev].Add(n)
		}
	}
	s.addNames(&s.byApp, p.apps, p.overflow[0], st)
	s.addNames(&s.bySub, p.subs, p.overflow[1], st)
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		s.keys.add(key)
	}
	if !st.chk.wantSpans {
		return
	}
	firstKept := len(p.spans)
	if s.kept != nil {
		firstKept = max(0, len(p.spans)-s.opts.Keep)
	}
	var at time.Time
	var headers map[string]string
	var app, sub string
	if firstKept < len(p.spans) {
		at = s.now()
		headers = make(map[string]string, 3)
		for _, name := range [...]string{"Idempotency-Key", "User-Agent", "Content-Type"} {
			if v := r.Header.Get(name); v != "" {
				headers[name] = v
			}
		}
		if ep != epSingles {
			app, sub = unescapedString(p.app, p.appEsc), unescapedString(p.sub, p.subEsc)
		}
	}
	for k, sp := range p.spans {
		raw := body[sp.start:sp.end]
		if s.opts.EntryKey != nil {
			if key := s.opts.EntryKey(json.RawMessage(raw)); key != "" {
				s.entryKeys.add(key)
			}
		}
		if k >= firstKept {
			s.kept.add(KeptEntry{
				Path:            ep.path(),
				ReceivedAt:      at,
				Headers:         headers,
				ApplicationName: app,
				SubsystemName:   sub,
				Entry:           append(json.RawMessage(nil), raw...),
			})
		}
	}
}

func (s *Sink) addNames(c *nameCounts, list []kv, overflow map[string]int64, st *reqState) {
	for _, e := range list {
		name := e.key
		if e.esc {
			st.chk.scratch = appendUnescaped(st.chk.scratch[:0], name)
			name = st.chk.scratch
		}
		c.add(name, e.n)
	}
	for name, n := range overflow {
		c.add([]byte(name), n)
	}
}

func unescapedString(raw []byte, esc bool) string {
	if esc {
		return string(appendUnescaped(nil, raw))
	}
	return string(raw)
}
