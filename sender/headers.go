package sender

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"sort"
	"strings"
)

// redacted replaces a secret header value in an Attempt.
const redacted = "[REDACTED]"

// minScrubLen is the shortest secret value that is searched for and masked
// in response bodies and headers; shorter values would mask ordinary text.
const minScrubLen = 4

// segment is one piece of a header value: literal text, or a reference to an
// environment variable with an optional default.
type segment struct {
	lit    string
	name   string // variable name; "" for a literal
	def    string
	hasDef bool
}

// headerTmpl is a configured header, parsed once by New.
type headerTmpl struct {
	name    string    // canonical name
	static  string    // the value when refs is false
	parts   []segment // the value when refs is true
	refs    bool      // value references ${VAR}
	secret  bool      // value must not appear in an Attempt, error or log
	display string    // the redacted form shown in an Attempt
}

// sensitiveNames are header names (lower case) whose values are always
// redacted.
var sensitiveNames = [...]string{
	"authorization",
	"proxy-authorization",
	"cookie",
	"set-cookie",
	"x-api-key",
	"api-key",
}

// isSensitiveName reports whether a header with this name carries a secret by
// its name alone. It runs for every response header, so it compares ASCII
// case-insensitively instead of lowering the name.
func isSensitiveName(name string) bool {
	for _, n := range sensitiveNames {
		if len(name) == len(n) && strings.EqualFold(name, n) {
			return true
		}
	}
	if len(name) == len(idempotencyKey) && strings.EqualFold(name, idempotencyKey) {
		return false
	}
	for i := 0; i < len(name); i++ {
		var word string
		switch name[i] | 0x20 {
		case 't':
			word = "token"
		case 's':
			word = "secret"
		case 'k':
			word = "key"
		default:
			continue
		}
		if len(name)-i >= len(word) && strings.EqualFold(name[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

// redactValue returns the form of a secret value shown in an Attempt: the
// auth scheme is kept when the configured value starts with a plain word
// followed by a space ("Bearer [REDACTED]").
func redactValue(raw string) string {
	if i := strings.IndexByte(raw, ' '); i > 0 {
		scheme := raw[:i]
		if isToken(scheme) {
			return scheme + " " + redacted
		}
	}
	return redacted
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValue reports whether v holds no control character other than tab.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// isVarName reports whether s is a shell-style variable name.
func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether v may be sent as a header value: it holds
// no control character other than tab. New applies it to every configured
// value, and to every resolved value of a header that references variables.
func ValidHeaderValue(v string) bool { return validValue(v) }

// EnvRef is one ${NAME} or ${NAME:-default} reference found by ScanEnv.
type EnvRef struct {
	// Name is the variable's name.
	Name string
	// Default is the text after ":-", used when the variable is unset or empty.
	Default string
	// HasDefault is true when the reference has a ":-" default.
	HasDefault bool
}

// ScanEnv walks s the way header values are resolved (package config
// expands every other config value the same way), calling lit for literal
// text and ref for each reference. "$$" is a literal "$"; a "$" followed by
// neither "{" nor "$" is literal. A reference with an invalid name is
// skipped and the scan goes on, so that every reference is seen; an
// unterminated "${" ends it. The error, if any, names every problem found.
func ScanEnv(s string, lit func(string), ref func(EnvRef)) error {
	var problems []string
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			lit(s)
			break
		}
		lit(s[:i])
		switch s[i+1] {
		case '$':
			lit("$")
			s = s[i+2:]
			continue
		case '{':
		default:
			lit(s[i : i+2])
			s = s[i+2:]
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			problems = append(problems, `unterminated "${"`)
			break
		}
		r := EnvRef{Name: s[i+2 : i+2+end]}
		if name, def, ok := strings.Cut(r.Name, ":-"); ok {
			r = EnvRef{Name: name, Default: def, HasDefault: true}
		}
		if isVarName(r.Name) {
			ref(r)
		} else {
			problems = append(problems, fmt.Sprintf(`invalid variable name %q in "${...}"`, r.Name))
		}
		s = s[i+2+end+1:]
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// parseValue splits a raw header value into literal text and ${VAR} or
// ${VAR:-default} references, following ScanEnv ("$$" is a literal "$").
// Adjacent literal text is kept in one segment.
func parseValue(raw string) ([]segment, bool, error) {
	var parts []segment
	refs := false
	err := ScanEnv(raw, func(s string) {
		switch n := len(parts); {
		case s == "":
		case n > 0 && parts[n-1].name == "":
			parts[n-1].lit += s
		default:
			parts = append(parts, segment{lit: s})
		}
	}, func(r EnvRef) {
		parts = append(parts, segment{name: r.Name, def: r.Default, hasDef: r.HasDefault})
		refs = true
	})
	if err != nil {
		return nil, false, err
	}
	return parts, refs, nil
}

// literal joins the literal segments of a value without references.
func literal(parts []segment) string {
	if len(parts) == 1 {
		return parts[0].lit
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.lit)
	}
	return b.String()
}

// compileHeaders parses the configured headers, checks names, values and that
// every referenced variable without a default is set. The returned slice is
// sorted by name so that errors and records are deterministic.
func compileHeaders(hs map[string]string, getenv func(string) (string, bool)) ([]headerTmpl, error) {
	out := make([]headerTmpl, 0, len(hs))
	for name, raw := range hs {
		if !isToken(name) {
			return nil, fmt.Errorf("%w: header name %q is not a valid token", ErrBadHeader, name)
		}
		cn := textproto.CanonicalMIMEHeaderKey(name)
		parts, refs, err := parseValue(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: header %q: %s", ErrBadHeader, cn, err)
		}
		h := headerTmpl{name: cn, parts: parts, refs: refs}
		h.secret = refs || isSensitiveName(cn)
		if refs {
			v, err := h.resolve(getenv)
			if err != nil {
				return nil, err
			}
			if !validValue(v) {
				return nil, fmt.Errorf("%w: header %q: resolved value holds a control character", ErrBadHeader, cn)
			}
			h.display = redactValue(raw)
		} else {
			h.static = literal(parts)
			if !validValue(h.static) {
				return nil, fmt.Errorf("%w: header %q: value holds a control character", ErrBadHeader, cn)
			}
			h.display = h.static
			if h.secret {
				h.display = redactValue(h.static)
			}
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	for i := 1; i < len(out); i++ {
		if out[i].name == out[i-1].name {
			return nil, fmt.Errorf("%w: header %q configured twice", ErrBadHeader, out[i].name)
		}
	}
	return out, nil
}

// resolve expands the header's references with getenv. An unset variable
// without a default is an error naming the header and the variable; an unset
// or empty variable with a default takes the default, as in the shell.
func (h *headerTmpl) resolve(getenv func(string) (string, bool)) (string, error) {
	if !h.refs {
		return h.static, nil
	}
	if len(h.parts) == 1 {
		return h.lookup(h.parts[0], getenv)
	}
	// Look every part up first so that the value is built with one
	// allocation; most values have only a few parts.
	var small [4]string
	vals := small[:0]
	n := 0
	for _, p := range h.parts {
		v, err := h.lookup(p, getenv)
		if err != nil {
			return "", err
		}
		vals = append(vals, v)
		n += len(v)
	}
	var b strings.Builder
	b.Grow(n)
	for _, v := range vals {
		b.WriteString(v)
	}
	return b.String(), nil
}

func (h *headerTmpl) lookup(p segment, getenv func(string) (string, bool)) (string, error) {
	if p.name == "" {
		return p.lit, nil
	}
	v, ok := getenv(p.name)
	if p.hasDef && (!ok || v == "") {
		return p.def, nil
	}
	if !ok {
		return "", fmt.Errorf("%w: header %q uses ${%s}, which is not set", ErrMissingEnv, h.name, p.name)
	}
	return v, nil
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// appendSecret appends to dst the forms of a secret header value worth
// masking wherever it shows: the whole value and, for "Scheme credentials",
// the credentials alone. Values shorter than minScrubLen are left out.
func appendSecret(dst []string, v string) []string {
	if len(v) >= minScrubLen {
		dst = append(dst, v)
	}
	if i := strings.IndexByte(v, ' '); i > 0 {
		if c := strings.TrimSpace(v[i+1:]); len(c) >= minScrubLen {
			dst = append(dst, c)
		}
	}
	return dst
}

// scrubBytes returns b with every secret value replaced; b itself is
// returned when it holds none.
func scrubBytes(b []byte, secrets []string) []byte {
	for _, v := range secrets {
		if len(v) <= len(b) && bytes.Contains(b, []byte(v)) {
			b = bytes.ReplaceAll(b, []byte(v), []byte(redacted))
		}
	}
	return b
}

// scrubString returns v with every secret value replaced.
func scrubString(v string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) <= len(v) && strings.Contains(v, sec) {
			v = strings.ReplaceAll(v, sec, redacted)
		}
	}
	return v
}
