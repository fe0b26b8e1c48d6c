package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

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
	const events = 3000
	bin := buildBinary(t)
	ep := newTestEndpoint(t, false, nil)
	dir := t.TempDir()
	natsAddr, adminAddr := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`
nats:
  embedded: {listen: %q, store_dir: %q}
store: {path: %q}
admin: {listen: %q}
delivery: {allow_unsafe_urls: true}
webhooks:
  - name: sink
    url: %s/hook
    body_template: '{"id":"{{data.id}}","type":"{{event_type}}"}'
    concurrency: 32
`, natsAddr, filepath.Join(dir, "nats"), filepath.Join(dir, "hookrelay.db"), adminAddr, ep.srv.URL)
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
	var futures []jetstream.PubAckFuture
	for i := 0; i < events; i++ {
		f, err := js.PublishAsync("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("publish timed out")
		}
	}
	checkFor(t, 60*time.Second, 5*time.Millisecond, func() error {
		if n := ep.count(); n < events/5 {
			return fmt.Errorf("%d delivered", n)
		}
		return nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	atKill := ep.count()
	if atKill >= events {
		t.Fatalf("all %d delivered before the kill; the test proves nothing", atKill)
	}

	p = startRelayProcess(t, bin, cfgPath, adminAddr)
	checkFor(t, 90*time.Second, 20*time.Millisecond, func() error {
		if u, _ := ep.okKeys(); u < events {
			return fmt.Errorf("%d of %d delivered", u, events)
		}
		return nil
	})
	ids := map[string]bool{}
	for _, r := range ep.requests() {
		var b struct{ ID string }
		_ = json.Unmarshal(r.Body, &b)
		ids[b.ID] = true
	}
	unique, dups := ep.okKeys()
	t.Logf("killed at %d deliveries; after restart %d unique, %d duplicates", atKill, unique, dups)
	if len(ids) != events || unique != events {
		t.Fatalf("%d distinct events, %d distinct keys; want %d", len(ids), unique, events)
	}
	if dups > events/10 {
		t.Errorf("%d duplicates: more than 10%%", dups)
	}

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
	invs, err := st.ListInvocations(store.InvocationFilter{Webhook: "sink", Outcome: store.OutcomeDelivered, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1000 {
		t.Errorf("%d delivered invocations listed, want the limit 1000", len(invs))
	}
	if s := st.Stats(); s.Invocations < events {
		t.Errorf("%d invocations in the store, want ≥ %d", s.Invocations, events)
	}
}
