package renderer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aymerick/raymond"
	"github.com/aymerick/raymond/lexer"
)

// Helper names the rewritten templates call. They are registered on each
// template, never globally.
const (
	helperRaw       = "__hr_raw"
	helperEscPrefix = "__hr_esc"
)

// Template is a compiled body template. It is safe for concurrent use.
type Template struct {
	source    string
	json      bool
	rewritten string
	depths    []int // per simple mustache: rawMode, 0 (JSON value) or string depth
	tpl       *raymond.Template
}

// mustache is one output mustache found in a template's source.
type mustache struct {
	start, end   int    // byte range in the source, delimiters included
	open, close  string // opening and closing delimiters as written
	inner        string // the expression between the delimiters
	unescapedTag bool   // {{{ }}} or {{& }}: output raw
}

// CompileTemplate compiles a Handlebars body template. When isJSON is true
// the body is JSON: every value is escaped for its JSON context and Render
// checks the output is valid JSON. A template that does not compile gives a
// *TemplateError carrying the line and column of the problem.
func CompileTemplate(src string, isJSON bool) (*Template, error) {
	toks := lexer.Collect(src)
	if last := toks[len(toks)-1]; last.Kind == lexer.TokenError {
		line, col := lineCol(src, last.Pos)
		return nil, &TemplateError{Line: line, Col: col, Err: errors.New(last.Val)}
	}
	if _, err := raymond.Parse(src); err != nil {
		return nil, parseError(src, toks, err)
	}

	ms, skeleton := findMustaches(src, toks)
	depths := make([]int, len(ms))
	for i := range depths {
		depths[i] = rawMode
	}
	if isJSON {
		for i := range depths {
			depths[i] = 0
		}
		scanContexts(skeleton, 0, depths)
	}
	for i, m := range ms {
		if m.unescapedTag {
			depths[i] = rawMode
		}
	}

	rewritten := rewrite(src, ms, depths)
	tpl, err := raymond.Parse(rewritten)
	if err != nil {
		// The rewrite only wraps expressions; failing here is a bug, but
		// report it as a template error rather than panic.
		return nil, &TemplateError{Line: 0, Col: 0, Err: fmt.Errorf("rewritten template: %w", err)}
	}
	registered := map[int]bool{}
	for _, d := range depths {
		if registered[d] {
			continue
		}
		registered[d] = true
		tpl.RegisterHelper(helperName(d), valueHelper(d))
	}
	return &Template{source: src, json: isJSON, rewritten: rewritten, depths: depths, tpl: tpl}, nil
}

// valueHelper returns the helper that formats a value for depth d.
func valueHelper(d int) func(any) raymond.SafeString {
	return func(v any) raymond.SafeString { return formatValue(v, d) }
}

// helperName names the helper for depth d.
func helperName(d int) string {
	if d == rawMode {
		return helperRaw
	}
	return helperEscPrefix + strconv.Itoa(d)
}

// JSON reports whether the template's body is JSON.
func (t *Template) JSON() bool { return t.json }

// Source returns the template text as given to CompileTemplate.
func (t *Template) Source() string { return t.source }

// Render executes the template with the event's payload as context. For a
// JSON template it returns a *RenderError wrapping ErrInvalidJSON when the
// output is not valid JSON; an execution failure gives a *RenderError
// wrapping ErrExec.
func (t *Template) Render(ev *Event) (out []byte, err error) {
	var ctx map[string]any
	if ev != nil {
		ctx = ev.Root
	}
	if ctx == nil {
		ctx = map[string]any{}
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &RenderError{Offset: -1, Err: fmt.Errorf("%w: %v", ErrExec, r)}
		}
	}()
	s, err := t.tpl.Exec(ctx)
	if err != nil {
		return nil, &RenderError{Offset: -1, Err: fmt.Errorf("%w: %v", ErrExec, err)}
	}
	out = []byte(s)
	if t.json && !json.Valid(out) {
		return nil, invalidJSON(out)
	}
	return out, nil
}

// invalidJSON describes why out is not valid JSON, with the offset.
func invalidJSON(out []byte) *RenderError {
	var v any
	err := json.Unmarshal(out, &v)
	off := int64(len(out))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if err == nil {
		err = errors.New("invalid JSON")
	}
	lo, hi := max(0, int(off)-24), min(len(out), int(off)+24)
	return &RenderError{
		Offset: off,
		Err:    fmt.Errorf("%w: %v at offset %d near %q", ErrInvalidJSON, err, off, out[lo:hi]),
	}
}

// findMustaches lists the output mustaches of a lexed template and returns
// the template's literal text with every output mustache replaced by a
// placeholder and every other tag removed.
func findMustaches(src string, toks []lexer.Token) ([]mustache, string) {
	var ms []mustache
	var skel strings.Builder
	skel.Grow(len(src))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.Kind {
		case lexer.TokenContent:
			skel.WriteString(t.Val)
		case lexer.TokenOpen, lexer.TokenOpenUnescaped:
			j := closeIndex(toks, i)
			if j < 0 {
				return ms, skel.String()
			}
			c := toks[j]
			ms = append(ms, mustache{
				start:        t.Pos,
				end:          c.Pos + len(c.Val),
				open:         t.Val,
				close:        c.Val,
				inner:        src[t.Pos+len(t.Val) : c.Pos],
				unescapedTag: t.Kind == lexer.TokenOpenUnescaped || strings.Contains(t.Val, "&"),
			})
			appendPlaceholder(&skel, len(ms)-1)
			i = j
		case lexer.TokenOpenBlock, lexer.TokenOpenEndBlock, lexer.TokenOpenInverse, lexer.TokenOpenInverseChain,
			lexer.TokenOpenPartial, lexer.TokenOpenRawBlock, lexer.TokenOpenEndRawBlock:
			j := closeIndex(toks, i)
			if j < 0 {
				return ms, skel.String()
			}
			i = j
		}
	}
	return ms, skel.String()
}

// closeIndex returns the index of the token closing the tag opened at i.
func closeIndex(toks []lexer.Token, i int) int {
	for j := i + 1; j < len(toks); j++ {
		switch toks[j].Kind {
		case lexer.TokenClose, lexer.TokenCloseUnescaped, lexer.TokenCloseRawBlock:
			return j
		}
	}
	return -1
}

// rewrite replaces every output mustache by a call of the value helper for
// its depth, keeping whitespace control: {{~ data.id }} → {{~__hr_esc1 ( data.id )}}.
func rewrite(src string, ms []mustache, depths []int) string {
	var b strings.Builder
	b.Grow(len(src) + len(ms)*16)
	prev := 0
	for i, m := range ms {
		b.WriteString(src[prev:m.start])
		b.WriteString("{{")
		if strings.Contains(m.open, "~") {
			b.WriteByte('~')
		}
		b.WriteString(helperName(depths[i]))
		b.WriteString(" (")
		b.WriteString(m.inner)
		b.WriteString(")")
		if strings.Contains(m.close, "~") {
			b.WriteByte('~')
		}
		b.WriteString("}}")
		prev = m.end
	}
	b.WriteString(src[prev:])
	return b.String()
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(src string, pos int) (line, col int) {
	pos = max(0, min(pos, len(src)))
	line = 1 + strings.Count(src[:pos], "\n")
	col = pos - (strings.LastIndexByte(src[:pos], '\n') + 1) + 1
	return line, col
}

// parseError turns a raymond parse error into a *TemplateError, locating the
// offending token when the message names one.
func parseError(src string, toks []lexer.Token, err error) *TemplateError {
	msg := err.Error()
	lexLine := 0
	if rest, ok := strings.CutPrefix(msg, "Parse error on line "); ok {
		if n, _, ok := strings.Cut(rest, ":"); ok {
			lexLine, _ = strconv.Atoi(n)
		}
		if _, body, ok := strings.Cut(rest, "\n"); ok {
			msg = body
		}
	}
	te := &TemplateError{Line: lexLine}
	if k := strings.LastIndex(msg, "\nToken: "); k >= 0 {
		tokStr := msg[k+len("\nToken: "):]
		for _, t := range toks {
			if t.Line == lexLine && t.String() == tokStr {
				te.Line, te.Col = lineCol(src, t.Pos)
				break
			}
		}
		msg = msg[:k] + " at " + tokStr
	} else if strings.Contains(msg, "got: '") {
		// "Expecting X, got: 'Tok'" names the token too.
		tokStr := msg[strings.Index(msg, "got: '")+len("got: '"):]
		tokStr = strings.TrimSuffix(tokStr, "'")
		for _, t := range toks {
			if t.Line == lexLine && t.String() == tokStr {
				te.Line, te.Col = lineCol(src, t.Pos)
				break
			}
		}
	}
	if te.Col == 0 && te.Line > 0 {
		te.Col = 1
	}
	te.Err = errors.New(strings.ReplaceAll(msg, "\n", "; "))
	return te
}
