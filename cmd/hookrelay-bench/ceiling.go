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
	extra   string // what else was measured, for the report
	skipped string // why it was not measured
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

// jsCeiling starts a JetStream server in this process (store in dir),
// publishes n payloads (cycling) to a file-storage stream with PublishAsync,
// then one durable pull consumer Consume()s and acks them all. The rate is
// that of the consume phase; the publish rate goes into extra.
func jsCeiling(ctx context.Context, dir string, payloads [][]byte, n int) (res ceiling) {
	fail := func(err error) ceiling { return ceiling{n: n, skipped: err.Error()} }
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
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return fail(err)
	}
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CEILING", Subjects: []string{"ceiling.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		return fail(err)
	}
	pubStart := time.Now()
	for i := range n {
		if err := publishAsync(ctx, js, "ceiling.events", payloads[i%len(payloads)]); err != nil {
			return fail(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	pubTook := time.Since(pubStart)
	if info, err := s.Info(ctx); err != nil || info.State.Msgs != uint64(n) {
		return fail(fmt.Errorf("stream holds %v messages, want %d (%v)", info, n, err))
	}

	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "ceiling", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 16384, AckWait: time.Minute,
	})
	if err != nil {
		return fail(err)
	}
	var acked, ackErrs atomic.Int64
	done := make(chan struct{})
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if err := m.Ack(); err != nil {
			ackErrs.Add(1)
		}
		if acked.Add(1) == int64(n) {
			close(done)
		}
	}, jetstream.PullMaxMessages(1024))
	if err != nil {
		return fail(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		cc.Stop()
		return fail(fmt.Errorf("consumed %d of %d: %w", acked.Load(), n, ctx.Err()))
	}
	_ = nc.Flush()
	took := time.Since(start)
	cc.Stop()
	return ceiling{
		n: n, took: took, errors: ackErrs.Load(), perSec: float64(n) / took.Seconds(),
		extra: fmt.Sprintf("publish %.0f msgs/s", float64(n)/pubTook.Seconds()),
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
