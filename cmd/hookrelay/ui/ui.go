// Package ui is the admin UI: one HTML page with its CSS and script inline,
// embedded in the binary. The page holds no secrets and needs no token; the
// admin API calls it makes do, and it asks for the token when one answers 401.
package ui

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
)

//go:embed index.html
var page []byte

// csp allows the page's own inline <script> and <style> by hash and
// fetches to its own origin, nothing else: no other script, style, frame,
// plugin or form target. Trusted Types forbid every HTML-parsing sink, so
// data from the API can only ever land as text.
var csp = mustCSP(page)

// Page is the page's HTML.
func Page() []byte { return bytes.Clone(page) }

// CSP is the Content-Security-Policy the page is served with.
func CSP() string { return csp }

// Handler serves the page.
func Handler() http.Handler {
	size := strconv.Itoa(len(page))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Length", size)
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(page)
	})
}

func mustCSP(page []byte) string {
	script, err := InlineHash(page, "script")
	if err != nil {
		panic(err)
	}
	style, err := InlineHash(page, "style")
	if err != nil {
		panic(err)
	}
	return "default-src 'none'; " +
		"script-src " + script + "; " +
		"style-src " + style + "; " +
		"connect-src 'self'; " +
		"img-src 'self' data:; " +
		"base-uri 'none'; " +
		"form-action 'none'; " +
		"frame-ancestors 'none'; " +
		"require-trusted-types-for 'script'; " +
		"trusted-types 'none'"
}

// InlineHash returns the CSP source ('sha256-…') of the content of the one
// <tag>…</tag> element in page.
func InlineHash(page []byte, tag string) (string, error) {
	open, end := []byte("<"+tag+">"), []byte("</"+tag+">")
	if n := bytes.Count(page, open); n != 1 {
		return "", fmt.Errorf("ui: want exactly one <%s>, found %d", tag, n)
	}
	_, rest, _ := bytes.Cut(page, open)
	body, _, ok := bytes.Cut(rest, end)
	if !ok {
		return "", fmt.Errorf("ui: <%s> is not closed", tag)
	}
	sum := sha256.Sum256(body)
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'", nil
}
