package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/consumer"
	"github.com/hookrelay/hookrelay/internal/testutil"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/store"
)

// hookYAML writes one webhook entry; extra is more YAML keys, each line
// indented by four spaces.
func hookYAML(name, url, tpl, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    body_template: |\n", name, url)
	for _, l := range strings.Split(strings.TrimRight(tpl, "\n"), "\n") {
		b.WriteString("      " + l + "\n")
	}
	b.WriteString(extra)
	return b.String()
}

func groups(integrationName, integrationType string) []any {
	return []any{map[string]any{
		"integration":    map[string]any{"id": "i-" + integrationName, "type": integrationType, "name": integrationName},
		"resource_types": []any{map[string]any{"id": "t", "name": "Table", "display_path": integrationName + "/Table"}},
		"access_units": []any{map[string]any{
			"resource":   map[string]any{"id": "r1", "name": "orders", "path": integrationName + "/orders", "type": map[string]any{"id": "t", "name": "Table"}},
			"permission": map[string]any{"id": "READ", "name": "READ"},
		}},
	}}
}

func approvals(kind string) []any {
	return []any{map[string]any{"name": "a", "type": kind, "status": "approved",
		"approver": map[string]any{"id": "1", "name": "Alan", "email": "alan@example.com"}}}
}

// drained waits until every durable consumer of the daemon has nothing
// pending and nothing in flight: after it, what was delivered is final.
func (td *testDaemon) drained(total time.Duration) {
	td.t.Helper()
	nc, err := nats.Connect(td.NATSURL())
	if err != nil {
		td.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	durables := [][2]string{{td.cfg.Events.Stream, consumer.DefaultRendererDurable}}
	for _, w := range td.cfg.Webhooks {
		durables = append(durables, [2]string{consumer.DefaultDeliveriesStream, consumer.DefaultSenderDurablePfx + w.Name})
	}
	checkFor(td.t, total, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, d := range durables {
			c, err := js.Consumer(ctx, d[0], d[1])
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			if info.NumPending != 0 || info.NumAckPending != 0 {
				return fmt.Errorf("%s: %d pending, %d in flight", d[1], info.NumPending, info.NumAckPending)
			}
		}
		return nil
	})
}

func TestRelay_SeedWebhook(t *testing.T) {
	// Ensure the seed page's webhook, verbatim, sends a valid JSON body whose
	// integration_type_fields decodes to the original values, awkward
	// characters included, with the API key from the environment.
	const secret = "cx-secret-key-5f2b9c1e"
	ep := newTestEndpoint(t, true, nil)
	hooks := hookYAML("coralogix", ep.srv.URL+"/api/v1/logs", seedTemplate(t), `    headers:
      Authorization: Bearer ${CORALOGIX_API_KEY}
    triggers: [RequestCreated, RequestApproved, RequestRejected, RequestGranted, RequestExpired, RequestFailed, Manual]
`)
	td := startDaemon(t, "", hooks, map[string]string{"CORALOGIX_API_KEY": secret}, ep.srv)

	awkward := "quote \" backslash \\ slash / newline \n tab \t cr \r ctl \u0001 \u001f <>&' é 日本 🔐 {{ data.id }} {{{x}}} \u2028 end"
	payload := event(t, renderer.RequestCreated, 1, map[string]any{
		"data.justification":    awkward,
		"data.requester.name":   `O'Brien "Bob" <b>`,
		"data.access_groups":    groups("prod-postgres", "postgresql"),
		"data.access_flow.name": "Flow\\with\\backslashes",
	})
	td.publish("apono.events.RequestCreated", payload)
	ep.waitCount(t, 1, 20*time.Second)
	r := ep.requests()[0]
	if got := r.Header.Get("Authorization"); got != "Bearer "+secret {
		t.Fatalf("Authorization = %q", got)
	}
	if !json.Valid(r.Body) {
		t.Fatalf("body is not valid JSON: %s", r.Body)
	}
	var outer struct {
		Alias  string `json:"alias"`
		Fields string `json:"integration_type_fields"`
		URL    string `json:"url"`
	}
	if err := json.Unmarshal(r.Body, &outer); err != nil {
		t.Fatal(err)
	}
	var inner map[string]string
	if err := json.Unmarshal([]byte(outer.Fields), &inner); err != nil {
		t.Fatalf("integration_type_fields is not JSON: %v\n%s", err, outer.Fields)
	}
	var ev struct {
		EventTime json.Number `json:"event_time"`
		Data      struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"event_type":                     "RequestCreated",
		"event_time":                     ev.EventTime.String(),
		"id":                             ev.Data.ID,
		"justification":                  awkward,
		"requester_name":                 `O'Brien "Bob" <b>`,
		"access_flow_name":               "Flow\\with\\backslashes",
		"access_groups_integration_name": "prod-postgres",
		"access_groups_integration_type": "postgresql",
	}
	for k, v := range want {
		if inner[k] != v {
			t.Errorf("integration_type_fields.%s = %q, want %q", k, inner[k], v)
		}
	}
	if outer.Alias != "apono-webhook" {
		t.Errorf("alias = %q", outer.Alias)
	}
	if strings.Contains(inner["event_time"], "e+") {
		t.Errorf("event_time in exponent form: %s", inner["event_time"])
	}
	for _, h := range []string{"Idempotency-Key", "User-Agent", "Content-Type"} {
		if r.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "hookrelay/") {
		t.Errorf("User-Agent = %q", ua)
	}
}

func TestRelay_MatchMatrix(t *testing.T) {
	// Ensure triggers (with the Access prefix alias), filters and inactive
	// webhooks deliver exactly what should go and nothing else.
	ep := newTestEndpoint(t, false, nil)
	tpl := `{"id":"{{data.id}}","type":"{{event_type}}"}`
	hooks := hookYAML("all", ep.srv.URL+"/all", tpl, "") +
		hookYAML("created", ep.srv.URL+"/created", tpl, "    triggers: [RequestCreated]\n") +
		hookYAML("inactive", ep.srv.URL+"/inactive", tpl, "    active: false\n") +
		hookYAML("prod-pg", ep.srv.URL+"/prod-pg", tpl, "    filters:\n      integration_name: [prod-postgres]\n      integration_type: [postgresql]\n") +
		hookYAML("manual-approvals", ep.srv.URL+"/manual-approvals", tpl, "    triggers: [RequestApproved, RequestGranted]\n    filters:\n      approval_type: [manual]\n") +
		hookYAML("either-db", ep.srv.URL+"/either-db", tpl, "    filters:\n      integration_name: [prod-postgres, prod-mysql]\n      requester_email: [ada@example.com]\n")
	td := startDaemon(t, "", hooks, nil, nil)

	type ev struct {
		id, typ, integ, itype, approval, email string
	}
	events := []ev{
		{"e1", "RequestCreated", "prod-postgres", "postgresql", "manual", "ada@example.com"},
		{"e2", "AccessRequestCreated", "prod-mysql", "mysql", "automatic", "ada@example.com"},
		{"e3", "RequestApproved", "prod-postgres", "postgresql", "manual", "bob@example.com"},
		{"e4", "RequestApproved", "prod-postgres", "postgresql", "automatic", "ada@example.com"},
		{"e5", "AccessRequestGranted", "staging-pg", "postgresql", "manual", "ada@example.com"},
		{"e6", "RequestFailed", "prod-mysql", "mysql", "automatic", "bob@example.com"},
		{"e7", "Manual", "prod-postgres", "postgresql", "manual", "ada@example.com"},
	}
	want := map[string][]string{
		"all":              {"e1", "e2", "e3", "e4", "e5", "e6", "e7"},
		"created":          {"e1", "e2"},
		"prod-pg":          {"e1", "e3", "e4", "e7"},
		"manual-approvals": {"e3", "e5"},
		"either-db":        {"e1", "e2", "e4", "e7"},
	}
	for i, e := range events {
		p := event(t, renderer.RequestCreated, i, map[string]any{
			"event_type":           e.typ,
			"data.id":              e.id,
			"data.access_groups":   groups(e.integ, e.itype),
			"data.approvals":       approvals(e.approval),
			"data.requester.email": e.email,
		})
		td.publish("apono.events."+e.typ, p)
	}
	total := 0
	for _, ids := range want {
		total += len(ids)
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n := ep.count(); n < total {
			return fmt.Errorf("%d of %d deliveries", n, total)
		}
		return nil
	})
	td.drained(20 * time.Second)
	got := map[string][]string{}
	for _, r := range ep.requests() {
		var b struct{ ID, Type string }
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("%s: %v", r.Body, err)
		}
		got[strings.TrimPrefix(r.Path, "/")] = append(got[strings.TrimPrefix(r.Path, "/")], b.ID)
	}
	for k := range got {
		sort.Strings(got[k])
	}
	for name, ids := range want {
		if strings.Join(got[name], ",") != strings.Join(ids, ",") {
			t.Errorf("webhook %s got %v, want %v", name, got[name], ids)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("webhook %s got %v, want nothing", name, got[name])
		}
	}
}

func TestRelay_RetryThenDeliver(t *testing.T) {
	// Ensure 503, 503, 200 makes three attempts with one Idempotency-Key,
	// each recorded, and that Retry-After is waited out.
	ep := newTestEndpoint(t, false, func(r *http.Request, n int) (int, http.Header) {
		if n <= 2 {
			return 503, http.Header{"Retry-After": {"1"}}
		}
		return 200, nil
	})
	hooks := hookYAML("flaky", ep.srv.URL+"/hook", `{"id":"{{data.id}}"}`,
		"    retry: {max_attempts: 5, initial_backoff: 10ms, max_backoff: 5s}\n")
	td := startDaemon(t, "", hooks, nil, nil)
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 1))
	ep.waitCount(t, 3, 30*time.Second)
	td.drained(10 * time.Second)
	reqs := ep.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	key := reqs[0].Header.Get("Idempotency-Key")
	for i, r := range reqs {
		if r.Header.Get("Idempotency-Key") != key {
			t.Errorf("request %d Idempotency-Key %q, want %q", i+1, r.Header.Get("Idempotency-Key"), key)
		}
		if i > 0 {
			if gap := r.At.Sub(reqs[i-1].At); gap < 900*time.Millisecond {
				t.Errorf("request %d came %v after the previous one; Retry-After asked for 1s", i+1, gap)
			}
		}
	}
	var res struct{ Invocations []store.Invocation }
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		td.apiJSON("GET", "/api/v1/invocations?webhook=flaky", nil, &res)
		if len(res.Invocations) != 3 {
			return fmt.Errorf("%d invocations recorded", len(res.Invocations))
		}
		return nil
	})
	wantOutcomes := []string{store.OutcomeDelivered, store.OutcomeRetrying, store.OutcomeRetrying}
	for i, inv := range res.Invocations {
		if inv.Outcome != wantOutcomes[i] || inv.Attempt != 3-i || inv.DeliveryID != key {
			t.Errorf("invocation %d: outcome %s attempt %d delivery %s", i, inv.Outcome, inv.Attempt, inv.DeliveryID)
		}
	}
}

func TestRelay_DeadLetterAndReplay(t *testing.T) {
	// Ensure a 400 dead-letters after one attempt, and a replay delivers it
	// with the same Idempotency-Key and removes the dead letter.
	fail := true
	ep := newTestEndpoint(t, false, func(r *http.Request, n int) (int, http.Header) {
		if fail {
			return 400, nil
		}
		return 200, nil
	})
	hooks := hookYAML("strict", ep.srv.URL+"/hook", `{"id":"{{data.id}}"}`, "")
	td := startDaemon(t, "", hooks, nil, nil)
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 1))

	dl := td.waitDeadLetters("webhook=strict", 1)[0]
	td.drained(10 * time.Second)
	if n := ep.count(); n != 1 {
		t.Fatalf("%d attempts before dead letter, want 1", n)
	}
	if dl.Attempts != 1 || dl.LastStatus != 400 || !strings.Contains(dl.Reason, "400") {
		t.Errorf("dead letter: attempts %d status %d reason %q", dl.Attempts, dl.LastStatus, dl.Reason)
	}

	ep.mu.Lock()
	fail = false
	ep.mu.Unlock()
	td.apiJSON("POST", "/api/v1/deadletters/"+dl.ID+"/replay", nil, nil)
	ep.waitCount(t, 2, 20*time.Second)
	reqs := ep.requests()
	if reqs[1].Status != 200 || reqs[1].Header.Get("Idempotency-Key") != reqs[0].Header.Get("Idempotency-Key") {
		t.Errorf("replay: status %d key %q, want 200 and %q", reqs[1].Status, reqs[1].Header.Get("Idempotency-Key"), reqs[0].Header.Get("Idempotency-Key"))
	}
	if !bytes.Equal(reqs[1].Body, reqs[0].Body) {
		t.Errorf("replayed body differs")
	}
	if st, _ := td.api("GET", "/api/v1/deadletters/"+dl.ID, nil); st != http.StatusNotFound {
		t.Errorf("dead letter still there after replay: %d", st)
	}
}

func TestRelay_RenderDeadLetterReplaysAfterFix(t *testing.T) {
	// Ensure a body that renders invalid JSON is dead-lettered with its
	// event and sends nothing; that replaying it while the template is still
	// broken is refused (409, nothing sent, the dead letter stays, a bulk
	// replay lists it as skipped); and that after the template is fixed and
	// the relay restarted, a replay renders the event again and delivers it
	// with the delivery's Idempotency-Key.
	ep := newTestEndpoint(t, false, func(*http.Request, int) (int, http.Header) { return 200, nil })
	dir := t.TempDir()
	// Triple braces keep the value raw: a quote in it breaks the JSON.
	broken := hookYAML("raw", ep.srv.URL+"/hook", `{"j":"{{{data.justification}}}"}`, "")
	td := startDaemon(t, dir, broken, nil, nil)
	const just = `he said "now"`
	td.publish("apono.events.RequestCreated", event(t, renderer.RequestCreated, 1, map[string]any{"data.justification": just}))

	dl := td.waitDeadLetters("webhook=raw", 1)[0]
	if !strings.HasPrefix(dl.Reason, "render: ") || dl.Attempts != 0 || len(dl.Event) == 0 {
		t.Fatalf("dead letter: reason %q attempts %d event %d bytes", dl.Reason, dl.Attempts, len(dl.Event))
	}
	if st, b := td.api("POST", "/api/v1/deadletters/"+dl.ID+"/replay", nil); st != http.StatusConflict || !strings.Contains(string(b), "does not render") {
		t.Errorf("replay with the template still broken: %d %s, want 409", st, b)
	}
	var bulk struct {
		Replayed []string
		Skipped  []skippedDeadLetter
	}
	td.apiJSON("POST", "/api/v1/deadletters/replay?webhook=raw", nil, &bulk)
	if len(bulk.Replayed) != 0 || len(bulk.Skipped) != 1 || bulk.Skipped[0].ID != dl.ID {
		t.Errorf("bulk replay with the template still broken: %+v", bulk)
	}
	if st, _ := td.api("GET", "/api/v1/deadletters/"+dl.ID, nil); st != http.StatusOK {
		t.Errorf("dead letter gone after a refused replay: %d", st)
	}
	if n := ep.count(); n != 0 {
		t.Fatalf("%d requests sent for a body that does not render", n)
	}
	td.stop()

	fixed := hookYAML("raw", ep.srv.URL+"/hook", `{"j":"{{data.justification}}"}`, "")
	td = startDaemon(t, dir, fixed, nil, nil)
	td.apiJSON("POST", "/api/v1/deadletters/"+dl.ID+"/replay", nil, nil)
	ep.waitCount(t, 1, 20*time.Second)
	req := ep.requests()[0]
	var got struct{ J string }
	if err := json.Unmarshal(req.Body, &got); err != nil || got.J != just {
		t.Errorf("replayed body %s: %v, want j = %q", req.Body, err, just)
	}
	if key := req.Header.Get("Idempotency-Key"); key != dl.DeliveryID {
		t.Errorf("Idempotency-Key %q, want the delivery id %q", key, dl.DeliveryID)
	}
	if st, _ := td.api("GET", "/api/v1/deadletters/"+dl.ID, nil); st != http.StatusNotFound {
		t.Errorf("dead letter still there after replay: %d", st)
	}
}

func TestRelay_ReplayAllSkipsWhatCannotGo(t *testing.T) {
	// Ensure a bulk replay goes past dead letters it cannot send (webhook
	// gone, body over the message limit), lists them as skipped and leaves
	// them; sends a delivery with two dead letters once and removes both;
	// and the CLI then exits 1.
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	ctx := context.Background()
	put := func(dl store.DeadLetter) string {
		t.Helper()
		id, err := td.st.PutDeadLetter(ctx, dl)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	gone := put(store.DeadLetter{Webhook: "gone", DeliveryID: "d-gone", EventID: "1", Body: []byte(`{"id":1}`), Reason: "400"})
	big := put(store.DeadLetter{Webhook: "hook", DeliveryID: "d-big", EventID: "2", Body: bytes.Repeat([]byte("x"), 9<<20), Reason: "400"})
	dup1 := put(store.DeadLetter{Webhook: "hook", DeliveryID: "d-twice", EventID: "3", Body: []byte(`{"id":3}`), Reason: "render: x"})
	dup2 := put(store.DeadLetter{Webhook: "hook", DeliveryID: "d-twice", EventID: "3", Body: []byte(`{"id":3}`), Reason: "render: x"})

	var res struct {
		Replayed []string
		Skipped  []skippedDeadLetter
	}
	td.apiJSON("POST", "/api/v1/deadletters/replay", nil, &res)
	skipped := map[string]bool{}
	for _, s := range res.Skipped {
		skipped[s.ID] = true
	}
	if !slices.Equal(res.Replayed, []string{dup1, dup2}) || len(skipped) != 2 || !skipped[gone] || !skipped[big] {
		t.Errorf("replayed %v skipped %+v; want [%s %s] and %s, %s skipped", res.Replayed, res.Skipped, dup1, dup2, gone, big)
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if ep.count() != 1 {
			return fmt.Errorf("%d requests", ep.count())
		}
		return nil
	})
	td.drained(10 * time.Second)
	if n := ep.count(); n != 1 {
		t.Errorf("%d requests for one delivery with two dead letters", n)
	}
	for id, want := range map[string]int{gone: 200, big: 200, dup1: 404, dup2: 404} {
		if st, _ := td.api("GET", "/api/v1/deadletters/"+id, nil); st != want {
			t.Errorf("dead letter %s: %d, want %d", id, st, want)
		}
	}
	if st, b := td.api("POST", "/api/v1/deadletters/"+big+"/replay", nil); st != http.StatusConflict {
		t.Errorf("replay of a body over the limit: %d %s, want 409", st, b)
	}
	if code, out, _ := cli("dlq", "replay", "--all", "--config", clientConfig(t, td)); code != 1 || !strings.Contains(out, "skipped 2") {
		t.Errorf("dlq replay --all with 2 left: exit %d %q, want 1", code, out)
	}
}

func TestRelay_ReplayKeepsContentType(t *testing.T) {
	// Ensure a replayed body goes with the Content-Type it was first sent
	// with, even after its webhook's template changed kind.
	fail := true
	ep := newTestEndpoint(t, false, func(*http.Request, int) (int, http.Header) {
		if fail {
			return 400, nil
		}
		return 200, nil
	})
	dir := t.TempDir()
	td := startDaemon(t, dir, hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 1))
	dl := td.waitDeadLetters("", 1)[0]
	if ct := dl.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("dead letter Content-Type %q", ct)
	}
	td.stop()
	ep.mu.Lock()
	fail = false
	ep.mu.Unlock()
	// The template is text now: new deliveries go as text/plain.
	td = startDaemon(t, dir, hookYAML("hook", ep.srv.URL+"/h", `request {{data.id}}`, ""), nil, nil)
	td.apiJSON("POST", "/api/v1/deadletters/"+dl.ID+"/replay", nil, nil)
	ep.waitCount(t, 2, 20*time.Second)
	if ct := ep.requests()[1].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("replayed with Content-Type %q, want application/json as first sent", ct)
	}
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 2))
	ep.waitCount(t, 3, 20*time.Second)
	if ct := ep.requests()[2].Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("new delivery with Content-Type %q, want text/plain", ct)
	}
}

func TestRelay_BreakerStopsAndRecovers(t *testing.T) {
	// Ensure an endpoint failing past the threshold gets no requests while
	// the breaker is open, that the breaker recovers through half-open, and
	// that every event is delivered in the end.
	var down = true
	var openedAt time.Time
	ep := newTestEndpoint(t, false, func(r *http.Request, n int) (int, http.Header) {
		if down {
			return 500, nil
		}
		return 200, nil
	})
	hooks := hookYAML("fragile", ep.srv.URL+"/hook", `{"id":"{{data.id}}"}`,
		"    concurrency: 4\n    retry: {max_attempts: 50, initial_backoff: 20ms, max_backoff: 100ms}\n"+
			"    circuit_breaker: {failure_ratio: 0.5, min_requests: 5, open_for: 1s}\n")
	td := startDaemon(t, "", hooks, nil, nil)
	const events = 40
	for i := 0; i < events; i++ {
		td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i))
	}
	s := td.senders["fragile"]
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := s.Breaker().State; st != "open" {
			return fmt.Errorf("breaker %s", st)
		}
		return nil
	})
	openedAt = time.Now()
	remaining := s.Breaker().OpenRemaining
	during := ep.count()
	// The endpoint comes back while the breaker is open; the breaker must
	// still send nothing until its open period ends, then probe.
	ep.mu.Lock()
	down = false
	ep.mu.Unlock()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if ep.count() == during {
			return fmt.Errorf("no probe yet")
		}
		return nil
	})
	for _, r := range ep.requests()[during:] {
		if r.At.Before(openedAt.Add(remaining - 50*time.Millisecond)) {
			t.Errorf("request at +%v while the breaker was open for %v", r.At.Sub(openedAt), remaining)
		}
	}
	checkFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if u, _ := ep.okKeys(); u < events {
			return fmt.Errorf("%d of %d delivered", u, events)
		}
		return nil
	})
	if st := s.Breaker().State; st != "closed" {
		t.Errorf("breaker %s after recovery", st)
	}
	var dls struct{ DeadLetters []deadLetterView }
	td.apiJSON("GET", "/api/v1/deadletters", nil, &dls)
	if len(dls.DeadLetters) != 0 {
		t.Errorf("%d dead letters, want 0", len(dls.DeadLetters))
	}
}

func TestRelay_RejectsBadEvents(t *testing.T) {
	// Ensure malformed events are recorded as rejected and acknowledged,
	// and good events around them are still delivered.
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("ok", ep.srv.URL+"/hook", `{"id":"{{data.id}}"}`, ""), nil, nil)
	bad := map[string][]byte{
		"not json":     []byte("this is not json"),
		"invalid utf8": []byte("{\"event_type\":\"RequestCreated\",\"data\":{\"justification\":\"\xff\xfe\"}}"),
		"oversized":    []byte(`{"event_type":"RequestCreated","data":{"justification":"` + strings.Repeat("x", 70000) + `"}}`),
		"unknown type": []byte(`{"event_type":"RequestExploded","data":{}}`),
		"empty":        {},
		"array":        []byte(`[{"event_type":"RequestCreated"}]`),
	}
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 1))
	for _, p := range bad {
		td.publish("apono.events.RequestCreated", p)
	}
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 2))
	var rej struct{ Rejected []store.Rejected }
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		td.apiJSON("GET", "/api/v1/rejected", nil, &rej)
		if len(rej.Rejected) != len(bad) {
			return fmt.Errorf("%d rejected", len(rej.Rejected))
		}
		return nil
	})
	td.drained(10 * time.Second)
	if u, _ := ep.okKeys(); u != 2 {
		t.Errorf("%d good events delivered, want 2", u)
	}
	for _, r := range rej.Rejected {
		if r.Reason == "" || r.Subject != "apono.events.RequestCreated" {
			t.Errorf("rejected record without reason or subject: %+v", r)
		}
	}
}

func TestRelay_SecretNeverLeaks(t *testing.T) {
	// Ensure the API key reaches the endpoint but never the logs, the store
	// file or any admin API answer, including dead letters and test sends.
	const secret = "cx-very-secret-api-key-8d1f"
	ep := newTestEndpoint(t, false, func(r *http.Request, n int) (int, http.Header) {
		if n%2 == 0 {
			return 401, http.Header{"Www-Authenticate": {"Bearer"}}
		}
		return 200, nil
	})
	dir := t.TempDir()
	hooks := hookYAML("cx", ep.srv.URL+"/logs", seedTemplate(t), "    headers:\n      Authorization: Bearer ${CORALOGIX_API_KEY}\n      X-Api-Key: ${CORALOGIX_API_KEY}\n")
	td := startDaemon(t, dir, hooks, map[string]string{"CORALOGIX_API_KEY": secret}, nil)
	for i := 0; i < 6; i++ {
		td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i))
	}
	ep.waitCount(t, 6, 20*time.Second)
	td.drained(10 * time.Second)
	td.apiJSON("POST", "/api/v1/webhooks/cx/test", nil, nil)
	if ep.requests()[0].Header.Get("Authorization") != "Bearer "+secret {
		t.Fatalf("endpoint did not get the key")
	}
	var answers []string
	for _, p := range []string{"/api/v1/webhooks", "/api/v1/invocations?limit=1000", "/api/v1/deadletters", "/api/v1/rejected", "/metrics"} {
		st, b := td.api("GET", p, nil)
		if st != 200 {
			t.Fatalf("GET %s: %d", p, st)
		}
		answers = append(answers, string(b))
	}
	var invs struct{ Invocations []store.Invocation }
	td.apiJSON("GET", "/api/v1/invocations?limit=1000", nil, &invs)
	for _, inv := range invs.Invocations {
		_, b := td.api("GET", "/api/v1/invocations/"+inv.ID, nil)
		answers = append(answers, string(b))
	}
	for i, a := range answers {
		if strings.Contains(a, secret) {
			t.Errorf("admin answer %d contains the key", i)
		}
	}
	td.stop()
	if strings.Contains(td.logs.String(), secret) {
		t.Errorf("logs contain the key")
	}
	db, err := os.ReadFile(td.cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(secret)) {
		t.Errorf("store file contains the key")
	}
	if len(invs.Invocations) < 7 {
		t.Errorf("%d invocations recorded, want ≥ 7", len(invs.Invocations))
	}
}

func TestRelay_TargetHeaderIsChecked(t *testing.T) {
	// Ensure an event naming its webhook (the Manual trigger's path) is
	// refused unless it is a Manual event for an active webhook with the
	// Manual trigger, whoever published it.
	ep := newTestEndpoint(t, false, nil)
	tpl := `{"t":"{{event_type}}"}`
	td := startDaemon(t, "", hookYAML("manual", ep.srv.URL+"/manual", tpl, "")+
		hookYAML("off", ep.srv.URL+"/off", tpl, "    active: false\n"), nil, nil)
	nc, err := nats.Connect(td.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	send := func(typ, target string) {
		m := nats.NewMsg("apono.events." + typ)
		m.Header.Set(consumer.HeaderTarget, target)
		m.Data = event(t, renderer.RequestCreated, 1, map[string]any{"event_type": typ})
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	send("RequestCreated", "manual") // not a Manual event
	send("Manual", "off")            // inactive webhook
	send("Manual", "manual")         // fine
	td.drained(10 * time.Second)
	var rej struct{ Rejected []store.Rejected }
	td.apiJSON("GET", "/api/v1/rejected", nil, &rej)
	if len(rej.Rejected) != 2 {
		t.Errorf("%d rejected, want 2: %+v", len(rej.Rejected), rej.Rejected)
	}
	if reqs := ep.requests(); len(reqs) != 1 || reqs[0].Path != "/manual" {
		t.Errorf("deliveries: %+v", reqs)
	}
}

func TestRelay_ReplayAllOnceWhileFailing(t *testing.T) {
	// Ensure replaying all dead letters of a webhook whose endpoint still
	// fails replays each once: the new dead letters wait for the next call.
	ep := newTestEndpoint(t, false, func(*http.Request, int) (int, http.Header) { return 400, nil })
	td := startDaemon(t, "", hookYAML("strict", ep.srv.URL+"/hook", `{"id":"{{data.id}}"}`, ""), nil, nil)
	for i := 0; i < 3; i++ {
		td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i))
	}
	td.waitDeadLetters("", 3)
	var res struct{ Replayed []string }
	td.apiJSON("POST", "/api/v1/deadletters/replay?webhook=strict", nil, &res)
	if len(res.Replayed) != 3 {
		t.Fatalf("replayed %v", res.Replayed)
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		var dls struct{ DeadLetters []deadLetterView }
		td.apiJSON("GET", "/api/v1/deadletters", nil, &dls)
		if len(dls.DeadLetters) != 3 || ep.count() != 6 {
			return fmt.Errorf("%d dead letters, %d requests", len(dls.DeadLetters), ep.count())
		}
		return nil
	})
	td.drained(10 * time.Second)
	if n := ep.count(); n != 6 {
		t.Errorf("%d requests, want 6 (3 first attempts, 3 replays)", n)
	}
	if st, _ := td.api("DELETE", "/api/v1/deadletters?webhook=nope", nil); st != http.StatusNotFound {
		t.Errorf("purge of an unknown webhook: %d", st)
	}
}

// runNATS starts a JetStream server on addr with its store in dir.
func runNATS(tb testing.TB, addr, dir string) *server.Server {
	tb.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return testutil.JetStreamServer(tb, dir, server.Options{Host: host, Port: p})
}

func TestRelay_SurvivesNATSRestart(t *testing.T) {
	// Ensure a relay on an external NATS server keeps delivering after that
	// server restarts: events published before and after both arrive.
	ep := newTestEndpoint(t, false, nil)
	dir := t.TempDir()
	addr := freePort(t)
	ns := runNATS(t, addr, filepath.Join(dir, "js"))
	// Cleanups run last first: the daemon (registered below) closes while
	// the server is still up.
	t.Cleanup(func() { ns.Shutdown() })
	cfg := fmt.Sprintf(baseConfig, dir)
	cfg = strings.Replace(cfg, "nats:\n  embedded:", "nats:\n  url: nats://"+addr+"\n  embedded:", 1)
	td := startDaemonYAML(t, cfg+hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 1))
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if u, _ := ep.okKeys(); u != 1 {
			return fmt.Errorf("%d delivered", u)
		}
		return nil
	})

	ns.Shutdown()
	ns.WaitForShutdown()
	ns = runNATS(t, addr, filepath.Join(dir, "js"))
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if !td.nc.IsConnected() {
			return fmt.Errorf("relay not reconnected")
		}
		return nil
	})
	for i := 2; i <= 4; i++ {
		td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i))
	}
	checkFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if u, _ := ep.okKeys(); u != 4 {
			return fmt.Errorf("%d of 4 delivered after the restart", u)
		}
		return nil
	})
}

func TestRelay_ClusterWithReplicas(t *testing.T) {
	// Ensure nats.replicas reaches the streams the daemon makes on a
	// JetStream cluster, and the daemon delivers through it.
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	t.Parallel()
	ep := newTestEndpoint(t, false, nil)
	c := testutil.StartCluster(t, 3)
	dir := t.TempDir()
	cfg := fmt.Sprintf(baseConfig, dir)
	cfg = strings.Replace(cfg, "nats:\n  embedded:", "nats:\n  url: "+c.URLs()+"\n  replicas: 3\n  embedded:", 1)
	td := startDaemonYAML(t, cfg+hookYAML("hook", ep.srv.URL+"/h", `{"id":"{{data.id}}"}`, ""), nil, nil)
	for _, name := range []string{td.cfg.Events.Stream, consumer.DefaultDeliveriesStream} {
		s, err := td.js.Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, r)
		}
	}
	for i := 1; i <= 3; i++ {
		td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, i))
	}
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if u, _ := ep.okKeys(); u != 3 {
			return fmt.Errorf("%d of 3 delivered", u)
		}
		return nil
	})
}

func TestRelay_NoTemplateSendsTheEventAsPublished(t *testing.T) {
	// Ensure a webhook without a body template sends the event byte for
	// byte, as JSON, through the pipeline and through the Test button.
	ep := newTestEndpoint(t, false, nil)
	yaml := fmt.Sprintf("  - name: raw\n    url: %s/raw\n    triggers: [RequestCreated]\n", ep.srv.URL)
	td := startDaemon(t, t.TempDir(), yaml, nil, nil)
	ev := []byte(`{ "event_type":"RequestCreated", "event_time":1732406400.5,` + "\n" +
		`  "data":{"id":"r-1","justification":"a \"quoted\"\tline\u00e9 😀"} }`)
	td.publish("apono.events.RequestCreated", ev)
	ep.waitCount(t, 1, 20*time.Second)
	got := ep.requests()[0]
	if !bytes.Equal(got.Body, ev) {
		t.Errorf("body\n got %s\nwant %s", got.Body, ev)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var res struct {
		Success bool `json:"success"`
		Request struct {
			Body string `json:"body"`
		} `json:"request"`
	}
	td.apiJSON("POST", "/api/v1/webhooks/raw/test", ev, &res)
	if !res.Success || res.Request.Body != string(ev) {
		t.Errorf("test: success %v, body %q", res.Success, res.Request.Body)
	}
	ep.waitCount(t, 2, 20*time.Second)
	if got := ep.requests()[1].Body; !bytes.Equal(got, ev) {
		t.Errorf("test body %s", got)
	}
}
