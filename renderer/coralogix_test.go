package renderer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCoralogix_Entry(t *testing.T) {
	// Ensure a log entry carries every field of the singles API, with the
	// timestamp moved from seconds to milliseconds without losing digits,
	// the severity of the event type (or its override), and the text as
	// JSON or as a string.
	tests := []struct {
		name      string
		givenSpec CoralogixSpec
		givenType string
		givenTime string
		wantSev   int
		wantMS    string
		wantNS    string
		wantText  string // "" = the event itself, as JSON
	}{
		{"created", CoralogixSpec{ApplicationName: "apono", SubsystemName: "access"}, "RequestCreated", "1732406400.123456", 3, "1732406400123.456", "1732406400123456000", ""},
		{"failed is error", CoralogixSpec{ApplicationName: "apono", SubsystemName: "access"}, "AccessRequestFailed", "1732406400.5", 5, "1732406400500", "1732406400500000000", ""},
		{"rejected is warning", CoralogixSpec{ApplicationName: "apono", SubsystemName: "access"}, "RequestRejected", "1732406400", 4, "1732406400000", "1732406400000000000", ""},
		{"override", CoralogixSpec{ApplicationName: "apono", SubsystemName: "access", Severity: map[Trigger]int{RequestGranted: 6}}, "RequestGranted", "1732406400.000001", 6, "1732406400000.001", "1732406400000001000", ""},
		{"exponent time", CoralogixSpec{ApplicationName: "apono", SubsystemName: "access"}, "RequestExpired", "1.7324064001e9", 3, "1732406400100", "1732406400100000000", ""},
		{"text template", CoralogixSpec{ApplicationName: "a-{{data.access_flow.name}}", SubsystemName: "s", TextTemplate: "{{data.requester.email}} wants \"{{data.justification}}\""}, "Manual", "1", 3, "1000", "1000000000", "ada@example.com wants \"why <&> \n\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCoralogix(tt.givenSpec)
			if err != nil {
				t.Fatal(err)
			}
			raw := []byte(`{"event_type":"` + tt.givenType + `","event_time":` + tt.givenTime + `,"data":{"requester":{"email":"ada@example.com"},"justification":"why <&> \n","access_flow":{"name":"Flow \"1\""},"access_groups":[{"integration":{"type":"postgresql"}}]}}`)
			ev, err := DecodeEvent(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Entry(ev, raw)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) {
				t.Fatalf("entry is not JSON: %s", b)
			}
			var e struct {
				ApplicationName, SubsystemName, HiResTimestamp, Category, ClassName string
				Timestamp                                                           json.Number
				Severity                                                            int
				Text                                                                json.RawMessage
			}
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.UseNumber()
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			if e.Severity != tt.wantSev || e.Timestamp.String() != tt.wantMS || e.HiResTimestamp != tt.wantNS {
				t.Errorf("severity %d timestamp %s hiRes %s; want %d %s %s", e.Severity, e.Timestamp, e.HiResTimestamp, tt.wantSev, tt.wantMS, tt.wantNS)
			}
			if e.Category != tt.givenType || e.ClassName != "postgresql" {
				t.Errorf("category %q className %q", e.Category, e.ClassName)
			}
			if tt.wantText == "" {
				if string(e.Text) != string(raw) {
					t.Errorf("text %s, want the event", e.Text)
				}
			} else {
				var got string
				if err := json.Unmarshal(e.Text, &got); err != nil || got != tt.wantText {
					t.Errorf("text %s (%v), want %q", e.Text, err, tt.wantText)
				}
				if e.ApplicationName != `a-Flow "1"` {
					t.Errorf("applicationName %q", e.ApplicationName)
				}
			}
		})
	}
}

func TestCoralogix_EntryWithoutTime(t *testing.T) {
	// Ensure an event without event_time is stamped with the current time.
	c, err := NewCoralogix(CoralogixSpec{ApplicationName: "a", SubsystemName: "s"})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Unix(1700000000, 123456789) }
	raw := []byte(`{"event_type":"RequestCreated","data":{}}`)
	ev, _ := DecodeEvent(raw, 0)
	b, _ := c.Entry(ev, raw)
	if !strings.Contains(string(b), `"timestamp":1700000000123.456789,"hiResTimestamp":"1700000000123456789"`) {
		t.Errorf("entry %s", b)
	}
}

func TestCoralogix_EntryWithEmptyName(t *testing.T) {
	// Ensure an event whose application or subsystem name renders empty
	// (or blank) is refused on its own, before it could make Coralogix
	// refuse the batch it would have joined.
	raw := []byte(`{"event_type":"RequestCreated","event_time":1,"data":{"custom_fields":{"app":"billing","blank":"  "}}}`)
	ev, err := DecodeEvent(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []CoralogixSpec{
		{ApplicationName: "{{data.custom_fields.missing}}", SubsystemName: "s"},
		{ApplicationName: "a", SubsystemName: "{{data.custom_fields.blank}}"},
	} {
		c, err := NewCoralogix(spec)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := c.Entry(ev, raw); !errors.Is(err, ErrEmptyName) {
			t.Errorf("%+v: entry %s, error %v; want ErrEmptyName", spec, b, err)
		}
	}
	c, err := NewCoralogix(CoralogixSpec{ApplicationName: "{{data.custom_fields.app}}", SubsystemName: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := c.Entry(ev, raw); err != nil || !strings.Contains(string(b), `"applicationName":"billing"`) {
		t.Errorf("entry %s, error %v", b, err)
	}
}

// Ensure NewCoralogix names the key of the template that does not compile,
// once, as a *TemplateError.
func TestNewCoralogix_TemplateError(t *testing.T) {
	tests := []struct {
		name    string
		given   CoralogixSpec
		wantMsg string
	}{
		{name: "ApplicationName", given: CoralogixSpec{ApplicationName: "{{#if x}}", SubsystemName: "s"}, wantMsg: "application_name line 1 col 1: "},
		{name: "SubsystemName", given: CoralogixSpec{ApplicationName: "a", SubsystemName: "s-{{> part}}"}, wantMsg: "subsystem_name line 1 col 3: "},
		{name: "BodyTemplate", given: CoralogixSpec{ApplicationName: "a", SubsystemName: "s", TextTemplate: "{{/if}}"}, wantMsg: "body_template line 1 col 1: "},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := NewCoralogix(test.given)
			var te *TemplateError
			if !errors.As(err, &te) || !errors.Is(err, ErrTemplate) {
				t.Fatalf("err = %v, want *TemplateError", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, test.wantMsg) {
				t.Errorf("message %q does not start with %q", msg, test.wantMsg)
			}
			if test.name != "BodyTemplate" && strings.Contains(msg, "body_template") {
				t.Errorf("message %q names body_template", msg)
			}
		})
	}
}
