package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/consumer"
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

func TestCLI_PublishChecksFileAndSubject(t *testing.T) {
	// Ensure publish --file refuses what the relay would reject (exit 1,
	// naming the file and where), --raw publishes it anyway, and --subject
	// must be one literal subject of events.subjects: never another stream
	// (the relay's deliveries), nowhere, or a wildcard.
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	cfg := clientConfig(t, td)
	truncated := writeTemp(t, "truncated.json", "{\"event_type\": \"RequestCreated\", \n")
	files := []struct {
		name    string
		given   string
		wantErr string
	}{
		{"truncated", truncated, "unexpected end of JSON input at offset 34"},
		{"empty", writeTemp(t, "empty.json", ""), "empty event"},
		{"no event_type", writeTemp(t, "notype.json", `{"data":{"id":"x"}}`), "event_type is missing"},
		{"array", writeTemp(t, "array.json", `[1,2]`), "not a JSON object"},
		{"bad syntax", writeTemp(t, "comma.json", `{"event_type":"RequestCreated","data":{"id":1,}}`), "offset 47"},
	}
	for _, tt := range files {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli("publish", "--config", cfg, "--file", tt.given)
			if code != 1 || !strings.Contains(errOut, "--file "+tt.given+": ") || !strings.Contains(errOut, tt.wantErr) || out != "" {
				t.Errorf("exit %d %q %q, want 1 naming the file and %q", code, out, errOut, tt.wantErr)
			}
		})
	}
	if code, out, errOut := cli("publish", "--config", cfg, "--sample", "RequestCreated", "--raw"); code != 1 || !strings.Contains(errOut, "--raw") {
		t.Errorf("--raw with --sample: %d %q %q", code, out, errOut)
	}

	subjects := []struct {
		name     string
		given    string
		wantCode int
		wantErr  string
	}{
		{"no stream takes it", "foo.bar", 1, "not a subject of the events stream"},
		{"the relay's deliveries", consumer.DefaultDeliveriesPrefix + ".hook", 1, "not a subject of the events stream"},
		{"wildcard token", "apono.events.*", 1, "literal"},
		{"full wildcard", "apono.events.>", 1, "literal"},
		{"empty token", "apono..events", 1, "literal"},
		{"covered", "apono.events.Custom", 0, ""},
	}
	for _, tt := range subjects {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli("publish", "--config", cfg, "--sample", "RequestCreated", "--subject", tt.given)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d %q %q, want %d and %q", code, out, errOut, tt.wantCode, tt.wantErr)
			}
			if tt.wantCode == 0 && !strings.Contains(out, "published 1 event(s) to "+tt.given) {
				t.Errorf("out %q", out)
			}
		})
	}

	// --raw puts the bytes on the stream as they are: the relay rejects
	// them. Nothing refused above reached the stream.
	if code, out, errOut := cli("publish", "--config", cfg, "--file", truncated, "--raw"); code != 0 || !strings.Contains(out, "to apono.events.unknown") {
		t.Fatalf("publish --raw: %d %q %q", code, out, errOut)
	}
	ep.waitCount(t, 1, 20*time.Second) // the sample on apono.events.Custom
	td.drained(10 * time.Second)
	var rej struct{ Rejected []store.Rejected }
	td.apiJSON("GET", "/api/v1/rejected", nil, &rej)
	if len(rej.Rejected) != 1 || rej.Rejected[0].Subject != "apono.events.unknown" {
		t.Errorf("rejected: %+v, want the --raw event only", rej.Rejected)
	}
	if n := ep.count(); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

func TestCLI_UnknownSubcommand(t *testing.T) {
	// Ensure an unknown or misspelt subcommand is a user error (exit 1)
	// that lists the known ones, not the parent's help and exit 0.
	tests := []struct {
		name    string
		given   []string
		wantErr string
	}{
		{"dlq", []string{"dlq", "bogus"}, `unknown dlq command "bogus" (list, show, replay, purge)`},
		{"dlq typo", []string{"dlq", "replya", "0000000000000001", "--config", "x.yaml"}, `unknown dlq command "replya" (list, show, replay, purge); did you mean "replay"?`},
		{"root", []string{"bogus"}, `unknown command "bogus"`},
		{"help", []string{"help", "bogus"}, `unknown help topic "bogus"`},
		{"help of a dlq typo", []string{"help", "dlq", "replya"}, `unknown help topic "dlq replya"`},
		{"completion", []string{"completion", "tcsh"}, `unknown completion command "tcsh" (bash, fish, powershell, zsh)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(tt.given...)
			if code != 1 || !strings.Contains(errOut, tt.wantErr) || strings.Contains(out, "Usage:") {
				t.Errorf("exit %d %q %q, want 1 and %q", code, out, errOut, tt.wantErr)
			}
		})
	}
	if code, out, _ := cli("dlq"); code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("dlq alone: %d %q, want its help", code, out)
	}
	if code, out, _ := cli("help", "dlq", "replay"); code != 0 || !strings.Contains(out, "replay") {
		t.Errorf("help dlq replay: %d %q, want its help", code, out)
	}
	if code, _, errOut := cli("completion", "bash"); code != 0 {
		t.Errorf("completion bash: exit %d %q", code, errOut)
	}
}

func TestCLI_DLQOfRemovedWebhook(t *testing.T) {
	// Ensure the dead letters of a webhook no longer in the config can be
	// shown (--json: one line), are skipped by a replay (exit 1, --json
	// still prints the answer), and can be purged by the webhook's name;
	// a name with neither a webhook nor dead letters is refused.
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	cfg := clientConfig(t, td)
	var ids []string
	for i := 0; i < 2; i++ {
		// What the relay wrote while "gone" was still configured.
		id, err := td.st.PutDeadLetter(context.Background(), store.DeadLetter{
			Webhook: "gone", DeliveryID: fmt.Sprintf("d%d", i), EventType: "RequestCreated",
			Body: []byte(`{"id":"x"}`), Reason: "endpoint answered 400", Attempts: 1, LastStatus: 400, CreatedAt: time.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}

	code, out, errOut := cli("dlq", "show", ids[0], "--json", "--config", cfg)
	var dl deadLetterView
	if code != 0 || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &dl) != nil || dl.ID != ids[0] || dl.Webhook != "gone" {
		t.Errorf("dlq show --json: %d %q %q", code, out, errOut)
	}

	code, out, errOut = cli("dlq", "replay", "--all", "--json", "--config", cfg)
	var replayed struct {
		Replayed []string
		Skipped  []skippedDeadLetter
	}
	if code != 1 || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &replayed) != nil ||
		len(replayed.Replayed) != 0 || len(replayed.Skipped) != 2 || !strings.Contains(errOut, "could not be replayed") {
		t.Errorf("dlq replay --all --json: %d %q %q", code, out, errOut)
	}

	code, out, errOut = cli("dlq", "purge", "--webhook", "gone", "--json", "--config", cfg)
	var deleted struct{ Deleted []string }
	if code != 0 || json.Unmarshal([]byte(out), &deleted) != nil || len(deleted.Deleted) != 2 {
		t.Errorf("dlq purge --webhook gone --json: %d %q %q", code, out, errOut)
	}
	td.waitDeadLetters("webhook=gone", 0)

	if code, out, errOut := cli("dlq", "purge", "--webhook", "gone", "--config", cfg); code != 1 || !strings.Contains(errOut, `no webhook named "gone"`) {
		t.Errorf("purge again: %d %q %q, want 1 (nothing of that name)", code, out, errOut)
	}
	if code, out, errOut := cli("dlq", "purge", "--webhook", "hook", "--config", cfg); code != 0 || !strings.Contains(out, "deleted 0 dead letter(s)") {
		t.Errorf("purge of a configured webhook without dead letters: %d %q %q", code, out, errOut)
	}
}

func TestCLI_FileBodies(t *testing.T) {
	// Ensure test and invoke refuse an empty --file instead of sending
	// something else (test would send its mock event), and name the file
	// when the daemon refuses its content, in plain words.
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	cfg := clientConfig(t, td)
	empty := writeTemp(t, "empty.json", " \n")
	array := writeTemp(t, "array.json", `[1,2]`)
	truncated := writeTemp(t, "truncated.json", `{"id":"x",`)
	tests := []struct {
		name    string
		given   []string
		wantErr string
	}{
		{"test, empty", []string{"test", "hook", "--file", empty}, "--file " + empty + " is empty"},
		{"test, truncated", []string{"test", "hook", "--file", truncated}, "--file " + truncated + ": test event: malformed event: unexpected end of JSON input at offset 10"},
		{"invoke, empty", []string{"invoke", "hook", "--file", empty}, "--file " + empty + " is empty"},
		{"invoke, array", []string{"invoke", "hook", "--file", array}, "--file " + array + ": body is not a JSON object: got an array"},
		{"invoke, truncated", []string{"invoke", "hook", "--file", truncated}, "--file " + truncated + ": body is not valid JSON: unexpected end of JSON input at offset 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(append(tt.given, "--config", cfg)...)
			if code != 1 || !strings.Contains(errOut, tt.wantErr) || strings.Contains(errOut, "Go value") {
				t.Errorf("exit %d %q %q, want 1 and %q", code, out, errOut, tt.wantErr)
			}
		})
	}
	if n := ep.count(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}

	data := writeTemp(t, "data.json", `{"id":"req-1"}`)
	code, out, errOut := cli("invoke", "hook", "--file", data, "--json", "--config", cfg)
	var res struct {
		Queued  bool
		Webhook string
	}
	if code != 0 || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &res) != nil || !res.Queued || res.Webhook != "hook" {
		t.Errorf("invoke --json: %d %q %q", code, out, errOut)
	}
}

func TestCLI_TestFailures(t *testing.T) {
	// Ensure a test whose body does not render fails like one the endpoint
	// refuses: the invocation data with success false, the reason in
	// message and error, outcome failed, printed with --json too, exit 1,
	// and the webhook's name said once.
	ep := newTestEndpoint(t, false, func(*http.Request, int) (int, http.Header) { return 500, nil })
	td := startDaemon(t, "", hookYAML("refused", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, "")+
		hookYAML("badtpl", ep.srv.URL+"/bad", `{"x": "{{data.id}}", oops}`, ""), nil, nil)
	cfg := clientConfig(t, td)
	tests := []struct {
		name        string
		given       string
		wantMessage string
		wantURL     string
	}{
		{"endpoint refuses", "refused", "Test failed: ", ep.srv.URL + "/h"},
		{"body does not render", "badtpl", "Test failed: rendering the body: rendered body is not valid JSON", ep.srv.URL + "/bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := td.api("POST", "/api/v1/webhooks/"+tt.given+"/test", nil)
			var res testResult
			if err := json.Unmarshal(body, &res); err != nil || st != http.StatusOK {
				t.Fatalf("POST /test: %d %s (%v), want 200", st, body, err)
			}
			if res.Success || !strings.HasPrefix(res.Message, tt.wantMessage) || res.Error == "" || res.Outcome != store.OutcomeFailed ||
				res.ID == "" || res.Webhook != tt.given || res.Request.URL != tt.wantURL || strings.Contains(res.Message, `"`+tt.given+`"`) {
				t.Errorf("POST /test: %+v", res)
			}

			code, out, errOut := cli("test", tt.given, "--json", "--config", cfg)
			var line testResult
			if code != 1 || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &line) != nil || line.Success || line.Outcome != store.OutcomeFailed {
				t.Errorf("test --json: %d %q %q", code, out, errOut)
			}
			code, out, errOut = cli("test", tt.given, "--config", cfg)
			if code != 1 || !strings.HasPrefix(out, tt.wantMessage) || strings.Count(out+errOut, `"`+tt.given+`"`) != 1 {
				t.Errorf("test: %d %q %q", code, out, errOut)
			}
		})
	}
	if n := ep.count(); n != 3 {
		t.Errorf("%d requests, want 3 (the refused webhook's tests only)", n)
	}
}

func TestCLI_WrongAdminToken(t *testing.T) {
	// Ensure a refused token says which config key and file it came from
	// and which daemon refused it.
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	wrong := writeTemp(t, "wrong.yaml", fmt.Sprintf("admin:\n  listen: %s\n  token: not-the-token\n", td.AdminAddr()))
	none := writeTemp(t, "none.yaml", fmt.Sprintf("admin:\n  listen: %s\n", td.AdminAddr()))
	for _, p := range []string{wrong, none} {
		code, _, errOut := cli("invocations", "--config", p)
		if code != 1 || !strings.Contains(errOut, "admin.token") || !strings.Contains(errOut, p) || !strings.Contains(errOut, td.AdminAddr()) {
			t.Errorf("%s: exit %d %q, want 1 naming admin.token, the file and the daemon", p, code, errOut)
		}
	}
}

func TestCLI_BadLogLevelNamesWhereItCameFrom(t *testing.T) {
	// Ensure a bad level set in the environment is not blamed on a flag
	// the user did not pass.
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("admin:\n  listen: "+freePort(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOKRELAY_LOG_LEVEL", "loud")
	if code, _, errOut := cli("run", "--config", cfg); code != 1 || !strings.Contains(errOut, `HOOKRELAY_LOG_LEVEL "loud"`) {
		t.Errorf("from the environment: exit %d %q, want 1 naming HOOKRELAY_LOG_LEVEL", code, errOut)
	}
	if code, _, errOut := cli("run", "--config", cfg, "--log-level", "quiet"); code != 1 || !strings.Contains(errOut, `--log-level "quiet"`) {
		t.Errorf("from the flag: exit %d %q, want 1 naming --log-level", code, errOut)
	}
}
