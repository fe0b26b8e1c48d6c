package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/sony/gobreaker/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"golang.org/x/net/idna"
)

// Defaults applied by New to zero Endpoint and Options fields.
const (
	// DefaultMethod is the HTTP method when Endpoint.Method is empty.
	DefaultMethod = http.MethodPost
	// DefaultTimeout bounds one attempt.
	DefaultTimeout = 10 * time.Second
	// DefaultConcurrency is the connection pool size per webhook.
	DefaultConcurrency = 64
	// DefaultMaxAttempts is the number of attempts before dead-lettering.
	DefaultMaxAttempts = 8
	// DefaultInitialBackoff is the wait after the first failed attempt.
	DefaultInitialBackoff = time.Second
	// DefaultMaxBackoff caps every wait, Retry-After included.
	DefaultMaxBackoff = 5 * time.Minute
	// DefaultFailureRatio is the failure ratio that trips the breaker.
	DefaultFailureRatio = 0.5
	// DefaultMinRequests is the number of completed attempts in the window
	// before the breaker may trip.
	DefaultMinRequests = 10
	// DefaultOpenFor is how long a tripped breaker stays open.
	DefaultOpenFor = 30 * time.Second
	// DefaultBreakerWindow is the rolling window of the closed breaker's
	// counts.
	DefaultBreakerWindow = time.Minute
	// DefaultHalfOpenRequests is the number of probes a half-open breaker
	// lets through; that many successes close it.
	DefaultHalfOpenRequests = 1
	// DefaultUserAgent is sent when Options.UserAgent is empty.
	DefaultUserAgent = "hookrelay"
	// DefaultContentType is sent when neither the endpoint nor the delivery
	// sets a Content-Type.
	DefaultContentType = "application/json"
)

const (
	idempotencyKey  = "Idempotency-Key"
	contentType     = "Content-Type"
	contentEncoding = "Content-Encoding"
	userAgent       = "User-Agent"
)

// RetryPolicy says how often and how patiently a delivery is retried. The
// sender computes waits with Backoff; counting attempts is the caller's job.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts before the delivery is
	// dead-lettered (DefaultMaxAttempts when 0).
	MaxAttempts int
	// InitialBackoff is the wait after the first failed attempt
	// (DefaultInitialBackoff when 0).
	InitialBackoff time.Duration
	// MaxBackoff caps every wait, Retry-After included (DefaultMaxBackoff
	// when 0).
	MaxBackoff time.Duration
}

// BreakerPolicy configures a webhook's circuit breaker.
type BreakerPolicy struct {
	// FailureRatio of failed to completed attempts trips the breaker
	// (DefaultFailureRatio when 0).
	FailureRatio float64
	// MinRequests is the number of completed attempts in the window before
	// the breaker may trip (DefaultMinRequests when 0).
	MinRequests uint32
	// OpenFor is how long a tripped breaker refuses requests before letting
	// probes through (DefaultOpenFor when 0).
	OpenFor time.Duration
	// Window is the rolling window over which the closed breaker counts
	// (DefaultBreakerWindow when 0).
	Window time.Duration
	// HalfOpenRequests is the number of probes let through when half-open
	// (DefaultHalfOpenRequests when 0).
	HalfOpenRequests uint32
}

// Endpoint is one webhook's delivery target.
type Endpoint struct {
	// Name identifies the webhook in logs, breaker events and errors.
	Name string
	// Method is POST, PUT, PATCH, DELETE or GET (DefaultMethod when empty).
	Method string
	// URL is the target; it must pass CheckURL.
	URL string
	// Headers hold the raw configured values, which may contain ${VAR} or
	// ${VAR:-default}; they are expanded at send time.
	Headers map[string]string
	// Timeout bounds each attempt (DefaultTimeout when 0).
	Timeout time.Duration
	// Concurrency is the connection pool size (DefaultConcurrency when 0).
	Concurrency int
	// Retry is the retry policy.
	Retry RetryPolicy
	// Breaker is the circuit breaker policy.
	Breaker BreakerPolicy
	// ContentType is sent when Headers set no Content-Type
	// (DefaultContentType when empty).
	ContentType string
}

// Options are the dependencies and process-wide settings of a Sender.
type Options struct {
	// AllowUnsafe permits http, any port and blocked addresses (local sinks
	// and tests only).
	AllowUnsafe bool
	// UserAgent is sent on every request, e.g. "hookrelay/1.2.3"
	// (DefaultUserAgent when empty).
	UserAgent string
	// Getenv looks up header variables (os.LookupEnv when nil).
	Getenv func(string) (string, bool)
	// Logger receives attempt and breaker logs (zap.NewNop when nil).
	Logger *zap.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Rand returns jitter in [0, 1) (a locked math/rand/v2 source when nil).
	Rand func() float64
	// TLSConfig is cloned for the connections of an https endpoint, e.g. to
	// trust a test CA.
	TLSConfig *tls.Config
	// OnStateChange is called when the breaker changes state. It runs while
	// the breaker's lock is held and must not call back into the Sender.
	OnStateChange func(webhook string, from, to gobreaker.State)
}

// Sender delivers bodies to one webhook. It is safe for concurrent use.
type Sender struct {
	name         string
	method       string
	url          string
	displayURL   string
	timeout      time.Duration
	retry        RetryPolicy
	headers      []headerTmpl
	dynamic      []int         // indexes into headers of values with ${VAR}
	secrets      []string      // values masked in responses: the URL's query values and fixed secret headers'
	fixed        []fixedHeader // headers sent with the same value every time
	display      map[string]string
	ctConfigured bool
	requestURI   string // the request target: the URL's path and query, as configured
	host         string // the Host header: the URL's host, unless one is configured
	connClose    bool   // a "Connection: close" header is configured

	pool    *pool
	urlOp   string // the method as http.Client names it in a *url.Error: "Post"
	breaker *breaker
	getenv  func(string) (string, bool)
	log     *zap.Logger
	now     func() time.Time
	rand    func() float64
	wires   sync.Pool // *wireBuf: compressed batch bodies
	gzips   sync.Pool // *gzip.Writer at gzip.BestSpeed
}

// New validates ep and builds its client and breaker. It fails, wrapping one
// of the package's sentinel errors, for a URL refused by CheckURL, an
// unsupported method, a malformed header, a header variable that is not set
// (naming the header and the variable, never a value), or an invalid policy.
// The error does not name the endpoint: the caller, which knows which one it
// built, adds that.
func New(ep Endpoint, opts Options) (*Sender, error) {
	if ep.Name == "" {
		return nil, fmt.Errorf("%w: endpoint name is empty", ErrInvalidOption)
	}
	if err := CheckURL(ep.URL, opts.AllowUnsafe); err != nil {
		return nil, err
	}
	u, err := url.Parse(ep.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: does not parse", ErrBadURL)
	}
	method := strings.ToUpper(ep.Method)
	switch method {
	case "":
		method = DefaultMethod
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodGet:
	default:
		return nil, fmt.Errorf("%w: %q", ErrBadMethod, ep.Method)
	}
	if err := applyDefaults(&ep); err != nil {
		return nil, err
	}
	if opts.Getenv == nil {
		opts.Getenv = os.LookupEnv
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = newLockedRand().Float64
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if !validValue(opts.UserAgent) {
		return nil, fmt.Errorf("%w: user agent holds a control character", ErrInvalidOption)
	}
	headers, err := compileHeaders(ep.Headers, opts.Getenv)
	if err != nil {
		return nil, err
	}

	s := &Sender{
		name:       ep.Name,
		method:     method,
		url:        ep.URL,
		displayURL: RedactURL(u),
		timeout:    ep.Timeout,
		retry:      ep.Retry,
		headers:    headers,
		display:    make(map[string]string, len(headers)+3),
		getenv:     opts.Getenv,
		log:        opts.Logger.With(zap.String("webhook", ep.Name)),
		now:        opts.Now,
		rand:       opts.Rand,
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= minScrubLen {
				s.secrets = append(s.secrets, v, url.QueryEscape(v))
			}
		}
	}
	s.wires.New = func() any { return &wireBuf{pool: &s.wires} }
	s.gzips.New = func() any {
		zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level cannot fail
		return zw
	}
	s.fixed = append(s.fixed, fixedHeader{userAgent, opts.UserAgent})
	s.display[userAgent] = opts.UserAgent
	dialHost, port := u.Hostname(), u.Port()
	s.host = strings.TrimSuffix(u.Host, ":") // an empty port is no port, as in net/http
	if !isASCII(dialHost) {
		// Dialed, named and sent as SNI in its ASCII form, as net/http does.
		a, err := idna.Lookup.ToASCII(dialHost)
		if err != nil {
			return nil, fmt.Errorf("%w: host %q: %v", ErrBadURL, dialHost, err)
		}
		dialHost, s.host = a, a
		if port != "" {
			s.host = net.JoinHostPort(a, port)
		}
	}
	if i := strings.IndexByte(s.host, '%'); i >= 0 && strings.HasPrefix(s.host, "[") {
		// An IPv6 zone is for the dialer, not the Host header.
		s.host = s.host[:i] + s.host[strings.IndexByte(s.host, ']'):]
	}
	for i, h := range headers {
		switch h.name {
		case idempotencyKey, userAgent:
			// Set by the sender on every request; the configured value loses.
			continue
		case "Content-Length", "Transfer-Encoding", "Trailer":
			// The body decides these, as net/http does.
			continue
		case contentType:
			s.ctConfigured = true
		}
		s.display[h.name] = h.display
		if h.refs {
			s.dynamic = append(s.dynamic, i)
			continue
		}
		if h.secret {
			s.secrets = appendSecret(s.secrets, h.static)
		}
		v := textproto.TrimString(h.static)
		if h.name == "Host" {
			if v != "" {
				s.host = v
			}
			continue
		}
		if h.name == "Connection" && strings.EqualFold(v, "close") {
			s.connClose = true
		}
		s.fixed = append(s.fixed, fixedHeader{h.name, v})
	}
	if !s.ctConfigured {
		ct := ep.ContentType
		if ct == "" {
			ct = DefaultContentType
		}
		if !validValue(ct) {
			return nil, fmt.Errorf("%w: content type holds a control character", ErrBadHeader)
		}
		s.fixed = append(s.fixed, fixedHeader{contentType, ct})
		s.display[contentType] = ct
	}
	s.requestURI = u.RequestURI()
	// A redirect is never followed: a 3xx is the answer.
	var tc *tls.Config
	switch {
	case u.Scheme == "https":
		tc = &tls.Config{}
		if opts.TLSConfig != nil {
			tc = opts.TLSConfig.Clone()
		}
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS12
		}
		if tc.ServerName == "" {
			tc.ServerName = dialHost
		}
		// Requests are HTTP/1.1 only: a server that also speaks HTTP/2
		// must not pick it.
		tc.NextProtos = []string{"http/1.1"}
		if port == "" {
			port = "443"
		}
	case port == "":
		port = "80"
	}
	s.pool = newPool(net.JoinHostPort(dialHost, port), tc, opts.AllowUnsafe, ep.Concurrency, ep.Timeout)
	s.urlOp = method[:1] + strings.ToLower(method[1:])
	s.breaker = newBreaker(ep.Name, ep.Breaker, opts.Now, s.log, opts.OnStateChange)
	return s, nil
}

// applyDefaults fills zero fields of ep and checks the rest.
func applyDefaults(ep *Endpoint) error {
	switch {
	case ep.Timeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrInvalidOption)
	case ep.Concurrency < 0:
		return fmt.Errorf("%w: negative concurrency", ErrInvalidOption)
	case ep.Retry.MaxAttempts < 0 || ep.Retry.InitialBackoff < 0 || ep.Retry.MaxBackoff < 0:
		return fmt.Errorf("%w: negative retry setting", ErrInvalidOption)
	case ep.Breaker.FailureRatio < 0 || ep.Breaker.FailureRatio > 1:
		return fmt.Errorf("%w: failure ratio %v outside [0, 1]", ErrInvalidOption, ep.Breaker.FailureRatio)
	case ep.Breaker.OpenFor < 0 || ep.Breaker.Window < 0:
		return fmt.Errorf("%w: negative breaker duration", ErrInvalidOption)
	}
	setDefault(&ep.Timeout, DefaultTimeout)
	setDefault(&ep.Concurrency, DefaultConcurrency)
	setDefault(&ep.Retry.MaxAttempts, DefaultMaxAttempts)
	setDefault(&ep.Retry.InitialBackoff, DefaultInitialBackoff)
	setDefault(&ep.Retry.MaxBackoff, DefaultMaxBackoff)
	setDefault(&ep.Breaker.FailureRatio, DefaultFailureRatio)
	setDefault(&ep.Breaker.MinRequests, DefaultMinRequests)
	setDefault(&ep.Breaker.OpenFor, DefaultOpenFor)
	setDefault(&ep.Breaker.Window, DefaultBreakerWindow)
	setDefault(&ep.Breaker.HalfOpenRequests, DefaultHalfOpenRequests)
	if ep.Retry.InitialBackoff > ep.Retry.MaxBackoff {
		return fmt.Errorf("%w: initial backoff %s above max backoff %s",
			ErrInvalidOption, ep.Retry.InitialBackoff, ep.Retry.MaxBackoff)
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Name returns the webhook's name.
func (s *Sender) Name() string { return s.name }

// RetryPolicy returns the retry policy with defaults applied.
func (s *Sender) RetryPolicy() RetryPolicy { return s.retry }

// Breaker returns a snapshot of the webhook's circuit breaker.
func (s *Sender) Breaker() BreakerStatus { return s.breaker.status() }

// Close releases idle connections. In-flight Sends are not interrupted.
func (s *Sender) Close() { s.pool.close() }

// Send makes one attempt to deliver d. It returns nil after a 2xx response
// and otherwise an *Error whose Class says whether another attempt can help.
// When the breaker refuses the request Send returns a zero Attempt and an
// *Error with Class BreakerOpen, without making a request. The Attempt is
// redacted: no secret header value, user info or query value appears in it,
// in the error or in the logs.
func (s *Sender) Send(ctx context.Context, d Delivery) (Attempt, error) {
	att, e := s.attempt(ctx, &outgoing{id: d.ID, contentType: d.ContentType, body: d.Body})
	if e != nil {
		return att, e
	}
	return att, nil
}

// outgoing is one request to make: Send builds it from a Delivery and
// SendBatch from a run of entries.
type outgoing struct {
	id          string // the Idempotency-Key
	contentType string // "" for the endpoint's or the default Content-Type
	encoding    string // Content-Encoding; "" for none
	body        []byte // the bytes sent, unless wire is set
	wire        *wireBuf
	entries     int                   // number of batch entries; 0 for a Delivery
	record      func() (string, bool) // the recorded body when body is not it
}

// attempt makes one attempt to send o: it checks the context, builds the
// request, asks the breaker, sends, reads and classifies the response, and
// tells the breaker and the log. It is the single path of Send and
// SendBatch.
func (s *Sender) attempt(ctx context.Context, o *outgoing) (Attempt, *Error) {
	if err := ctx.Err(); err != nil {
		return Attempt{}, &Error{Class: Retryable, Reason: ReasonContextCanceled, Err: context.Cause(ctx)}
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	var small [4]string
	secrets, err := s.request(req, o, append(small[:0], s.secrets...))
	if err != nil {
		return Attempt{}, &Error{Class: Permanent, Reason: ReasonConfig, Err: err}
	}
	done, err := s.breaker.cb.Allow()
	if err != nil {
		return Attempt{}, &Error{Class: BreakerOpen, Reason: ReasonBreakerOpen,
			Err: fmt.Errorf("%w: webhook %q: %w", ErrBreakerOpen, s.name, err)}
	}

	start := s.now()
	att := Attempt{StartedAt: start, Request: s.requestData(o)}
	reqCtx, cancel := context.WithTimeoutCause(ctx, s.timeout, ErrAttemptTimeout)
	defer cancel()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)

	wire, err := s.roundTrip(reqCtx, req, resp)
	cut := errors.Is(err, fasthttp.ErrBodyTooLarge)
	if err != nil && !cut {
		e := s.transportError(ctx, reqCtx, &url.Error{Op: s.urlOp, URL: s.displayURL, Err: err})
		att.Duration = s.now().Sub(start)
		done(breakerOutcome(e))
		s.logAttempt(o, &att, e)
		return att, e
	}
	att.Response = readResponse(resp, wire, cut, secrets)
	att.Duration = s.now().Sub(start)

	status := resp.StatusCode()
	class, reason := Classify(status)
	if class == Delivered {
		done(nil)
		s.logAttempt(o, &att, nil)
		return att, nil
	}
	e := &Error{
		Class:      class,
		Reason:     reason,
		StatusCode: status,
		RetryAfter: parseRetryAfter(string(resp.Header.Peek("Retry-After")), s.now(), s.retry.MaxBackoff),
		Err:        statusError(status, snippet(att.Response.Body)),
	}
	done(breakerOutcome(e))
	s.logAttempt(o, &att, e)
	return att, e
}

// fixedHeader is a header sent with the same value on every request.
type fixedHeader struct {
	name, val string
}

// request writes the request for o into req: the request line, the
// headers, with ${VAR} references expanded, and the body. It appends to
// secrets the values to mask in the response: those of the headers
// resolved now.
func (s *Sender) request(req *fasthttp.Request, o *outgoing, secrets []string) ([]string, error) {
	if o.id == "" || !validValue(o.id) {
		return nil, fmt.Errorf("%w: delivery ID is empty or holds a control character", ErrBadHeader)
	}
	if !validValue(o.contentType) {
		return nil, fmt.Errorf("%w: content type holds a control character", ErrBadHeader)
	}
	h := &req.Header
	// Headers go out as set, in order, like net/http's: fasthttp neither
	// adds any (but Content-Length) nor parses or rewrites one (Cookie).
	h.DisableSpecialHeader()
	h.DisableNormalizing()
	h.SetMethod(s.method)
	h.SetRequestURI(s.requestURI)
	// Host first, as net/http writes it; a configured ${VAR} value that
	// resolves to something replaces it below, in place.
	h.Set("Host", s.host)
	for _, f := range s.fixed {
		h.Set(f.name, f.val)
	}
	for _, j := range s.dynamic {
		t := &s.headers[j]
		v, err := t.resolve(s.getenv)
		if err != nil {
			return nil, err
		}
		if !validValue(v) {
			return nil, fmt.Errorf("%w: header %q: resolved value holds a control character", ErrBadHeader, t.name)
		}
		secrets = appendSecret(secrets, v)
		v = textproto.TrimString(v)
		if t.name != "Host" || v != "" {
			h.Set(t.name, v)
		}
	}
	h.Set(idempotencyKey, o.id)
	if o.contentType != "" && !s.ctConfigured {
		h.Set(contentType, o.contentType)
	}
	if o.encoding != "" {
		h.Set(contentEncoding, o.encoding)
	}
	if o.wire != nil {
		req.SetBodyRaw(o.wire.buf.Bytes())
	} else {
		req.SetBodyRaw(o.body)
	}
	return secrets, nil
}

// transportError classifies an error from the HTTP client and strips the
// URL from it.
func (s *Sender) transportError(ctx, reqCtx context.Context, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = s.displayURL
	}
	switch {
	case ctx.Err() != nil:
		return &Error{Class: Retryable, Reason: ReasonContextCanceled, Err: err}
	case errors.Is(context.Cause(reqCtx), ErrAttemptTimeout):
		return &Error{Class: Retryable, Reason: ReasonTimeout,
			Err: fmt.Errorf("%w after %s: %w", ErrAttemptTimeout, s.timeout, err)}
	case errors.Is(err, ErrUnsafeAddress):
		return &Error{Class: Permanent, Reason: ReasonBadURL, Err: err}
	case isTimeout(err):
		return &Error{Class: Retryable, Reason: ReasonTimeout, Err: err}
	default:
		return &Error{Class: Retryable, Reason: ReasonNetwork, Err: err}
	}
}

// breakerOutcome maps an attempt's error to what the breaker is told: a
// retryable failure counts against the endpoint, a permanent status shows
// the endpoint is up, and anything else says nothing about it.
func breakerOutcome(e *Error) error {
	switch {
	case e == nil:
		return nil
	case e.Reason == ReasonContextCanceled || e.Reason == ReasonBadURL || e.Reason == ReasonConfig:
		return errBreakerExcluded
	case e.Class == Retryable:
		return errBreakerFailure
	default:
		return nil
	}
}

// logAttempt logs one attempt at debug level. Only redacted data is logged.
func (s *Sender) logAttempt(o *outgoing, att *Attempt, e *Error) {
	ce := s.log.Check(zap.DebugLevel, "delivery attempt")
	if ce == nil {
		return
	}
	status := 0
	if att.Response != nil {
		status = att.Response.Status
	}
	fields := []zap.Field{
		zap.String("delivery_id", o.id),
		zap.String("url", s.displayURL),
		zap.Int("status", status),
		zap.Duration("duration", att.Duration),
	}
	if o.entries > 0 {
		fields = append(fields, zap.Int("entries", o.entries))
	}
	if e != nil {
		fields = append(fields, zap.Stringer("class", e.Class), zap.Stringer("reason", e.Reason), zap.Error(e))
	}
	ce.Write(fields...)
}
