package renderer

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aymerick/raymond"
)

// maxExpandExponent bounds the exponent a number is expanded to plain decimal
// for; larger exponents keep their original text (a valid JSON number) so a
// hostile "1e999999999" cannot blow up the output.
const maxExpandExponent = 400

// rawMode marks a value rendered as plain, unescaped text.
const rawMode = -1

// emptyJSONString is what a nil value renders as in value position (depth
// 0): the empty string, as JSON, so that a missing field renders as the
// empty string everywhere and the body stays valid JSON. A field present
// with JSON null renders the same way: raymond hands a helper nil for both,
// so neither render path can tell them apart.
const emptyJSONString = `""`

// formatValue renders v for a mustache at the given depth: rawMode for plain
// text, 0 for a JSON value, n ≥ 1 for the inside of n nested JSON strings.
// nil (a missing field, or JSON null) renders as "" at depth 0 and as empty
// text elsewhere.
func formatValue(v any, depth int) raymond.SafeString {
	// Fast paths that need no buffer.
	switch x := v.(type) {
	case string:
		if depth == rawMode || (depth > 0 && !needsEscape(x)) {
			return raymond.SafeString(x)
		}
	case raymond.SafeString:
		if depth == rawMode || (depth > 0 && !needsEscape(string(x))) {
			return x
		}
	case json.Number:
		if !strings.ContainsAny(string(x), "eE") {
			return raymond.SafeString(x)
		}
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		if depth == 0 {
			return emptyJSONString
		}
		return ""
	}

	var scratch [128]byte
	return raymond.SafeString(appendValue(scratch[:0], v, depth))
}

// appendValue appends v formatted for depth to dst.
func appendValue(dst []byte, v any, depth int) []byte {
	var text string // text to escape as a string at depth ≥ 0
	switch x := v.(type) {
	case nil:
		if depth == 0 {
			return append(dst, emptyJSONString...)
		}
		return dst
	case string:
		text = x
	case raymond.SafeString:
		text = string(x)
	case json.Number:
		return appendPlainNumber(dst, string(x))
	case bool:
		return strconv.AppendBool(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case float64:
		return appendFloat(dst, x, depth)
	case map[string]any, []any:
		js := compactJSON(x)
		if depth <= 0 {
			return append(dst, js...)
		}
		text = string(js)
	default:
		text = raymond.Str(x)
	}
	switch {
	case depth == rawMode:
		return append(dst, text...)
	case depth == 0:
		dst = append(dst, '"')
		dst = appendEscaped(dst, text)
		return append(dst, '"')
	case depth == 1:
		return appendEscaped(dst, text)
	}
	return appendEscapedDepth(dst, text, depth)
}

// appendEscapedDepth appends text JSON-string escaped depth (≥ 2) times,
// innermost level first. The first escaping leaves only '\' and '"' for
// later levels to change (control characters, U+2028, U+2029 and invalid
// UTF-8 have become ASCII escapes), and escaping k more times turns each of
// those into 2^k-1 backslashes followed by itself.
func appendEscapedDepth(dst []byte, text string, depth int) []byte {
	if !needsEscape(text) {
		return append(dst, text...)
	}
	var scratch [512]byte
	level1 := appendEscaped(scratch[:0], text)
	if depth > maxClosedFormDepth {
		// Too many backslashes to count in an int: escape level by level.
		cur := level1
		for i := 1; i < depth; i++ {
			cur = appendEscaped(nil, string(cur))
		}
		return append(dst, cur...)
	}
	extra := 1<<(depth-1) - 1
	start := 0
	for i, c := range level1 {
		if c != '\\' && c != '"' {
			continue
		}
		dst = append(dst, level1[start:i]...)
		for range extra {
			dst = append(dst, '\\')
		}
		start = i
	}
	return append(dst, level1[start:]...)
}

// maxClosedFormDepth is the deepest string depth appendEscapedDepth escapes
// in one pass.
const maxClosedFormDepth = 16

// appendFloat appends a float as plain decimal; NaN and infinities (which
// JSON cannot carry) become null at depth 0 and empty text elsewhere.
func appendFloat(dst []byte, f float64, depth int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if depth == 0 {
			return append(dst, "null"...)
		}
		return dst
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// compactJSON encodes v as compact JSON without HTML escaping.
func compactJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte("null")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// appendPlainNumber appends a JSON number as plain decimal text, expanding an
// exponent exactly ("1.5e3" → "1500", "25e-4" → "0.0025").
func appendPlainNumber(dst []byte, s string) []byte {
	e := strings.IndexAny(s, "eE")
	if e < 0 {
		return append(dst, s...)
	}
	mant, expText := s[:e], s[e+1:]
	exp, err := strconv.Atoi(expText)
	if err != nil || exp > maxExpandExponent || exp < -maxExpandExponent {
		return append(dst, s...)
	}
	neg := strings.HasPrefix(mant, "-")
	if neg {
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point within digits

	var num []byte
	switch {
	case point <= 0:
		num = append(num, "0."...)
		num = append(num, strings.Repeat("0", -point)...)
		num = append(num, digits...)
	case point >= len(digits):
		num = append(num, digits...)
		num = append(num, strings.Repeat("0", point-len(digits))...)
	default:
		num = append(num, digits[:point]...)
		num = append(num, '.')
		num = append(num, digits[point:]...)
	}
	// Normalize: no superfluous leading zeros, no trailing fractional zeros.
	if i := bytes.IndexByte(num, '.'); i >= 0 {
		num = bytes.TrimRight(num, "0")
		num = bytes.TrimSuffix(num, []byte("."))
	}
	intEnd := bytes.IndexByte(num, '.')
	if intEnd < 0 {
		intEnd = len(num)
	}
	lead := 0
	for lead < intEnd-1 && num[lead] == '0' {
		lead++
	}
	num = num[lead:]
	if neg {
		dst = append(dst, '-')
	}
	return append(dst, num...)
}

// needsEscape reports whether s holds a byte that JSON string escaping changes.
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || r == '\u2028' || r == '\u2029' {
			return true
		}
		i += n
	}
	return false
}

// hexDigits are the digits of \u escapes.
const hexDigits = "0123456789abcdef"

// appendEscaped appends s escaped as the inside of a JSON string literal:
// quote, backslash and every control character escaped, U+2028 and U+2029 as
// \u escapes, invalid UTF-8 as \ufffd, everything else (including <>&' and
// non-ASCII) kept as UTF-8.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	return append(dst, s[start:]...)
}
