package config

import (
	"errors"
	"testing"
)

// Ensure expandEnv follows the documented grammar.
func TestExpandEnv(t *testing.T) {
	vars := map[string]string{"A": "alpha", "EMPTY": "", "B_2": "b"}
	getenv := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct {
		name    string
		given   string
		want    string
		wantErr error
	}{
		{name: "NoDollar", given: "plain", want: "plain"},
		{name: "Var", given: "x${A}y", want: "xalphay"},
		{name: "Unset", given: "x${NOPE}y", want: "xy"},
		{name: "DefaultUnset", given: "${NOPE:-d}", want: "d"},
		{name: "DefaultEmpty", given: "${EMPTY:-d}", want: "d"},
		{name: "DefaultSet", given: "${A:-d}", want: "alpha"},
		{name: "DefaultWithColon", given: "${NOPE:-a:b-c}", want: "a:b-c"},
		{name: "EmptyDefault", given: "${NOPE:-}", want: ""},
		{name: "Escape", given: "$${A}", want: "${A}"},
		{name: "DoubleEscape", given: "$$$$", want: "$$"},
		{name: "LoneDollar", given: "cost $5 and $", want: "cost $5 and $"},
		{name: "DollarWord", given: "$A", want: "$A"},
		{name: "Underscore", given: "${B_2}", want: "b"},
		{name: "Adjacent", given: "${A}${B_2}", want: "alphab"},
		{name: "Unterminated", given: "${A", wantErr: ErrEnv},
		{name: "EmptyName", given: "${}", wantErr: ErrEnv},
		{name: "BadName", given: "${A-B}", wantErr: ErrEnv},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			// Ensure the expansion (or its error) is as documented.
			got, err := expandEnv(test.given, getenv)
			if test.wantErr != nil {
				if !errors.Is(err, test.wantErr) {
					t.Fatalf("err = %v, want %v", err, test.wantErr)
				}
				return
			}
			if err != nil || got != test.want {
				t.Errorf("expandEnv(%q) = %q, %v; want %q", test.given, got, err, test.want)
			}
		})
	}
}

// Ensure envRefs lists references with their defaults and skips escapes.
func TestEnvRefs(t *testing.T) {
	refs, err := envRefs("Bearer ${KEY} $${NOT} ${OPT:-x}")
	if err != nil {
		t.Fatal(err)
	}
	want := []envRef{{Name: "KEY"}, {Name: "OPT", Default: "x", HasDefault: true}}
	if len(refs) != len(want) || refs[0] != want[0] || refs[1] != want[1] {
		t.Errorf("envRefs = %+v, want %+v", refs, want)
	}
}
