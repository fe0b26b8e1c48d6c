package config

import (
	"fmt"
	"strings"

	"github.com/hookrelay/hookrelay/sender"
)

// envRef is one ${NAME} or ${NAME:-default} reference in a value.
type envRef = sender.EnvRef

// scanEnv walks s, calling lit for literal text and ref for each reference.
// It is sender.ScanEnv, so that config values and webhook headers (which
// package sender resolves at send time) follow one rule: "$$" is a literal
// "$"; a "$" not followed by "{" or "$" is literal.
func scanEnv(s string, lit func(string), ref func(envRef)) error {
	if err := sender.ScanEnv(s, lit, ref); err != nil {
		return fmt.Errorf("%w: %v (write $$ for a literal $)", ErrEnv, err)
	}
	return nil
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

// envRefs lists the references in s. On error it still returns every
// well-formed reference found.
func envRefs(s string) ([]envRef, error) {
	var refs []envRef
	err := scanEnv(s, func(string) {}, func(r envRef) { refs = append(refs, r) })
	return refs, err
}
