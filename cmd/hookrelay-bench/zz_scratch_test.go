package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/sink"
)

func TestScratchHTTP(t *testing.T) {
	m := perEventMode()
	var bodies [][]byte
	for i := range 7000 {
		p, _, _ := benchEvent(i)
		b, err := m.body(p)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	so := sink.DefaultOptions()
	so.APIKey = benchAPIKey
	so.EntryKey = func(e json.RawMessage) string { _, _ = m.extract(e); return "" }
	s := sink.New(so)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: s}
	go srv.Serve(ln)
	defer srv.Close()
	for _, n := range []int{10000, 10000, 30000, 30000} {
		st := time.Now()
		c := httpCeiling(context.Background(), "http://"+ln.Addr().String()+m.sinkPath, bodies, n, 64)
		t.Logf("n=%d %.0f/s errs=%d in %s", n, c.perSec, c.errors, time.Since(st))
	}
}
