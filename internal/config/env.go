package config

import (
	"fmt"
	"strings"
)

// envRef is one ${NAME} or ${NAME:-default} reference in a value.
type envRef struct {
	Name       string
	Default    string
	HasDefault bool
}

// scanEnv walks s, calling lit for literal text and ref for each reference.
// "$$" is a literal "$"; a "$" not followed by "{" or "$" is literal.
func scanEnv(s string, lit func(string), ref func(envRef)) error {
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			lit(s)
			return nil
		}
		lit(s[:i])
		switch s[i+1] {
		case '$':
			lit("$")
			s = s[i+2:]
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return fmt.Errorf("%w: unterminated \"${\" (write $$ for a literal $)", ErrEnv)
			}
			body := s[i+2 : i+2+end]
			r := envRef{Name: body}
			if name, def, ok := strings.Cut(body, ":-"); ok {
				r = envRef{Name: name, Default: def, HasDefault: true}
			}
			if !validEnvName(r.Name) {
				return fmt.Errorf("%w: invalid variable name %q in \"${...}\" (write $$ for a literal $)", ErrEnv, r.Name)
			}
			ref(r)
			s = s[i+2+end+1:]
		default:
			lit(s[i : i+2])
			s = s[i+2:]
		}
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandEnv expands ${VAR}, ${VAR:-default} and $$ in s. An unset VAR
// expands to ""; the default is used when VAR is unset or empty.
func expandEnv(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	err := scanEnv(s, func(t string) { b.WriteString(t) }, func(r envRef) {
		v, ok := getenv(r.Name)
		if r.HasDefault && (!ok || v == "") {
			v = r.Default
		}
		b.WriteString(v)
	})
	if err != nil {
		return "", err
	}
	return b.String(), nil
}

// envRefs lists the references in s.
func envRefs(s string) ([]envRef, error) {
	var refs []envRef
	err := scanEnv(s, func(string) {}, func(r envRef) { refs = append(refs, r) })
	return refs, err
}
