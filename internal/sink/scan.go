package sink

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON values so that a hostile body cannot
// exhaust the stack of the recursive scanner.
const maxDepth = 512

// at returns b[i], or 0 when i is past the end. A zero byte is never valid
// where the scanner calls at, so running off the end turns into a syntax
// error without a separate bounds check.
func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// syntaxError reports malformed JSON at offset i.
func syntaxError(b []byte, i int, what string) error {
	if i >= len(b) {
		return fmt.Errorf("%w: unexpected end of input", ErrInvalidJSON)
	}
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, what, i)
}

// scanString scans the string literal that starts at b[i] == '"'. It returns
// the index just past the closing quote and whether the literal contains
// escape sequences.
func scanString(b []byte, i int) (int, bool, error) {
	i++
	esc := false
	for i < len(b) {
		// Skip eight plain bytes at a time: none below 0x20, no quote, no backslash.
		for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		switch c {
		case '"':
			return i + 1, esc, nil
		case '\\':
			esc = true
			switch at(b, i+1) {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if !isHex(at(b, k)) {
						return 0, false, syntaxError(b, k, "invalid \\u escape")
					}
				}
				i += 6
			default:
				return 0, false, syntaxError(b, i+1, "invalid escape")
			}
		default:
			return 0, false, syntaxError(b, i, "control character in string")
		}
	}
	return 0, false, syntaxError(b, i, "unterminated string")
}

// special8 reports whether any of the eight bytes in x is a control
// character, '"' or '\\' (the bytes that end a run of plain string content).
func special8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	// (v - ones) & ^v & highs is non-zero exactly when some byte of v is
	// below the subtracted value (here: zero, or below 0x20).
	return ((x-ones*0x20)&^x|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber scans the number literal at b[i] following the JSON grammar and
// returns the index just past it.
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if at(b, i) == '-' {
		i++
	}
	switch c := at(b, i); {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i++
		for isDigit(at(b, i)) {
			i++
		}
	default:
		return 0, syntaxError(b, start, "invalid number")
	}
	if at(b, i) == '.' {
		i++
		if !isDigit(at(b, i)) {
			return 0, syntaxError(b, i, "invalid number")
		}
		for isDigit(at(b, i)) {
			i++
		}
	}
	if c := at(b, i); c == 'e' || c == 'E' {
		i++
		if c := at(b, i); c == '+' || c == '-' {
			i++
		}
		if !isDigit(at(b, i)) {
			return 0, syntaxError(b, i, "invalid number")
		}
		for isDigit(at(b, i)) {
			i++
		}
	}
	return i, nil
}

// scanLiteral scans the keyword lit (true, false or null) at b[i].
func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, syntaxError(b, i, "invalid literal")
	}
	return i + len(lit), nil
}

// scanValue scans (and so validates) the JSON value that starts at b[i] and
// returns the index just past it. Leading whitespace must already be skipped.
func scanValue(b []byte, i, depth int) (int, error) {
	switch c := at(b, i); c {
	case '"':
		end, _, err := scanString(b, i)
		return end, err
	case '{':
		return scanObject(b, i, depth, nil)
	case '[':
		return scanArray(b, i, depth, nil)
	case 't':
		return scanLiteral(b, i, "true")
	case 'f':
		return scanLiteral(b, i, "false")
	case 'n':
		return scanLiteral(b, i, "null")
	default:
		if c == '-' || isDigit(c) {
			return scanNumber(b, i)
		}
		return 0, syntaxError(b, i, "invalid character")
	}
}

// fieldFunc handles one member of an object: key is the raw key text (without
// quotes; esc reports escape sequences in it) and vs is the index where its
// value starts. It returns the index just past the value.
type fieldFunc func(key []byte, esc bool, vs int) (int, error)

// elemFunc handles one element of an array: n is its position and vs the index
// where it starts. It returns the index just past the element.
type elemFunc func(n, vs int) (int, error)

// scanObject scans the object that starts at b[i] == '{', handing every member
// to field (or skipping it when field is nil).
func scanObject(b []byte, i, depth int, field fieldFunc) (int, error) {
	if depth >= maxDepth {
		return 0, fmt.Errorf("%w: nesting deeper than %d", ErrInvalidJSON, maxDepth)
	}
	i = skipWS(b, i+1)
	if at(b, i) == '}' {
		return i + 1, nil
	}
	for {
		if at(b, i) != '"' {
			return 0, syntaxError(b, i, "expected object key")
		}
		end, esc, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[i+1 : end-1]
		i = skipWS(b, end)
		if at(b, i) != ':' {
			return 0, syntaxError(b, i, "expected ':'")
		}
		i = skipWS(b, i+1)
		if field != nil {
			i, err = field(key, esc, i)
		} else {
			i, err = scanValue(b, i, depth+1)
		}
		if err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		switch at(b, i) {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, syntaxError(b, i, "expected ',' or '}'")
		}
	}
}

// scanArray scans the array that starts at b[i] == '[', handing every element
// to elem (or skipping it when elem is nil).
func scanArray(b []byte, i, depth int, elem elemFunc) (int, error) {
	if depth >= maxDepth {
		return 0, fmt.Errorf("%w: nesting deeper than %d", ErrInvalidJSON, maxDepth)
	}
	i = skipWS(b, i+1)
	if at(b, i) == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		var err error
		if elem != nil {
			i, err = elem(n, i)
		} else {
			i, err = scanValue(b, i, depth+1)
		}
		if err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		switch at(b, i) {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, syntaxError(b, i, "expected ',' or ']'")
		}
	}
}

// validJSON reports whether b holds exactly one JSON value (with optional
// surrounding whitespace).
func validJSON(b []byte) error {
	i := skipWS(b, 0)
	end, err := scanValue(b, i, 0)
	if err != nil {
		return err
	}
	if end = skipWS(b, end); end != len(b) {
		return syntaxError(b, end, "trailing data")
	}
	return nil
}

// appendUnescaped appends the decoded content of a string literal's raw text
// (without the quotes, already checked by scanString) to dst.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(raw[i+2 : i+6]))
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, rune(hex4(raw[i+2:i+6]))); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(h []byte) int {
	v := 0
	for _, c := range h {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= int(c - '0')
		case c >= 'a' && c <= 'f':
			v |= int(c-'a') + 10
		default:
			v |= int(c-'A') + 10
		}
	}
	return v
}
