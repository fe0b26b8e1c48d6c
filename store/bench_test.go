package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecordAsync measures group-commit throughput with 1 KB bodies,
// reported as records/s. Every record is durable before the timer stops.
func BenchmarkRecordAsync(b *testing.B) {
	inv := newInvocation("bench", OutcomeDelivered, "dlv-0123456789", t0)
	inv.Request.Body = strings.Repeat("x", 1024)
	benchRecordAsync(b, func(int) Invocation { return inv })
}

// BenchmarkRecordAsync_Rendered is BenchmarkRecordAsync with invocations as
// the relay records them: a rendered JSON body of about 1 KB that differs
// from record to record, the sent and received headers, and a short
// response body.
func BenchmarkRecordAsync_Rendered(b *testing.B) {
	invs := make([]Invocation, 256)
	for i := range invs {
		invs[i] = renderedInvocation(i)
	}
	benchRecordAsync(b, func(i int) Invocation { return invs[i%len(invs)] })
}

// BenchmarkRecordAsync_Paced records rendered invocations at the relay's
// rate of 9,000 a second (9 every millisecond) and reports the process CPU
// time per record: the store's cost when it is not saturated and commits
// are small. Run it with -benchtime Nx, e.g. 45000x for five seconds.
func BenchmarkRecordAsync_Paced(b *testing.B) {
	const perTick = 9
	invs := make([]Invocation, 256)
	for i := range invs {
		invs[i] = renderedInvocation(i)
	}
	s := mustOpen(b, Options{})
	wg, done := recordDone(b)
	commits := s.Stats().Commits
	written := writtenBytes()
	cpu := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 0; i < b.N; {
		<-tick.C
		for j := 0; j < perTick && i < b.N; j++ {
			wg.Add(1)
			s.RecordAsync(invs[i%len(invs)], done)
			i++
		}
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/record")
	b.ReportMetric(float64(b.N)/float64(s.Stats().Commits-commits), "records/commit")
	if written >= 0 {
		b.ReportMetric(float64(writtenBytes()-written)/float64(b.N), "wbytes/record")
	}
}

// recordDone is a RecordAsync callback that fails the benchmark on an error
// and counts down the returned WaitGroup.
func recordDone(b *testing.B) (*sync.WaitGroup, func(string, error)) {
	wg := &sync.WaitGroup{}
	return wg, func(_ string, err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRecordAsync records b.N invocations from 4 goroutines per core and
// reports records/s and the bytes the process wrote per record.
func benchRecordAsync(b *testing.B, next func(i int) Invocation) {
	s := mustOpen(b, Options{})
	wg, done := recordDone(b)
	commits := s.Stats().Commits
	written := writtenBytes()
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			wg.Add(1)
			s.RecordAsync(next(i), done)
			i++
		}
	})
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/float64(s.Stats().Commits-commits), "records/commit")
	if written >= 0 {
		b.ReportMetric(float64(writtenBytes()-written)/float64(b.N), "wbytes/record")
	}
}

// renderedInvocation returns a delivered invocation like the relay records
// for one rendered event; i varies its IDs and contents.
func renderedInvocation(i int) Invocation {
	id := fmt.Sprintf("%08x-4f2a-4c1e-9d7b-%012x", i*2654435761, i*40503)
	started := t0.Add(time.Duration(i) * time.Millisecond)
	body := fmt.Sprintf(`{"applicationName":"access-broker","subsystemName":"requests","computerName":"relay-%d",`+
		`"severity":3,"timestamp":%d,"text":{"event_type":"AccessRequestCreated","event_id":%q,`+
		`"request":{"id":%q,"status":"pending","created_at":%q,"expires_at":%q,`+
		`"requester":{"id":"usr_%06d","email":"user%d@example.com","name":"User Number %d","groups":["engineering","oncall-%d"]},`+
		`"resources":[{"type":"aws_role","name":"prod-readonly-%d","account":"%012d"},{"type":"k8s_namespace","name":"payments-%d"}],`+
		`"justification":"Investigating incident INC-%d: elevated 5xx on checkout; need read access to logs and dashboards.",`+
		`"approvers":["lead%d@example.com","sre%d@example.com"],"duration_minutes":%d},`+
		`"links":{"request":"https://access.example.com/requests/%s","approve":"https://access.example.com/requests/%s/approve"}}}`,
		i%16, started.UnixMilli(), id, id, started.Format(time.RFC3339Nano), started.Add(time.Hour).Format(time.RFC3339Nano),
		i, i, i, i%8, i%32, 100000000000+i*7919, i%5, 4000+i, i%3, i%7, 30+i%90, id, id)
	return Invocation{
		Webhook:    "coralogix-" + strconv.Itoa(i%4),
		DeliveryID: "dlv-" + id,
		EventID:    id,
		EventType:  "AccessRequestCreated",
		Attempt:    1 + i%3,
		StartedAt:  started,
		DurationMS: float64(1000+i%5000) / 1000,
		Request: HTTPRequest{
			Method: "POST",
			URL:    "https://ingress.eu2.coralogix.com/logs/v1/singles",
			Headers: map[string]string{
				"Content-Type":    "application/json",
				"User-Agent":      "hookrelay/1.0",
				"Idempotency-Key": "dlv-" + id,
				"Authorization":   "[REDACTED]",
			},
			Body: body,
		},
		Response: &HTTPResponse{
			Status:  200,
			Headers: map[string]string{"Content-Type": "application/json", "Date": started.Format(time.RFC1123), "Content-Length": "16"},
			Body:    `{"status":"ok"}`,
		},
		Outcome: OutcomeDelivered,
	}
}

// writtenBytes returns the bytes this process has passed to write calls
// (wchar of /proc/self/io), or -1 where that is not available.
func writtenBytes() int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("wchar: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
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
