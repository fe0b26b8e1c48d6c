package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Ensure an invocation round-trips with every field and gets a 16-digit
// sortable ID.
func TestStore_Record(t *testing.T) {
	s := mustOpen(t, Options{})
	want := Invocation{
		Webhook:    "slack-alerts",
		DeliveryID: "dlv-1",
		EventID:    "ev-1",
		EventType:  "AccessRequestApproved",
		Attempt:    3,
		StartedAt:  time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC),
		DurationMS: 41.25,
		Request: HTTPRequest{
			Method:  "POST",
			URL:     "https://hooks.example.invalid/x?y=<z>&w",
			Headers: map[string]string{"Content-Type": "application/json", "Idempotency-Key": "dlv-1"},
			Body:    `{"text":"<b>approved</b> & done","emoji":"✅"}`,
		},
		Response: &HTTPResponse{Status: 503, Headers: map[string]string{"Retry-After": "3"}, Body: "busy"},
		Error:    "server error: 503",
		Outcome:  OutcomeRetrying,
		BatchID:  "batch-9",
		Test:     true,
	}
	id := mustRecord(t, s, want)
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("ID %q is not 16 lowercase hex digits", id)
	}
	want.ID = id
	got, err := s.GetInvocation(id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetInvocation =\n%+v\nwant\n%+v", got, want)
	}

	// Ensure later records get higher IDs, and a zero StartedAt becomes now.
	inv := newInvocation("slack-alerts", OutcomeDelivered, "dlv-2", time.Time{})
	inv.Response = nil
	id2 := mustRecord(t, s, inv)
	if id2 <= id {
		t.Fatalf("second ID %s is not above first ID %s", id2, id)
	}
	got2, err := s.GetInvocation(id2)
	if err != nil {
		t.Fatal(err)
	}
	if !got2.StartedAt.Equal(t0) || got2.Response != nil {
		t.Fatalf("got StartedAt %v Response %v, want %v and nil", got2.StartedAt, got2.Response, t0)
	}
}

func TestStore_Record_Truncates(t *testing.T) {
	big := strings.Repeat("a", MaxBodyBytes+100)
	// A 3-byte rune that starts 1 byte before the limit.
	straddling := strings.Repeat("a", MaxBodyBytes-1) + "€" + "tail"
	tests := []struct {
		name         string
		givenRequest string
		givenResp    string
		wantRequest  string
		wantResp     string
	}{
		// Ensure small bodies are kept as they are.
		{name: "Small", givenRequest: "abc", givenResp: "def", wantRequest: "abc", wantResp: "def"},
		// Ensure a body of exactly MaxBodyBytes is kept.
		{name: "Exact", givenRequest: big[:MaxBodyBytes], givenResp: "", wantRequest: big[:MaxBodyBytes], wantResp: ""},
		// Ensure longer bodies are cut to MaxBodyBytes with nothing appended.
		{name: "Long", givenRequest: big, givenResp: big, wantRequest: big[:MaxBodyBytes], wantResp: big[:MaxBodyBytes]},
		// Ensure a cut never splits a UTF-8 character.
		{name: "Rune", givenRequest: straddling, givenResp: straddling, wantRequest: straddling[:MaxBodyBytes-1], wantResp: straddling[:MaxBodyBytes-1]},
	}
	s := mustOpen(t, Options{})
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			inv := newInvocation("wh", OutcomeDelivered, "d", t0)
			inv.Request.Body = test.givenRequest
			resp := &HTTPResponse{Status: 200, Body: test.givenResp}
			inv.Response = resp
			got, err := s.GetInvocation(mustRecord(t, s, inv))
			if err != nil {
				t.Fatal(err)
			}
			if got.Request.Body != test.wantRequest {
				t.Errorf("request body: got %d bytes, want %d", len(got.Request.Body), len(test.wantRequest))
			}
			if got.Response.Body != test.wantResp {
				t.Errorf("response body: got %d bytes, want %d", len(got.Response.Body), len(test.wantResp))
			}
			if resp.Body != test.givenResp {
				t.Errorf("the caller's response was modified")
			}
		})
	}
}

func TestStore_Record_Errors(t *testing.T) {
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		given   Invocation
		wantErr error
	}{
		// Ensure a record without a webhook is refused before it is queued.
		{name: "NoWebhook", ctx: t.Context(), given: newInvocation("", OutcomeDelivered, "d", t0), wantErr: ErrInvalidRecord},
		// Ensure a webhook name too long for a bbolt key is refused.
		{name: "LongWebhook", ctx: t.Context(), given: newInvocation(strings.Repeat("w", 40000), OutcomeDelivered, "d", t0), wantErr: ErrInvalidRecord},
		// Ensure an ended context is reported.
		{name: "Canceled", ctx: canceled, given: newInvocation("wh", OutcomeDelivered, "d", t0), wantErr: context.Canceled},
	}
	s := mustOpen(t, Options{})
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if _, err := s.Record(test.ctx, test.given); !errors.Is(err, test.wantErr) {
				t.Fatalf("Record: err = %v, want %v", err, test.wantErr)
			}
		})
	}
	// Ensure RecordAsync reports an invalid record to its callback.
	var got error
	s.RecordAsync(newInvocation("", OutcomeDelivered, "d", t0), func(_ string, err error) { got = err })
	if !errors.Is(got, ErrInvalidRecord) {
		t.Fatalf("RecordAsync callback: err = %v, want ErrInvalidRecord", got)
	}
	if n := s.Stats().Invocations; n != 0 {
		t.Fatalf("%d invocations stored, want 0", n)
	}
}

// Ensure a failed commit is reported to every callback of its batch and
// stores nothing.
func TestStore_Record_CommitError(t *testing.T) {
	s := mustOpen(t, Options{})
	boom := errors.New("disk on fire")
	s.testHook = func(int) error { return boom }
	if _, err := s.Record(t.Context(), newInvocation("wh", OutcomeDelivered, "d", t0)); !errors.Is(err, boom) {
		t.Fatalf("Record: err = %v, want %v", err, boom)
	}
	if n := s.Stats().Invocations; n != 0 {
		t.Fatalf("Stats().Invocations = %d, want 0", n)
	}
	list, err := s.ListInvocations(InvocationFilter{})
	if err != nil || len(list) != 0 {
		t.Fatalf("ListInvocations = %d records, %v; want none", len(list), err)
	}
}

func TestStore_GetInvocation(t *testing.T) {
	s := mustOpen(t, Options{})
	id := mustRecord(t, s, newInvocation("wh", OutcomeDelivered, "d", t0))
	tests := []struct {
		name    string
		given   string
		wantErr error
	}{
		// Ensure a stored ID is found.
		{name: "Found", given: id},
		// Ensure an unknown ID gives ErrNotFound.
		{name: "Unknown", given: "00000000000000ff", wantErr: ErrNotFound},
		// Ensure malformed IDs give ErrNotFound.
		{name: "Short", given: "12", wantErr: ErrNotFound},
		{name: "NotHex", given: "zzzzzzzzzzzzzzzz", wantErr: ErrNotFound},
		{name: "Empty", given: "", wantErr: ErrNotFound},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := s.GetInvocation(test.given)
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("err = %v, want %v", err, test.wantErr)
			}
			if err == nil && got.ID != test.given {
				t.Fatalf("ID = %q, want %q", got.ID, test.given)
			}
		})
	}
}

func TestStore_ListInvocations(t *testing.T) {
	s := mustOpen(t, Options{})
	// Written in this order; ids[i] belongs to given[i].
	given := []Invocation{
		newInvocation("a", OutcomeRetrying, "d1", t0),
		newInvocation("b", OutcomeDelivered, "d2", t0),
		newInvocation("a", OutcomeDelivered, "d1", t0),
		newInvocation("a", OutcomeDeadLettered, "d3", t0),
		newInvocation("b", OutcomeFailed, "d4", t0),
		newInvocation("a", OutcomeDelivered, "d5", t0),
	}
	// A body mentioning another delivery must not match it.
	given[1].Request.Body = `{"delivery_id":"d1","outcome":"retrying"}`
	ids := make([]string, len(given))
	for i, inv := range given {
		ids[i] = mustRecord(t, s, inv)
	}
	tests := []struct {
		name    string
		given   InvocationFilter
		want    []int // indexes into ids
		wantErr error
	}{
		// Ensure no filter lists everything, newest first.
		{name: "All", want: []int{5, 4, 3, 2, 1, 0}},
		// Ensure a webhook filter lists only that webhook.
		{name: "Webhook", given: InvocationFilter{Webhook: "a"}, want: []int{5, 3, 2, 0}},
		// Ensure an outcome filter works with and without a webhook.
		{name: "Outcome", given: InvocationFilter{Outcome: OutcomeDelivered}, want: []int{5, 2, 1}},
		{name: "WebhookOutcome", given: InvocationFilter{Webhook: "a", Outcome: OutcomeDelivered}, want: []int{5, 2}},
		{name: "WebhookOutcomeNone", given: InvocationFilter{Webhook: "b", Outcome: OutcomeRetrying}, want: []int{}},
		// Ensure a delivery filter lists every attempt of that delivery only.
		{name: "Delivery", given: InvocationFilter{DeliveryID: "d1"}, want: []int{2, 0}},
		{name: "DeliveryOutcome", given: InvocationFilter{DeliveryID: "d1", Outcome: OutcomeRetrying}, want: []int{0}},
		{name: "WebhookDelivery", given: InvocationFilter{Webhook: "b", DeliveryID: "d1"}, want: []int{}},
		// Ensure Before lists only older records.
		{name: "Before", given: InvocationFilter{Before: ids[3]}, want: []int{2, 1, 0}},
		{name: "WebhookBefore", given: InvocationFilter{Webhook: "a", Before: ids[3]}, want: []int{2, 0}},
		{name: "BeforeFirst", given: InvocationFilter{Before: ids[0]}, want: []int{}},
		// Ensure a Before newer than every record lists everything.
		{name: "BeforeFuture", given: InvocationFilter{Before: "ffffffffffffffff"}, want: []int{5, 4, 3, 2, 1, 0}},
		// Ensure Limit caps the result.
		{name: "Limit", given: InvocationFilter{Limit: 2}, want: []int{5, 4}},
		{name: "WebhookLimit", given: InvocationFilter{Webhook: "a", Limit: 3}, want: []int{5, 3, 2}},
		// Ensure an unknown webhook lists nothing.
		{name: "UnknownWebhook", given: InvocationFilter{Webhook: "zzz"}, want: []int{}},
		// Ensure a malformed cursor or an unknown outcome is an error.
		{name: "BadBefore", given: InvocationFilter{Before: "nope"}, wantErr: ErrInvalidFilter},
		{name: "BadOutcome", given: InvocationFilter{Outcome: "exploded"}, wantErr: ErrInvalidFilter},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := s.ListInvocations(test.given)
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("err = %v, want %v", err, test.wantErr)
			}
			if err != nil {
				return
			}
			gotIDs := make([]string, len(got))
			for i, inv := range got {
				gotIDs[i] = inv.ID
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

// Ensure paging with Before visits every record once, newest first, and
// that the limit defaults and caps apply.
func TestStore_ListInvocations_Paging(t *testing.T) {
	s := mustOpen(t, Options{})
	const n = 1100
	done := make(chan string, n)
	for range n {
		s.RecordAsync(newInvocation("wh", OutcomeDelivered, "d", t0), func(id string, err error) {
			if err != nil {
				t.Errorf("RecordAsync: %v", err)
			}
			done <- id
		})
	}
	for range n {
		<-done
	}

	page, err := s.ListInvocations(InvocationFilter{})
	if err != nil || len(page) != DefaultListLimit {
		t.Fatalf("default limit: got %d, %v; want %d", len(page), err, DefaultListLimit)
	}
	page, err = s.ListInvocations(InvocationFilter{Webhook: "wh", Limit: 5000})
	if err != nil || len(page) != MaxListLimit {
		t.Fatalf("capped limit: got %d, %v; want %d", len(page), err, MaxListLimit)
	}

	var all []string
	before := ""
	for {
		page, err := s.ListInvocations(InvocationFilter{Webhook: "wh", Limit: 300, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, inv := range page {
			all = append(all, inv.ID)
		}
		before = page[len(page)-1].ID
	}
	if len(all) != n {
		t.Fatalf("paged through %d records, want %d", len(all), n)
	}
	for i := 1; i < len(all); i++ {
		if all[i] >= all[i-1] {
			t.Fatalf("not newest first at %d: %s then %s", i, all[i-1], all[i])
		}
	}
}
