package main

import (
	"slices"
	"sync/atomic"
	"time"
)

// recorder keeps the publish and first-delivery time of every event, in
// nanoseconds since base (zero: not yet).
type recorder struct {
	base time.Time
	// on gates recording: the HTTP ceiling posts marked bodies too.
	on atomic.Bool

	pub []int64 // written by the publisher only
	got []int64 // first delivery, set with CompareAndSwap

	delivered  atomic.Int64
	duplicates atomic.Int64
	stray      atomic.Int64 // entries without a marker or out of range
}

func newRecorder(n int, base time.Time) *recorder {
	return &recorder{base: base, pub: make([]int64, n), got: make([]int64, n)}
}

// published notes event i as published now.
func (r *recorder) published(i int) { atomic.StoreInt64(&r.pub[i], since(r.base)) }

// entry records one accepted sink entry. It runs on the sink's goroutines.
func (r *recorder) entry(i int, ok bool) {
	if !r.on.Load() {
		return
	}
	if !ok || i < 0 || i >= len(r.got) {
		r.stray.Add(1)
		return
	}
	if atomic.CompareAndSwapInt64(&r.got[i], 0, since(r.base)) {
		r.delivered.Add(1)
		return
	}
	r.duplicates.Add(1)
}

// latencies holds the publish→first-delivery latency distribution.
type latencies struct {
	n                  int
	p50, p90, p99, max time.Duration
	// last is the latest first delivery, relative to base.
	last time.Duration
	// first is the earliest publish, relative to base.
	first time.Duration
}

// stats computes the latency distribution of delivered events.
func (r *recorder) stats() latencies {
	d := make([]int64, 0, len(r.got))
	var l latencies
	for i := range r.got {
		g, p := atomic.LoadInt64(&r.got[i]), atomic.LoadInt64(&r.pub[i])
		if p != 0 && (l.first == 0 || time.Duration(p) < l.first) {
			l.first = time.Duration(p)
		}
		if g == 0 || p == 0 {
			continue
		}
		if time.Duration(g) > l.last {
			l.last = time.Duration(g)
		}
		d = append(d, max(g-p, 0))
	}
	slices.Sort(d)
	l.n = len(d)
	l.p50, l.p90, l.p99 = pct(d, 50), pct(d, 90), pct(d, 99)
	if len(d) > 0 {
		l.max = time.Duration(d[len(d)-1])
	}
	return l
}

// pct is the nearest-rank percentile p of sorted s.
func pct(s []int64, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	k := (len(s)*p + 99) / 100 // ceil(n·p/100)
	k = min(max(k, 1), len(s))
	return time.Duration(s[k-1])
}
