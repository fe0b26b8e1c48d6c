package renderer

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeCases are payloads for comparing decodeObject with encoding/json.
var decodeCases = []struct {
	name  string
	given string
}{
	{name: "Empty", given: `{}`},
	{name: "Spaces", given: " \t\r\n{ \"a\" :\t1 ,\n\"b\":[ ] , \"c\" : { } }\r\n "},
	{name: "Scalars", given: `{"t":true,"f":false,"n":null,"s":"x","num":-0.5e+10}`},
	{name: "Numbers", given: `{"a":[0,-0,1,-1,12345678901234567890,1.5,1e3,1E-3,1.25e+2,0.0,-0.0e0]}`},
	{name: "Escapes", given: `{"s":"\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u65e5 \u0000 \u001f"}`},
	{name: "SurrogatePair", given: `{"s":"\ud83d\udd10"}`},
	{name: "LoneHigh", given: `{"s":"a\ud83db"}`},
	{name: "LoneLow", given: `{"s":"a\udd10b"}`},
	{name: "HighHigh", given: `{"s":"\ud83d\ud83d\udd10"}`},
	{name: "HighThenEscape", given: `{"s":"\ud83d\n"}`},
	{name: "HighThenBMP", given: `{"s":"\ud83d\u0041"}`},
	{name: "RawUTF8", given: `{"s":"é 日本 🔐 \u2028", "é":"k"}`},
	{name: "EscapedKey", given: `{"a\u0062":1,"ab":2}`},
	{name: "DuplicateKeys", given: `{"a":1,"b":2,"a":{"x":3},"a":[4]}`},
	{name: "Nested", given: `{"a":[[[]],[{}],[{"b":[1,{"c":null}]}]]}`},
	{name: "Sample", given: string(Sample(RequestCreated, 0))},
	{name: "NotObject", given: `[1]`},
	{name: "String", given: `"x"`},
	{name: "TrailingComma", given: `{"a":1,}`},
	{name: "TrailingArrayComma", given: `{"a":[1,]}`},
	{name: "TrailingData", given: `{"a":1} x`},
	{name: "SecondValue", given: `{"a":1}{}`},
	{name: "Unclosed", given: `{"a":1`},
	{name: "UnclosedString", given: `{"a":"x`},
	{name: "ControlInString", given: "{\"a\":\"x\ty\"}"},
	{name: "BadEscape", given: `{"a":"\x"}`},
	{name: "ShortUnicode", given: `{"a":"\u12"}`},
	{name: "BadHex", given: `{"a":"\u12g4"}`},
	{name: "HighThenBadHex", given: `{"a":"\ud83d\u12g4"}`},
	{name: "LeadingZero", given: `{"a":01}`},
	{name: "BarePoint", given: `{"a":1.}`},
	{name: "BareExponent", given: `{"a":1e}`},
	{name: "Plus", given: `{"a":+1}`},
	{name: "Minus", given: `{"a":-}`},
	{name: "BadLiteral", given: `{"a":tru}`},
	{name: "LiteralSuffix", given: `{"a":truex}`},
	{name: "UnquotedKey", given: `{a:1}`},
	{name: "MissingColon", given: `{"a" 1}`},
	{name: "BOM", given: "\ufeff{}"},
	{name: "NonBreakingSpace", given: "{\"a\":\u00a01}"},
	{name: "Deep600", given: `{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`},
	{name: "Deep10001", given: `{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`},
}

// compareDecode checks decodeObject against encoding/json for b (valid
// UTF-8): when decodeObject accepts b, encoding/json must accept it with
// the same tree; when encoding/json accepts a shallow object, so must
// decodeObject.
func compareDecode(tb testing.TB, b []byte) {
	tb.Helper()
	fast, ok := decodeObject(b, nil)
	std, err := decodeStd(b)
	switch {
	case ok && err != nil:
		tb.Fatalf("decodeObject accepted what encoding/json rejects (%v): %q", err, b)
	case ok && !reflect.DeepEqual(fast, std):
		tb.Fatalf("trees differ for %q\nfast: %#v\nstd:  %#v", b, fast, std)
	case !ok && err == nil && bytes.Count(b, []byte("{"))+bytes.Count(b, []byte("[")) <= maxFastDecodeDepth:
		tb.Fatalf("decodeObject rejected a valid object: %q", b)
	}
}

// Ensure decodeObject decodes exactly what encoding/json decodes (same tree,
// last duplicate key wins, the same surrogate handling) and rejects what it
// rejects.
func TestDecodeObject(t *testing.T) {
	for _, test := range decodeCases {
		t.Run(test.name, func(t *testing.T) {
			compareDecode(t, []byte(test.given))
		})
	}
}

// Ensure DecodeEvent gives the same event and the same error text as the
// encoding/json reference for every payload, including ones only
// encoding/json decodes (very deep nesting).
func TestDecodeEvent_MatchesEncodingJSON(t *testing.T) {
	for _, test := range decodeCases {
		t.Run(test.name, func(t *testing.T) {
			given := []byte(test.given)
			if strings.HasPrefix(strings.TrimSpace(test.given), "{") && !strings.Contains(test.given, "event_type") {
				given = append([]byte(`{"event_type":"Manual","data":`), append(given, '}')...)
			}
			ev, err := DecodeEvent(given, 0)
			std, stdErr := decodeStd(given)
			if (err == nil) != (stdErr == nil) {
				t.Fatalf("err %v, encoding/json err %v", err, stdErr)
			}
			if err != nil {
				if err.Error() != stdErr.Error() {
					t.Fatalf("err %q, encoding/json err %q", err, stdErr)
				}
				return
			}
			if !reflect.DeepEqual(ev.Root, std) {
				t.Fatalf("Root differs from encoding/json")
			}
		})
	}
}

// Ensure decodeObject leaves no value behind in its pooled stacks and that
// decoded strings do not change when the input buffer is reused.
func TestDecodeObject_InputReuse(t *testing.T) {
	b := []byte(`{"a":"first","b":["x",{"c":"y"}]}`)
	m, ok := decodeObject(b, nil)
	if !ok {
		t.Fatal("rejected")
	}
	copy(b, bytes.Repeat([]byte("!"), len(b)))
	if m["a"] != "first" || m["b"].([]any)[1].(map[string]any)["c"] != "y" {
		t.Fatalf("decoded values changed with the input: %#v", m)
	}
	d := decoderPool.Get().(*jsonDecoder)
	defer decoderPool.Put(d)
	if len(d.keys) != 0 || len(d.vals) != 0 || d.s != "" {
		t.Fatal("pooled decoder kept state")
	}
}

// Ensure decodeObject agrees with encoding/json on arbitrary input.
func FuzzDecodeObject(f *testing.F) {
	for _, c := range decodeCases {
		if len(c.given) < 2000 {
			f.Add([]byte(c.given))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			// DecodeEvent rejects invalid UTF-8 before decoding.
			b = bytes.ToValidUTF8(b, []byte("\ufffd"))
		}
		compareDecode(t, b)
	})
}

// Ensure validJSON answers exactly as json.Valid.
func TestValidJSON(t *testing.T) {
	tests := []struct {
		name  string
		given string
	}{
		{name: "Empty", given: ""},
		{name: "Space", given: " "},
		{name: "Scalars", given: `[true,false,null,"s",-1.5e3,0]`},
		{name: "Object", given: ` {"a" : {"b": [1, {}, []]}} `},
		{name: "InvalidUTF8InString", given: "\"\xff\""},
		{name: "InvalidUTF8Outside", given: "[\xff]"},
		{name: "Control", given: "\"\x01\""},
		{name: "Escapes", given: `"\"\\\/\b\f\n\r\t\u00aF"`},
		{name: "BadEscape", given: `"\a"`},
		{name: "TrailingComma", given: `[1,]`},
		{name: "Trailing", given: `{} {}`},
		{name: "LeadingZero", given: `01`},
		{name: "Deep", given: strings.Repeat("[", 600) + strings.Repeat("]", 600)},
		{name: "TooDeep", given: strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
		{name: "Literal", given: `nul`},
		{name: "Seed", given: string(readFile(t, "testdata/seed/want.json"))},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if got, want := validJSON([]byte(test.given)), json.Valid([]byte(test.given)); got != want {
				t.Fatalf("validJSON = %v, json.Valid = %v", got, want)
			}
		})
	}
}

// Ensure validJSON agrees with json.Valid on arbitrary input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,"x",true,null]}`, `"\ud83d"`, `[1,]`, `-0.0e+1`, "\"\xff\"", `{"a":{"b":"{\"c\": 1}"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON = %v, json.Valid = %v for %q", got, want, b)
		}
	})
}

// escapeLevels is the reference for appendEscapedDepth: escape once per level.
func escapeLevels(s string, depth int) string {
	for range depth {
		s = string(appendEscaped(nil, s))
	}
	return s
}

// Ensure appendEscapedDepth equals escaping level by level, at every depth.
func TestAppendEscapedDepth(t *testing.T) {
	for _, s := range []string{"", "plain", `"`, `\`, "\\\"\n", "\x00\x1f", "\u2028é🔐", "a\xffb", `\u0041`, strings.Repeat(`"\`, 300)} {
		maxDepth := maxClosedFormDepth + 2 // past the closed form
		if len(s) > 16 {
			maxDepth = 10 // output doubles per level
		}
		for depth := 2; depth <= maxDepth; depth++ {
			if got, want := string(appendEscapedDepth([]byte("prefix"), s, depth)), "prefix"+escapeLevels(s, depth); got != want {
				t.Fatalf("depth %d, %q: got %q, want %q", depth, s, got, want)
			}
		}
	}
}

// Ensure appendEscapedDepth equals escaping level by level for any text.
func FuzzAppendEscapedDepth(f *testing.F) {
	f.Add("a\"b\\c\n\u2028\x00", uint8(2))
	f.Add("\xff\xfe", uint8(5))
	f.Fuzz(func(t *testing.T, s string, d uint8) {
		depth := 2 + int(d%10) // output doubles per level
		if len(s) <= 8 {
			depth = 2 + int(d%(maxClosedFormDepth+1)) // past the closed form
		}
		if got, want := string(appendEscapedDepth(nil, s, depth)), escapeLevels(s, depth); got != want {
			t.Fatalf("depth %d, %q: got %q, want %q", depth, s, got, want)
		}
	})
}
