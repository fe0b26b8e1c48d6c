package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSampleOf(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name  string
		given []byte
		want  string
	}{
		// Ensure a short valid payload is kept.
		{name: "Short", given: []byte(`{"a":1}`), want: `{"a":1}`},
		// Ensure invalid UTF-8 is replaced.
		{name: "Invalid", given: []byte("ok\xff\xfe!"), want: "ok\uFFFD!"},
		// Ensure a long payload is cut to MaxSampleBytes.
		{name: "Long", given: []byte(long), want: long[:MaxSampleBytes]},
		// Ensure a cut inside a character drops the partial character.
		{name: "SplitRune", given: []byte(strings.Repeat("x", MaxSampleBytes-1) + "é" + "rest"), want: strings.Repeat("x", MaxSampleBytes-1)},
		// Ensure an empty payload gives an empty sample.
		{name: "Empty", given: nil, want: ""},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got := SampleOf(test.given)
			if got != test.want {
				t.Fatalf("SampleOf = %q, want %q", got, test.want)
			}
			if !utf8.ValidString(got) || len(got) > MaxSampleBytes {
				t.Fatalf("sample is not valid UTF-8 of at most %d bytes", MaxSampleBytes)
			}
			if again := SampleOf([]byte(got)); again != got {
				t.Fatalf("SampleOf is not idempotent: %q", again)
			}
		})
	}
}

// Ensure a rejected event round-trips, its sample is made valid, and the
// list is newest first with paging.
func TestStore_PutRejected(t *testing.T) {
	s := mustOpen(t, Options{})
	want := Rejected{
		Subject:    "coralogix.events",
		StreamSeq:  42,
		Reason:     "malformed JSON",
		Size:       7,
		Sample:     "{\xffbad",
		ReceivedAt: t0,
	}
	id, err := s.PutRejected(t.Context(), want)
	if err != nil {
		t.Fatal(err)
	}
	want.ID = id
	want.Sample = "{\uFFFDbad"
	got, err := s.GetRejected(id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetRejected = %+v, want %+v", got, want)
	}

	ids := []string{id}
	for range 3 {
		id, err := s.PutRejected(t.Context(), Rejected{Subject: "s", Sample: strings.Repeat("y", 5000)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	list, err := s.ListRejected(0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 || list[0].ID != ids[3] || list[3].ID != ids[0] {
		t.Fatalf("ListRejected = %d records, not newest first", len(list))
	}
	if len(list[0].Sample) != MaxSampleBytes {
		t.Fatalf("sample is %d bytes, want %d", len(list[0].Sample), MaxSampleBytes)
	}
	page, err := s.ListRejected(2, ids[3])
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] {
		t.Fatalf("ListRejected(2, %s) = %+v", ids[3], page)
	}
	if _, err := s.ListRejected(0, "bad"); !errors.Is(err, ErrInvalidFilter) {
		t.Fatalf("bad cursor: err = %v, want ErrInvalidFilter", err)
	}
	if _, err := s.GetRejected("0000000000000077"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown ID: err = %v, want ErrNotFound", err)
	}
}
