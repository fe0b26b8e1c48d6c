package sink

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// benchHandler drives ServeHTTP directly from parallel goroutines.
func benchHandler(b *testing.B, opts Options, path string, body []byte, gz bool, entries int) {
	s := New(opts)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		rd := bytes.NewReader(body)
		req, err := sinkRequest("http://sink"+path, io.NopCloser(rd), gz)
		if err != nil {
			b.Error(err)
			return
		}
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			rd.Reset(body)
			clear(w.h)
			w.code = 0
			s.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
	report(b, s, entries, time.Since(start))
}

// benchHTTP drives the sink through a loopback HTTP/1.1 server with
// keep-alive connections, as the end-to-end benchmark does.
func benchHTTP(b *testing.B, opts Options, path string, body []byte, gz bool, entries int) {
	s := New(opts)
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	defer client.CloseIdleConnections()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := sinkRequest(srv.URL+path, bytes.NewReader(body), gz)
			if err != nil {
				b.Error(err)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	report(b, s, entries, time.Since(start))
}

// sinkRequest is an authorized JSON POST of body to url, gzipped when gz.
func sinkRequest(url string, body io.Reader, gz bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	return req, nil
}

func report(b *testing.B, s *Sink, entries int, elapsed time.Duration) {
	b.StopTimer()
	got := s.Tally()
	if got.Accepted != int64(b.N) || got.Entries != int64(b.N*entries) {
		b.Fatalf("accepted %d entries %d, want %d and %d", got.Accepted, got.Entries, b.N, b.N*entries)
	}
	if sec := elapsed.Seconds(); sec > 0 {
		b.ReportMetric(float64(got.Accepted)/sec, "req/s")
		b.ReportMetric(float64(got.Entries)/sec, "entries/s")
	}
}

// BenchmarkSink_Singles measures gzip batches of 500 entries of about 1 KB on
// /logs/v1/singles, with full validation and with Validate off.
func BenchmarkSink_Singles(b *testing.B) {
	const entries = 500
	body := gzipped(b, singlesBody(entries, 1000))
	for _, mode := range []struct {
		name     string
		validate bool
	}{{"validate", true}, {"novalidate", false}} {
		opts := strictOptions()
		opts.Validate = mode.validate
		b.Run("handler/"+mode.name, func(b *testing.B) { benchHandler(b, opts, PathSingles, body, true, entries) })
		b.Run("http/"+mode.name, func(b *testing.B) { benchHTTP(b, opts, PathSingles, body, true, entries) })
	}
}

// BenchmarkSink_Generic measures 1 KB generic-webhook bodies (the seed's form)
// on /api/v1/logs.
func BenchmarkSink_Generic(b *testing.B) {
	body := seedBody(b, string(bytes.Repeat([]byte("justify \"quoted\" "), 40)))
	for _, mode := range []struct {
		name     string
		validate bool
	}{{"validate", true}, {"novalidate", false}} {
		opts := strictOptions()
		opts.Validate = mode.validate
		opts.EntryKey = nil
		b.Run("handler/"+mode.name, func(b *testing.B) { benchHandler(b, opts, PathLegacy, body, false, 1) })
		b.Run("http/"+mode.name, func(b *testing.B) { benchHTTP(b, opts, PathLegacy, body, false, 1) })
	}
}
