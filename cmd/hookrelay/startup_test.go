package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/renderer"
)

// TestDaemon_HealthzWhileStarting checks that liveness answers as soon as
// the daemon starts, before NATS and the store are up, while readiness and
// the API say 503; and that a start that fails takes the admin server down.
func TestDaemon_HealthzWhileStarting(t *testing.T) {
	dir := t.TempDir()
	// Another holder of the store's lock keeps Start waiting on it.
	lock, err := bolt.Open(filepath.Join(dir, "hookrelay.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	yaml := strings.Replace(fmt.Sprintf(baseConfig, dir), "listen: 127.0.0.1:0\n  token", "listen: "+addr+"\n  token", 1)
	getenv := func(k string) (string, bool) { return "admin-token-for-tests", k == "HOOKRELAY_ADMIN_TOKEN" }
	cfg, err := config.Parse([]byte(yaml), "test.yaml", config.LoadOptions{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDaemon(cfg, DaemonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- d.Start(context.Background()) }()

	get := func(path string) (int, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer admin-token-for-tests")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if code, err := get("/healthz"); err != nil || code != 200 {
			return fmt.Errorf("healthz: %d %v", code, err)
		}
		return nil
	})
	for _, path := range []string{"/readyz", "/api/v1/webhooks"} {
		if code, err := get(path); err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("%s while starting: %d %v, want 503", path, code, err)
		}
	}
	select {
	case err := <-started:
		if err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("start with a locked store: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("start did not give up on the locked store")
	}
	if _, err := get("/healthz"); err == nil {
		t.Error("admin server still answers after a failed start")
	}
}

// TestDaemon_HealthzWhileStopping checks that while the daemon finishes its
// in-flight deliveries, liveness still answers and readiness and the API
// say 503, rather than the admin server going first.
func TestDaemon_HealthzWhileStopping(t *testing.T) {
	inFlight, release := make(chan struct{}, 1), make(chan struct{})
	ep := newTestEndpoint(t, false, func(*http.Request, int) (int, http.Header) {
		inFlight <- struct{}{}
		<-release
		return 200, nil
	})
	td := startDaemon(t, "", hookYAML("slow", ep.srv.URL+"/slow", `{"id":"{{data.id}}"}`, ""), nil, nil)
	td.publish("apono.events.RequestCreated", renderer.Sample(renderer.RequestCreated, 1))
	select {
	case <-inFlight:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery started")
	}
	addr := td.AdminAddr()
	get := func(path string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+td.env["HOOKRELAY_ADMIN_TOKEN"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	closed := make(chan error, 1)
	go func() { closed <- td.Close(context.Background()) }()
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if code := get("/readyz"); code != http.StatusServiceUnavailable {
			return fmt.Errorf("readyz %d while stopping", code)
		}
		return nil
	})
	if code := get("/healthz"); code != 200 {
		t.Errorf("healthz %d while stopping", code)
	}
	if code := get("/api/v1/webhooks"); code != http.StatusServiceUnavailable {
		t.Errorf("api %d while stopping", code)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if code := get("/healthz"); code != 0 {
		t.Errorf("healthz %d after close", code)
	}
}
