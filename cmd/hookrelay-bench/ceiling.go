package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ceiling is one measured upper bound.
type ceiling struct {
	n       int
	took    time.Duration
	errors  int64
	perSec  float64
	cpuPer  time.Duration // this process's CPU per message, when measured
	cores   float64       // this process's CPU over the wall time, when measured
	extra   string        // what else was measured, for the report
	skipped string        // why it was not measured
}

// batchBodies joins one-element JSON arrays into gzip-compressed arrays of
// up to per elements each.
func batchBodies(bodies [][]byte, per int) ([][]byte, error) {
	var out [][]byte
	for i := 0; i < len(bodies); i += per {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte{'['})
		for j := i; j < min(i+per, len(bodies)); j++ {
			if j > i {
				_, _ = zw.Write([]byte{','})
			}
			b := bodies[j]
			_, _ = zw.Write(b[1 : len(b)-1])
		}
		_, _ = zw.Write([]byte{']'})
		if err := zw.Close(); err != nil {
			return nil, err
		}
		out = append(out, buf.Bytes())
	}
	return out, nil
}

// httpCeiling POSTs n bodies (cycling) to url with conc workers over one
// plain net/http client, with the relay's headers, and returns req/s. With
// gzipped set the bodies are compressed batches of per entries, and the
// rate counts entries.
func httpCeiling(ctx context.Context, url string, bodies [][]byte, n, conc, per int, gzipped bool) ceiling {
	tr := &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next, fails atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := bytes.NewReader(nil)
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				rd.Reset(bodies[i%len(bodies)])
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rd)
				if err != nil {
					fails.Add(1)
					continue
				}
				req.ContentLength = int64(rd.Len())
				req.Header.Set("Content-Type", "application/json")
				if gzipped {
					req.Header.Set("Content-Encoding", "gzip")
				}
				req.Header.Set("Authorization", "Bearer "+benchAPIKey)
				req.Header.Set("Idempotency-Key", "ceiling-"+strconv.Itoa(i))
				req.Header.Set("User-Agent", "hookrelay-bench")
				resp, err := c.Do(req)
				if err != nil {
					fails.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					fails.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	return ceiling{n: n * per, took: took, errors: fails.Load(), perSec: float64(n*per) / took.Seconds()}
}

// jsCeiling starts a JetStream server in this process (store in dir) and
// measures it alone, with n payloads (cycling), in three phases:
//   - publish: PublishAsync to a file-storage stream, nothing consuming;
//   - consume: one durable pull consumer Consume()s and acks them all;
//   - hop: a second stream's consumer consumes and acks while the payloads
//     are published on another connection, as events arrive in the relay
//     phase. This is one durable hop with no work done per message, the
//     floor under any relay that acks each event after a durable output.
//
// The rate returned is the consume phase's; the publish rate goes into
// extra, and the hop into hop, with the process's CPU per message.
func jsCeiling(ctx context.Context, dir string, payloads [][]byte, n int, ticks int64) (res, hop ceiling) {
	fail := func(err error) (ceiling, ceiling) {
		return ceiling{n: n, skipped: err.Error()}, ceiling{n: n, skipped: err.Error()}
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true, MaxPayload: 8 << 20,
	})
	if err != nil {
		return fail(err)
	}
	go ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(15 * time.Second) {
		return fail(fmt.Errorf("nats server did not start"))
	}
	var js [2]jetstream.JetStream // consuming, publishing
	for i := range js {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			return fail(err)
		}
		defer nc.Close()
		if js[i], err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
			return fail(err)
		}
	}
	cons := func(name string) (jetstream.Consumer, error) {
		s, err := js[0].CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage})
		if err != nil {
			return nil, err
		}
		return s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: "ceiling", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 16384, AckWait: time.Minute,
		})
	}

	c, err := cons("CEILING")
	if err != nil {
		return fail(err)
	}
	pubStart := time.Now()
	if err := publishAll(ctx, js[1], "CEILING.events", payloads, n); err != nil {
		return fail(err)
	}
	pubTook := time.Since(pubStart)
	start := time.Now()
	ackErrs, err := consumeAll(ctx, js[0], c, n, nil)
	if err != nil {
		return fail(err)
	}
	took := time.Since(start)
	res = ceiling{
		n: n, took: took, errors: ackErrs, perSec: float64(n) / took.Seconds(),
		extra: fmt.Sprintf("publish %.0f msgs/s", float64(n)/pubTook.Seconds()),
	}

	if c, err = cons("HOP"); err != nil {
		return res, ceiling{n: n, skipped: err.Error()}
	}
	c0, start := snapCPU(ticks), time.Now()
	ackErrs, err = consumeAll(ctx, js[0], c, n, func() error { return publishAll(ctx, js[1], "HOP.events", payloads, n) })
	if err != nil {
		return res, ceiling{n: n, skipped: err.Error()}
	}
	took = time.Since(start)
	cpu := snapCPU(ticks).self - c0.self
	return res, ceiling{
		n: n, took: took, errors: ackErrs, perSec: float64(n) / took.Seconds(),
		cpuPer: cpu / time.Duration(n), cores: cpu.Seconds() / took.Seconds(),
	}
}

// publishAll publishes n payloads (cycling) to subj and waits for every ack.
func publishAll(ctx context.Context, js jetstream.JetStream, subj string, payloads [][]byte, n int) error {
	for i := range n {
		if err := publishAsync(ctx, js, subj, payloads[i%len(payloads)]); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// consumeAll Consume()s from c and acks until n messages were acked and the
// acks reached the server (js is c's connection), running during (when not
// nil) meanwhile. It returns the number of failed acks.
func consumeAll(ctx context.Context, js jetstream.JetStream, c jetstream.Consumer, n int, during func() error) (int64, error) {
	var acked, ackErrs atomic.Int64
	done := make(chan struct{})
	cc, err := c.Consume(func(m jetstream.Msg) {
		if err := m.Ack(); err != nil {
			ackErrs.Add(1)
		}
		if acked.Add(1) == int64(n) {
			close(done)
		}
	}, jetstream.PullMaxMessages(1024))
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	if during != nil {
		if err := during(); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
		return ackErrs.Load(), js.Conn().FlushWithContext(ctx)
	case <-ctx.Done():
		return 0, fmt.Errorf("consumed %d of %d: %w", acked.Load(), n, ctx.Err())
	}
}

// publishAsync publishes with PublishAsync, waiting for room when the
// bounded pending window is full.
func publishAsync(ctx context.Context, js jetstream.JetStream, subj string, data []byte) error {
	for {
		_, err := js.PublishAsync(subj, data, jetstream.WithStallWait(time.Second))
		if err == nil {
			return nil
		}
		if err != jetstream.ErrTooManyStalledMsgs {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// discardWriter is a minimal http.ResponseWriter for timing the sink alone.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// sinkCost times h.ServeHTTP alone (no network) over bodies, per request,
// on one goroutine. Rejections are counted.
func sinkCost(h http.Handler, path string, bodies [][]byte, n int) (per time.Duration, rejected int) {
	w := &discardWriter{h: http.Header{}}
	rd := bytes.NewReader(nil)
	start := time.Now()
	for i := range n {
		rd.Reset(bodies[i%len(bodies)])
		req, _ := http.NewRequest(http.MethodPost, "http://sink"+path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+benchAPIKey)
		req.Header.Set("Idempotency-Key", "cost-"+strconv.Itoa(i))
		clear(w.h)
		w.code = http.StatusOK
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			rejected++
		}
	}
	return time.Since(start) / time.Duration(n), rejected
}
