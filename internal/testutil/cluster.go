package testutil

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
	var err error
	for range 5 {
		var c *Cluster
		if c, err = startCluster(tb, n); err == nil {
			tb.Cleanup(func() {
				for _, s := range c.Servers {
					s.Shutdown()
					s.WaitForShutdown()
				}
			})
			c.Formed()
			return c
		}
	}
	tb.Fatal(err)
	return nil
}

// startCluster makes one try at starting the servers: every server is given
// the routes of all, which JetStream clustering wants configured, so the
// route ports are found free first, and another listener may take one
// before its server does. The cluster's name is its own, so that a route
// port taken by another test's cluster joins nothing.
func startCluster(tb testing.TB, n int) (*Cluster, error) {
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		addr := FreeAddr(tb)
		_, port, _ := net.SplitHostPort(addr)
		ports[i], _ = strconv.Atoi(port)
		routes[i] = "nats-route://" + addr
	}
	name := fmt.Sprintf("hookrelay-test-%d", ports[0])
	c := &Cluster{tb: tb, Servers: make([]*server.Server, n)}
	for i := range n {
		c.opts = append(c.opts, server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Cluster:    server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		})
		c.dirs = append(c.dirs, tb.TempDir())
		if err := c.start(i); err != nil {
			for _, s := range c.Servers[:i] {
				s.Shutdown()
				s.WaitForShutdown()
			}
			return nil, err
		}
	}
	return c, nil
}

// Start starts server i again, on the ports and store it had before.
func (c *Cluster) Start(i int) {
	c.tb.Helper()
	if err := c.start(i); err != nil {
		c.tb.Fatal(err)
	}
}

func (c *Cluster) start(i int) error {
	s, err := startJetStream(c.dirs[i], c.opts[i])
	if err != nil {
		return err
	}
	if c.opts[i].Port <= 0 {
		c.opts[i].Host, c.opts[i].Port = "127.0.0.1", s.Addr().(*net.TCPAddr).Port
	}
	c.Servers[i] = s
	return nil
}

// Formed waits until every server has routes to all others and JetStream
// answers.
func (c *Cluster) Formed() {
	c.tb.Helper()
	_, js := Connect(c.tb, c.URLs())
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

// LeaderOf returns the index of the server leading stream, or, when
// consumer is given, that consumer of stream.
func (c *Cluster) LeaderOf(js jetstream.JetStream, stream string, consumer ...string) int {
	c.tb.Helper()
	var leader int
	CheckFor(c.tb, 30*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var ci *jetstream.ClusterInfo
		if len(consumer) > 0 {
			cons, err := js.Consumer(ctx, stream, consumer[0])
			if err != nil {
				return err
			}
			ci = cons.CachedInfo().Cluster
		} else {
			s, err := js.Stream(ctx, stream)
			if err != nil {
				return err
			}
			ci = s.CachedInfo().Cluster
		}
		if ci == nil {
			return fmt.Errorf("%s %v: no cluster info", stream, consumer)
		}
		for i, srv := range c.Servers {
			if srv.Name() == ci.Leader && srv.Running() {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("%s %v has no running leader (%q)", stream, consumer, ci.Leader)
	})
	return leader
}

// StepDown asks stream's leader to step down, and waits until another
// server leads it.
func (c *Cluster) StepDown(js jetstream.JetStream, stream string) {
	c.tb.Helper()
	before := c.LeaderOf(js, stream)
	CheckFor(c.tb, 30*time.Second, 100*time.Millisecond, func() error {
		if c.LeaderOf(js, stream) != before {
			return nil
		}
		_, err := js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 2*time.Second)
		if err != nil {
			return err
		}
		return fmt.Errorf("stream %s is still led by %s", stream, c.Servers[before].Name())
	})
}

// URLs is the client URLs of every server, comma-separated.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.opts))
	for i, o := range c.opts {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return strings.Join(urls, ",")
}
