package config

import (
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/sender"
)

// Defaults applied to keys that are absent from the file.
const (
	// DefaultEmbeddedListen is the address of the embedded NATS server.
	DefaultEmbeddedListen = "127.0.0.1:4222"
	// DefaultEmbeddedStoreDir is the JetStream store directory of the embedded NATS server.
	DefaultEmbeddedStoreDir = "./data/nats"
	// DefaultStream is the JetStream stream holding the events.
	DefaultStream = "APONO_EVENTS"
	// DefaultSubject is the one subject of the stream when none is configured.
	DefaultSubject = "apono.events.>"
	// DefaultMaxAge is how long the stream keeps events.
	DefaultMaxAge = 168 * time.Hour
	// DefaultMaxEventBytes is the largest event accepted.
	DefaultMaxEventBytes = 1 << 20
	// DefaultStorePath is the bbolt file holding invocations and dead letters.
	DefaultStorePath = "./data/hookrelay.db"
	// DefaultInvocationRetention is how long invocation records are kept.
	DefaultInvocationRetention = 168 * time.Hour
	// DefaultAdminListen is the address of the admin API.
	DefaultAdminListen = "127.0.0.1:8080"
	// DefaultMethod is the HTTP method of a webhook.
	DefaultMethod = sender.DefaultMethod
	// DefaultTimeout is the limit of one HTTP attempt.
	DefaultTimeout = sender.DefaultTimeout
	// DefaultConcurrency is the number of requests a webhook may have in flight.
	DefaultConcurrency = sender.DefaultConcurrency
	// DefaultMaxAttempts is the number of attempts before a delivery is dead-lettered.
	DefaultMaxAttempts = sender.DefaultMaxAttempts
	// DefaultInitialBackoff is the wait before the second attempt.
	DefaultInitialBackoff = sender.DefaultInitialBackoff
	// DefaultMaxBackoff caps the wait between attempts (and Retry-After).
	DefaultMaxBackoff = sender.DefaultMaxBackoff
	// DefaultFailureRatio is the failure ratio that opens a webhook's circuit breaker.
	DefaultFailureRatio = sender.DefaultFailureRatio
	// DefaultMinRequests is the number of requests the breaker needs before it may open.
	DefaultMinRequests = sender.DefaultMinRequests
	// DefaultOpenFor is how long an open breaker stays open.
	DefaultOpenFor = sender.DefaultOpenFor
	// DefaultBatchMaxEvents is the largest number of log entries in one Coralogix request.
	DefaultBatchMaxEvents = 500
	// DefaultBatchMaxBytes is the largest Coralogix request body.
	DefaultBatchMaxBytes = 1_500_000
	// DefaultBatchMaxWait is how long a partial Coralogix batch waits for more entries.
	DefaultBatchMaxWait = time.Second
	// DefaultResolveTimeout bounds the DNS checks of [LoadOptions.ResolveDNS]
	// when the caller's context has no deadline.
	DefaultResolveTimeout = 5 * time.Second
)

// Names the relay reserves for its own JetStream stream of deliveries.
// They duplicate consumer.DefaultDeliveriesStream and
// consumer.DefaultDeliveriesPrefix (package config does not import package
// consumer) and must match them; a test in this package checks that they do.
const (
	// DeliveriesStream is the stream the relay keeps rendered deliveries in;
	// events.stream must not name it.
	DeliveriesStream = "HOOKRELAY_DELIVERIES"
	// DeliveriesPrefix is the subject prefix of DeliveriesStream, whose one
	// subject is DeliveriesPrefix + ".>"; no events subject may overlap it.
	DeliveriesPrefix = "hookrelay.deliveries"
)

// Limits enforced by validation.
const (
	// MaxTimeout is the largest allowed webhook timeout.
	MaxTimeout = 5 * time.Minute
	// MaxConcurrency is the largest allowed webhook concurrency.
	MaxConcurrency = 4096
	// MinEventBytesLimit is the smallest allowed events.max_event_bytes.
	MinEventBytesLimit = 1 << 10
	// MaxEventBytesLimit is the largest allowed events.max_event_bytes.
	MaxEventBytesLimit = 64 << 20
	// MaxBatchBytes is the largest allowed coralogix.batch.max_bytes (Coralogix accepts 2 MB per request).
	MaxBatchBytes = 2_000_000
	// MaxReplicas is the largest allowed nats.replicas, JetStream's own limit.
	MaxReplicas = 5
)

// Config is hookrelay's whole configuration.
type Config struct {
	// NATS says which NATS server to use.
	NATS NATS `yaml:"nats"`
	// Events describes the JetStream stream the events arrive on.
	Events Events `yaml:"events"`
	// Store describes the bbolt file.
	Store Store `yaml:"store"`
	// Admin describes the admin API.
	Admin Admin `yaml:"admin"`
	// Delivery holds settings common to every webhook.
	Delivery Delivery `yaml:"delivery"`
	// Webhooks are the configured webhooks, in file order.
	Webhooks []Webhook `yaml:"webhooks"`
	// Path is the file the config was loaded from (the name given to Parse).
	Path string `yaml:"-"`
}

// NATS says which NATS server to use.
type NATS struct {
	// URL of an external server; empty starts the embedded server.
	URL string `yaml:"url"`
	// Embedded configures the embedded server.
	Embedded Embedded `yaml:"embedded"`
	// Credentials is a .creds file for an external server (optional).
	Credentials string `yaml:"credentials"`
	// TLS holds optional client TLS files for an external server.
	TLS TLS `yaml:"tls"`
	// Replicas is the replica count of the streams hookrelay makes, on a
	// JetStream cluster (1 to 5). Unset (0) makes them with one and leaves
	// the replicas of existing streams alone; set, it also scales the
	// streams hookrelay made before.
	Replicas int `yaml:"replicas"`
}

// TLS holds optional client TLS files for an external NATS server.
type TLS struct {
	// CAFile is a PEM bundle of CAs to trust.
	CAFile string `yaml:"ca_file"`
	// CertFile is the client certificate (requires KeyFile).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the client key (requires CertFile).
	KeyFile string `yaml:"key_file"`
}

// Embedded configures the embedded NATS server.
type Embedded struct {
	// Listen is host:port; port 0 picks a free one.
	Listen string `yaml:"listen"`
	// StoreDir is the JetStream store directory.
	StoreDir string `yaml:"store_dir"`
}

// Events describes the JetStream stream the events arrive on.
type Events struct {
	// Stream is the stream's name; it is created if missing.
	Stream string `yaml:"stream"`
	// Subjects are the stream's subjects.
	Subjects []string `yaml:"subjects"`
	// MaxAge is how long the stream keeps events.
	MaxAge Duration `yaml:"max_age"`
	// MaxEventBytes is the largest accepted event; larger ones are rejected.
	MaxEventBytes int `yaml:"max_event_bytes"`
}

// Store describes the bbolt file.
type Store struct {
	// Path of the bbolt file.
	Path string `yaml:"path"`
	// InvocationRetention is how long invocation records are kept.
	InvocationRetention Duration `yaml:"invocation_retention"`
}

// Admin describes the admin API.
type Admin struct {
	// Listen is host:port.
	Listen string `yaml:"listen"`
	// Token is the bearer token required on /api/*; empty is allowed only on a loopback Listen.
	Token string `yaml:"token"`
}

// Delivery holds settings common to every webhook.
type Delivery struct {
	// AllowUnsafeURLs permits http, custom ports and private addresses (local sinks and tests only).
	AllowUnsafeURLs bool `yaml:"allow_unsafe_urls"`
}

// Webhook is one configured webhook.
type Webhook struct {
	// Name is unique and matches [A-Za-z0-9_-]{1,64}.
	Name string `yaml:"name"`
	// Active is true when the key is absent.
	Active bool `yaml:"active"`
	// Method is one of POST PUT PATCH DELETE GET, upper case.
	Method string `yaml:"method"`
	// URL is the target; it may be empty when Coralogix is set.
	URL string `yaml:"url"`
	// Headers are kept RAW: their ${VAR} references are resolved at send time.
	Headers map[string]string `yaml:"headers" config:"raw"`
	// BodyTemplate is the Handlebars body template.
	BodyTemplate string `yaml:"body_template"`
	// Triggers are canonical trigger names ("RequestCreated", ...); all seven when the key is absent.
	Triggers []string `yaml:"triggers"`
	// Filters maps a filter key to accepted values (AND across keys, OR within one).
	Filters map[string][]string `yaml:"filters"`
	// Timeout limits one HTTP attempt.
	Timeout Duration `yaml:"timeout"`
	// Concurrency is the number of requests in flight; see EffectiveConcurrency.
	Concurrency int `yaml:"concurrency"`
	// Ordered delivers one at a time, in arrival order.
	Ordered bool `yaml:"ordered"`
	// Retry is the retry policy.
	Retry Retry `yaml:"retry"`
	// CircuitBreaker is the breaker policy.
	CircuitBreaker Breaker `yaml:"circuit_breaker"`
	// Coralogix, when set, delivers events as Coralogix log entries.
	Coralogix *Coralogix `yaml:"coralogix"`
	// Line is the line of the webhook's entry in the file, for messages.
	Line int `yaml:"-"`
}

// Retry is a webhook's retry policy.
type Retry struct {
	// MaxAttempts is the number of attempts, at least 1.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff is the wait before the second attempt.
	InitialBackoff Duration `yaml:"initial_backoff"`
	// MaxBackoff caps the wait between attempts.
	MaxBackoff Duration `yaml:"max_backoff"`
}

// Breaker is a webhook's circuit breaker policy.
type Breaker struct {
	// FailureRatio in (0,1] opens the breaker.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is the number of requests before the breaker may open.
	MinRequests uint32 `yaml:"min_requests"`
	// OpenFor is how long the breaker stays open.
	OpenFor Duration `yaml:"open_for"`
}

// Coralogix delivers a webhook's events as Coralogix log entries.
type Coralogix struct {
	// Region is one of CoralogixRegions(); exclusive with Endpoint.
	Region string `yaml:"region"`
	// Endpoint is a base URL such as https://ingress.<domain>; exclusive with Region.
	Endpoint string `yaml:"endpoint"`
	// ApplicationName is the Coralogix applicationName (required).
	ApplicationName string `yaml:"application_name"`
	// SubsystemName is the Coralogix subsystemName (required).
	SubsystemName string `yaml:"subsystem_name"`
	// BodyTemplate optionally renders each log entry's text.
	BodyTemplate string `yaml:"body_template"`
	// Severity maps a canonical trigger name to a severity name (see CoralogixSeverity).
	Severity map[string]string `yaml:"severity"`
	// Batch limits one request.
	Batch Batch `yaml:"batch"`
}

// Batch limits one Coralogix request.
type Batch struct {
	// MaxEvents is the largest number of entries.
	MaxEvents int `yaml:"max_events"`
	// MaxBytes is the largest body, at most MaxBatchBytes.
	MaxBytes int `yaml:"max_bytes"`
	// MaxWait is how long a partial batch waits.
	MaxWait Duration `yaml:"max_wait"`
}

// defaulter is implemented by the types that have non-zero defaults.
type defaulter interface{ setDefaults() }

func (c *Config) setDefaults() {
	c.NATS.Embedded = Embedded{Listen: DefaultEmbeddedListen, StoreDir: DefaultEmbeddedStoreDir}
	c.Events = Events{
		Stream:        DefaultStream,
		Subjects:      []string{DefaultSubject},
		MaxAge:        Duration(DefaultMaxAge),
		MaxEventBytes: DefaultMaxEventBytes,
	}
	c.Store = Store{Path: DefaultStorePath, InvocationRetention: Duration(DefaultInvocationRetention)}
	c.Admin = Admin{Listen: DefaultAdminListen}
}

func (w *Webhook) setDefaults() {
	w.Active = true
	w.Method = DefaultMethod
	w.Timeout = Duration(DefaultTimeout)
	w.Concurrency = DefaultConcurrency
	w.Retry = Retry{
		MaxAttempts:    DefaultMaxAttempts,
		InitialBackoff: Duration(DefaultInitialBackoff),
		MaxBackoff:     Duration(DefaultMaxBackoff),
	}
	w.CircuitBreaker = Breaker{
		FailureRatio: DefaultFailureRatio,
		MinRequests:  DefaultMinRequests,
		OpenFor:      Duration(DefaultOpenFor),
	}
}

func (c *Coralogix) setDefaults() {
	c.Batch = Batch{MaxEvents: DefaultBatchMaxEvents, MaxBytes: DefaultBatchMaxBytes, MaxWait: Duration(DefaultBatchMaxWait)}
}

// Webhook returns the webhook with the given name.
func (c *Config) Webhook(name string) (*Webhook, bool) {
	for i := range c.Webhooks {
		if c.Webhooks[i].Name == name {
			return &c.Webhooks[i], true
		}
	}
	return nil, false
}

// IsJSON reports whether the webhook's body is JSON: its Content-Type header
// (key matched case-insensitively) contains "json", or, when it has no
// Content-Type header, its template starts with '{' or '[' once trimmed.
func (w Webhook) IsJSON() bool {
	for k, v := range w.Headers {
		if strings.EqualFold(k, "Content-Type") {
			return strings.Contains(strings.ToLower(v), "json")
		}
	}
	return looksLikeJSON(w.BodyTemplate)
}

// EffectiveConcurrency is the number of requests the webhook may have in
// flight: 1 when Ordered, Concurrency otherwise.
func (w Webhook) EffectiveConcurrency() int {
	if w.Ordered {
		return 1
	}
	return w.Concurrency
}

// IsJSON reports whether the Coralogix body template renders JSON (it starts
// with '{' or '[' once trimmed), in which case the entry's text is a JSON
// value rather than a string.
func (c Coralogix) IsJSON() bool { return looksLikeJSON(c.BodyTemplate) }

func looksLikeJSON(tpl string) bool { return renderer.IsJSONTemplate(tpl) }
