package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/consumer"
	"github.com/hookrelay/hookrelay/internal/sink"
)

// Defaults of the flags and the environment.
const (
	DefaultEvents      = 100000
	DefaultConcurrency = 64
	DefaultTimeout     = 5 * time.Minute
	// DefaultMaxCeilingN caps the request and message counts of the ceilings.
	DefaultMaxCeilingN = 100000
	// DefaultValidateBudget is the extra sink time per request above which
	// -validate=auto turns full validation off.
	DefaultValidateBudget = 10 * time.Microsecond
	// bodyPool is how many distinct rendered bodies the HTTP ceiling cycles.
	bodyPool = 7000
	// sinkCostN is how many requests time the sink alone, per setting.
	sinkCostN = 5000
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the command line and BENCH_EVENTS.
type options struct {
	relay       string
	mode        string
	events      int
	concurrency int
	timeout     time.Duration
	validate    string
	keep        bool
	rate        int // events/s to publish at; 0 = as fast as possible
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("hookrelay-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.relay, "relay", "bin/hookrelay", "relay binary to run as a subprocess")
	fs.StringVar(&o.mode, "mode", "per-event", "delivery mode: per-event or coralogix-batched")
	fs.IntVar(&o.concurrency, "concurrency", DefaultConcurrency, "webhook concurrency, and the HTTP ceiling's workers")
	fs.DurationVar(&o.timeout, "timeout", DefaultTimeout, "how long to wait for all deliveries")
	fs.StringVar(&o.validate, "validate", "auto", "sink schema validation: on, off, or auto (off when it costs more than 10µs/request)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (config, relay log, data)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.events = DefaultEvents
	if v := os.Getenv("BENCH_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, fmt.Errorf("BENCH_RATE=%q: want a whole number of events/s", v)
		}
		o.rate = n
	}
	if v := os.Getenv("BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("BENCH_EVENTS=%q: want a positive integer", v)
		}
		o.events = n
	}
	if o.concurrency <= 0 {
		return o, fmt.Errorf("-concurrency %d: want > 0", o.concurrency)
	}
	switch o.validate {
	case "on", "off", "auto":
	default:
		return o, fmt.Errorf("-validate %q: want on, off or auto", o.validate)
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "hookrelay-bench:", err)
		return 2
	}
	m, ok := modes()[o.mode]
	if !ok {
		fmt.Fprintf(stderr, "hookrelay-bench: %v: %q\n", ErrUnknownMode, o.mode)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, m: m, out: stdout, log: stderr}
	err = b.run(ctx)
	if b.dir != "" {
		if o.keep || (err != nil && !errors.Is(err, ErrLost)) {
			fmt.Fprintln(stderr, "hookrelay-bench: kept", b.dir)
		} else {
			_ = os.RemoveAll(b.dir)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "hookrelay-bench:", err)
		if errors.Is(err, ErrLost) {
			return 1
		}
		return 2
	}
	return 0
}

// bench is one run.
type bench struct {
	o   options
	m   *mode
	out io.Writer
	log io.Writer
	dir string

	payloads [][]byte
	subjects []string
	bodies   [][]byte
	rec      *recorder
	sink     *sink.Sink
	sinkURL  string
	validate bool
	costOn   time.Duration
	costOff  time.Duration

	res result
}

// result is everything the report prints.
type result struct {
	delivered, lost, duplicates, stray, pubErrors int64
	sinkRejected                                  int64
	duration                                      time.Duration
	perSec                                        float64
	cpu                                           time.Duration
	cpuPerEvent                                   time.Duration
	peakRSS                                       int64
	deliveryMsgs                                  uint64 // messages the deliveries stream stored
	lat                                           latencies
	exitCode                                      int
	stopTook                                      time.Duration
	stopErr                                       error
	pubTook                                       time.Duration
	http, js, hop                                 ceiling
	// load tells how the machine was shared in each phase.
	relayLoad, httpLoad, jsLoad contention
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", a...)
}

func (b *bench) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "hookrelay-bench-")
	if err != nil {
		return err
	}
	b.dir = dir
	if err := b.prepare(); err != nil {
		return err
	}
	srv, err := b.startSink()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(cctx)
	}()
	if err := b.relayPhase(ctx); err != nil {
		return err
	}
	b.ceilings(ctx)
	b.report()
	if b.res.lost > 0 {
		return fmt.Errorf("%w: %d of %d", ErrLost, b.res.lost, b.o.events)
	}
	return nil
}

// prepare builds every event payload and the ceiling's rendered bodies
// before anything is timed, then decides on sink validation.
func (b *bench) prepare() error {
	start := time.Now()
	n := b.o.events
	b.payloads = make([][]byte, n)
	b.subjects = make([]string, n)
	for i := range n {
		p, typ, err := benchEvent(i)
		if err != nil {
			return err
		}
		b.payloads[i], b.subjects[i] = p, eventsSubjectPrefix+typ
	}
	b.bodies = make([][]byte, min(n, bodyPool))
	for i := range b.bodies {
		body, err := b.m.body(b.payloads[i])
		if err != nil {
			return fmt.Errorf("render event %d: %w", i, err)
		}
		b.bodies[i] = body
	}
	var size int
	for _, p := range b.payloads {
		size += len(p)
	}
	b.logf("prepared %d events (avg %d B) and %d bodies (avg %d B) in %s",
		n, size/n, len(b.bodies), avgLen(b.bodies), time.Since(start).Round(time.Millisecond))

	// Time the sink alone, both ways, to keep it from being the bottleneck.
	mk := func(validate bool) *sink.Sink {
		so := sink.DefaultOptions()
		so.APIKey, so.Validate = benchAPIKey, validate
		so.EntryKey = func(e json.RawMessage) string { _, _ = b.m.extract(e); return "" }
		return sink.New(so)
	}
	var rejOn, rejOff int
	b.costOn, rejOn = sinkCost(mk(true), b.m.sinkPath, b.bodies, sinkCostN)
	b.costOff, rejOff = sinkCost(mk(false), b.m.sinkPath, b.bodies, sinkCostN)
	if rejOn+rejOff > 0 {
		return fmt.Errorf("sink rejected rendered bodies (validate on: %d, off: %d of %d)", rejOn, rejOff, sinkCostN)
	}
	switch b.o.validate {
	case "on":
		b.validate = true
	case "off":
		b.validate = false
	default:
		b.validate = b.costOn-b.costOff <= DefaultValidateBudget
	}
	return nil
}

func avgLen(bs [][]byte) int {
	if len(bs) == 0 {
		return 0
	}
	t := 0
	for _, b := range bs {
		t += len(b)
	}
	return t / len(bs)
}

// startSink serves the sink on a free loopback port; every accepted entry
// goes through the mode's extract into the recorder.
func (b *bench) startSink() (*http.Server, error) {
	b.rec = newRecorder(b.o.events, time.Now())
	so := sink.DefaultOptions()
	so.APIKey, so.Validate = benchAPIKey, b.validate
	so.EntryKey = func(e json.RawMessage) string {
		i, ok := b.m.extract(e)
		b.rec.entry(i, ok)
		return ""
	}
	b.sink = sink.New(so)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: b.sink, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.sinkURL = "http://" + ln.Addr().String()
	return srv, nil
}

// relayPhase runs the relay, publishes every event and waits for them.
func (b *bench) relayPhase(ctx context.Context) error {
	cfgPath, natsURL, adminURL, err := writeConfig(b.dir, b.m, b.sinkURL, b.o.concurrency)
	if err != nil {
		return err
	}
	relay, err := startRelay(b.o.relay, cfgPath, b.dir, natsURL, adminURL)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _, _ = relay.stop(30 * time.Second)
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = relay.waitReady(rctx)
	cancel()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, relay.logTail(4096))
	}
	b.logf("relay pid %d ready (nats %s, admin %s, sink %s, validate=%v)", relay.pid(), natsURL, adminURL, b.sinkURL, b.validate)

	nc, err := nats.Connect(natsURL, nats.Name("hookrelay-bench"))
	if err != nil {
		return err
	}
	defer nc.Close()
	var pubErrs atomic.Int64
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(30*time.Second),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, _ error) { pubErrs.Add(1) }))
	if err != nil {
		return err
	}

	ticks := clockTicks()
	cpu0, err := cpuTime(relay.pid(), ticks)
	if err != nil {
		return err
	}
	snap0 := snapCPU(ticks)
	wctx, wcancel := context.WithTimeout(ctx, b.o.timeout)
	defer wcancel()
	b.rec.base = time.Now()
	b.rec.on.Store(true)
	pubDone := make(chan error, 1)
	go func() {
		start := time.Now()
		for i, p := range b.payloads {
			if b.o.rate > 0 {
				// Paced: event i goes out at start + i/rate, so latency
				// measures the relay, not a backlog.
				if d := time.Until(start.Add(time.Duration(float64(i) / float64(b.o.rate) * float64(time.Second)))); d > 0 {
					time.Sleep(d)
				}
			}
			b.rec.published(i)
			if err := publishAsync(wctx, js, b.subjects[i], p); err != nil {
				pubDone <- fmt.Errorf("publish event %d: %w", i, err)
				return
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-wctx.Done():
		}
		b.res.pubTook = time.Since(start)
		pubDone <- nil
	}()

	n := int64(b.o.events)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	lastLog := time.Now()
	var pubErr error
	published := false
wait:
	for b.rec.delivered.Load() < n {
		select {
		case err := <-pubDone:
			published = true
			if err != nil {
				pubErr = err
				break wait
			}
			b.logf("published %d events in %s", n, b.res.pubTook.Round(time.Millisecond))
		case <-wctx.Done():
			break wait
		case <-relay.exited:
			break wait
		case <-t.C:
			if time.Since(lastLog) >= 5*time.Second {
				lastLog = time.Now()
				b.logf("delivered %d/%d", b.rec.delivered.Load(), n)
			}
		}
	}
	end := time.Since(b.rec.base)
	r := &b.res
	if relay.running() {
		cpu1, err := cpuTime(relay.pid(), ticks)
		if err == nil {
			r.cpu = cpu1 - cpu0
		}
		r.relayLoad = between(snap0, snapCPU(ticks), r.cpu)
		r.peakRSS, _ = peakRSS(relay.pid())
	}
	if !published && pubErr == nil {
		select {
		case pubErr = <-pubDone:
		case <-time.After(30 * time.Second):
			wcancel()
			pubErr = <-pubDone
		}
	}
	if st, err := js.Stream(ctx, consumer.DefaultDeliveriesStream); err == nil {
		// Every message the deliveries stream ever stored: with packing,
		// far fewer than the deliveries.
		r.deliveryMsgs = st.CachedInfo().State.LastSeq
	}
	r.delivered = b.rec.delivered.Load()
	r.lost = n - r.delivered
	r.duplicates = b.rec.duplicates.Load()
	r.stray = b.rec.stray.Load()
	r.pubErrors = pubErrs.Load()
	r.sinkRejected = b.sink.Tally().Rejected
	r.lat = b.rec.stats()
	r.duration = end - r.lat.first
	if r.lost == 0 {
		r.duration = r.lat.last - r.lat.first
	}
	if r.duration > 0 {
		r.perSec = float64(r.delivered) / r.duration.Seconds()
	}
	if r.delivered > 0 {
		r.cpuPerEvent = r.cpu / time.Duration(r.delivered)
	}
	wasRunning := relay.running()
	r.exitCode, r.stopTook, r.stopErr = relay.stop(60 * time.Second)
	stopped = true
	if !wasRunning {
		r.stopErr = fmt.Errorf("relay exited during the run: %v\n%s", relay.exitErr, relay.logTail(4096))
	}
	b.rec.on.Store(false)
	if pubErr != nil {
		b.logf("publishing stopped: %v", pubErr)
	}
	return nil
}

// ceilings measures plain HTTP to the sink and JetStream alone, after the
// relay has exited, so each has the machine the relay had.
func (b *bench) ceilings(ctx context.Context) {
	n := min(b.o.events, DefaultMaxCeilingN)
	cctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	b.sink.Reset()
	b.logf("HTTP ceiling: %d requests, %d workers", n, b.o.concurrency)
	ticks := clockTicks()
	s0 := snapCPU(ticks)
	if b.m.batch > 0 {
		batches, err := batchBodies(b.bodies, b.m.batch)
		if err != nil {
			b.res.http = ceiling{n: n, skipped: err.Error()}
		} else {
			conc := max(1, b.o.concurrency/16)
			b.res.http = httpCeiling(cctx, b.sinkURL+b.m.sinkPath, batches, max(1, n/b.m.batch), conc, b.m.batch, true)
		}
	} else {
		b.res.http = httpCeiling(cctx, b.sinkURL+b.m.sinkPath, b.bodies, n, b.o.concurrency, 1, false)
	}
	s1 := snapCPU(ticks)
	b.logf("JetStream ceiling: %d messages", n)
	b.res.js, b.res.hop = jsCeiling(cctx, filepath.Join(b.dir, "js-ceiling"), b.payloads, n, ticks)
	b.res.httpLoad, b.res.jsLoad = between(s0, s1, 0), between(s1, snapCPU(ticks), 0)
}

// report prints the human-readable summary and, last, the RESULT line.
func (b *bench) report() {
	r := &b.res
	w := b.out
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	fmt.Fprintf(w, "\nhookrelay end-to-end benchmark (mode %s)\n", b.m.name)
	fmt.Fprintf(w, "  events            %d published (~%d B each, seven types), webhook concurrency %d\n",
		b.o.events, avgLen(b.payloads), b.o.concurrency)
	fmt.Fprintf(w, "  sink validation   %s (sink alone: %.1f µs/req validating, %.1f µs/req not)\n",
		onOff(b.validate, b.o.validate), us(b.costOn), us(b.costOff))
	fmt.Fprintf(w, "  publish           %s (%.0f events/s), async publish errors %d\n",
		r.pubTook.Round(time.Millisecond), rate(b.o.events, r.pubTook), r.pubErrors)
	fmt.Fprintf(w, "  duration          %s (first publish → last first delivery)\n", r.duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  delivered         %d events, %.0f events/s\n", r.delivered, r.perSec)
	fmt.Fprintf(w, "  relay CPU         %s total, %.1f µs/event (%.2f cores)\n",
		r.cpu.Round(time.Millisecond), us(r.cpuPerEvent), safeDiv(r.cpu.Seconds(), r.duration.Seconds()))
	fmt.Fprintf(w, "  relay peak RSS    %.1f MiB\n", mib(r.peakRSS))
	fmt.Fprintf(w, "  deliveries stream %d messages stored for %d deliveries (%.1f per message)\n",
		r.deliveryMsgs, r.delivered, safeDiv(float64(r.delivered), float64(r.deliveryMsgs)))
	paced := "the whole backlog published at once, so this is mostly queueing; BENCH_RATE=N paces it"
	if b.o.rate > 0 {
		paced = fmt.Sprintf("published at %d events/s", b.o.rate)
	}
	fmt.Fprintf(w, "  latency           p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms (publish → first delivery; %s)\n",
		ms(r.lat.p50), ms(r.lat.p90), ms(r.lat.p99), ms(r.lat.max), paced)
	fmt.Fprintf(w, "  duplicates        %d   lost %d   unmarked entries %d   sink rejections %d\n",
		r.duplicates, r.lost, r.stray, r.sinkRejected)
	stop := fmt.Sprintf("exit code %d after SIGTERM, in %s", r.exitCode, r.stopTook.Round(time.Millisecond))
	if r.stopErr != nil {
		stop += " — " + r.stopErr.Error()
	}
	fmt.Fprintf(w, "  relay shutdown    %s\n", stop)
	fmt.Fprintf(w, "  HTTP ceiling      %s\n", describe(r.http, "req/s", fmt.Sprintf("net/http, %d workers, same bodies, same sink", b.o.concurrency)))
	fmt.Fprintf(w, "  JetStream ceiling %s\n", describe(r.js, "msgs/s", "in-process server, file stream, pull Consume + Ack"))
	hop := describe(r.hop, "msgs/s", "publish while one consumer acks each; no other work")
	if r.hop.skipped == "" && r.hop.cpuPer > 0 {
		hop += fmt.Sprintf("\n                    %.1f µs CPU per message for publisher, server and consumer together (%.2f cores): on %d cores, at most %.0f msgs/s",
			us(r.hop.cpuPer), r.hop.cores, runtime.NumCPU(), safeDiv(float64(runtime.NumCPU()), r.hop.cpuPer.Seconds()))
	}
	fmt.Fprintf(w, "  JetStream hop     %s\n", hop)
	fmt.Fprintf(w, "  machine load      relay phase: relay %.2f cores, %s\n", safeDiv(r.cpu.Seconds(), r.relayLoad.wall.Seconds()), r.relayLoad)
	fmt.Fprintf(w, "                    HTTP ceiling: %s\n", r.httpLoad)
	fmt.Fprintf(w, "                    JetStream ceiling and hop: %s\n", r.jsLoad)
	fmt.Fprintf(w, "  relay = %.2f × HTTP ceiling, %.2f × JetStream ceiling, %.2f × JetStream hop\n",
		safeDiv(r.perSec, r.http.perSec), safeDiv(r.perSec, r.js.perSec), safeDiv(r.perSec, r.hop.perSec))
	fmt.Fprintf(w, "RESULT mode=%s events_per_s=%s cpu_us_per_event=%s peak_rss_mib=%s p99_ms=%s lost=%d http_ceiling_per_s=%s js_ceiling_per_s=%s js_hop_per_s=%s\n",
		b.m.name, num(r.perSec), num(us(r.cpuPerEvent)), num(mib(r.peakRSS)), num(ms(r.lat.p99)), r.lost,
		num(r.http.perSec), num(r.js.perSec), num(r.hop.perSec))
}

func onOff(on bool, setting string) string {
	s := "full (Validate=true)"
	if !on {
		s = "off (Validate=false: JSON syntax, size and auth only)"
	}
	if setting == "auto" {
		s += ", chosen by -validate=auto"
		if !on {
			s += fmt.Sprintf(": full validation cost more than %s/request", DefaultValidateBudget)
		}
	}
	return s
}

func describe(c ceiling, unit, what string) string {
	if c.skipped != "" {
		return "not measured: " + c.skipped
	}
	s := fmt.Sprintf("%.0f %s (%d in %s, %d errors; %s)", c.perSec, unit, c.n, c.took.Round(time.Millisecond), c.errors, what)
	if c.extra != "" {
		s += "; " + c.extra
	}
	return s
}

// num prints an integer, or one decimal below 100.
func num(f float64) string {
	if f < 100 && f != float64(int64(f)) {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatInt(int64(f+0.5), 10)
}

func us(d time.Duration) float64          { return float64(d) / float64(time.Microsecond) }
func mib(b int64) float64                 { return float64(b) / (1 << 20) }
func rate(n int, d time.Duration) float64 { return safeDiv(float64(n), d.Seconds()) }

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
