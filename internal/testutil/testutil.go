// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CheckFor polls f every interval until it returns nil, and fails the test
// with f's last error once total has passed. Tests wait with it instead of
// sleeping.
func CheckFor(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	tb.Fatalf("condition not met after %v: %v", total, err)
}

// SyncBuffer is a bytes.Buffer that one goroutine may write while another
// reads it: a log sink for a component under test. Sync makes it a
// zapcore.WriteSyncer.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Sync does nothing: the bytes are already in memory.
func (s *SyncBuffer) Sync() error { return nil }

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Connect connects to any of urls (comma-separated), reconnecting for
// ever as the daemon does, and closes the connection when the test ends.
func Connect(tb testing.TB, urls string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// FreeAddr returns a loopback host:port that was free a moment ago.
// Another listener may take it before the caller does.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// JetStreamServer starts an in-process JetStream server for a test: on
// 127.0.0.1 at a free port (or opts' Host and Port when set), its store in
// dir, no logging, no signal handling. The caller shuts it down.
func JetStreamServer(tb testing.TB, dir string, opts server.Options) *server.Server {
	tb.Helper()
	s, err := startJetStream(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// startJetStream is JetStreamServer returning its error.
func startJetStream(dir string, opts server.Options) (*server.Server, error) {
	if opts.Host == "" {
		opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	}
	opts.JetStream, opts.StoreDir, opts.NoLog, opts.NoSigs = true, dir, true, true
	s, err := server.NewServer(&opts)
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server %s did not start (a port in use?)", opts.ServerName)
	}
	return s, nil
}
