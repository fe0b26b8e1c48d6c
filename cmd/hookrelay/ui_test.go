package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/cmd/hookrelay/ui"
)

// TestUIPage fetches the admin UI from a running daemon: served without a
// token, as HTML, with a strict CSP whose hashes match the page's inline
// script and style, and calling the API paths the UI is built on.
func TestUIPage(t *testing.T) {
	ep := newTestEndpoint(t, false, nil)
	td := startDaemon(t, "", hookYAML("ui-hook", ep.srv.URL+"/hook", `{"id": "{{data.id}}"}`, ""), nil, nil)
	base := "http://" + td.AdminAddr()

	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, page := get("GET", "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d %s", resp.StatusCode, page)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", v)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if csp == "" {
		t.Fatal("no Content-Security-Policy")
	}
	if page != string(ui.Page()) {
		t.Error("GET / is not the embedded page")
	}

	// The CSP: nothing by default, the inline script and style by hash,
	// fetches to the same origin only, and no inline or remote anything else.
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = val
	}
	scriptHash, err := ui.InlineHash([]byte(page), "script")
	if err != nil {
		t.Fatal(err)
	}
	styleHash, err := ui.InlineHash([]byte(page), "style")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      scriptHash,
		"style-src":       styleHash,
		"connect-src":     "'self'",
		"base-uri":        "'none'",
		"frame-ancestors": "'none'",
		"form-action":     "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("CSP %s = %q, want %q (CSP: %s)", name, got, want, csp)
		}
	}
	if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") || strings.Contains(csp, "http") {
		t.Errorf("CSP allows too much: %s", csp)
	}

	// No external assets, no HTML parsing of data, no inline handlers.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("page loads something external: %s", m)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", " onclick=", " onload="} {
		if strings.Contains(page, bad) {
			t.Errorf("page uses %s", bad)
		}
	}

	// The API paths the UI calls, and the token handling.
	for _, want := range []string{
		"'/webhooks'", "'/test'", "'/invocations'", "'/invocations/'",
		"'/deadletters'", "'/deadletters/'", "'/replay'", "'/deadletters/replay'", "'/rejected'",
		"const API = '/api/v1'", "before:", "sessionStorage", "'Bearer '", "res.status === 401",
		"Test successful", "Test failed", "View Invocation Data", "textContent",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not contain %q", want)
		}
	}

	// /ui/ is the same page; HEAD has the headers and no body.
	if resp, body := get("GET", "/ui/"); resp.StatusCode != http.StatusOK || body != page {
		t.Errorf("GET /ui/: %d, same page %v", resp.StatusCode, body == page)
	}
	if resp, body := get("HEAD", "/"); resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("Content-Security-Policy") != csp {
		t.Errorf("HEAD /: %d, body %q", resp.StatusCode, body)
	}
	// Only / and /ui/ are the page; other paths stay 404, and the API the
	// page calls still wants the token.
	if resp, _ := get("GET", "/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %d", resp.StatusCode)
	}
	if resp, _ := get("GET", "/api/v1/webhooks"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/webhooks without a token: %d", resp.StatusCode)
	}
	if st, body := td.api("GET", "/api/v1/webhooks", nil); st != http.StatusOK || !strings.Contains(string(body), `"ui-hook"`) {
		t.Errorf("GET /api/v1/webhooks with the token: %d %s", st, body)
	}
}
