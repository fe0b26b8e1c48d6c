package store

import (
	"strings"
	"sync"
	"testing"
)

// BenchmarkRecordAsync measures group-commit throughput with 1 KB bodies,
// reported as records/s. Every record is durable before the timer stops.
func BenchmarkRecordAsync(b *testing.B) {
	s := mustOpen(b, Options{})
	inv := newInvocation("bench", OutcomeDelivered, "dlv-0123456789", t0)
	inv.Request.Body = strings.Repeat("x", 1024)
	var wg sync.WaitGroup
	done := func(_ string, err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			wg.Add(1)
			s.RecordAsync(inv, done)
		}
	})
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRecord measures synchronous Record calls from many goroutines,
// which still share commits.
func BenchmarkRecord(b *testing.B) {
	s := mustOpen(b, Options{})
	inv := newInvocation("bench", OutcomeDelivered, "dlv-0123456789", t0)
	inv.Request.Body = strings.Repeat("x", 1024)
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Record(b.Context(), inv); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
