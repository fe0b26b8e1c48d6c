package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookrelay/hookrelay/internal/testutil"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// mustOpen opens a store in a fresh temporary directory. Its cleanup runs
// bbolt's consistency check on the file and closes the store.
func mustOpen(tb testing.TB, opts Options) *Store {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "data", "hookrelay.db"), opts)
}

// mustOpenPath opens the store at path with the same cleanup as mustOpen.
func mustOpenPath(tb testing.TB, path string, opts Options) *Store {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	s, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if !closed {
			checkConsistency(tb, s.db)
		}
		// tb.Context is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if closed {
			checkFile(tb, path)
		}
	})
	return s
}

// checkConsistency runs tx.Check on db and reports every error.
func checkConsistency(tb testing.TB, db *bolt.DB) {
	tb.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		tb.Errorf("bbolt consistency check: %v", err)
	}
}

// checkFile opens the closed file at path and runs tx.Check on it.
func checkFile(tb testing.TB, path string) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		tb.Errorf("reopen for check: %v", err)
		return
	}
	checkConsistency(tb, db)
	if err := db.Close(); err != nil {
		tb.Errorf("close after check: %v", err)
	}
}

// checkFor polls until f returns nil; see testutil.CheckFor.
var checkFor = testutil.CheckFor

// closeStore closes s within a bounded time.
func closeStore(tb testing.TB, s *Store) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// newInvocation returns a small invocation.
func newInvocation(webhook, outcome, delivery string, started time.Time) Invocation {
	return Invocation{
		Webhook:    webhook,
		DeliveryID: delivery,
		EventID:    "ev-" + delivery,
		EventType:  "AccessRequestCreated",
		Attempt:    1,
		StartedAt:  started,
		DurationMS: 12.5,
		Request: HTTPRequest{
			Method:  "POST",
			URL:     "https://example.invalid/hook",
			Headers: map[string]string{"Content-Type": "application/json"},
			Body:    `{"hello":"world"}`,
		},
		Response: &HTTPResponse{Status: 200, Headers: map[string]string{}, Body: "ok"},
		Outcome:  outcome,
	}
}

// mustRecord stores inv and returns its ID.
func mustRecord(tb testing.TB, s *Store, inv Invocation) string {
	tb.Helper()
	id, err := s.Record(tb.Context(), inv)
	if err != nil {
		tb.Fatalf("Record: %v", err)
	}
	return id
}

func TestOpen_Options(t *testing.T) {
	tests := []struct {
		name    string
		given   Options
		wantErr error
	}{
		// Ensure the zero Options are valid.
		{name: "Zero", given: Options{}},
		// Ensure every field may be set.
		{name: "All", given: Options{Retention: time.Hour, PruneInterval: time.Minute, LockTimeout: time.Second, MaxBatch: 10}},
		// Ensure negative values fail Open with ErrInvalidOption.
		{name: "NegativeRetention", given: Options{Retention: -1}, wantErr: ErrInvalidOption},
		{name: "NegativePruneInterval", given: Options{PruneInterval: -1}, wantErr: ErrInvalidOption},
		{name: "NegativeLockTimeout", given: Options{LockTimeout: -1}, wantErr: ErrInvalidOption},
		{name: "NegativeMaxBatch", given: Options{MaxBatch: -1}, wantErr: ErrInvalidOption},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "x.db"), test.given)
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("err = %v, want %v", err, test.wantErr)
			}
			if err == nil {
				closeStore(t, s)
			}
		})
	}
}

// Ensure a second Open of a file that is open fails with ErrLocked within the
// lock timeout.
func TestOpen_Locked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "hookrelay.db")
	mustOpenPath(t, path, Options{})

	start := time.Now()
	s2, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		closeStore(t, s2)
		t.Fatal("second Open succeeded, want ErrLocked")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("second Open took %v, want about the 200ms lock timeout", elapsed)
	}
}

// Ensure Close commits every queued write, runs every callback once, and a
// reopened store gives all records back.
func TestStore_Close(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	s, err := Open(path, Options{MaxBatch: 64})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var calls, failed atomic.Int64
	ids := make([]string, n)
	for i := range n {
		s.RecordAsync(newInvocation("wh", OutcomeDelivered, "d", t0), func(id string, err error) {
			calls.Add(1)
			if err != nil {
				failed.Add(1)
			}
			ids[i] = id
		})
	}
	dlID, err := s.PutDeadLetter(t.Context(), DeadLetter{Webhook: "wh", Body: []byte("x"), Reason: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	if got := calls.Load(); got != n {
		t.Fatalf("callbacks = %d, want %d", got, n)
	}
	if got := failed.Load(); got != 0 {
		t.Fatalf("failed callbacks = %d, want 0", got)
	}

	// Ensure a closed store refuses work with ErrClosed.
	if _, err := s.Record(t.Context(), newInvocation("wh", OutcomeDelivered, "d", t0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close: err = %v, want ErrClosed", err)
	}
	var asyncErr error
	s.RecordAsync(newInvocation("wh", OutcomeDelivered, "d", t0), func(_ string, err error) { asyncErr = err })
	if !errors.Is(asyncErr, ErrClosed) {
		t.Errorf("RecordAsync after Close: err = %v, want ErrClosed", asyncErr)
	}
	if _, err := s.GetInvocation(ids[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("GetInvocation after Close: err = %v, want ErrClosed", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s2 := mustOpenPath(t, path, Options{})
	if got := s2.Stats(); got.Invocations != n || got.DeadLetters != 1 {
		t.Fatalf("reopened Stats = %+v, want %d invocations and 1 dead letter", got, n)
	}
	for _, id := range ids {
		if _, err := s2.GetInvocation(id); err != nil {
			t.Fatalf("GetInvocation(%s) after reopen: %v", id, err)
		}
	}
	if _, err := s2.GetDeadLetter(dlID); err != nil {
		t.Fatalf("GetDeadLetter after reopen: %v", err)
	}
	// Ensure sequences continue after a reopen instead of reusing IDs.
	next := mustRecord(t, s2, newInvocation("wh", OutcomeDelivered, "d", t0))
	if next <= ids[n-1] {
		t.Fatalf("ID after reopen %s is not above the last ID %s", next, ids[n-1])
	}
}

// Ensure that when Close's context has ended, every queued write still gets
// exactly one callback (committed or ErrClosed) and the file holds exactly
// the committed ones.
func TestStore_Close_ContextDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	s, err := Open(path, Options{MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var mu sync.Mutex
	calls := make(map[int]int)
	var committed int
	for i := range n {
		s.RecordAsync(newInvocation("wh", OutcomeRetrying, "d", t0), func(_ string, err error) {
			mu.Lock()
			defer mu.Unlock()
			calls[i]++
			switch {
			case err == nil:
				committed++
			case !errors.Is(err, ErrClosed):
				t.Errorf("callback %d: err = %v, want nil or ErrClosed", i, err)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: err = %v, want nil or context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if calls[i] != 1 {
			t.Fatalf("callback %d ran %d times, want 1", i, calls[i])
		}
	}
	s2 := mustOpenPath(t, path, Options{})
	if got := s2.Stats().Invocations; got != int64(committed) {
		t.Fatalf("reopened store has %d invocations, callbacks reported %d committed", got, committed)
	}
}

// Ensure Stats counts records per bucket and reports the file size.
func TestStore_Stats(t *testing.T) {
	s := mustOpen(t, Options{})
	for range 3 {
		mustRecord(t, s, newInvocation("wh", OutcomeDelivered, "d", t0))
	}
	if _, err := s.PutDeadLetter(t.Context(), DeadLetter{Webhook: "wh"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRejected(t.Context(), Rejected{Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	got := s.Stats()
	if got.Invocations != 3 || got.DeadLetters != 1 || got.Rejected != 1 {
		t.Fatalf("Stats = %+v, want 3 invocations, 1 dead letter, 1 rejected", got)
	}
	if got.FileSize <= 0 {
		t.Fatalf("FileSize = %d, want > 0", got.FileSize)
	}
	if got.Commits < 1 || got.Commits > 5 {
		t.Fatalf("Commits = %d, want 1..5", got.Commits)
	}
}

// Ensure Start with a prune interval prunes in the background, using the
// injected clock, and stops with Close.
func TestStore_Start(t *testing.T) {
	var now atomic.Pointer[time.Time]
	now.Store(&t0)
	s := mustOpen(t, Options{
		Retention:     time.Hour,
		PruneInterval: 5 * time.Millisecond,
		Now:           func() time.Time { return *now.Load() },
	})
	s.Start(t.Context())
	s.Start(t.Context()) // a second Start does nothing
	mustRecord(t, s, newInvocation("wh", OutcomeDelivered, "d", time.Time{}))
	if _, err := s.PutRejected(t.Context(), Rejected{Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(2 * time.Hour)
	now.Store(&later)
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if st := s.Stats(); st.Invocations != 0 || st.Rejected != 0 {
			return fmt.Errorf("not pruned yet: %+v", st)
		}
		return nil
	})
}
