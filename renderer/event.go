package renderer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Event is a decoded Apono webhook payload.
type Event struct {
	// Type is event_type as received (e.g. "AccessRequestCreated").
	Type string
	// Trigger is the normalized trigger of Type.
	Trigger Trigger
	// Time is event_time as received (epoch seconds with a fraction); empty
	// when the payload has none.
	Time json.Number
	// Data is the decoded "data" object, numbers as json.Number. It is an
	// empty map when the payload has no data.
	Data map[string]any
	// Root is the whole payload: what templates see.
	Root map[string]any

	// decoded is set by DecodeEvent: every value in the tree is one the
	// decoder makes (valid UTF-8 strings, json.Number of valid number
	// text, bools, nil, maps and slices of those).
	decoded bool
}

// DecodeEvent decodes and validates one event payload. When maxBytes > 0,
// payloads longer than maxBytes are rejected. Every error wraps exactly one of
// ErrTooLarge, ErrEmpty, ErrInvalidUTF8, ErrMalformed, ErrNotObject or
// ErrUnknownEventType and says where the problem is.
func DecodeEvent(b []byte, maxBytes int) (*Event, error) {
	return decodeEvent(b, maxBytes, nil)
}

// decodeEvent is DecodeEvent building only what keep keeps (nil: all).
func decodeEvent(b []byte, maxBytes int, keep *fieldNode) (*Event, error) {
	if maxBytes > 0 && len(b) > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit is %d", ErrTooLarge, len(b), maxBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%w: %d bytes of whitespace", ErrEmpty, len(b))
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: invalid byte at offset %d", ErrInvalidUTF8, invalidUTF8Offset(b))
	}

	root, ok := decodeObject(b, keep)
	if !ok {
		// The whole tree, from the decoder that names every problem.
		var err error
		if root, err = decodeStd(b); err != nil {
			return nil, err
		}
	}

	ev := &Event{Root: root, decoded: true}
	switch t := root["event_type"].(type) {
	case string:
		ev.Type = t
	case nil:
		return nil, fmt.Errorf("%w: event_type is missing", ErrUnknownEventType)
	default:
		return nil, fmt.Errorf("%w: event_type is %s, want a string", ErrUnknownEventType, jsonKind(t))
	}
	trig, err := ParseTrigger(ev.Type)
	if err != nil {
		return nil, fmt.Errorf("%w: event_type: %w", ErrUnknownEventType, err)
	}
	ev.Trigger = trig

	switch t := root["event_time"].(type) {
	case json.Number:
		ev.Time = t
	case string:
		if isJSONNumber(t) {
			ev.Time = json.Number(t)
		}
	}

	switch d := root["data"].(type) {
	case map[string]any:
		ev.Data = d
	case nil:
		ev.Data = map[string]any{}
	default:
		return nil, fmt.Errorf("%w: data is %s, want an object", ErrMalformed, jsonKind(d))
	}
	return ev, nil
}

// decodeStd decodes the payload with encoding/json (a json.Decoder with
// UseNumber). It is the reference decodeObject matches, and it names the
// problem and its offset for every payload decodeObject does not accept.
func decodeStd(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, malformed(err, dec, len(b))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON value at offset %d", ErrMalformed, skipSpace(b, dec.InputOffset()))
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: got %s", ErrNotObject, jsonKind(v))
	}
	return root, nil
}

// malformed turns a json decoding error into an ErrMalformed error with an
// offset. An input that ends too soon ends at n, its length: the decoder's
// own offset stays at the start of the value it could not finish.
func malformed(err error, dec *json.Decoder, n int) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w: %v at offset %d", ErrMalformed, se, se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: unexpected end of JSON input at offset %d", ErrMalformed, n)
	default:
		return fmt.Errorf("%w: %v at offset %d", ErrMalformed, err, dec.InputOffset())
	}
}

// skipSpace returns the offset of the first non-space byte at or after off.
func skipSpace(b []byte, off int64) int64 {
	for off < int64(len(b)) {
		switch b[off] {
		case ' ', '\t', '\r', '\n':
			off++
		default:
			return off
		}
	}
	return off
}

// invalidUTF8Offset returns the offset of the first invalid UTF-8 sequence in b.
func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// jsonKind names the JSON kind of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// isJSONNumber reports whether s is a JSON number literal.
func isJSONNumber(s string) bool { return numberEnd(s, 0) == len(s) }

// jsonText is what the JSON scanners read: a payload as a string or as
// bytes.
type jsonText interface{ ~string | ~[]byte }

// numberEnd returns where the JSON number literal starting at s[i] ends,
// or -1 when no number starts there.
func numberEnd[T jsonText](s T, i int) int {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digitsEnd(s, i)
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		j := digitsEnd(s, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digitsEnd(s, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digitsEnd[T jsonText](s T, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// Get returns the value at a dotted path relative to Root, such as
// "data.requester.email" or "data.access_groups.0.integration.name". An array
// index may also be written in brackets ("data.access_groups.[0]"), and a
// bracketed segment ("[some key]") names a key literally. The empty path
// returns Root.
func (e *Event) Get(path string) (any, bool) {
	if e == nil {
		return nil, false
	}
	var cur any = e.Root
	for path != "" {
		var seg string
		seg, path, _ = strings.Cut(path, ".")
		if len(seg) >= 2 && seg[0] == '[' && seg[len(seg)-1] == ']' {
			seg = seg[1 : len(seg)-1]
		}
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
