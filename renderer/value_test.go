package renderer

import (
	"encoding/json"
	"testing"

	"github.com/aymerick/raymond"
)

// Ensure appendPlainNumber expands exponents exactly and keeps other numbers as written.
func TestAppendPlainNumber(t *testing.T) {
	tests := []struct {
		name  string
		given string
		want  string
	}{
		{name: "Integer", given: "3600", want: "3600"},
		{name: "EpochFraction", given: "1732406400.123456", want: "1732406400.123456"},
		{name: "Negative", given: "-12.5", want: "-12.5"},
		{name: "ExpPositive", given: "1.5e3", want: "1500"},
		{name: "ExpUpper", given: "-7.25E+2", want: "-725"},
		{name: "ExpNegative", given: "25e-4", want: "0.0025"},
		{name: "ExpEpoch", given: "1.732406400123456e9", want: "1732406400.123456"},
		{name: "ExpKeepsFraction", given: "1.2345e2", want: "123.45"},
		{name: "ExpZero", given: "0e0", want: "0"},
		{name: "ExpLeadingZeros", given: "0.05e1", want: "0.5"},
		{name: "ExpLarge", given: "1e20", want: "100000000000000000000"},
		{name: "ExpHuge", given: "1e999999", want: "1e999999"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if got := string(appendPlainNumber(nil, test.given)); got != test.want {
				t.Fatalf("got %q, want %q", got, test.want)
			}
		})
	}
}

// Ensure appendEscaped escapes exactly what JSON needs and round-trips.
func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		name  string
		given string
		want  string
	}{
		{name: "Plain", given: "hello", want: "hello"},
		{name: "QuoteBackslash", given: `a"b\c`, want: `a\"b\\c`},
		{name: "Whitespace", given: "\n\r\t\b\f", want: `\n\r\t\b\f`},
		{name: "Controls", given: "\x00\x01\x1f\x7f", want: `\u0000\u0001\u001f` + "\x7f"},
		{name: "HTMLKept", given: `<a href='x'>&amp;</a>`, want: `<a href='x'>&amp;</a>`},
		{name: "NonASCIIKept", given: "é 日本 🔐", want: "é 日本 🔐"},
		{name: "LineSeparators", given: "a\u2028b\u2029c", want: `a\u2028b\u2029c`},
		{name: "InvalidUTF8", given: "a\xffb", want: `a\ufffdb`},
		{name: "Mustache", given: "{{ data.id }}", want: "{{ data.id }}"},
		{name: "QuoteAfterNonASCII", given: "é\"\\", want: `é\"\\`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got := string(appendEscaped(nil, test.given))
			if got != test.want {
				t.Fatalf("got %q, want %q", got, test.want)
			}
			if needsEscape(test.given) != (got != test.given) {
				t.Fatalf("needsEscape(%q) = %v disagrees with appendEscaped", test.given, needsEscape(test.given))
			}
			var back string
			if err := json.Unmarshal([]byte(`"`+got+`"`), &back); err != nil {
				t.Fatal(err)
			}
			if test.name != "InvalidUTF8" && back != test.given {
				t.Fatalf("round trip gave %q", back)
			}
		})
	}
}

// Ensure formatValue renders each kind of value for each context.
func TestFormatValue(t *testing.T) {
	obj := map[string]any{"a": "<&>", "n": json.Number("1e2")}
	tests := []struct {
		name       string
		given      any
		givenDepth int
		want       raymond.SafeString
	}{
		{name: "RawString", given: `a"b`, givenDepth: rawMode, want: `a"b`},
		{name: "RawNumber", given: json.Number("2.5E1"), givenDepth: rawMode, want: "25"},
		{name: "RawNil", given: nil, givenDepth: rawMode, want: ""},
		{name: "RawObject", given: obj, givenDepth: rawMode, want: `{"a":"<&>","n":1e2}`},
		{name: "ValueString", given: `a"b`, givenDepth: 0, want: `"a\"b"`},
		{name: "ValuePlainString", given: "ab", givenDepth: 0, want: `"ab"`},
		{name: "ValueNumber", given: json.Number("1732406400.123456"), givenDepth: 0, want: "1732406400.123456"},
		{name: "ValueBool", given: false, givenDepth: 0, want: "false"},
		{name: "ValueNil", given: nil, givenDepth: 0, want: `""`},
		{name: "Nil1", given: nil, givenDepth: 1, want: ""},
		{name: "ValueObject", given: obj, givenDepth: 0, want: `{"a":"<&>","n":1e2}`},
		{name: "ValueInt", given: 7, givenDepth: 0, want: "7"},
		{name: "ValueFloat", given: 1e21, givenDepth: 0, want: "1000000000000000000000"},
		{name: "ValueSafeString", given: raymond.SafeString("x\ny"), givenDepth: 0, want: `"x\ny"`},
		{name: "String1", given: "a\"b\n", givenDepth: 1, want: `a\"b\n`},
		{name: "String2", given: "a\"b\n", givenDepth: 2, want: `a\\\"b\\n`},
		{name: "String3", given: `"`, givenDepth: 3, want: `\\\\\\\"`},
		{name: "Number2", given: json.Number("-1.5e-2"), givenDepth: 2, want: "-0.015"},
		{name: "Bool2", given: true, givenDepth: 2, want: "true"},
		{name: "Nil2", given: nil, givenDepth: 2, want: ""},
		{name: "Object1", given: obj, givenDepth: 1, want: `{\"a\":\"<&>\",\"n\":1e2}`},
		{name: "Array2", given: []any{"q\""}, givenDepth: 2, want: `[\\\"q\\\\\\\"\\\"]`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if got := formatValue(test.given, test.givenDepth); got != test.want {
				t.Fatalf("got %s, want %s", got, test.want)
			}
		})
	}
}
