package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/consumer"
	"github.com/hookrelay/hookrelay/internal/config"
)

// Ensure the names config reserves are the ones the relay really uses.
func TestDeliveriesNamesMatchConsumer(t *testing.T) {
	if config.DeliveriesStream != consumer.DefaultDeliveriesStream {
		t.Errorf("config.DeliveriesStream = %q, consumer.DefaultDeliveriesStream = %q", config.DeliveriesStream, consumer.DefaultDeliveriesStream)
	}
	if config.DeliveriesPrefix != consumer.DefaultDeliveriesPrefix {
		t.Errorf("config.DeliveriesPrefix = %q, consumer.DefaultDeliveriesPrefix = %q", config.DeliveriesPrefix, consumer.DefaultDeliveriesPrefix)
	}
}

// ruleCase is a config that must fail validation with the given messages.
type ruleCase struct {
	name    string
	given   string
	env     map[string]string // the environment; nil for none
	wantErr []string          // substrings of FieldError.Error(), each found in some error
	wantIs  error
}

// checkRules runs each case through Parse and checks that its errors carry
// the path, line and message, and never the value of a variable.
func checkRules(t *testing.T, tests []ruleCase) {
	t.Helper()
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := config.Parse([]byte(test.given), "config.yaml", config.LoadOptions{Getenv: env(test.env)})
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			fes := fieldErrors(t, err)
			for _, want := range test.wantErr {
				found := false
				for _, fe := range fes {
					found = found || strings.Contains(fe.Error(), want)
				}
				if !found {
					t.Errorf("no error contains %q; got:\n%s", want, err)
				}
			}
			if !errors.Is(err, test.wantIs) {
				t.Errorf("errors.Is(err, %v) = false; err:\n%s", test.wantIs, err)
			}
			for k, v := range test.env {
				if v != "" && strings.Contains(err.Error(), v) {
					t.Errorf("error text shows the value of %s:\n%s", k, err)
				}
			}
		})
	}
}

// Ensure events.subjects and events.stream cannot collide with the relay's
// own deliveries stream, nor the subjects with each other.
func TestParse_EventsReservedRules(t *testing.T) {
	const overlaps = `overlaps "hookrelay.deliveries.>", the subjects of the relay's own HOOKRELAY_DELIVERIES stream`
	checkRules(t, []ruleCase{
		// A wildcard above the deliveries prefix takes the deliveries too.
		{name: "ParentWildcard", given: "events:\n  subjects: [\"hookrelay.>\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "hookrelay.>" ` + overlaps}, wantIs: config.ErrInvalidValue},
		// The full wildcard takes every subject.
		{name: "FullWildcard", given: "events:\n  subjects: [\">\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject ">" ` + overlaps}, wantIs: config.ErrInvalidValue},
		// A literal subject inside the deliveries space.
		{name: "LiteralDelivery", given: "events:\n  subjects: [hookrelay.deliveries.x]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "hookrelay.deliveries.x" ` + overlaps}, wantIs: config.ErrInvalidValue},
		// A '*' in the first token still reaches hookrelay.deliveries.*.
		{name: "StarFirstToken", given: "events:\n  subjects: [\"*.deliveries.>\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "*.deliveries.>" ` + overlaps}, wantIs: config.ErrInvalidValue},
		// '*' tokens of the right length reach hookrelay.deliveries.<webhook>.
		{name: "AllStars", given: "events:\n  subjects: [\"*.*.*\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "*.*.*" ` + overlaps}, wantIs: config.ErrInvalidValue},
		// The error points at the offending entry of a block sequence.
		{name: "SecondOfTwo", given: "events:\n  subjects:\n    - apono.events.>\n    - hookrelay.deliveries.*\n",
			wantErr: []string{`events.subjects[1] (line 4, col 7): subject "hookrelay.deliveries.*" ` + overlaps}, wantIs: config.ErrInvalidValue},
		// Two events subjects that overlap would make JetStream refuse the stream.
		{name: "SubjectsOverlapEachOther", given: "events:\n  subjects: [\"apono.>\", \"apono.events.*\"]\n",
			wantErr: []string{`events.subjects[1] (line 2, col 25): subject "apono.events.*" overlaps events.subjects[0] "apono.>"`}, wantIs: config.ErrInvalidValue},
		// A duplicated subject is an overlap too.
		{name: "DuplicateSubject", given: "events:\n  subjects: [a.b, a.b]\n",
			wantErr: []string{`events.subjects[1] (line 2, col 19): subject "a.b" overlaps events.subjects[0] "a.b"`}, wantIs: config.ErrInvalidValue},
		// Syntax is still checked first: '>' must be last.
		{name: "WildcardNotLast", given: "events:\n  subjects: [\"hookrelay.>.x\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "hookrelay.>.x": '>' must be the last token`}, wantIs: config.ErrInvalidValue},
		// Syntax: an empty token (trailing dot).
		{name: "TrailingDot", given: "events:\n  subjects: [\"hookrelay.\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "hookrelay." has an empty token`}, wantIs: config.ErrInvalidValue},
		// Syntax: an empty subject.
		{name: "EmptySubject", given: "events:\n  subjects: [\"\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): empty subject`}, wantIs: config.ErrInvalidValue},
		// Syntax: a tab inside a token.
		{name: "Tab", given: "events:\n  subjects: [\"apono.\\tx\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "apono.\tx" contains whitespace`}, wantIs: config.ErrInvalidValue},
		// The events stream must not be the deliveries stream.
		{name: "StreamIsDeliveries", given: "events:\n  stream: HOOKRELAY_DELIVERIES\n",
			wantErr: []string{`events.stream (line 2, col 3): stream name "HOOKRELAY_DELIVERIES" is reserved for the relay's own deliveries stream`}, wantIs: config.ErrInvalidValue},
	})
}

// Ensure subjects next to, but not inside, the deliveries space are accepted.
func TestParse_EventsSubjectsValid(t *testing.T) {
	tests := []struct {
		name     string
		subjects string
	}{
		{"OtherPrefix", `["apono.events.>"]`},                // the default kind of subject
		{"SiblingOfDeliveries", `["hookrelay.events.>"]`},    // same first token, different second
		{"DeliveriesPrefixItself", `[hookrelay.deliveries]`}, // '>' needs one more token, so no overlap
		{"TwoStarsTooShort", `["*.*"]`},                      // deliveries subjects have three or more tokens
		{"DisjointPair", `["a.>", "b.>"]`},                   // two subjects that do not overlap each other
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			given := "events:\n  stream: HOOKRELAY_EVENTS\n  subjects: " + test.subjects + "\n"
			if _, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil)}); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}
