package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"

	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/sender"
)

var (
	webhookNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	methods       = []string{"POST", "PUT", "PATCH", "DELETE", "GET"}
)

// validator runs the checks that need the whole decoded config.
type validator struct {
	*decoder
	cfg  *Config
	opts LoadOptions
}

// fail records a problem located by path.
func (v *validator) fail(path string, class error, format string, args ...any) {
	v.errorf(path, nil, class, format, args...)
}

func (v *validator) validate(ctx context.Context) {
	c := v.cfg
	v.validateNATS(&c.NATS)
	v.validateEvents(&c.Events)
	v.durationPositive("store.invocation_retention", c.Store.InvocationRetention)
	if strings.TrimSpace(c.Store.Path) == "" {
		v.fail("store.path", ErrRequired, "must not be empty")
	}
	v.validateAdmin(&c.Admin)

	names := map[string]int{}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		p := index("webhooks", i)
		if first, dup := names[w.Name]; dup && w.Name != "" {
			v.fail(p+".name", ErrDuplicateName, "duplicate webhook name %q (first used by webhooks[%d] on line %d)", w.Name, first, c.Webhooks[first].Line)
		} else {
			names[w.Name] = i
		}
		v.validateWebhook(ctx, w, p)
	}
}

func (v *validator) validateNATS(n *NATS) {
	if n.URL != "" {
		for part := range strings.SplitSeq(n.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(part))
			if err != nil || u.Host == "" {
				v.fail("nats.url", ErrInvalidValue, "not a NATS URL (want e.g. nats://host:4222)")
				break
			}
			switch strings.ToLower(u.Scheme) {
			case "nats", "tls", "ws", "wss":
			default:
				v.fail("nats.url", ErrInvalidValue, "scheme %q is not one of nats, tls, ws, wss", u.Scheme)
			}
		}
	}
	if n.URL == "" {
		v.hostPort("nats.embedded.listen", n.Embedded.Listen)
		if strings.TrimSpace(n.Embedded.StoreDir) == "" {
			v.fail("nats.embedded.store_dir", ErrRequired, "must not be empty")
		}
	}
	switch {
	case n.Replicas < 0 || n.Replicas > MaxReplicas:
		v.fail("nats.replicas", ErrInvalidValue, "%d is not between 1 and %d (leave it unset for streams of one replica)", n.Replicas, MaxReplicas)
	case n.Replicas > 1 && n.URL == "":
		v.fail("nats.replicas", ErrInvalidValue, "%d replicas need a JetStream cluster (nats.url); the embedded server is one server", n.Replicas)
	}
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		v.fail("nats.tls", ErrInvalidValue, "cert_file and key_file must be given together")
	}
	if !v.opts.Client {
		v.readableFile("nats.credentials", n.Credentials)
		v.readableFile("nats.tls.ca_file", n.TLS.CAFile)
		v.readableFile("nats.tls.cert_file", n.TLS.CertFile)
		v.readableFile("nats.tls.key_file", n.TLS.KeyFile)
	}
}

// readableFile checks that the file name (if set) is a file that can be
// opened for reading. The NATS client reads these files only when it
// connects, where a missing one would stop "run" instead of failing validate.
func (v *validator) readableFile(path, name string) {
	if name == "" {
		return
	}
	f, err := os.Open(name)
	if err == nil {
		var fi os.FileInfo
		fi, err = f.Stat()
		f.Close()
		if err == nil && fi.IsDir() {
			err = &fs.PathError{Op: "open", Path: name, Err: errIsDir}
		}
	}
	if err != nil {
		cause := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		v.fail(path, joinClass(ErrInvalidValue, err), "cannot read %q: %v", name, cause)
	}
}

var errIsDir = errors.New("is a directory")

func (v *validator) validateEvents(e *Events) {
	if err := checkStreamName(e.Stream); err != nil {
		v.fail("events.stream", ErrInvalidValue, "%v", err)
	} else if e.Stream == DeliveriesStream {
		v.fail("events.stream", ErrInvalidValue, "stream name %q is reserved for the relay's own deliveries stream", e.Stream)
	}
	if len(e.Subjects) == 0 {
		v.fail("events.subjects", ErrRequired, "at least one subject is required")
	}
	deliveries := DeliveriesPrefix + ".>"
	for i, s := range e.Subjects {
		p := index("events.subjects", i)
		if err := checkSubject(s); err != nil {
			v.fail(p, ErrInvalidValue, "%v", err)
			continue
		}
		if subjectsOverlap(s, deliveries) {
			v.fail(p, ErrInvalidValue, "subject %q overlaps %q, the subjects of the relay's own %s stream", s, deliveries, DeliveriesStream)
			continue
		}
		// JetStream refuses a stream whose subjects overlap each other.
		for j, t := range e.Subjects[:i] {
			if checkSubject(t) == nil && subjectsOverlap(s, t) {
				v.fail(p, ErrInvalidValue, "subject %q overlaps events.subjects[%d] %q", s, j, t)
				break
			}
		}
	}
	v.durationPositive("events.max_age", e.MaxAge)
	if e.MaxEventBytes < MinEventBytesLimit || e.MaxEventBytes > MaxEventBytesLimit {
		v.fail("events.max_event_bytes", ErrInvalidValue, "%d is out of range: must be between %d (1 KiB) and %d (64 MiB)", e.MaxEventBytes, MinEventBytesLimit, MaxEventBytesLimit)
	}
}

func (v *validator) validateAdmin(a *Admin) {
	host, ok := v.hostPort("admin.listen", a.Listen)
	if ok && a.Token == "" && !isLoopbackHost(host) {
		fe := FieldError{Path: "admin.token", Err: ErrRequired,
			Msg: fmt.Sprintf("an admin token is required when admin.listen (%s) is not a loopback address", a.Listen)}
		at := "admin.token"
		if _, set := v.nodes[at]; !set {
			at = "admin.listen" // point at the cause when the key is absent
		}
		fe.Line, fe.Col = v.pos(at)
		v.addError(fe)
	}
}

// hostPort checks a host:port listen address and returns its host.
func (v *validator) hostPort(path, addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(path, ErrInvalidValue, "%q is not host:port", addr)
		return "", false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.fail(path, ErrInvalidValue, "invalid port %q", port)
		return "", false
	}
	return host, true
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (v *validator) durationPositive(path string, d Duration) bool {
	if d <= 0 {
		v.fail(path, ErrInvalidValue, "must be a positive duration, got %s", d)
		return false
	}
	return true
}

func (v *validator) validateWebhook(ctx context.Context, w *Webhook, p string) {
	allowUnsafe := v.cfg.Delivery.AllowUnsafeURLs
	switch {
	case w.Name == "":
		v.fail(p+".name", ErrRequired, "a webhook name is required")
	case !webhookNameRE.MatchString(w.Name):
		v.fail(p+".name", ErrInvalidValue, "name %q must match [A-Za-z0-9_-]{1,64}", w.Name)
	}

	m := strings.ToUpper(strings.TrimSpace(w.Method))
	if slices.Contains(methods, m) {
		w.Method = m
	} else {
		v.fail(p+".method", ErrInvalidValue, "method %q is not one of %s", w.Method, strings.Join(methods, " "))
	}

	switch {
	case w.URL == "" && w.Coralogix == nil:
		v.fail(p+".url", ErrRequired, "a url is required (or a coralogix block)")
	case w.URL != "":
		v.checkURL(ctx, p+".url", w.URL, allowUnsafe)
	}

	v.validateHeaders(w, p)
	v.validateTriggers(w, p)
	v.validateFilters(w, p)

	if w.Timeout <= 0 || w.Timeout.Std() > MaxTimeout {
		v.fail(p+".timeout", ErrInvalidValue, "must be a positive duration of at most %s, got %s", Duration(MaxTimeout), w.Timeout)
	}
	if w.Concurrency < 1 || w.Concurrency > MaxConcurrency {
		v.fail(p+".concurrency", ErrInvalidValue, "%d is out of range: must be between 1 and %d", w.Concurrency, MaxConcurrency)
	}

	if w.Retry.MaxAttempts < 1 {
		v.fail(p+".retry.max_attempts", ErrInvalidValue, "must be at least 1, got %d", w.Retry.MaxAttempts)
	}
	okInit := v.durationPositive(p+".retry.initial_backoff", w.Retry.InitialBackoff)
	okMax := v.durationPositive(p+".retry.max_backoff", w.Retry.MaxBackoff)
	if okInit && okMax && w.Retry.InitialBackoff > w.Retry.MaxBackoff {
		v.fail(p+".retry.initial_backoff", ErrInvalidValue, "initial_backoff %s is greater than max_backoff %s", w.Retry.InitialBackoff, w.Retry.MaxBackoff)
	}

	if r := w.CircuitBreaker.FailureRatio; r <= 0 || r > 1 {
		v.fail(p+".circuit_breaker.failure_ratio", ErrInvalidValue, "must be in (0, 1], got %v", r)
	}
	if w.CircuitBreaker.MinRequests < 1 {
		v.fail(p+".circuit_breaker.min_requests", ErrInvalidValue, "must be at least 1")
	}
	v.durationPositive(p+".circuit_breaker.open_for", w.CircuitBreaker.OpenFor)

	v.compile(p+".body_template", w.BodyTemplate, w.IsJSON())

	if w.Coralogix != nil {
		v.validateCoralogix(ctx, w.Coralogix, p+".coralogix", allowUnsafe)
		authKey := ""
		for k := range w.Headers {
			if strings.EqualFold(k, "Authorization") {
				authKey = k
			}
		}
		switch {
		case w.Coralogix.Region == "":
			// An explicit endpoint may be a proxy that adds the key itself.
		case authKey == "":
			// Coralogix would answer every request 401, and every event
			// would be dead-lettered.
			v.fail(p+".headers", ErrRequired, "Coralogix (region %s) needs an Authorization header: Bearer <Send-Your-Data API key>", w.Coralogix.Region)
		case !v.opts.Client:
			// A key from a variable that is unset or empty, with an empty
			// default, leaves the header without one: the same 401s.
			val, err := expandEnv(w.Headers[authKey], v.getenv)
			words := strings.Fields(val)
			if len(words) > 0 && strings.EqualFold(words[0], "Bearer") {
				words = words[1:]
			}
			// An unset variable behind it is reported already, and says why.
			if hp := p + ".headers." + authKey; err == nil && len(words) == 0 && !v.reported(hp) {
				v.fail(hp, ErrRequired, "Authorization resolves to no API key (is its variable set?): Coralogix (region %s) would refuse every request", w.Coralogix.Region)
			}
		}
	}
}

// reported reports whether a problem at path was recorded already.
func (v *validator) reported(path string) bool {
	return slices.ContainsFunc(v.errs, func(fe FieldError) bool { return fe.Path == path })
}

// checkURL applies sender's static policy and, if asked, the DNS check.
func (v *validator) checkURL(ctx context.Context, path, raw string, allowUnsafe bool) {
	if err := sender.CheckURL(raw, allowUnsafe); err != nil {
		v.fail(path, joinClass(ErrURL, err), "%v", err)
		return
	}
	if !v.opts.ResolveDNS || allowUnsafe {
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultResolveTimeout)
		defer cancel()
	}
	if err := sender.ResolveCheck(ctx, u.Hostname(), v.opts.Resolver); err != nil {
		v.fail(path, joinClass(ErrURL, err), "%v", err)
	}
}

func (v *validator) validateHeaders(w *Webhook, p string) {
	keys := make([]string, 0, len(w.Headers))
	for k := range w.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := map[string]string{}
	for _, k := range keys {
		hp := p + ".headers." + k
		if !validHeaderName(k) {
			v.fail(hp, ErrInvalidValue, "%q is not a valid HTTP header name", k)
		}
		if first, dup := seen[strings.ToLower(k)]; dup {
			v.fail(hp, ErrDuplicateKey, "header %q is also given as %q", k, first)
		}
		seen[strings.ToLower(k)] = k
		raw := w.Headers[k]
		if !sender.ValidHeaderValue(raw) {
			v.fail(hp, ErrInvalidValue, "header value contains a line break or another control character")
		}
		// A malformed reference does not hide the problems of the others.
		refs, err := envRefs(raw)
		if err != nil {
			v.fail(hp, ErrEnv, "%s", strings.TrimPrefix(err.Error(), ErrEnv.Error()+": "))
		}
		if v.opts.Client {
			continue
		}
		for _, r := range refs {
			val, ok := v.getenv(r.Name)
			fe := FieldError{Path: hp}
			switch {
			case r.HasDefault && (!ok || val == ""):
				continue // the default is part of raw, checked above
			case !ok:
				fe.Err, fe.Msg = ErrEnv, fmt.Sprintf("environment variable %s is not set", r.Name)
			case !sender.ValidHeaderValue(val):
				fe.Err, fe.Msg = ErrInvalidValue, fmt.Sprintf("environment variable %s holds a line break or another control character", r.Name)
			default:
				continue
			}
			// The line alone locates a value-level problem; the value
			// itself is never printed.
			fe.Line, _ = v.pos(hp)
			v.addError(fe)
		}
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > unicode.MaxASCII || c <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}\x7f", c) {
			return false
		}
	}
	return true
}

func (v *validator) validateTriggers(w *Webhook, p string) {
	if w.Triggers == nil { // absent or null: every trigger
		for _, t := range renderer.Triggers() {
			w.Triggers = append(w.Triggers, string(t))
		}
		return
	}
	if len(w.Triggers) == 0 {
		v.fail(p+".triggers", ErrRequired, "at least one trigger is required (omit the key for all triggers)")
		return
	}
	for i, s := range w.Triggers {
		t, err := renderer.ParseTrigger(strings.TrimSpace(s))
		if err != nil {
			v.fail(index(p+".triggers", i), joinClass(ErrInvalidValue, err), "%v", err)
			continue
		}
		w.Triggers[i] = string(t)
	}
}

func (v *validator) validateFilters(w *Webhook, p string) {
	valid := renderer.ValidFilterKeys()
	keys := make([]string, 0, len(w.Filters))
	for k := range w.Filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(valid, k) {
			v.fail(p+".filters."+k, ErrUnknownKey, "unknown filter key %q (valid: %s)", k, strings.Join(valid, ", "))
		}
	}
}

// compile compiles a template and reports its error at the file position.
func (v *validator) compile(path, tpl string, isJSON bool) {
	if tpl == "" {
		return
	}
	_, err := renderer.CompileTemplate(tpl, isJSON)
	if err == nil {
		return
	}
	fe := FieldError{Path: path, Err: joinClass(ErrTemplate, err)}
	fe.Line, fe.Col = v.pos(path)
	cause := err
	var te *renderer.TemplateError
	if errors.As(err, &te) {
		if te.Err != nil {
			cause = te.Err
		}
		if te.Line > 0 {
			fe.Line, fe.Col = v.templatePos(path, te.Line, te.Col)
			fe.Msg = fmt.Sprintf("template line %d: %v", te.Line, cause)
		}
	}
	if fe.Msg == "" {
		fe.Msg = fmt.Sprintf("template does not compile: %v", cause)
	}
	v.addError(fe)
}

// templatePos maps a position inside a template scalar to the file.
func (v *validator) templatePos(path string, line, col int) (int, int) {
	r, ok := v.nodes[path]
	if !ok || r.val == nil {
		return v.pos(path)
	}
	n := r.val
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		// The text starts on the line after the "|" indicator.
		// The block's indentation is that of its first non-blank line.
		fl := n.Line + line
		if col > 0 {
			for i := n.Line; i < len(v.lines); i++ { // v.lines[i] is file line i+1
				if src := strings.TrimRight(string(v.lines[i]), " \r"); src != "" {
					col += len(src) - len(strings.TrimLeft(src, " "))
					break
				}
			}
		}
		return fl, col
	}
	if line == 1 && col > 0 {
		col += n.Column - 1
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			col++
		}
		return n.Line, col
	}
	return n.Line + line - 1, 0
}

// coralogixSeverities are the severity names, in Coralogix order (1..6).
var coralogixSeverities = []string{"debug", "verbose", "info", "warning", "error", "critical"}

// coralogixAPIPaths are the paths of Coralogix's log APIs; an endpoint
// ending in one was pasted whole where its base URL belongs.
var coralogixAPIPaths = [...]string{"/logs/v1/singles", "/logs/v1/bulk", "/api/v1/logs"}

func (v *validator) validateCoralogix(ctx context.Context, c *Coralogix, p string, allowUnsafe bool) {
	switch {
	case c.Region == "" && c.Endpoint == "":
		v.fail(p, ErrRequired, "one of region or endpoint is required")
	case c.Region != "" && c.Endpoint != "":
		v.fail(p+".endpoint", ErrInvalidValue, "give region or endpoint, not both")
	case c.Region != "":
		c.Region = strings.ToLower(strings.TrimSpace(c.Region))
		if _, ok := CoralogixIngressHost(c.Region); !ok {
			v.fail(p+".region", ErrInvalidValue, "unknown region %q (valid: %s)", c.Region, strings.Join(CoralogixRegions(), ", "))
		}
	default:
		v.checkURL(ctx, p+".endpoint", c.Endpoint, allowUnsafe)
		if u, err := url.Parse(c.Endpoint); err == nil {
			path := strings.TrimRight(u.Path, "/")
			for _, api := range coralogixAPIPaths {
				if strings.HasSuffix(path, api) {
					v.fail(p+".endpoint", ErrInvalidValue, "give the ingress base URL without %s (the relay adds /logs/v1/singles), e.g. %s", api, strings.TrimSuffix(strings.TrimRight(c.Endpoint, "/"), api))
					break
				}
			}
		}
	}
	// Both names are Handlebars templates (plain text), like the body.
	if strings.TrimSpace(c.ApplicationName) == "" {
		v.fail(p+".application_name", ErrRequired, "application_name is required")
	} else {
		v.compile(p+".application_name", c.ApplicationName, false)
	}
	if strings.TrimSpace(c.SubsystemName) == "" {
		v.fail(p+".subsystem_name", ErrRequired, "subsystem_name is required")
	} else {
		v.compile(p+".subsystem_name", c.SubsystemName, false)
	}
	if c.Batch.MaxEvents < 1 {
		v.fail(p+".batch.max_events", ErrInvalidValue, "must be at least 1, got %d", c.Batch.MaxEvents)
	}
	if c.Batch.MaxBytes < 1 || c.Batch.MaxBytes > MaxBatchBytes {
		v.fail(p+".batch.max_bytes", ErrInvalidValue, "%d is out of range: must be between 1 and %d", c.Batch.MaxBytes, MaxBatchBytes)
	}
	v.durationPositive(p+".batch.max_wait", c.Batch.MaxWait)

	keys := make([]string, 0, len(c.Severity))
	for k := range c.Severity {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	norm := make(map[string]string, len(c.Severity))
	for _, k := range keys {
		sp := p + ".severity." + k
		t, err := renderer.ParseTrigger(k)
		if err != nil {
			v.fail(sp, joinClass(ErrInvalidValue, err), "%v", err)
			continue
		}
		s := strings.ToLower(strings.TrimSpace(c.Severity[k]))
		if _, ok := CoralogixSeverity(s); !ok {
			v.fail(sp, ErrInvalidValue, "unknown severity %q (valid: %s)", c.Severity[k], strings.Join(coralogixSeverities, ", "))
			continue
		}
		norm[string(t)] = s
	}
	if c.Severity != nil {
		c.Severity = norm
	}
	v.compile(p+".body_template", c.BodyTemplate, c.IsJSON())
}

// checkStreamName applies JetStream's stream name rules.
func checkStreamName(s string) error {
	switch {
	case s == "":
		return errors.New("a stream name is required")
	case len(s) > 255:
		return errors.New("stream name is longer than 255 bytes")
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(".*>/\\", c) || !unicode.IsPrint(c) {
			return fmt.Errorf("stream name %q must not contain whitespace, '.', '*', '>', '/', '\\' or control characters", s)
		}
	}
	return nil
}

// checkSubject applies NATS subject rules (wildcards allowed).
func checkSubject(s string) error {
	if s == "" {
		return errors.New("empty subject")
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("subject %q has an empty token", s)
		case strings.ContainsFunc(t, unicode.IsSpace):
			return fmt.Errorf("subject %q contains whitespace", s)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("subject %q: '>' must be the last token", s)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("subject %q: wildcards must be whole tokens", s)
		}
	}
	return nil
}

// subjectsOverlap reports whether some literal subject matches both a and b
// under NATS wildcard rules: "*" matches exactly one token and ">" one or
// more trailing tokens.
func subjectsOverlap(a, b string) bool { return server.SubjectsCollide(a, b) }
