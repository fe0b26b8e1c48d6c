package sender

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
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

// stubTransport answers every request with a canned 200 without touching
// the network, so that a benchmark measures the sender's own work.
type stubTransport struct{ body string }

func (st stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {"application/json"},
			"Content-Length": {strconv.Itoa(len(st.body))},
			"Date":           {"Mon, 02 Jun 2025 12:00:00 GMT"},
		},
		Body:          io.NopCloser(strings.NewReader(st.body)),
		ContentLength: int64(len(st.body)),
		Request:       r,
	}, nil
}

// BenchmarkSendOverhead measures Send's own work per attempt: the same
// endpoint as BenchmarkSend with a ~1 KB body, but behind a transport that
// answers in memory.
func BenchmarkSendOverhead(b *testing.B) {
	s := newUnsafe(b, Endpoint{
		URL:     "http://127.0.0.1:1/hook?k=v",
		Headers: map[string]string{"Authorization": "Bearer ${BENCH_KEY}", "X-Source": "hookrelay"},
	}, Options{
		Getenv:    fixedEnv(map[string]string{"BENCH_KEY": "bench-secret"}),
		Transport: stubTransport{body: `{"ok":true}`},
	})
	body := []byte(`{"alias":"apono-webhook","event_type":"RequestCreated","data":{"id":"r-1","justification":"` +
		strings.Repeat("x", 900) + `"}}`)

	benchSends(b, s, body)
	// Floor is what net/http and the stub cost without Send: the same
	// request through the same client, its body read and closed.
	b.Run("Floor", func(b *testing.B) {
		b.ReportAllocs()
		tmpl, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/hook?k=v", nil)
		if err != nil {
			b.Fatal(err)
		}
		tmpl.Header = http.Header{
			"Authorization": {"Bearer bench-secret"}, "X-Source": {"hookrelay"}, "User-Agent": {DefaultUserAgent},
			"Content-Type": {DefaultContentType}, "Idempotency-Key": {"evt-1"},
		}
		for b.Loop() {
			req := tmpl.WithContext(b.Context())
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			resp, err := s.rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	})
}
