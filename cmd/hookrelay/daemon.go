package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/hookrelay/hookrelay/consumer"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/sender"
	"github.com/hookrelay/hookrelay/store"
)

// Daemon is the relay with everything it runs on: NATS (embedded or not),
// the store, the pipeline and the admin API. `hookrelay run` is one Daemon;
// tests start them in-process.
type Daemon struct {
	cfg *config.Config
	log *zap.Logger

	ns *server.Server
	nc *nats.Conn
	js jetstream.JetStream
	st *store.Store
	rd *renderer.Renderer
	// fields is what the webhooks read of an event; Route builds only that.
	fields *renderer.Fields
	rel    *consumer.Relay
	reg    *prometheus.Registry

	senders     map[string]*sender.Sender
	testSenders map[string]*sender.Sender
	coralogix   map[string]*renderer.Coralogix // webhooks in native Coralogix mode
	// asPublished names the webhooks without a body template (and not in
	// Coralogix mode): their body is the event as published.
	asPublished map[string]bool

	adminSrv *http.Server
	adminLn  net.Listener
	ready    atomic.Bool
	// apiMu is held shared by every /api call while it runs; Close tries
	// it once ready is false, to wait for the calls already running.
	apiMu   sync.RWMutex
	started time.Time
}

// DaemonOptions tune a Daemon for tests.
type DaemonOptions struct {
	Logger *zap.Logger
	// SenderOptions, when set, adjusts every sender's options (tests use it
	// to trust a test CA).
	SenderOptions func(*sender.Options)
}

// NewDaemon builds the daemon's parts from a validated config without
// starting anything.
func NewDaemon(cfg *config.Config, opts DaemonOptions) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	d := &Daemon{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	rd, err := renderer.New(rendererWebhooks(cfg))
	if err != nil {
		return nil, userError{err}
	}
	d.rd = rd

	if d.coralogix, err = coralogixRenderers(cfg); err != nil {
		return nil, userError{err}
	}
	d.asPublished = map[string]bool{}
	for _, w := range cfg.Webhooks {
		if w.Coralogix == nil && w.BodyTemplate == "" {
			d.asPublished[w.Name] = true
		}
	}
	d.fields = renderer.NewFields()
	d.fields.AddRenderer(rd)
	for _, cx := range d.coralogix {
		d.fields.AddCoralogix(cx)
	}
	d.senders = make(map[string]*sender.Sender, len(cfg.Webhooks))
	d.testSenders = make(map[string]*sender.Sender, len(cfg.Webhooks))
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		so := sender.Options{
			AllowUnsafe: cfg.Delivery.AllowUnsafeURLs,
			UserAgent:   "hookrelay/" + version,
			Logger:      log.With(zap.String("webhook", w.Name)),
		}
		if opts.SenderOptions != nil {
			opts.SenderOptions(&so)
		}
		ep := endpoint(w)
		s, err := sender.New(ep, so)
		if err != nil {
			return nil, userErrorf("webhook %q: %w", w.Name, err)
		}
		d.senders[w.Name] = s
		// The Test button must not be hidden by, nor feed, the live breaker.
		ts, err := sender.New(ep, so)
		if err != nil {
			return nil, userErrorf("webhook %q: %w", w.Name, err)
		}
		d.testSenders[w.Name] = ts
	}
	return d, nil
}

func rendererWebhooks(cfg *config.Config) []renderer.Webhook {
	out := make([]renderer.Webhook, 0, len(cfg.Webhooks))
	for _, w := range cfg.Webhooks {
		rw := renderer.Webhook{
			Name:         w.Name,
			Active:       w.Active,
			Triggers:     triggers(w.Triggers),
			Filters:      w.Filters,
			BodyTemplate: w.BodyTemplate,
			JSON:         w.IsJSON(),
		}
		if w.Coralogix != nil {
			// The body is the log entry, rendered by renderer.Coralogix.
			rw.BodyTemplate, rw.JSON = "", false
		}
		out = append(out, rw)
	}
	return out
}

// coralogixRenderers builds the log-entry renderer of every webhook in
// native Coralogix mode.
func coralogixRenderers(cfg *config.Config) (map[string]*renderer.Coralogix, error) {
	out := map[string]*renderer.Coralogix{}
	host, _ := os.Hostname()
	for _, w := range cfg.Webhooks {
		c := w.Coralogix
		if c == nil {
			continue
		}
		sev := map[renderer.Trigger]int{}
		for t, name := range c.Severity {
			n, ok := config.CoralogixSeverity(name)
			pt, err := renderer.ParseTrigger(t)
			if ok && err == nil {
				sev[pt] = n
			}
		}
		text := c.BodyTemplate
		if text == "" {
			text = w.BodyTemplate
		}
		cx, err := renderer.NewCoralogix(renderer.CoralogixSpec{
			ApplicationName: c.ApplicationName,
			SubsystemName:   c.SubsystemName,
			TextTemplate:    text,
			Severity:        sev,
			ComputerName:    host,
		})
		if err != nil {
			return nil, fmt.Errorf("webhook %q: coralogix: %w", w.Name, err)
		}
		out[w.Name] = cx
	}
	return out, nil
}

// CoralogixSinglesPath is where native Coralogix mode sends its batches.
const CoralogixSinglesPath = "/logs/v1/singles"

func triggers(names []string) []renderer.Trigger {
	out := make([]renderer.Trigger, 0, len(names))
	for _, n := range names {
		if t, err := renderer.ParseTrigger(n); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// contentTypeOf is the Content-Type a webhook's requests carry when its
// headers set none: JSON for a JSON template (and for Coralogix, and for a
// webhook without a template), plain text for any other template.
func contentTypeOf(w *config.Webhook) string {
	if w.Coralogix != nil || w.IsJSON() || w.BodyTemplate == "" {
		return sender.DefaultContentType
	}
	return "text/plain; charset=utf-8"
}

func endpoint(w *config.Webhook) sender.Endpoint {
	url, method := w.URL, w.Method
	if w.Coralogix != nil {
		url, method = w.Coralogix.BaseURL()+CoralogixSinglesPath, "POST"
	}
	return sender.Endpoint{
		Name:        w.Name,
		ContentType: contentTypeOf(w),
		Method:      method,
		URL:         url,
		Headers:     w.Headers,
		Timeout:     time.Duration(w.Timeout),
		Concurrency: w.Concurrency,
		Retry: sender.RetryPolicy{
			MaxAttempts:    w.Retry.MaxAttempts,
			InitialBackoff: time.Duration(w.Retry.InitialBackoff),
			MaxBackoff:     time.Duration(w.Retry.MaxBackoff),
		},
		Breaker: sender.BreakerPolicy{
			FailureRatio: w.CircuitBreaker.FailureRatio,
			MinRequests:  uint32(w.CircuitBreaker.MinRequests),
			OpenFor:      time.Duration(w.CircuitBreaker.OpenFor),
		},
	}
}

// Start brings up NATS, the store, the pipeline and the admin API, in that
// order. On error, whatever started is closed again.
func (d *Daemon) Start(ctx context.Context) (err error) {
	d.started = time.Now()
	defer func() {
		if err != nil {
			_ = d.Close(context.WithoutCancel(ctx))
		}
	}()
	// The admin server comes first: /healthz answers while NATS and the
	// store are still being waited for, /readyz says 503 and /api/* too.
	if err := d.startAdmin(); err != nil {
		return err
	}
	if err := d.startNATS(); err != nil {
		return depError{err}
	}
	st, err := store.Open(d.cfg.Store.Path, store.Options{
		Retention:     time.Duration(d.cfg.Store.InvocationRetention),
		PruneInterval: time.Minute,
		Logger:        d.log.Named("store"),
	})
	if err != nil {
		return depErrorf("store %s: %w", d.cfg.Store.Path, err)
	}
	d.st = st
	st.Start(ctx)

	rel, err := consumer.New(d.js, consumerConfig(d.cfg), d, d.consumerSenders(), st, consumer.Options{
		Logger:     d.log.Named("consumer"),
		Registerer: d.reg,
	})
	if err != nil {
		return err
	}
	d.rel = rel
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rel.Setup(setupCtx); err != nil {
		return depError{err}
	}
	if err := rel.Start(ctx); err != nil {
		return depError{err}
	}
	d.ready.Store(true)
	d.log.Info("hookrelay started", zap.String("version", version), zap.String("nats", redactURL(d.NATSURL())),
		zap.String("admin", d.AdminAddr()), zap.Int("webhooks", len(d.cfg.Webhooks)))
	return nil
}

func (d *Daemon) consumerSenders() map[string]consumer.Sender {
	out := make(map[string]consumer.Sender, len(d.senders))
	for k, v := range d.senders {
		out[k] = v
	}
	return out
}

func consumerConfig(cfg *config.Config) consumer.Config {
	c := consumer.Config{
		EventsStream:   cfg.Events.Stream,
		EventsSubjects: cfg.Events.Subjects,
		EventsMaxAge:   time.Duration(cfg.Events.MaxAge),
		Replicas:       cfg.NATS.Replicas,
	}
	for _, w := range cfg.Webhooks {
		cw := consumer.Webhook{
			Name:        w.Name,
			Concurrency: w.Concurrency,
			Ordered:     w.Ordered,
			Timeout:     time.Duration(w.Timeout),
			MaxAttempts: w.Retry.MaxAttempts,
		}
		if cx := w.Coralogix; cx != nil {
			cw.Batch = &consumer.BatchPolicy{
				MaxEvents: cx.Batch.MaxEvents,
				MaxBytes:  cx.Batch.MaxBytes,
				MaxWait:   time.Duration(cx.Batch.MaxWait),
			}
		}
		c.Webhooks = append(c.Webhooks, cw)
	}
	return c
}

// embeddedMaxPending bounds what the embedded server keeps waiting to be
// written to one client.
const embeddedMaxPending = 256 << 20

// embeddedMaxPayload lets events larger than max_event_bytes reach the relay,
// so they are recorded as rejected rather than refused to the publisher.
func embeddedMaxPayload(maxEvent int) int32 {
	p := 8 << 20
	if 2*maxEvent > p {
		p = 2 * maxEvent
	}
	if p > 64<<20 {
		p = 64 << 20
	}
	return int32(p)
}

func (d *Daemon) startNATS() error {
	url := d.cfg.NATS.URL
	if url == "" {
		host, portStr, err := net.SplitHostPort(d.cfg.NATS.Embedded.Listen)
		if err != nil {
			return fmt.Errorf("nats.embedded.listen %q: %w", d.cfg.NATS.Embedded.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return fmt.Errorf("nats.embedded.listen %q: bad port", d.cfg.NATS.Embedded.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		storeDir, err := filepath.Abs(d.cfg.NATS.Embedded.StoreDir)
		if err != nil {
			return err
		}
		ns, err := server.NewServer(&server.Options{
			ServerName: "hookrelay-embedded",
			Host:       host,
			Port:       port,
			JetStream:  true,
			StoreDir:   storeDir,
			MaxPayload: embeddedMaxPayload(d.cfg.Events.MaxEventBytes),
			// The relay's own connection carries every consumer's pulls; the
			// default 64 MB of data waiting to be written to it is a few
			// pulls of large events, and past it the server drops the
			// connection as a slow consumer.
			MaxPending: embeddedMaxPending,
			NoSigs:     true,
			NoLog:      true,
		})
		if err != nil {
			return fmt.Errorf("embedded nats: %w", err)
		}
		go ns.Start()
		if !ns.ReadyForConnections(15 * time.Second) {
			ns.Shutdown()
			return fmt.Errorf("embedded nats on %s did not start (is the port in use?)", d.cfg.NATS.Embedded.Listen)
		}
		d.ns = ns
		url = ns.ClientURL()
	}
	opts := []nats.Option{
		nats.Name("hookrelay"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectBufSize(64 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				d.log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { d.log.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted())) }),
	}
	opts = append(opts, natsAuthOptions(d.cfg)...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", redactURL(url), err)
	}
	d.nc = nc
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(8192),
		jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return err
	}
	d.js = js
	return nil
}

func natsAuthOptions(cfg *config.Config) []nats.Option {
	var opts []nats.Option
	if cfg.NATS.Credentials != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATS.Credentials))
	}
	if cfg.NATS.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.NATS.TLS.CAFile))
	}
	if cfg.NATS.TLS.CertFile != "" && cfg.NATS.TLS.KeyFile != "" {
		opts = append(opts, nats.ClientCert(cfg.NATS.TLS.CertFile, cfg.NATS.TLS.KeyFile))
	}
	return opts
}

// NATSURL is the URL clients reach the daemon's NATS at.
func (d *Daemon) NATSURL() string {
	if d.ns != nil {
		return d.ns.ClientURL()
	}
	return d.cfg.NATS.URL
}

// AdminAddr is the address the admin API listens on.
func (d *Daemon) AdminAddr() string {
	if d.adminLn == nil {
		return ""
	}
	return d.adminLn.Addr().String()
}

// Close stops fetching, finishes in-flight deliveries within the shutdown
// bound, flushes the store (which sends the acks waiting on it), then closes
// NATS and the admin API. It keeps the first error and releases everything.
func (d *Daemon) Close(ctx context.Context) error {
	// From here /api answers 503. The calls already running get up to 5 s
	// to finish, so that no replay or test runs against parts being
	// closed; TryLock, unlike Lock, does not hold back the new calls that
	// are to be told 503. /healthz, /readyz (503) and /metrics answer until
	// the end.
	d.ready.Store(false)
	for wait := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if d.apiMu.TryLock() {
			d.apiMu.Unlock()
			break
		}
		if time.Now().After(wait) {
			d.log.Warn("admin API calls still running at shutdown")
			break
		}
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if d.rel != nil {
		keep(d.rel.Close(ctx))
	}
	if d.st != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		keep(d.st.Close(cctx))
		cancel()
	}
	if d.nc != nil {
		// Flush the acks sent above before the connection goes.
		_ = d.nc.FlushTimeout(5 * time.Second)
		d.nc.Close()
	}
	for _, s := range d.senders {
		s.Close()
	}
	for _, s := range d.testSenders {
		s.Close()
	}
	if d.ns != nil {
		d.ns.Shutdown()
		d.ns.WaitForShutdown()
	}
	if d.adminSrv != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		keep(d.adminSrv.Shutdown(cctx))
		cancel()
	}
	return first
}
