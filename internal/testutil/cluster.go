package testutil

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is an in-process JetStream cluster on loopback, for tests of
// what happens when its servers go away.
type Cluster struct {
	tb      testing.TB
	Servers []*server.Server
	opts    []server.Options
	dirs    []string
}

// StartCluster starts a cluster of n servers, each with its own store, and
// waits until it has formed.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	// Every server is given the routes of all: JetStream clustering wants
	// them configured. The route ports are found free first.
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
		ln.Close()
	}
	c := &Cluster{tb: tb, Servers: make([]*server.Server, n)}
	for i := range n {
		c.opts = append(c.opts, server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Cluster:    server.ClusterOpts{Name: "hookrelay-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		})
		c.dirs = append(c.dirs, tb.TempDir())
		c.Start(i)
	}
	tb.Cleanup(func() {
		for _, s := range c.Servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	c.Formed()
	return c
}

// Start starts server i, on the ports and store it had before, if any.
func (c *Cluster) Start(i int) {
	c.tb.Helper()
	s := JetStreamServer(c.tb, c.dirs[i], c.opts[i])
	if c.opts[i].Port <= 0 {
		c.opts[i].Host, c.opts[i].Port = "127.0.0.1", s.Addr().(*net.TCPAddr).Port
	}
	c.Servers[i] = s
}

// Formed waits until every server has routes to all others and JetStream
// answers.
func (c *Cluster) Formed() {
	c.tb.Helper()
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		c.tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.tb.Fatal(err)
	}
	CheckFor(c.tb, 30*time.Second, 50*time.Millisecond, func() error {
		for _, s := range c.Servers {
			if got := s.NumRoutes(); got < len(c.Servers)-1 {
				return fmt.Errorf("%s has %d routes", s.Name(), got)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
}

// LeaderOf returns the index of the server leading stream.
func (c *Cluster) LeaderOf(js jetstream.JetStream, stream string) int {
	c.tb.Helper()
	var leader int
	CheckFor(c.tb, 30*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		name := s.CachedInfo().Cluster.Leader
		for i, srv := range c.Servers {
			if srv.Name() == name && srv.Running() {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("stream %s has no running leader (%q)", stream, name)
	})
	return leader
}

// URLs is the client URLs of every server, comma-separated.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.opts))
	for i, o := range c.opts {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return strings.Join(urls, ",")
}
