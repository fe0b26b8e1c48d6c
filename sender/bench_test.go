package sender

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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
