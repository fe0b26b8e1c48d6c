package renderer

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// decodeSentinels are the errors DecodeEvent may wrap.
var decodeSentinels = []error{ErrEmpty, ErrTooLarge, ErrInvalidUTF8, ErrNotObject, ErrMalformed, ErrUnknownEventType}

// mustDecode decodes an event or fails the test.
func mustDecode(tb testing.TB, b []byte) *Event {
	tb.Helper()
	ev, err := DecodeEvent(b, 0)
	if err != nil {
		tb.Fatalf("DecodeEvent: %v", err)
	}
	return ev
}

// Ensure DecodeEvent rejects each class of bad payload with its sentinel and
// a message saying where, and accepts good events.
func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name        string
		given       string
		givenMax    int
		wantTrigger Trigger
		wantTime    json.Number
		wantErr     error
		wantInMsg   string
	}{
		{name: "Good", given: `{"event_type":"RequestCreated","event_time":1732406400.123456,"data":{"id":"x"}}`, wantTrigger: RequestCreated, wantTime: "1732406400.123456"},
		{name: "GoodAccessPrefix", given: `{"event_type":"AccessRequestGranted","data":{}}`, wantTrigger: RequestGranted},
		{name: "GoodNoData", given: `{"event_type":"Manual"}`, wantTrigger: Manual},
		{name: "GoodNullData", given: `{"event_type":"Manual","data":null}`, wantTrigger: Manual},
		{name: "GoodTimeAsString", given: `{"event_type":"RequestFailed","event_time":"1732406400.5"}`, wantTrigger: RequestFailed, wantTime: "1732406400.5"},
		{name: "GoodTimeBadString", given: `{"event_type":"RequestFailed","event_time":"yesterday"}`, wantTrigger: RequestFailed},
		{name: "GoodWhitespaceAround", given: " \n{\"event_type\":\"RequestExpired\"}\n\t", wantTrigger: RequestExpired},
		{name: "GoodAtLimit", given: `{"event_type":"Manual"}`, givenMax: 23, wantTrigger: Manual},
		{name: "TooLarge", given: `{"event_type":"Manual"}`, givenMax: 22, wantErr: ErrTooLarge, wantInMsg: "23 bytes, limit is 22"},
		{name: "Empty", given: ``, wantErr: ErrEmpty},
		{name: "Whitespace", given: " \r\n\t ", wantErr: ErrEmpty},
		{name: "InvalidUTF8", given: "{\"event_type\":\"Manual\",\"x\":\"\xff\"}", wantErr: ErrInvalidUTF8, wantInMsg: "offset 28"},
		{name: "Array", given: `[{"event_type":"Manual"}]`, wantErr: ErrNotObject, wantInMsg: "an array"},
		{name: "String", given: `"RequestCreated"`, wantErr: ErrNotObject, wantInMsg: "a string"},
		{name: "Number", given: `42`, wantErr: ErrNotObject, wantInMsg: "a number"},
		{name: "Null", given: `null`, wantErr: ErrNotObject, wantInMsg: "null"},
		{name: "NotJSON", given: `event_type=RequestCreated`, wantErr: ErrMalformed, wantInMsg: "offset 1"},
		{name: "Truncated", given: `{"event_type":"RequestCreated"`, wantErr: ErrMalformed, wantInMsg: "end of JSON input at offset 30"},
		// The end of the input is where a truncated payload goes wrong, not
		// the start of the value it cuts off.
		{name: "TruncatedAfterComma", given: "{\"event_type\": \"RequestCreated\", \n", wantErr: ErrMalformed, wantInMsg: "end of JSON input at offset 34"},
		{name: "TrailingGarbage", given: `{"event_type":"RequestCreated"} x`, wantErr: ErrMalformed, wantInMsg: "offset 32"},
		{name: "TwoObjects", given: `{"event_type":"Manual"}{"event_type":"Manual"}`, wantErr: ErrMalformed, wantInMsg: "trailing"},
		{name: "DataNotObject", given: `{"event_type":"Manual","data":[1]}`, wantErr: ErrMalformed, wantInMsg: "data"},
		{name: "TypeMissing", given: `{"data":{}}`, wantErr: ErrUnknownEventType, wantInMsg: "missing"},
		{name: "TypeNotString", given: `{"event_type":7}`, wantErr: ErrUnknownEventType, wantInMsg: "a number"},
		{name: "TypeNull", given: `{"event_type":null}`, wantErr: ErrUnknownEventType},
		{name: "TypeUnknown", given: `{"event_type":"RequestDeleted"}`, wantErr: ErrUnknownEventType, wantInMsg: `"RequestDeleted"`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(test.given), test.givenMax)
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("err = %v, want %v", err, test.wantErr)
			}
			if err != nil {
				if ev != nil {
					t.Fatal("event returned with an error")
				}
				for _, s := range decodeSentinels {
					if s != test.wantErr && errors.Is(err, s) {
						t.Fatalf("err %v also wraps %v", err, s)
					}
				}
				if !strings.Contains(err.Error(), test.wantInMsg) {
					t.Fatalf("err %q does not contain %q", err, test.wantInMsg)
				}
				return
			}
			if ev.Trigger != test.wantTrigger {
				t.Fatalf("Trigger = %q, want %q", ev.Trigger, test.wantTrigger)
			}
			if ev.Time != test.wantTime {
				t.Fatalf("Time = %q, want %q", ev.Time, test.wantTime)
			}
			if ev.Data == nil || ev.Root == nil {
				t.Fatal("Data and Root must not be nil")
			}
			if ev.Type != ev.Root["event_type"] {
				t.Fatalf("Type = %q, Root has %v", ev.Type, ev.Root["event_type"])
			}
		})
	}
}

// Ensure DecodeEvent keeps numbers as json.Number so they render exactly.
func TestDecodeEvent_Numbers(t *testing.T) {
	ev := mustDecode(t, []byte(`{"event_type":"Manual","event_time":1732406400.123456,"data":{"n":12345678901234567890,"f":1.5e3}}`))
	if got := ev.Root["event_time"]; got != json.Number("1732406400.123456") {
		t.Fatalf("event_time = %#v", got)
	}
	if got := ev.Data["n"]; got != json.Number("12345678901234567890") {
		t.Fatalf("n = %#v", got)
	}
}

// Ensure Event.Get walks dotted paths with plain and bracketed array indexes.
func TestEvent_Get(t *testing.T) {
	ev := mustDecode(t, []byte(`{"event_type":"Manual","data":{"access_groups":[{"integration":{"name":"prod-postgres"}},{"integration":{"name":"aws-prod"}}],"a b":{"c":true}}}`))
	tests := []struct {
		name   string
		given  string
		want   any
		wantOK bool
	}{
		{name: "Top", given: "event_type", want: "Manual", wantOK: true},
		{name: "Index", given: "data.access_groups.0.integration.name", want: "prod-postgres", wantOK: true},
		{name: "BracketIndex", given: "data.access_groups.[1].integration.name", want: "aws-prod", wantOK: true},
		{name: "BracketKey", given: "data.[a b].c", want: true, wantOK: true},
		{name: "IndexOutOfRange", given: "data.access_groups.2.integration", wantOK: false},
		{name: "NegativeIndex", given: "data.access_groups.-1", wantOK: false},
		{name: "NotAnIndex", given: "data.access_groups.x", wantOK: false},
		{name: "Missing", given: "data.nope", wantOK: false},
		{name: "ThroughScalar", given: "event_type.x", wantOK: false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, ok := ev.Get(test.given)
			if ok != test.wantOK || !reflect.DeepEqual(got, test.want) {
				t.Fatalf("Get(%q) = %#v, %v; want %#v, %v", test.given, got, ok, test.want, test.wantOK)
			}
		})
	}
	if root, ok := ev.Get(""); !ok || !reflect.DeepEqual(root, ev.Root) {
		t.Fatal(`Get("") should return Root`)
	}
	var nilEv *Event
	if _, ok := nilEv.Get("data"); ok {
		t.Fatal("Get on a nil event should fail")
	}
}
