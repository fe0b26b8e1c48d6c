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
	fast      *fastTemplate // nil when the template needs raymond
	// alwaysJSON is set for a JSON template whose fast form gives valid
	// JSON whatever a decoded event holds (see fastTemplate.alwaysJSON):
	// its output then needs no check.
	alwaysJSON bool
}

// mustache is one output mustache found in a template's source.
type mustache struct {
	start, end   int    // byte range in the source, delimiters included
	open, close  string // opening and closing delimiters as written
	inner        string // the expression between the delimiters
	unescapedTag bool   // {{{ }}} or {{& }}: output raw
	simplePath   bool   // the expression is a lone path (no helper call)
}

// CompileTemplate compiles a Handlebars body template. When isJSON is true
// the body is JSON: every value is escaped for its JSON context and Render
// checks the output is valid JSON. A template that does not compile gives a
// *TemplateError carrying the line and column of the problem.
func CompileTemplate(src string, isJSON bool) (*Template, error) {
	orig := src
	toks := lexer.Collect(src)
	var inserts []int
	if last := toks[len(toks)-1]; last.Kind == lexer.TokenError {
		line, col := lineCol(src, last.Pos)
		return nil, &TemplateError{Line: line, Col: col, Err: errors.New(last.Val)}
	}
	if src, inserts = splitBraceRuns(src, toks); len(inserts) > 0 {
		toks = lexer.Collect(src)
		if last := toks[len(toks)-1]; last.Kind == lexer.TokenError {
			line, col := lineCol(orig, origPos(last.Pos, inserts))
			return nil, &TemplateError{Line: line, Col: col, Err: errors.New(last.Val)}
		}
	}
	// raymond's parser leaves its lexer goroutine blocked forever when it
	// stops at an error, so the common structural errors are caught here
	// first, without calling it.
	if te := checkBlocks(src, toks); te != nil {
		line, col := lineCol(orig, origPos(te.Col, inserts))
		te.Line, te.Col = line, col
		return nil, te
	}
	if _, err := raymond.Parse(src); err != nil {
		return nil, parseError(orig, src, inserts, toks, err)
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
	// Template helpers take precedence over raymond's global ones: lookup
	// keeps the value's type (objects render as JSON, numbers stay exact)
	// and log does not write to the process-wide logger.
	tpl.RegisterHelper("lookup", lookupHelper)
	tpl.RegisterHelper("log", func(string) raymond.SafeString { return "" })
	t := &Template{source: orig, json: isJSON, rewritten: rewritten, depths: depths, tpl: tpl, fast: compileFast(rewritten)}
	t.alwaysJSON = isJSON && t.fast != nil && t.fast.alwaysJSON()
	return t, nil
}

// valueHelper returns the helper that formats a value for depth d.
func valueHelper(d int) func(any) raymond.SafeString {
	return func(v any) raymond.SafeString { return formatValue(v, d) }
}

// lookupHelper returns obj's field (a key, or an index of an array) with
// its type intact.
func lookupHelper(obj any, field string, options *raymond.Options) any {
	if l, ok := obj.([]any); ok {
		i, err := strconv.Atoi(field)
		if err != nil || i < 0 || i >= len(l) {
			return nil
		}
		return l[i]
	}
	return options.Eval(obj, field)
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
//
// A template made only of simple path mustaches renders without raymond,
// appending straight into a pooled buffer; its output is byte for byte what
// raymond produces, and it falls back to raymond for any value it cannot
// resolve exactly the same way.
func (t *Template) Render(ev *Event) ([]byte, error) {
	var ctx map[string]any
	decoded := false
	if ev != nil {
		ctx, decoded = ev.Root, ev.decoded
	}
	if t.fast != nil {
		if out, ok, err := t.renderFast(ctx, t.alwaysJSON && decoded); ok {
			return out, err
		}
	}
	return t.renderRaymond(ctx)
}

// renderFast renders with the fast form. ok is false when the event needs
// raymond. valid skips the JSON check of the output, for a template that
// always gives JSON and an event DecodeEvent made.
func (t *Template) renderFast(ctx map[string]any, valid bool) (out []byte, ok bool, err error) {
	rb := bufferPool.Get().(*renderBuffer)
	defer func() {
		if r := recover(); r != nil {
			out, ok, err = nil, false, nil // let raymond report it
		}
		if cap(rb.b) <= maxPooledBuffer {
			rb.b = rb.b[:0]
			bufferPool.Put(rb)
		}
	}()
	buf, ok := t.fast.render(rb.b[:0], ctx)
	rb.b = buf
	if !ok {
		return nil, false, nil
	}
	if t.json && !valid && !validJSON(buf) {
		return nil, true, invalidJSON(buf)
	}
	out = make([]byte, len(buf))
	copy(out, buf)
	return out, true, nil
}

// renderRaymond renders by executing the rewritten template with raymond.
func (t *Template) renderRaymond(ctx map[string]any) (out []byte, err error) {
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
	if t.json && !validJSON(out) {
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
			// A lone path is one run of ids, separators and @ with no
			// space inside; "{{ helper a b }}" is a helper call.
			simple := j > i+1
			for k, it := range toks[i+1 : j] {
				if it.Kind != lexer.TokenID && it.Kind != lexer.TokenSep && it.Kind != lexer.TokenData {
					simple = false
				}
				if prev := toks[i+k]; k > 0 && prev.Pos+len(prev.Val) != it.Pos {
					simple = false
				}
			}
			ms = append(ms, mustache{
				simplePath:   simple,
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
// its depth, keeping whitespace control: {{~ data.id }} → {{~__hr_esc1 data.id}},
// {{ lookup a b }} → {{__hr_esc1 ( lookup a b )}}.
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
		if m.simplePath {
			// A lone path is passed straight as the helper's parameter,
			// which raymond evaluates faster than a sub-expression.
			b.WriteByte(' ')
			b.WriteString(strings.TrimSpace(m.inner))
		} else {
			b.WriteString(" (")
			b.WriteString(m.inner)
			b.WriteString(")")
		}
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

// emptyComment separates a mustache's "}}" from a following "}" so the
// lexer does not read "}}}" as the close of a triple-stash.
const emptyComment = "{{!}}"

// splitBraceRuns handles a brace run right after a tag: in plain Handlebars
// {"n": {{ x }}} is a syntax error because "}}}" closes a triple-stash. In a
// JSON body that run means "close the mustache, then close the object", so
// wherever a tag's closing run is longer than its opener needs, an empty
// comment is inserted after the needed braces. It returns the new source
// and the insertion offsets (in the new source).
func splitBraceRuns(src string, toks []lexer.Token) (string, []int) {
	var b strings.Builder
	var inserts []int
	prev := 0
	for i := 0; i < len(toks); i++ {
		need := 0
		switch toks[i].Kind {
		case lexer.TokenOpen, lexer.TokenOpenBlock, lexer.TokenOpenEndBlock, lexer.TokenOpenInverse,
			lexer.TokenOpenInverseChain, lexer.TokenOpenPartial:
			need = 2
		case lexer.TokenOpenUnescaped:
			need = 3
		default:
			continue
		}
		j := closeIndex(toks, i)
		if j < 0 {
			break
		}
		c := toks[j]
		if strings.HasSuffix(c.Val, "}") && len(strings.TrimLeft(c.Val, "~")) > need && !strings.Contains(c.Val, "~") {
			at := c.Pos + need
			b.WriteString(src[prev:at])
			inserts = append(inserts, b.Len())
			b.WriteString(emptyComment)
			prev = at
		}
		i = j
	}
	if len(inserts) == 0 {
		return src, nil
	}
	b.WriteString(src[prev:])
	return b.String(), inserts
}

// checkBlocks checks that block tags nest and match and that no partial is
// used (no partial is ever registered, so one could only fail at render
// time). On failure it returns a *TemplateError whose Col temporarily holds
// the byte offset of the problem.
func checkBlocks(src string, toks []lexer.Token) *TemplateError {
	type open struct {
		name string
		pos  int
	}
	var stack []open
	blockName := func(i int) string {
		var b strings.Builder
		end := -1
		for j := i + 1; j < len(toks); j++ {
			if end >= 0 && toks[j].Pos != end {
				break // whitespace ends the name
			}
			end = toks[j].Pos + len(toks[j].Val)
			switch toks[j].Kind {
			case lexer.TokenID, lexer.TokenData:
				b.WriteString(toks[j].Val)
				continue
			case lexer.TokenSep:
				b.WriteByte('.')
				continue
			}
			break
		}
		return b.String()
	}
	for i, t := range toks {
		switch t.Kind {
		case lexer.TokenOpenBlock, lexer.TokenOpenInverse:
			stack = append(stack, open{name: blockName(i), pos: t.Pos})
		case lexer.TokenOpenEndBlock:
			name := blockName(i)
			if len(stack) == 0 {
				return &TemplateError{Col: t.Pos, Err: fmt.Errorf("{{/%s}} closes no open block", name)}
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if name != top.name {
				line, col := lineCol(src, top.pos)
				return &TemplateError{Col: t.Pos, Err: fmt.Errorf("{{/%s}} does not match the open block %q (line %d col %d)", name, top.name, line, col)}
			}
		case lexer.TokenInverse, lexer.TokenOpenInverseChain:
			if len(stack) == 0 {
				return &TemplateError{Col: t.Pos, Err: errors.New("{{else}} outside a block")}
			}
		case lexer.TokenOpenPartial:
			name := blockName(i)
			if name == "" {
				name = "..."
			}
			return &TemplateError{Col: t.Pos, Err: fmt.Errorf("{{> %s}}: partials are not supported", name)}
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return &TemplateError{Col: top.pos, Err: fmt.Errorf("block %q is never closed", top.name)}
	}
	return nil
}

// origPos maps an offset in a source changed by splitBraceRuns back to the
// original source.
func origPos(pos int, inserts []int) int {
	shift := 0
	for _, at := range inserts {
		if at < pos {
			shift += min(len(emptyComment), pos-at)
		}
	}
	return pos - shift
}

// parseError turns a raymond parse error on src (orig changed by
// splitBraceRuns) into a *TemplateError positioned in orig, locating the
// offending token or node when the message names one.
func parseError(orig, src string, inserts []int, toks []lexer.Token, err error) *TemplateError {
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
	at := func(pos int) { te.Line, te.Col = lineCol(orig, origPos(pos, inserts)) }
	findTok := func(tokStr string) {
		for _, t := range toks {
			if t.Line == lexLine && t.String() == tokStr {
				at(t.Pos)
				return
			}
		}
	}
	switch {
	case strings.Contains(msg, "\nToken: "):
		k := strings.LastIndex(msg, "\nToken: ")
		tokStr := msg[k+len("\nToken: "):]
		findTok(tokStr)
		msg = msg[:k] + " at " + tokStr
	case strings.Contains(msg, "got: '"):
		tokStr := msg[strings.Index(msg, "got: '")+len("got: '"):]
		findTok(strings.TrimSuffix(tokStr, "'"))
	case strings.Contains(msg, "\nNode: "):
		k := strings.LastIndex(msg, "\nNode: ")
		if _, p, ok := strings.Cut(msg[k:], "Pos:"); ok {
			end := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' })
			if end < 0 {
				end = len(p)
			}
			if pos, err := strconv.Atoi(p[:end]); err == nil {
				at(pos)
			}
		}
		msg = msg[:k]
	}
	if te.Col == 0 && te.Line > 0 {
		te.Col = 1
	}
	te.Err = errors.New(strings.ReplaceAll(msg, "\n", "; "))
	return te
}
