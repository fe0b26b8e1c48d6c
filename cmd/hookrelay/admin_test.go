package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/renderer"
)

// TestAdmin_AuthSchemeAndBadFilters checks the bearer scheme is read
// case-insensitively and that malformed list filters are the caller's
// mistake (400), not the daemon's (500).
func TestAdmin_AuthSchemeAndBadFilters(t *testing.T) {
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("quiet", ep.srv.URL+"/hook", `{"id":"{{data.id}}"}`, ""), nil, nil)
	token := td.env["HOOKRELAY_ADMIN_TOKEN"]

	auth := []struct {
		name  string
		given string
		want  int
	}{
		{"canonical scheme", "Bearer " + token, http.StatusOK},
		{"lower-case scheme", "bearer " + token, http.StatusOK},
		{"upper-case scheme, extra spaces", "BEARER   " + token + " ", http.StatusOK},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"other scheme", "Basic " + token, http.StatusUnauthorized},
		{"token alone", token, http.StatusUnauthorized},
		{"none", "", http.StatusUnauthorized},
	}
	for _, tt := range auth {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+td.AdminAddr()+"/api/v1/webhooks", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.given != "" {
				req.Header.Set("Authorization", tt.given)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("Authorization %q: %d, want %d", tt.given, resp.StatusCode, tt.want)
			}
		})
	}

	for _, path := range []string{
		"/api/v1/invocations?status=bogus",
		"/api/v1/invocations?before=nope",
		"/api/v1/deadletters?before=nope",
		"/api/v1/rejected?before=nope",
		"/api/v1/invocations?limit=-1",
	} {
		if st, body := td.api("GET", path, nil); st != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
			t.Errorf("GET %s: %d %s, want 400 with an error", path, st, body)
		}
	}
}

// TestAdmin_InvocationShape checks every invocation carries every field of
// the contract's shape: response is null when no response came, and error
// is empty on success.
func TestAdmin_InvocationShape(t *testing.T) {
	ok := newTestEndpoint(t, false, nil)
	down := newTestEndpoint(t, false, nil)
	downURL := down.srv.URL
	down.srv.Close() // nothing listens there now: a network error
	hooks := hookYAML("up", ok.srv.URL+"/hook", `{"id":"{{data.id}}"}`, "") +
		hookYAML("gone", downURL+"/hook", `{"id":"{{data.id}}"}`, "    retry: {max_attempts: 1}\n")
	td := startDaemon(t, "", hooks, nil, nil)
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 1))

	var res struct{ Invocations []map[string]json.RawMessage }
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		td.apiJSON("GET", "/api/v1/invocations", nil, &res)
		if len(res.Invocations) != 2 {
			return fmt.Errorf("%d invocations", len(res.Invocations))
		}
		return nil
	})
	for _, inv := range res.Invocations {
		for _, key := range []string{"id", "webhook", "event_id", "event_type", "attempt", "started_at",
			"duration_ms", "request", "response", "error", "outcome"} {
			if _, ok := inv[key]; !ok {
				t.Errorf("invocation of %s has no %q: %v", inv["webhook"], key, inv)
			}
		}
		switch string(inv["webhook"]) {
		case `"up"`:
			if string(inv["error"]) != `""` || string(inv["response"]) == "null" {
				t.Errorf("delivered: error %s response %s", inv["error"], inv["response"])
			}
		case `"gone"`:
			if string(inv["error"]) == `""` || string(inv["response"]) != "null" {
				t.Errorf("network error: error %s response %s, want an error and null", inv["error"], inv["response"])
			}
		}
	}
}

// TestAdmin_WebhookURLShownAsInvocationsShowIt checks the webhook list
// masks a URL the way invocation data does: query values masked, the
// fragment dropped.
func TestAdmin_WebhookURLShownAsInvocationsShowIt(t *testing.T) {
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("q", ep.srv.URL+"/hook?token=s3cr3t-value#part", `{"id":"{{data.id}}"}`, ""), nil, nil)
	var list struct {
		Webhooks []struct {
			Name, URL   string
			Concurrency int
		}
	}
	td.apiJSON("GET", "/api/v1/webhooks", nil, &list)
	var test struct {
		Request struct{ URL string }
	}
	td.apiJSON("POST", "/api/v1/webhooks/q/test", nil, &test)
	want := ep.srv.URL + "/hook?token=REDACTED"
	if len(list.Webhooks) != 1 || list.Webhooks[0].URL != want {
		t.Errorf("webhook list: %+v, want URL %s", list.Webhooks, want)
	}
	if test.Request.URL != want {
		t.Errorf("test invocation URL %q, want %s", test.Request.URL, want)
	}
}

// TestAdmin_OrderedWebhookConcurrencyIsOne checks the webhook list shows the
// concurrency a webhook runs with: an ordered one sends one at a time
// whatever its concurrency says.
func TestAdmin_OrderedWebhookConcurrencyIsOne(t *testing.T) {
	ep := newTestEndpoint(t, false, nil)
	hooks := hookYAML("ord", ep.srv.URL+"/hook", `{"id":"{{data.id}}"}`, "    ordered: true\n    concurrency: 8\n") +
		hookYAML("par", ep.srv.URL+"/hook", `{"id":"{{data.id}}"}`, "    concurrency: 8\n")
	td := startDaemon(t, "", hooks, nil, nil)
	var list struct {
		Webhooks []struct {
			Name        string
			Ordered     bool
			Concurrency int
		}
	}
	td.apiJSON("GET", "/api/v1/webhooks", nil, &list)
	got := map[string]int{}
	for _, w := range list.Webhooks {
		got[w.Name] = w.Concurrency
	}
	if got["ord"] != 1 || got["par"] != 8 {
		t.Errorf("concurrency shown: %v, want ord 1 (ordered) and par 8", got)
	}
}
