package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Ensure 10,000 concurrent RecordAsync calls each get one successful
// callback, all records are stored, and they share far fewer commits.
func TestStore_RecordAsync_GroupCommit(t *testing.T) {
	s := mustOpen(t, Options{})
	var maxBatch atomic.Int64
	s.testHook = func(n int) error {
		for {
			m := maxBatch.Load()
			if int64(n) <= m || maxBatch.CompareAndSwap(m, int64(n)) {
				return nil
			}
		}
	}
	const n = 10_000
	calls := make([]atomic.Int32, n)
	ids := make([]string, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	var callbacks sync.WaitGroup
	callbacks.Add(n)
	for i := range n {
		wg.Go(func() {
			inv := newInvocation(fmt.Sprintf("wh-%d", i%7), OutcomeDelivered, fmt.Sprintf("d-%d", i), t0)
			s.RecordAsync(inv, func(id string, err error) {
				if err != nil {
					errs.Add(1)
				}
				ids[i] = id
				calls[i].Add(1)
				callbacks.Done()
			})
		})
	}
	wg.Wait()
	waitOrFail(t, &callbacks, 30*time.Second)

	if e := errs.Load(); e != 0 {
		t.Fatalf("%d callbacks got an error", e)
	}
	seen := make(map[string]bool, n)
	for i := range n {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("callback %d ran %d times", i, c)
		}
		if seen[ids[i]] {
			t.Fatalf("ID %s given twice", ids[i])
		}
		seen[ids[i]] = true
		got, err := s.GetInvocation(ids[i])
		if err != nil {
			t.Fatalf("GetInvocation(%s): %v", ids[i], err)
		}
		if want := fmt.Sprintf("d-%d", i); got.DeliveryID != want {
			t.Fatalf("record %s has delivery %q, want %q", ids[i], got.DeliveryID, want)
		}
	}
	st := s.Stats()
	if st.Invocations != n {
		t.Fatalf("Stats().Invocations = %d, want %d", st.Invocations, n)
	}
	if st.Commits > n/10 {
		t.Fatalf("%d commits for %d records, want at most %d", st.Commits, n, n/10)
	}
	if m := maxBatch.Load(); m > DefaultMaxBatch {
		t.Fatalf("largest batch %d exceeds MaxBatch %d", m, DefaultMaxBatch)
	}
	t.Logf("%d records in %d commits (largest batch %d)", n, st.Commits, maxBatch.Load())

	// Ensure the per-webhook indexes hold every record.
	total := 0
	for w := range 7 {
		before := ""
		for {
			page, err := s.ListInvocations(InvocationFilter{Webhook: fmt.Sprintf("wh-%d", w), Limit: MaxListLimit, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			total += len(page)
			before = page[len(page)-1].ID
		}
	}
	if total != n {
		t.Fatalf("indexes list %d records, want %d", total, n)
	}
}

// Ensure MaxBatch bounds the number of records in one commit.
func TestStore_RecordAsync_MaxBatch(t *testing.T) {
	s := mustOpen(t, Options{MaxBatch: 8})
	var over atomic.Int64
	s.testHook = func(n int) error {
		if n > 8 {
			over.Add(1)
		}
		return nil
	}
	var callbacks sync.WaitGroup
	callbacks.Add(500)
	for range 500 {
		s.RecordAsync(newInvocation("wh", OutcomeDelivered, "d", t0), func(string, error) { callbacks.Done() })
	}
	waitOrFail(t, &callbacks, 30*time.Second)
	if o := over.Load(); o != 0 {
		t.Fatalf("%d commits exceeded MaxBatch", o)
	}
	if st := s.Stats(); st.Commits < 500/8 {
		t.Fatalf("%d commits for 500 records with MaxBatch 8, want at least %d", st.Commits, 500/8)
	}
}

// waitOrFail waits for wg, failing the test after timeout.
func waitOrFail(tb testing.TB, wg *sync.WaitGroup, timeout time.Duration) {
	tb.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		tb.Fatalf("callbacks did not all run within %v", timeout)
	}
}
