package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// adminClient talks to a running daemon's admin API, at the address and
// with the token of the same config file.
type adminClient struct {
	base  string
	token string
	// cfgPath is the config file the token came from, for error messages.
	cfgPath string
	http    *http.Client
}

func newAdminClient(cfg *config.Config) *adminClient {
	host, port, err := net.SplitHostPort(cfg.Admin.Listen)
	if err != nil {
		host, port = "127.0.0.1", "8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return &adminClient{
		base:    "http://" + net.JoinHostPort(host, port),
		token:   cfg.Admin.Token,
		cfgPath: cfg.Path,
		http:    &http.Client{Timeout: 60 * time.Second},
	}
}

// apiError is a non-2xx answer of the admin API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("admin api: %d: %s", e.Status, e.Msg) }

// do sends a request and decodes a JSON answer into out. A daemon that
// cannot be reached is a dependency failure; a 4xx answer is the user's.
func (c *adminClient) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return depErrorf("daemon not reachable at %s (is `hookrelay run` up?): %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return depErrorf("reading admin api answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = string(data)
		}
		ae := &apiError{Status: resp.StatusCode, Msg: e.Error}
		if resp.StatusCode == http.StatusUnauthorized {
			ae.Msg = c.tokenHint(ae.Msg)
		}
		if resp.StatusCode >= 500 {
			return depError{ae}
		}
		return userError{ae}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return depErrorf("decoding admin api answer: %w", err)
	}
	return nil
}

// tokenHint says which token the daemon refused, and where it came from:
// the commands send admin.token of their config file.
func (c *adminClient) tokenHint(msg string) string {
	if c.token == "" {
		return fmt.Sprintf("%s: admin.token is not set in %s, and the daemon at %s wants one", msg, c.cfgPath, c.base)
	}
	return fmt.Sprintf("%s: the daemon at %s did not accept admin.token of %s", msg, c.base, c.cfgPath)
}
