package renderer

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Ensure Triggers lists the seven triggers in the documented order.
func TestTriggers(t *testing.T) {
	want := []Trigger{"RequestCreated", "RequestApproved", "RequestRejected", "RequestGranted", "RequestExpired", "RequestFailed", "Manual"}
	if got := Triggers(); !slices.Equal(got, want) {
		t.Fatalf("Triggers() = %v, want %v", got, want)
	}
	for _, tr := range want {
		if !tr.Valid() {
			t.Errorf("%s.Valid() = false", tr)
		}
	}
}

// Ensure ParseTrigger accepts both names and explains a bad one.
func TestParseTrigger(t *testing.T) {
	tests := []struct {
		name    string
		given   string
		want    Trigger
		wantErr error
	}{
		{name: "Plain", given: "RequestCreated", want: RequestCreated},
		{name: "AccessPrefix", given: "AccessRequestCreated", want: RequestCreated},
		{name: "AccessPrefixFailed", given: "AccessRequestFailed", want: RequestFailed},
		{name: "Manual", given: "Manual", want: Manual},
		{name: "AccessManual", given: "AccessManual", want: Manual},
		{name: "Empty", given: "", wantErr: ErrUnknownTrigger},
		{name: "LowerCase", given: "requestcreated", wantErr: ErrUnknownTrigger},
		{name: "DoublePrefix", given: "AccessAccessRequestCreated", wantErr: ErrUnknownTrigger},
		{name: "Unknown", given: "RequestDeleted", wantErr: ErrUnknownTrigger},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := ParseTrigger(test.given)
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("err = %v, want %v", err, test.wantErr)
			}
			if got != test.want {
				t.Fatalf("got %q, want %q", got, test.want)
			}
			if err != nil {
				msg := err.Error()
				if !strings.Contains(msg, `"`+test.given+`"`) || !strings.Contains(msg, "RequestExpired") {
					t.Fatalf("error %q should name the value and list valid triggers", msg)
				}
			}
		})
	}
}
