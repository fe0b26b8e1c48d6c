package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/consumer"
	"github.com/hookrelay/hookrelay/internal/sink"
	"github.com/hookrelay/hookrelay/internal/testutil"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/store"
)

// buildBinary builds hookrelay once for tests that need a real process.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "hookrelay")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback host:port that was free a moment ago.
var freePort = testutil.FreeAddr

// relayProcess is `hookrelay run` as a child process.
type relayProcess struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

func startRelayProcess(tb testing.TB, bin, cfgPath, adminAddr string) *relayProcess {
	tb.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--log-level", "warn", "--shutdown-timeout", "20s")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &relayProcess{cmd: cmd, logs: logs}
	tb.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	checkFor(tb, 30*time.Second, 50*time.Millisecond, func() error {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

func TestRelay_SurvivesSIGKILL(t *testing.T) {
	// Ensure killing the relay with SIGKILL in the middle of a few thousand
	// deliveries loses nothing: after a restart every event is delivered,
	// with few duplicates; and that SIGTERM then exits 0 with every
	// invocation flushed to the store.
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// The endpoint takes 10ms an answer, so the deliveries outlast the
	// publishing and the kill lands in the middle of them.
	ep := newTestEndpoint(t, false, func(*http.Request, int) (int, http.Header) {
		time.Sleep(10 * time.Millisecond)
		return 200, nil
	})
	hook := fmt.Sprintf(`  - name: sink
    url: %s/hook
    body_template: '{"id":"{{data.id}}","type":"{{event_type}}"}'
    concurrency: 32
    timeout: 2s
`, ep.srv.URL)
	crashScenario(t, hook, 3000, ep.count, ep.okKeys)
}

func TestCoralogix_SurvivesSIGKILLMidBatch(t *testing.T) {
	// Ensure killing the relay while batches are in flight loses no event
	// of a native Coralogix webhook.
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	snk, _, _ := newSink(t, func(o *sink.Options) { o.Latency = 50 * time.Millisecond; o.Keep = 0 })
	srv := httptest.NewServer(snk)
	t.Cleanup(srv.Close)
	hook := fmt.Sprintf(`  - name: native
    headers: {Authorization: "Bearer %s"}
    coralogix:
      endpoint: %s
      application_name: apono
      subsystem_name: access-requests
      batch: {max_events: 100, max_bytes: 1500000, max_wait: 20ms}
    concurrency: 4
    timeout: 2s
`, sinkKey, srv.URL)
	entries := func() int { return int(snk.Tally().Entries) }
	unique := func() (int, int) { t := snk.Tally(); return int(t.UniqueEntries), int(t.DuplicateEntries) }
	crashScenario(t, hook, 20000, entries, unique)
}

// crashScenario publishes events to a relay process with one webhook,
// SIGKILLs it once a fifth of them arrived, starts it again, and checks that
// every event arrives, then that SIGTERM exits cleanly with the store
// flushed. delivered counts arrivals; unique counts distinct events and
// repeats.
func crashScenario(t *testing.T, hook string, events int, delivered func() int, unique func() (int, int)) {
	bin := buildBinary(t)
	dir := t.TempDir()
	natsAddr, adminAddr := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`
nats:
  embedded: {listen: %q, store_dir: %q}
store: {path: %q}
admin: {listen: %q}
delivery: {allow_unsafe_urls: true}
webhooks:
%s`, natsAddr, filepath.Join(dir, "nats"), filepath.Join(dir, "hookrelay.db"), adminAddr, hook)
	cfgPath := filepath.Join(dir, "hookrelay.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	p := startRelayProcess(t, bin, cfgPath, adminAddr)
	nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < events; i++ {
		if _, err := js.PublishAsync("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i)); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				t.Fatal("publish timed out")
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publish timed out")
	}
	checkFor(t, 60*time.Second, 5*time.Millisecond, func() error {
		if n := delivered(); n < events/5 {
			return fmt.Errorf("%d delivered", n)
		}
		return nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	atKill := delivered()
	if atKill >= events {
		t.Fatalf("all %d delivered before the kill; the test proves nothing", atKill)
	}

	p = startRelayProcess(t, bin, cfgPath, adminAddr)
	checkFor(t, 90*time.Second, 20*time.Millisecond, func() error {
		if u, _ := unique(); u < events {
			return fmt.Errorf("%d of %d delivered", u, events)
		}
		return nil
	})
	u, dups := unique()
	t.Logf("killed at %d deliveries; after restart %d unique, %d duplicates", atKill, u, dups)
	if u != events {
		t.Fatalf("%d distinct events; want %d", u, events)
	}
	if dups > events/10 {
		t.Errorf("%d duplicates: more than 10%%", dups)
	}

	// Wait for the redeliveries of what was in flight at the kill, so the
	// store holds an invocation for every event.
	checkFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		for _, c := range []struct{ stream, name string }{{"APONO_EVENTS", consumer.DefaultRendererDurable}, {consumer.DefaultDeliveriesStream, ""}} {
			if c.name == "" {
				stream, err := js.Stream(ctx, c.stream)
				if err != nil {
					return err
				}
				for n := range stream.ConsumerNames(ctx).Name() {
					c.name = n
				}
			}
			cons, err := js.Consumer(ctx, c.stream, c.name)
			if err != nil {
				return err
			}
			info, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			if info.NumPending+uint64(info.NumAckPending) != 0 {
				return fmt.Errorf("%s: %d pending, %d in flight", c.name, info.NumPending, info.NumAckPending)
			}
		}
		return nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SIGTERM exit: %v\n%s", err, p.logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("no exit 40s after SIGTERM")
	}
	if s := p.logs.String(); strings.Contains(s, `"level":"error"`) {
		t.Errorf("errors logged:\n%s", s)
	}
	st, err := store.Open(filepath.Join(dir, "hookrelay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	if s := st.Stats(); s.Invocations < int64(events) {
		t.Errorf("%d invocations in the store, want ≥ %d", s.Invocations, events)
	}
}
