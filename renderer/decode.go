package renderer

import (
	"encoding/json"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// maxFastDecodeDepth is the nesting depth decodeObject handles; deeper
// payloads go to encoding/json, which owns the nesting limit.
const maxFastDecodeDepth = 512

// jsonDecoder decodes a JSON document into the tree encoding/json produces
// for an any with UseNumber: map[string]any, []any, json.Number, string,
// bool and nil. Every string shares one copy of the input.
type jsonDecoder struct {
	s     string
	i     int
	depth int
	keys  []string // pending object keys, a stack shared by all levels
	vals  []any    // pending object values and array elements
}

// decoderPool recycles decoders and their stacks.
var decoderPool = sync.Pool{New: func() any {
	return &jsonDecoder{keys: make([]string, 0, 64), vals: make([]any, 0, 64)}
}}

// decodeObject decodes b, which must be valid UTF-8 and hold one JSON object
// and nothing else but whitespace. ok is false for anything else, including
// input that is valid JSON it does not handle (nesting deeper than
// maxFastDecodeDepth); the caller then decodes with encoding/json, which
// gives the answer and the exact error. When ok is true the tree is the one
// encoding/json decodes: duplicate keys keep the last value, and escapes,
// including invalid surrogates, decode the same way.
//
// keep, when not nil, says which members to build: the others are checked
// and skipped (see Fields).
func decodeObject(b []byte, keep *fieldNode) (root map[string]any, ok bool) {
	d := decoderPool.Get().(*jsonDecoder)
	d.s, d.i, d.depth = string(b), 0, 0
	root, ok = d.document(keep)
	if !ok {
		// A successful decode leaves the stacks empty and cleared; a
		// failed one may leave values behind.
		clear(d.keys[:cap(d.keys)])
		clear(d.vals[:cap(d.vals)])
		d.keys, d.vals = d.keys[:0], d.vals[:0]
		root = nil
	}
	d.s = ""
	if cap(d.vals) <= maxPooledStack && cap(d.keys) <= maxPooledStack {
		decoderPool.Put(d)
	}
	return root, ok
}

// maxPooledStack bounds the stacks of a decoder kept for reuse.
const maxPooledStack = 4096

// document decodes the whole input as one object.
func (d *jsonDecoder) document(keep *fieldNode) (map[string]any, bool) {
	d.skipSpace()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return nil, false
	}
	d.i++
	root, ok := d.object(keep)
	if !ok {
		return nil, false
	}
	d.skipSpace()
	return root, d.i == len(d.s)
}

// skipSpace advances past JSON whitespace.
func (d *jsonDecoder) skipSpace() { d.i = skipJSONSpace(d.s, d.i) }

// value decodes the value at d.i, building only what keep keeps of it (nil:
// all of it).
func (d *jsonDecoder) value(keep *fieldNode) (any, bool) {
	if d.i >= len(d.s) {
		return nil, false
	}
	switch c := d.s[d.i]; {
	case c == '"':
		d.i++
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		return s, true
	case c == '{':
		d.i++
		m, ok := d.object(keep)
		if !ok {
			return nil, false
		}
		return m, true
	case c == '[':
		d.i++
		return d.array(keep)
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

// literal consumes lit at d.i.
func (d *jsonDecoder) literal(lit string) bool {
	if len(d.s)-d.i < len(lit) || d.s[d.i:d.i+len(lit)] != lit {
		return false
	}
	d.i += len(lit)
	return true
}

// skip checks the value at d.i and moves past it without building it.
func (d *jsonDecoder) skip() bool {
	v := jsonValidator[string]{b: d.s}
	i, ok := v.value(d.i, d.depth)
	d.i = i
	return ok
}

// object decodes an object whose '{' has been consumed. When keep is not
// nil only the members it names are built.
func (d *jsonDecoder) object(keep *fieldNode) (map[string]any, bool) {
	if d.depth++; d.depth > maxFastDecodeDepth {
		return nil, false
	}
	base := len(d.vals)
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		d.depth--
		return map[string]any{}, true
	}
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, false
		}
		d.i++
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.skipSpace()
		var sub *fieldNode
		want := true
		if keep != nil {
			sub, want = keep.kids[k]
		}
		if want {
			v, ok := d.value(sub)
			if !ok {
				return nil, false
			}
			d.keys = append(d.keys, k)
			d.vals = append(d.vals, v)
		} else if !d.skip() {
			return nil, false
		}
		if done, ok := d.afterElement('}'); !ok {
			return nil, false
		} else if done {
			break
		}
	}
	// keys and vals grow in step, so the object's keys start where its
	// values do.
	keys, vals := d.keys[base:], d.vals[base:]
	m := make(map[string]any, len(vals))
	for j, k := range keys {
		m[k] = vals[j] // a duplicate key keeps the last value
	}
	clear(keys)
	clear(vals)
	d.keys, d.vals = d.keys[:base], d.vals[:base]
	d.depth--
	return m, true
}

// afterElement consumes what follows an element of an object or array: a
// comma (done false) or the closing byte (done true). ok is false for
// anything else.
func (d *jsonDecoder) afterElement(closing byte) (done, ok bool) {
	d.skipSpace()
	if d.i >= len(d.s) {
		return false, false
	}
	c := d.s[d.i]
	d.i++
	switch c {
	case closing:
		return true, true
	case ',':
		d.skipSpace()
		return false, true
	}
	return false, false
}

// array decodes an array whose '[' has been consumed. When keep is not nil
// each element keeps keep.elem.
func (d *jsonDecoder) array(keep *fieldNode) (any, bool) {
	if d.depth++; d.depth > maxFastDecodeDepth {
		return nil, false
	}
	base := len(d.vals)
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		d.depth--
		return []any{}, true
	}
	var elem *fieldNode
	if keep != nil {
		elem = keep.elem
	}
	for {
		v, ok := d.value(elem)
		if !ok {
			return nil, false
		}
		// Keep keys and vals in step so objects can share the stacks.
		d.keys = append(d.keys, "")
		d.vals = append(d.vals, v)
		if done, ok := d.afterElement(']'); !ok {
			return nil, false
		} else if done {
			break
		}
	}
	vals := d.vals[base:]
	l := make([]any, len(vals))
	copy(l, vals)
	clear(vals)
	d.keys, d.vals = d.keys[:base], d.vals[:base]
	d.depth--
	return l, true
}

// number decodes a number at d.i as a json.Number of its text.
func (d *jsonDecoder) number() (any, bool) {
	end := numberEnd(d.s, d.i)
	if end < 0 {
		return nil, false
	}
	n := json.Number(d.s[d.i:end])
	d.i = end
	return n, true
}

// str decodes a string whose opening quote has been consumed. A string
// without escapes is a slice of the input.
func (d *jsonDecoder) str() (string, bool) {
	s, start := d.s, d.i
	i := plainEnd(s, start)
	switch {
	case i >= len(s):
		return "", false
	case s[i] == '"':
		d.i = i + 1
		return s[start:i], true
	case s[i] == '\\':
		return d.strEscaped(start, i)
	}
	return "", false // a control character
}

// strEscaped decodes a string with escapes: s[start:i] holds no escape and
// s[i] is the first backslash. It decodes like encoding/json: an invalid
// or unpaired surrogate escape becomes U+FFFD and a following escape is
// left for the next step.
func (d *jsonDecoder) strEscaped(start, i int) (string, bool) {
	s := d.s
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return string(buf), true
		case c < 0x20:
			return "", false
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		if c := unescaped[s[i+1]]; c != 0 {
			buf = append(buf, c)
			i += 2
			continue
		}
		r := hex4(s, i)
		if r < 0 {
			return "", false // neither a one-letter escape nor \uXXXX
		}
		i += 6
		if utf16.IsSurrogate(r) {
			if r2 := hex4(s, i); r2 >= 0 {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					buf = utf8.AppendRune(buf, dec)
					i += 6
					continue
				}
			}
			r = utf8.RuneError
		}
		buf = utf8.AppendRune(buf, r)
	}
	return "", false
}

// unescaped maps the letter of each one-letter JSON escape to the byte it
// stands for (0 for any other byte).
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 returns the rune of a \uXXXX escape at s[i:], or -1.
func hex4(s string, i int) rune {
	if len(s)-i < 6 || s[i] != '\\' || s[i+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range []byte(s[i+2 : i+6]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
