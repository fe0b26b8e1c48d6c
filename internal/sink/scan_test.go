package sink

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// scanCases are JSON texts with encoding/json's verdict as the reference.
func scanCases() []string {
	return []string{
		`{}`, `[]`, ` [ ] `, `""`, `"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"`,
		`0`, `-0`, `1.5e10`, `-12.25E-3`, `123456789012345678901234567890`,
		`true`, `false`, `null`, `{"a":[1,{"b":null}],"c":"d"}`,
		`{"a" : 1 , "b" : [ true , false ] }`, "\t\n{\"x\":\"y\"}\r\n",
		// invalid
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `'a'`, `01`, `1.`, `.5`, `1e`, `-`, `+1`,
		`"abc`, "\"a\x01b\"", `"\x"`, `"\u12G4"`, `tru`, `nul`, `truex`, `[1 2]`, `{"a":1}{}`, `{"a":1} x`,
		`[` + strings.Repeat(`[`, 20) + strings.Repeat(`]`, 21),
		`NaN`, `Infinity`, `{"a":1 "b":2}`, `[,1]`, `{,}`,
	}
}

// Ensure validJSON agrees with encoding/json on valid and invalid texts.
func TestScan_ValidJSON(t *testing.T) {
	for _, given := range scanCases() {
		t.Run(given, func(t *testing.T) {
			want := json.Valid([]byte(given))
			err := validJSON([]byte(given))
			if got := err == nil; got != want {
				t.Fatalf("validJSON(%q) = %v, want valid=%v", given, err, want)
			}
			if err != nil && !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("validJSON(%q) error %v does not wrap ErrInvalidJSON", given, err)
			}
		})
	}
}

// Ensure nesting beyond maxDepth is refused rather than recursing without bound.
func TestScan_ValidJSON_Depth(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if err := validJSON([]byte(deep)); !errors.Is(err, ErrInvalidJSON) {
		t.Fatalf("got %v, want ErrInvalidJSON", err)
	}
	ok := strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1)
	if err := validJSON([]byte(ok)); err != nil {
		t.Fatalf("nesting of %d: %v", maxDepth-1, err)
	}
}

// Ensure appendUnescaped decodes string contents as encoding/json does.
func TestScan_AppendUnescaped(t *testing.T) {
	tests := []struct {
		name  string
		given string // a JSON string literal
	}{
		{name: "plain", given: `"apono"`},
		{name: "simple escapes", given: `"a\"b\\c\/d\b\f\n\r\t"`},
		{name: "unicode", given: `"caf\u00e9 \u65e5\u672c"`},
		{name: "surrogate pair", given: `"\ud83d\ude00!"`},
		{name: "lone high surrogate", given: `"\ud83dx"`},
		{name: "lone low surrogate", given: `"\ude00"`},
		{name: "high then non-low", given: `"\ud83d\u0041"`},
		{name: "nested json", given: `"{ \"event_type\": \"RequestCreated\" }"`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var want string
			if err := json.Unmarshal([]byte(test.given), &want); err != nil {
				t.Fatal(err)
			}
			b := []byte(test.given)
			end, _, err := scanString(b, 0)
			if err != nil || end != len(b) {
				t.Fatalf("scanString = %d, %v", end, err)
			}
			if got := string(appendUnescaped(nil, b[1:len(b)-1])); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

// FuzzScan_ValidJSON checks validJSON against encoding/json on arbitrary input.
func FuzzScan_ValidJSON(f *testing.F) {
	for _, s := range scanCases() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b)
		if got := validJSON(b) == nil; got != want {
			t.Fatalf("validJSON(%q) valid=%v, encoding/json says %v", b, got, want)
		}
	})
}
