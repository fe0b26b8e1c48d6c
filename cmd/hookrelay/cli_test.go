package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/store"
)

// cli runs the command line in-process and returns its exit code and output.
func cli(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// clientConfig writes a config that points the client commands at td.
func clientConfig(t *testing.T, td *testDaemon) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "client.yaml")
	cfg := fmt.Sprintf("nats:\n  url: %s\nadmin:\n  listen: %s\n  token: %s\n", td.NATSURL(), td.AdminAddr(), td.env["HOOKRELAY_ADMIN_TOKEN"])
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLI_PublishInvocationsAndDLQ(t *testing.T) {
	// Ensure the client commands work against a running daemon: publish
	// puts events on NATS, invocations lists them (table and --json), a 400
	// lands in the dead letters, and `dlq replay` delivers it again with the
	// same Idempotency-Key and removes it.
	fail := true
	ep := newTestEndpoint(t, false, func(r *http.Request, n int) (int, http.Header) {
		if fail {
			return 400, nil
		}
		return 200, nil
	})
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	cfg := clientConfig(t, td)

	if code, out, errOut := cli("publish", "--config", cfg, "--sample", "RequestCreated", "--count", "2"); code != 0 || !strings.Contains(out, "published 2 event(s) to apono.events.RequestCreated") {
		t.Fatalf("publish: %d %q %q", code, out, errOut)
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		code, out, _ := cli("dlq", "list", "--config", cfg, "--json")
		if code != 0 || strings.Count(out, "\n") != 2 {
			return fmt.Errorf("dlq list: %d %q", code, out)
		}
		return nil
	})
	code, out, _ := cli("invocations", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("invocations: %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("invocations --json: %d lines: %q", len(lines), out)
	}
	var inv store.Invocation
	if err := json.Unmarshal([]byte(lines[0]), &inv); err != nil || inv.Outcome != store.OutcomeDeadLettered || inv.Response.Status != 400 {
		t.Errorf("invocation %+v (%v)", inv, err)
	}
	if code, out, _ := cli("invocations", "--config", cfg); code != 0 || !strings.Contains(out, "OUTCOME") || !strings.Contains(out, "dead_lettered") {
		t.Errorf("invocations table: %d %q", code, out)
	}

	ep.mu.Lock()
	fail = false
	ep.mu.Unlock()
	if code, out, errOut := cli("dlq", "replay", "--all", "--config", cfg); code != 0 || !strings.Contains(out, "replayed 2 dead letter(s)") {
		t.Fatalf("dlq replay: %d %q %q", code, out, errOut)
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if u, _ := ep.okKeys(); u != 2 {
			return fmt.Errorf("%d replays delivered", u)
		}
		return nil
	})
	first := map[string]bool{}
	for _, r := range ep.requests() {
		if r.Status == 400 {
			first[r.Header.Get("Idempotency-Key")] = true
		} else if !first[r.Header.Get("Idempotency-Key")] {
			t.Errorf("replay carried a new Idempotency-Key %q", r.Header.Get("Idempotency-Key"))
		}
	}
	if code, out, _ := cli("dlq", "list", "--config", cfg, "--json"); code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("dead letters left after replay: %q", out)
	}
}

func TestCLI_ErrorsAndExitCodes(t *testing.T) {
	// Ensure user errors exit 1 with a message that says what, and an
	// unreachable daemon exits 2.
	dir := t.TempDir()
	unreachable := filepath.Join(dir, "down.yaml")
	if err := os.WriteFile(unreachable, []byte("admin:\n  listen: "+freePort(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		given    []string
		wantCode int
		wantErr  string
	}{
		{"no config", []string{"invocations"}, 1, "--config is required"},
		{"missing file", []string{"validate", "--config", filepath.Join(dir, "nope.yaml")}, 1, "nope.yaml"},
		{"bad sample", []string{"publish", "--config", unreachable, "--sample", "RequestExploded"}, 1, "RequestExploded"},
		{"daemon down", []string{"invocations", "--config", unreachable}, 2, "daemon not reachable"},
		{"dlq needs a target", []string{"dlq", "replay", "--config", unreachable}, 1, "exactly one of ID, --webhook NAME or --all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cli(tt.given...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d %q, want %d and %q", code, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestCLI_SchemaAndTest(t *testing.T) {
	// Ensure `schema` prints the JSON Schema and `test` prints the
	// invocation data of a mock event sent now.
	code, out, _ := cli("schema")
	var schema map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &schema) != nil || schema["$schema"] == nil {
		t.Fatalf("schema: %d %.200q", code, out)
	}
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"t":"{{event_type}}"}`, "    triggers: [RequestApproved]\n"), nil, nil)
	cfg := clientConfig(t, td)
	code, out, errOut := cli("test", "--config", cfg, "hook")
	if code != 0 || !strings.HasPrefix(out, "Test successful") || !strings.Contains(out, "Response\n  200") || !strings.Contains(out, `"t": "RequestApproved"`) {
		t.Fatalf("test: %d %q %q", code, out, errOut)
	}
	// The endpoint returns the invocation data itself, with success and
	// message beside it; `test --json` prints the same document.
	var res struct {
		store.Invocation
		Success bool
		Message string
	}
	td.apiJSON("POST", "/api/v1/webhooks/hook/test", nil, &res)
	if !res.Success || res.ID == "" || res.Webhook != "hook" || res.Response == nil || res.Response.Status != 200 ||
		res.Request.Method != "POST" || !strings.Contains(res.Request.Body, "RequestApproved") {
		t.Errorf("POST /test: %+v", res)
	}
	code, out, _ = cli("test", "--config", cfg, "--json", "hook")
	var line map[string]any
	if err := json.Unmarshal([]byte(out), &line); code != 0 || err != nil || line["request"] == nil || line["response"] == nil || line["success"] != true {
		t.Errorf("test --json: %d %v %.300q", code, err, out)
	}
	if code, _, errOut := cli("test", "--config", cfg, "nope"); code != 1 || !strings.Contains(errOut, `no webhook named "nope"`) {
		t.Errorf("test of an unknown webhook: %d %q", code, errOut)
	}
}

func TestCLI_Invoke(t *testing.T) {
	// Ensure `invoke` sends one access request to one webhook only, as a
	// Manual event through the pipeline, and is refused for a webhook
	// without the Manual trigger.
	ep := newTestEndpoint(t, false, nil)
	tpl := `{"type":"{{event_type}}","id":"{{data.id}}"}`
	td := startDaemon(t, "", hookYAML("manual", ep.srv.URL+"/manual", tpl, "")+
		hookYAML("other", ep.srv.URL+"/other", tpl, "")+
		hookYAML("no-manual", ep.srv.URL+"/no-manual", tpl, "    triggers: [RequestCreated]\n"), nil, nil)
	cfg := clientConfig(t, td)
	data := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(data, []byte(`{"id":"req-42","friendly_id":"APONO-42","requester":{"email":"ada@example.com"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli("invoke", "--config", cfg, "manual", "--file", data); code != 0 {
		t.Fatalf("invoke: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli("invoke", "--config", cfg, "no-manual", "--file", data); code != 1 || !strings.Contains(errOut, "Manual trigger") {
		t.Errorf("invoke without the Manual trigger: %d %q", code, errOut)
	}
	ep.waitCount(t, 1, 20*time.Second)
	td.drained(10 * time.Second)
	reqs := ep.requests()
	if len(reqs) != 1 || reqs[0].Path != "/manual" || strings.TrimSpace(string(reqs[0].Body)) != `{"type":"Manual","id":"req-42"}` {
		t.Fatalf("deliveries: %d, first %s %s", len(reqs), reqs[0].Path, reqs[0].Body)
	}
}

func TestCLI_PublishToEmbeddedOnPortZero(t *testing.T) {
	// Ensure publish reaches an embedded NATS server that picked its own
	// port (listen port 0), by asking the daemon where it is, and that the
	// daemon being down is a dependency failure (exit 2).
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	p := filepath.Join(t.TempDir(), "client.yaml")
	cfg := fmt.Sprintf("nats:\n  embedded:\n    listen: 127.0.0.1:0\nadmin:\n  listen: %s\n  token: %s\n", td.AdminAddr(), td.env["HOOKRELAY_ADMIN_TOKEN"])
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var in daemonInfo
	td.apiJSON("GET", "/api/v1/info", nil, &in)
	if in.NATS.URL != td.NATSURL() || !in.NATS.Embedded || in.Events.Stream == "" || len(in.Events.Subjects) == 0 {
		t.Errorf("info: %+v, want NATS at %s", in, td.NATSURL())
	}
	if code, out, errOut := cli("publish", "--config", p, "--sample", "RequestCreated"); code != 0 {
		t.Fatalf("publish: %d %q %q", code, out, errOut)
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if ep.count() != 1 {
			return fmt.Errorf("%d deliveries", ep.count())
		}
		return nil
	})

	down := filepath.Join(t.TempDir(), "down.yaml")
	if err := os.WriteFile(down, []byte("nats:\n  embedded:\n    listen: 127.0.0.1:0\nadmin:\n  listen: "+freePort(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli("publish", "--config", down, "--sample", "RequestCreated"); code != 2 || !strings.Contains(errOut, "embedded NATS") {
		t.Errorf("publish with the daemon down: %d %q, want 2", code, errOut)
	}
}

func TestCLI_ClientCommandsNeedNoHeaderSecrets(t *testing.T) {
	// Ensure the commands that only talk to the daemon read a config whose
	// header secrets are not set where they run, while validate still
	// insists on them.
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	p := filepath.Join(t.TempDir(), "ops.yaml")
	cfg := fmt.Sprintf(`nats:
  url: %s
admin:
  listen: %s
  token: %s
webhooks:
  - name: hook
    url: https://hooks.example.com/h
    headers:
      Authorization: Bearer ${HOOKRELAY_TEST_NEVER_SET_SECRET}
`, td.NATSURL(), td.AdminAddr(), td.env["HOOKRELAY_ADMIN_TOKEN"])
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"invocations", "--config", p},
		{"dlq", "list", "--config", p},
		{"publish", "--config", p, "--sample", "RequestCreated"},
	} {
		if code, out, errOut := cli(args...); code != 0 {
			t.Errorf("%v: exit %d %q %q", args, code, out, errOut)
		}
	}
	if code, _, errOut := cli("validate", "--no-dns", "--config", p); code != 1 || !strings.Contains(errOut, "HOOKRELAY_TEST_NEVER_SET_SECRET is not set") {
		t.Errorf("validate: exit %d %q, want 1 naming the variable", code, errOut)
	}
}
