package renderer

import "encoding/json"

// maxValidateDepth is the nesting depth validJSON checks by itself; deeper
// documents are handed to json.Valid, which owns the nesting limit.
const maxValidateDepth = 512

// validJSON reports whether b is valid JSON, with exactly the answer of
// json.Valid (which, like this, does not check UTF-8 inside strings), in
// one pass without the scanner's per-byte state calls.
func validJSON(b []byte) bool {
	v := jsonValidator[[]byte]{b: b}
	i, ok := v.value(skipJSONSpace(b, 0), 0)
	if v.tooDeep {
		return json.Valid(b)
	}
	return ok && skipJSONSpace(b, i) == len(b)
}

// jsonValidator checks one document, held as bytes or as a string.
type jsonValidator[T jsonText] struct {
	b       T
	tooDeep bool // nesting went past maxValidateDepth
}

// skipJSONSpace returns the index of the first non-whitespace byte at or after i.
func skipJSONSpace[T jsonText](b T, i int) int {
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

// value checks the value starting at i and returns the index after it.
func (v *jsonValidator[T]) value(i, depth int) (int, bool) {
	b := v.b
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{':
		return v.container(i+1, depth+1, '}')
	case c == '[':
		return v.container(i+1, depth+1, ']')
	case c == '"':
		return validString(b, i+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return validNumber(b, i)
	case c == 't':
		return validLiteral(b, i, "true")
	case c == 'f':
		return validLiteral(b, i, "false")
	case c == 'n':
		return validLiteral(b, i, "null")
	}
	return i, false
}

// container checks an object (closing '}') or an array (closing ']') whose
// opening byte ends just before i.
func (v *jsonValidator[T]) container(i, depth int, closing byte) (int, bool) {
	if depth > maxValidateDepth {
		v.tooDeep = true
		return i, false
	}
	b := v.b
	i = skipJSONSpace(b, i)
	if i < len(b) && b[i] == closing {
		return i + 1, true
	}
	for {
		var ok bool
		if closing == '}' {
			// A member: its key and colon, then the value.
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, ok = validString(b, i+1); !ok {
				return i, false
			}
			i = skipJSONSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			i = skipJSONSpace(b, i+1)
		}
		if i, ok = v.value(i, depth); !ok {
			return i, false
		}
		var done bool
		if i, done, ok = afterElement(b, i, closing); !ok || done {
			return i, ok
		}
	}
}

// afterElement checks what follows an element of an object or array: a
// comma (more follows) or the closing byte (done).
func afterElement[T jsonText](b T, i int, closing byte) (next int, done, ok bool) {
	i = skipJSONSpace(b, i)
	if i >= len(b) {
		return i, false, false
	}
	switch b[i] {
	case ',':
		return skipJSONSpace(b, i+1), false, true
	case closing:
		return i + 1, true, true
	}
	return i, false, false
}

// validString checks a string whose opening quote ends just before i and
// returns the index after its closing quote.
func validString[T jsonText](b T, i int) (int, bool) {
	for i < len(b) {
		i = plainEnd(b, i)
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default:
			i++ // not reached: plainEnd stops only at the cases above
		}
	}
	return i, false
}

// plainEnd returns the index of the first byte at or after i that ends a
// run of plain string content: a quote, a backslash or a control
// character; len(b) when there is none.
func plainEnd[T jsonText](b T, i int) int {
	for i < len(b) && !strStop[b[i]] {
		i++
	}
	return i
}

// strStop marks the bytes that end plain string content.
var strStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// validNumber checks a number starting at i and returns the index after it.
func validNumber[T jsonText](b T, i int) (int, bool) {
	if e := numberEnd(b, i); e >= 0 {
		return e, true
	}
	return i, false
}

// validLiteral checks that lit starts at i.
func validLiteral[T jsonText](b T, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}
