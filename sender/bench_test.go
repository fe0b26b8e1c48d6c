package sender

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// BenchmarkSend measures one delivered attempt against a loopback server,
// sequentially and in parallel.
func BenchmarkSend(b *testing.B) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(ts.Close)
	s := newUnsafe(b, Endpoint{
		URL:         ts.URL + "/hook?k=v",
		Concurrency: 16,
		Headers:     map[string]string{"Authorization": "Bearer ${BENCH_KEY}", "X-Source": "hookrelay"},
	}, Options{Getenv: fixedEnv(map[string]string{"BENCH_KEY": "bench-secret"})})
	body := []byte(`{"alias":"apono-webhook","event_type":"RequestCreated","data":{"id":"r-1"}}`)

	benchSends(b, s, body)
}

// benchSends runs Send of body one at a time and from parallel goroutines.
func benchSends(b *testing.B, s *Sender, body []byte) {
	b.Run("Sequential", func(b *testing.B) {
		b.ReportAllocs()
		d := Delivery{ID: "evt-1", Body: body}
		for b.Loop() {
			if _, err := s.Send(b.Context(), d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if _, err := s.Send(b.Context(), Delivery{ID: strconv.Itoa(i), Body: body}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// benchLogEntries returns n Coralogix log entries of about 1 KB each, with
// the mix of repeated keys and unique values that real access-request logs
// have.
func benchLogEntries(n int) []BatchEntry {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("access request approved rejected granted expired created for user on resource " +
		"database production staging role read write admin integration postgres mysql kubernetes namespace " +
		"justification ticket incident on-call review by owner policy bundle duration hours")
	hex := func(k int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, k)
		for i := range b {
			b[i] = digits[r.IntN(16)]
		}
		return string(b)
	}
	out := make([]BatchEntry, n)
	for i := range out {
		var msg strings.Builder
		for msg.Len() < 420 {
			msg.WriteString(words[r.IntN(len(words))])
			msg.WriteByte(' ')
		}
		id := hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12)
		js := fmt.Sprintf(`{"applicationName":"apono","subsystemName":"access-requests","computerName":"hookrelay-%d",`+
			`"severity":3,"timestamp":%d.%03d,"category":"RequestApproved","className":"hookrelay",`+
			`"text":{"event_id":%q,"request_id":"req-%s","user":"user%d@example.com","approver":"owner%d@example.com",`+
			`"integration":"postgres-prod-%d","resources":["db-%s","db-%s"],"permissions":["read","write"],`+
			`"message":%q,"trace":"%s"}}`,
			r.IntN(4), 1748779200000+int64(i)*7, r.IntN(1000), id, hex(10), r.IntN(5000), r.IntN(50),
			r.IntN(20), hex(6), hex(6), strings.TrimSpace(msg.String()), hex(32))
		out[i] = BatchEntry{ID: id + ":cx", JSON: []byte(js)}
	}
	return out
}

// BenchmarkSendBatch measures one delivered batch of 500 entries of about
// 1 KB against a loopback server, sequentially and in parallel, and reports
// entries per second.
func BenchmarkSendBatch(b *testing.B) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(ts.Close)
	s := newUnsafe(b, Endpoint{
		URL:         ts.URL + "/logs/v1/singles",
		Concurrency: 16,
		Headers:     map[string]string{"Authorization": "Bearer ${BENCH_KEY}"},
	}, Options{Getenv: fixedEnv(map[string]string{"BENCH_KEY": "bench-secret"})})
	entries := benchLogEntries(500)
	size := 0
	for _, e := range entries {
		size += len(e.JSON)
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N*len(entries))/b.Elapsed().Seconds(), "entries/s")
	}

	b.Run("Sequential", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			if res := s.SendBatch(b.Context(), entries); res.Errs[0] != nil {
				b.Fatal(res.Errs[0])
			}
		}
		report(b)
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res := s.SendBatch(b.Context(), entries); res.Errs[0] != nil {
					b.Error(res.Errs[0])
					return
				}
			}
		})
		report(b)
	})
}

// memServer answers every request with a canned 200 over an in-memory
// listener, and points s's connections at it, so that a benchmark measures
// the sender's own work and fasthttp's, not the kernel's.
func memServer(b *testing.B, s *Sender) {
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("Date", "Mon, 02 Jun 2025 12:00:00 GMT")
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	s.pool.connect = func(context.Context) (net.Conn, error) { return ln.Dial() }
}

// BenchmarkSendOverhead measures Send's own work per attempt: the same
// endpoint as BenchmarkSend with a ~1 KB body, but behind a server that
// answers in memory.
func BenchmarkSendOverhead(b *testing.B) {
	s := newUnsafe(b, Endpoint{
		URL:     "http://127.0.0.1:1/hook?k=v",
		Headers: map[string]string{"Authorization": "Bearer ${BENCH_KEY}", "X-Source": "hookrelay"},
	}, Options{Getenv: fixedEnv(map[string]string{"BENCH_KEY": "bench-secret"})})
	memServer(b, s)
	body := []byte(`{"alias":"apono-webhook","event_type":"RequestCreated","data":{"id":"r-1","justification":"` +
		strings.Repeat("x", 900) + `"}}`)

	benchSends(b, s, body)
	// Floor is what fasthttp and the server cost without Send: the same
	// request through the same connections.
	b.Run("Floor", func(b *testing.B) {
		b.ReportAllocs()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		for b.Loop() {
			req.Reset()
			req.Header.SetMethod(http.MethodPost)
			req.Header.SetRequestURI("/hook?k=v")
			req.Header.SetHost("127.0.0.1:1")
			req.Header.Set("Authorization", "Bearer bench-secret")
			req.Header.Set("X-Source", "hookrelay")
			req.Header.SetUserAgent(DefaultUserAgent)
			req.Header.SetContentType(DefaultContentType)
			req.Header.Set("Idempotency-Key", "evt-1")
			req.SetBodyRaw(body)
			if _, err := s.roundTrip(b.Context(), req, resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
