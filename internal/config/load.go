package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	goyaml "github.com/goccy/go-yaml"
	goyamlparser "github.com/goccy/go-yaml/parser"
	goyamltoken "github.com/goccy/go-yaml/token"
	"go.yaml.in/yaml/v3"
)

// LoadOptions are the dependencies of Load and Parse.
type LoadOptions struct {
	// Getenv looks up an environment variable; nil means os.LookupEnv.
	Getenv func(string) (string, bool)
	// ResolveDNS also resolves every webhook host and refuses one that
	// resolves to a blocked address (skipped when allow_unsafe_urls is true).
	ResolveDNS bool
	// Resolver is used when ResolveDNS is set; nil means the default resolver.
	Resolver *net.Resolver
	// Client reads the config for a command that only talks to the
	// running daemon: the variables webhook headers use, which only the
	// daemon needs, may be unset, and the NATS credentials and TLS files
	// are not checked.
	Client bool
}

// FieldError is one problem in a config file.
type FieldError struct {
	// Path is the key path, e.g. "webhooks[1].retry.max_attempts".
	Path string
	// Line and Col locate the problem (1-based); 0 when unknown.
	Line, Col int
	// Msg says what is wrong; it never contains a secret.
	Msg string
	// Err is the class of the problem (one of the ErrX sentinels), possibly
	// joined with the cause from another package; it is matched with errors.Is/As.
	Err error
}

// Error formats the problem as `path (line L, col C): msg`.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("(line ")
		b.WriteString(strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(", col ")
			b.WriteString(strconv.Itoa(e.Col))
		}
		b.WriteByte(')')
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the problem's class.
func (e *FieldError) Unwrap() error { return e.Err }

// ValidationError holds every problem found in a config file.
type ValidationError struct {
	// File is the name given to Parse (the path given to Load).
	File string
	// Errors are the problems, sorted by position.
	Errors []FieldError
}

// Error prints one problem per line as `file:line:col: path: msg`.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if fe.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(fe.Line))
			if fe.Col > 0 {
				b.WriteByte(':')
				b.WriteString(strconv.Itoa(fe.Col))
			}
		}
		b.WriteString(": ")
		if fe.Path != "" {
			b.WriteString(fe.Path)
			b.WriteString(": ")
		}
		b.WriteString(fe.Msg)
	}
	return b.String()
}

// Unwrap returns every FieldError, so errors.Is(err, ErrUnknownKey) and
// errors.As(err, &fieldErr) look at each problem.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i := range e.Errors {
		errs[i] = &e.Errors[i]
	}
	return errs
}

// Load reads and parses the config file at path; see LoadContext.
func Load(path string, opts LoadOptions) (*Config, error) {
	return LoadContext(context.Background(), path, opts)
}

// LoadContext reads the config file at path and parses it with ParseContext.
// ctx bounds the optional DNS checks.
func LoadContext(ctx context.Context, path string, opts LoadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseContext(ctx, data, path, opts)
}

// Parse decodes and validates a config; see ParseContext.
func Parse(data []byte, name string, opts LoadOptions) (*Config, error) {
	return ParseContext(context.Background(), data, name, opts)
}

// ParseContext decodes and validates a config. name is used in error
// messages and stored in Config.Path. Every problem found is returned in one
// *ValidationError; a YAML syntax error is returned the same way (with
// ErrSyntax), since nothing else can be checked then. ctx bounds the optional
// DNS checks.
func ParseContext(ctx context.Context, data []byte, name string, opts LoadOptions) (*Config, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.LookupEnv
	}
	cfg := &Config{Path: name}
	cfg.setDefaults()

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ValidationError{File: name, Errors: []FieldError{syntaxError(data, err)}}
	}
	d := &decoder{getenv: opts.Getenv, nodes: map[string]nodeRef{}, lines: bytes.Split(data, []byte("\n"))}
	if len(doc.Content) > 0 {
		d.decode(doc.Content[0], refValue(cfg), "", true)
	}
	if !d.stopped {
		// A file whose aliases expand too far is only partly decoded:
		// checking the rest would bury the one real problem.
		v := &validator{decoder: d, cfg: cfg, opts: opts}
		v.validate(ctx)
	}

	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool {
			a, b := d.errs[i], d.errs[j]
			if (a.Line == 0) != (b.Line == 0) {
				return b.Line == 0
			}
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Col < b.Col
		})
		return nil, &ValidationError{File: name, Errors: d.errs}
	}
	return cfg, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError locates the syntax error err that yaml.v3 found in data.
// yaml.v3 gives the line where the enclosing block began, often lines
// above the fault, and no column; goccy/go-yaml's parser is asked for the
// fault's own line, column and description. When it sees no fault (the two
// parsers disagree), yaml.v3's line and message are kept.
func syntaxError(data []byte, err error) FieldError {
	msg := err.Error()
	fe := FieldError{Msg: msg, Err: ErrSyntax}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Msg = "yaml: " + m[2]
	}
	if se := locateSyntaxError(data); se != nil {
		fe.Line, fe.Col = se.Token.Position.Line, se.Token.Position.Column
		fe.Msg = "yaml: " + printable(se.Message)
		if q := openQuote(se.Token); q != nil {
			// A quote left open runs on to the next one and the fault
			// shows only there: point at where it was opened.
			fe.Msg = fmt.Sprintf("yaml: the quoted value opened here runs on to line %d (is its closing quote missing?); there: %s",
				fe.Line, printable(se.Message))
			fe.Line, fe.Col = q.Position.Line, q.Position.Column
		}
	}
	return fe
}

// openQuote returns the quoted scalar just before the token of a syntax
// error when it spans lines, the usual sign of a closing quote left out.
func openQuote(t *goyamltoken.Token) *goyamltoken.Token {
	for p, i := t.Prev, 0; p != nil && i < 3; p, i = p.Prev, i+1 {
		if p.Type != goyamltoken.DoubleQuoteType && p.Type != goyamltoken.SingleQuoteType {
			continue
		}
		if open := strings.IndexAny(p.Origin, `"'`); open >= 0 && strings.Contains(p.Origin[open:], "\n") && p.Position != nil {
			return p
		}
	}
	return nil
}

// locateSyntaxError returns goccy/go-yaml's syntax error for data, or nil
// when it finds none or fails on its own (a panic is taken as no answer:
// yaml.v3's is given instead).
func locateSyntaxError(data []byte) (se *goyaml.SyntaxError) {
	defer func() {
		if recover() != nil {
			se = nil
		}
	}()
	_, err := goyamlparser.ParseBytes(data, 0)
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil {
		return nil
	}
	return se
}

// printable writes the control characters of s as Go escapes: a message
// may quote the tab it found.
func printable(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// errorf records a problem at path, located by node (or, if nil, by path).
func (d *decoder) errorf(path string, n *yaml.Node, class error, format string, args ...any) {
	fe := FieldError{Path: path, Msg: fmt.Sprintf(format, args...), Err: class}
	if n != nil {
		fe.Line, fe.Col = n.Line, n.Column
	} else {
		fe.Line, fe.Col = d.pos(path)
	}
	d.errs = append(d.errs, fe)
}

// addError records a FieldError as is.
func (d *decoder) addError(fe FieldError) { d.errs = append(d.errs, fe) }

// joinClass makes an Err that matches both the class and the cause.
func joinClass(class, cause error) error {
	if cause == nil || errors.Is(cause, class) {
		return class
	}
	return fmt.Errorf("%w: %w", class, cause)
}
