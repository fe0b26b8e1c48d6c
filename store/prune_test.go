package store

import (
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestStore_Prune(t *testing.T) {
	tests := []struct {
		name             string
		givenRetention   time.Duration
		givenAges        []time.Duration // invocation ages at t0, written oldest first
		givenRejectedAge []time.Duration
		wantPruned       int
		wantLeft         int
	}{
		// Ensure records older than the retention go and newer ones stay.
		{name: "Mixed", givenRetention: 24 * time.Hour,
			givenAges: []time.Duration{72 * time.Hour, 25 * time.Hour, 23 * time.Hour, time.Hour}, givenRejectedAge: []time.Duration{48 * time.Hour, time.Minute},
			wantPruned: 3, wantLeft: 3},
		// Ensure a record exactly at the cutoff is kept.
		{name: "AtCutoff", givenRetention: time.Hour, givenAges: []time.Duration{time.Hour}, wantPruned: 0, wantLeft: 1},
		// Ensure pruning stops at the first record new enough, in write order.
		{name: "StopsAtNewer", givenRetention: time.Hour,
			givenAges: []time.Duration{2 * time.Hour, 0, 3 * time.Hour}, wantPruned: 1, wantLeft: 2},
		// Ensure no retention keeps everything.
		{name: "NoRetention", givenAges: []time.Duration{1000 * time.Hour}, wantPruned: 0, wantLeft: 1},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			s := mustOpen(t, Options{Retention: test.givenRetention})
			for i, age := range test.givenAges {
				wh := "old"
				if i == len(test.givenAges)-1 {
					wh = "new"
				}
				mustRecord(t, s, newInvocation(wh, OutcomeDelivered, "d", t0.Add(-age)))
			}
			for _, age := range test.givenRejectedAge {
				if _, err := s.PutRejected(t.Context(), Rejected{Subject: "s", ReceivedAt: t0.Add(-age)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.PutDeadLetter(t.Context(), DeadLetter{Webhook: "old", CreatedAt: t0.Add(-1000 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Prune(t0)
			if err != nil {
				t.Fatal(err)
			}
			if got != test.wantPruned {
				t.Fatalf("Prune = %d, want %d", got, test.wantPruned)
			}
			st := s.Stats()
			if left := int(st.Invocations + st.Rejected); left != test.wantLeft {
				t.Fatalf("%d records left, want %d", left, test.wantLeft)
			}
			// Ensure dead letters are never pruned.
			if st.DeadLetters != 1 {
				t.Fatalf("%d dead letters left, want 1", st.DeadLetters)
			}
			// Ensure the index agrees with the records.
			all, err := s.ListInvocations(InvocationFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(all)) != st.Invocations {
				t.Fatalf("ListInvocations = %d records, Stats says %d", len(all), st.Invocations)
			}
			indexed := 0
			for _, wh := range []string{"old", "new"} {
				list, err := s.ListInvocations(InvocationFilter{Webhook: wh})
				if err != nil {
					t.Fatal(err)
				}
				indexed += len(list)
			}
			if indexed != len(all) {
				t.Fatalf("indexes list %d records, want %d", indexed, len(all))
			}
		})
	}
}

// Ensure pruning more than one chunk deletes everything old, drops the empty
// index bucket and leaves a consistent file.
func TestStore_Prune_Chunks(t *testing.T) {
	s := mustOpen(t, Options{Retention: time.Hour})
	const n = pruneChunk + 500
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		s.RecordAsync(newInvocation("old", OutcomeDelivered, "d", t0.Add(-2*time.Hour)), func(_ string, err error) {
			if err != nil {
				t.Errorf("RecordAsync: %v", err)
			}
			wg.Done()
		})
	}
	waitOrFail(t, &wg, 60*time.Second)
	keep := mustRecord(t, s, newInvocation("new", OutcomeDelivered, "d", t0))

	got, err := s.Prune(t0)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("Prune = %d, want %d", got, n)
	}
	if _, err := s.GetInvocation(keep); err != nil {
		t.Fatalf("kept record: %v", err)
	}
	if st := s.Stats(); st.Invocations != 1 {
		t.Fatalf("Stats().Invocations = %d, want 1", st.Invocations)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketInvocationsWebhook).Bucket([]byte("old")) != nil {
			t.Errorf("index bucket of a webhook without records still exists")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
