package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// Ensure a dead letter round-trips with its full-size body.
func TestStore_PutDeadLetter(t *testing.T) {
	s := mustOpen(t, Options{})
	body := bytes.Repeat([]byte{0xff, 'x', 0}, MaxBodyBytes) // binary, 3x the invocation limit
	want := DeadLetter{
		Webhook:          "pagerduty",
		DeliveryID:       "dlv-7",
		EventID:          "ev-7",
		EventType:        "AccessRequestExpired",
		Headers:          map[string]string{"Content-Type": "application/json"},
		Body:             body,
		Reason:           "permanent: 410 Gone",
		Attempts:         4,
		LastStatus:       410,
		LastInvocationID: "00000000000000a1",
		CreatedAt:        time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC),
	}
	id, err := s.PutDeadLetter(t.Context(), want)
	if err != nil {
		t.Fatal(err)
	}
	want.ID = id
	got, err := s.GetDeadLetter(id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetDeadLetter = %+v, want %+v", got, want)
	}

	// Ensure a zero CreatedAt becomes now and a missing webhook is refused.
	id2, err := s.PutDeadLetter(t.Context(), DeadLetter{Webhook: "pagerduty"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDeadLetter(id2); !got.CreatedAt.Equal(t0) {
		t.Fatalf("CreatedAt = %v, want %v", got.CreatedAt, t0)
	}
	if _, err := s.PutDeadLetter(t.Context(), DeadLetter{}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("PutDeadLetter without webhook: err = %v, want ErrInvalidRecord", err)
	}
}

func TestStore_ListDeadLetters(t *testing.T) {
	s := mustOpen(t, Options{})
	webhooks := []string{"a", "b", "a", "a", "b"}
	ids := make([]string, len(webhooks))
	for i, wh := range webhooks {
		id, err := s.PutDeadLetter(t.Context(), DeadLetter{Webhook: wh, Body: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	tests := []struct {
		name        string
		givenHook   string
		givenLimit  int
		givenBefore string
		want        []int
		wantErr     error
	}{
		// Ensure all webhooks are listed newest first.
		{name: "All", want: []int{4, 3, 2, 1, 0}},
		// Ensure a webhook lists only its own.
		{name: "Webhook", givenHook: "a", want: []int{3, 2, 0}},
		// Ensure Before and limit page through the list.
		{name: "Before", givenBefore: ids[3], want: []int{2, 1, 0}},
		{name: "WebhookBefore", givenHook: "a", givenBefore: ids[3], givenLimit: 1, want: []int{2}},
		{name: "Limit", givenLimit: 2, want: []int{4, 3}},
		// Ensure an unknown webhook lists nothing.
		{name: "Unknown", givenHook: "c", want: []int{}},
		// Ensure a malformed cursor is an error.
		{name: "BadBefore", givenBefore: "x", wantErr: ErrInvalidFilter},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := s.ListDeadLetters(test.givenHook, test.givenLimit, test.givenBefore)
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("err = %v, want %v", err, test.wantErr)
			}
			if err != nil {
				return
			}
			gotIDs := make([]string, len(got))
			for i, dl := range got {
				gotIDs[i] = dl.ID
			}
			wantIDs := make([]string, len(test.want))
			for i, w := range test.want {
				wantIDs[i] = ids[w]
			}
			if !reflect.DeepEqual(gotIDs, wantIDs) {
				t.Fatalf("IDs = %v, want %v", gotIDs, wantIDs)
			}
		})
	}
}

// Ensure deleting dead letters updates lists, counts and Stats, and that a
// missing ID gives ErrNotFound.
func TestStore_DeleteDeadLetter(t *testing.T) {
	s := mustOpen(t, Options{})
	var ids []string
	for _, wh := range []string{"a", "b", "a"} {
		id, err := s.PutDeadLetter(t.Context(), DeadLetter{Webhook: wh})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	counts, err := s.CountDeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a": 2, "b": 1}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("CountDeadLetters = %v, want %v", counts, want)
	}

	if err := s.DeleteDeadLetter(ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDeadLetter(ids[0]); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		given   string
		wantErr error
	}{
		// Ensure a deleted ID is gone.
		{name: "Deleted", given: ids[1], wantErr: ErrNotFound},
		// Ensure unknown and malformed IDs give ErrNotFound.
		{name: "Unknown", given: "0000000000000099", wantErr: ErrNotFound},
		{name: "Malformed", given: "abc", wantErr: ErrNotFound},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if err := s.DeleteDeadLetter(test.given); !errors.Is(err, test.wantErr) {
				t.Fatalf("DeleteDeadLetter: err = %v, want %v", err, test.wantErr)
			}
			if _, err := s.GetDeadLetter(test.given); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetDeadLetter: err = %v, want ErrNotFound", err)
			}
		})
	}

	counts, err = s.CountDeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	// Ensure a webhook with no dead letters left is not counted.
	if want := map[string]int{"a": 1}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("CountDeadLetters = %v, want %v", counts, want)
	}
	if list, _ := s.ListDeadLetters("b", 0, ""); len(list) != 0 {
		t.Fatalf("ListDeadLetters(b) = %d records, want 0", len(list))
	}
	if n := s.Stats().DeadLetters; n != 1 {
		t.Fatalf("Stats().DeadLetters = %d, want 1", n)
	}
}
