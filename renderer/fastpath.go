package renderer

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/aymerick/raymond/ast"
	"github.com/aymerick/raymond/parser"
)

// fastTemplate is a template whose every tag is a simple output mustache
// (a lone path: identifiers and index segments, no helper, block, partial,
// this, ../ or @data) or a comment. It renders by appending literal bytes
// and formatted values straight into a buffer, resolving paths on
// Event.Root, with output identical to raymond executing the rewritten
// template.
type fastTemplate struct {
	segs []fastSeg
	tail string // literal text after the last value
	size int    // literal bytes in total, a hint for the buffer
}

// fastSeg is literal text followed by one value.
type fastSeg struct {
	lit   string   // literal text before the value, whitespace control applied
	parts []string // the value's path segments, brackets stripped
	depth int      // rawMode, 0 (JSON value) or the JSON string depth
}

// maxPooledBuffer bounds the capacity of a render buffer kept for reuse.
const maxPooledBuffer = 64 << 10

// renderBuffer is a reusable output buffer.
type renderBuffer struct{ b []byte }

// bufferPool holds render buffers shared by every template.
var bufferPool = sync.Pool{New: func() any { return &renderBuffer{b: make([]byte, 0, 2048)} }}

// compileFast builds the fast form of a rewritten template, or returns nil
// when the template needs raymond (blocks, helper calls, partials, scoped or
// data paths).
func compileFast(rewritten string) *fastTemplate {
	prog, err := parser.Parse(rewritten)
	if err != nil {
		return nil
	}
	ft := &fastTemplate{}
	var lit strings.Builder
	for _, n := range prog.Body {
		switch s := n.(type) {
		case *ast.ContentStatement:
			lit.WriteString(s.Value)
		case *ast.CommentStatement:
		case *ast.MustacheStatement:
			depth, parts, ok := fastMustache(s)
			if !ok {
				return nil
			}
			ft.segs = append(ft.segs, fastSeg{lit: lit.String(), parts: parts, depth: depth})
			ft.size += lit.Len()
			lit.Reset()
		default:
			return nil
		}
	}
	ft.tail = lit.String()
	ft.size += len(ft.tail)
	return ft
}

// fastMustache reports whether a mustache of a rewritten template is a value
// helper applied to one plain path, returning the helper's depth and the
// path's segments as raymond looks them up.
func fastMustache(s *ast.MustacheStatement) (depth int, parts []string, ok bool) {
	e := s.Expression
	if e == nil || e.Hash != nil || len(e.Params) != 1 {
		return 0, nil, false
	}
	switch name := e.HelperName(); {
	case name == helperRaw:
		depth = rawMode
	case strings.HasPrefix(name, helperEscPrefix):
		d, err := strconv.Atoi(name[len(helperEscPrefix):])
		if err != nil || d < 0 || helperName(d) != name {
			return 0, nil, false
		}
		depth = d
	default:
		return 0, nil, false
	}
	p, isPath := e.Params[0].(*ast.PathExpression)
	if !isPath || p.Data || p.Scoped || p.Depth != 0 || len(p.Parts) == 0 {
		return 0, nil, false
	}
	parts = make([]string, len(p.Parts))
	for i, part := range p.Parts {
		if len(part) >= 2 && part[0] == '[' && part[len(part)-1] == ']' {
			part = part[1 : len(part)-1]
		}
		parts[i] = part
	}
	return depth, parts, true
}

// alwaysJSON reports whether the template, read as JSON, is valid for every
// value a decoded event can put in each mustache, so that its output needs
// no check. Every mustache must be escaped for its place (none raw). It is
// checked by rendering the literal text with sample values: in value
// position each of a string, numbers, literals and containers, which are
// all accepted together only where the grammar takes a whole JSON value;
// inside a string, text holding a quote and a backslash, whose escapes
// leave the document valid only if the place really is inside a string.
func (ft *fastTemplate) alwaysJSON() bool {
	for _, sample := range alwaysJSONSamples {
		var b []byte
		for _, s := range ft.segs {
			b = append(b, s.lit...)
			switch {
			case s.depth == rawMode:
				return false
			case s.depth == 0:
				b = append(b, sample...)
			default:
				b = appendValue(b, `q"\`+"\n", s.depth)
			}
		}
		b = append(b, ft.tail...)
		if !validJSON(b) {
			return false
		}
	}
	return true
}

// alwaysJSONSamples are the value-position samples of alwaysJSON: one of
// each kind a mustache can print there.
var alwaysJSONSamples = []string{`""`, `"s"`, `0`, `-1.5`, `true`, `false`, `null`, `{}`, `[]`, `{"a":[1,"b"]}`}

// render appends the template's output for root to dst. ok is false when a
// value is of a kind only raymond resolves exactly (a negative index, a
// method on a json.Number, a type a decoded event never holds); the caller
// then renders with raymond instead.
func (ft *fastTemplate) render(dst []byte, root map[string]any) (out []byte, ok bool) {
	for i := range ft.segs {
		s := &ft.segs[i]
		dst = append(dst, s.lit...)
		v, ok := resolvePath(root, s.parts)
		if !ok {
			return dst, false
		}
		dst = appendValue(dst, v, s.depth)
	}
	return append(dst, ft.tail...), true
}

// resolvePath looks parts up from root the way raymond evaluates a path
// parameter: a map by key, an array by a non-negative strconv.Atoi index,
// and nil for a missing key, an out-of-range or non-numeric index, or a step
// through a string, bool or null. ok is false where raymond would do
// something else (panic on a negative index, call a method, dereference).
// Like raymond, it yields nil both for a missing field and for one present
// with JSON null (appendValue renders either as "" in value position), so
// the two paths agree.
func resolvePath(root map[string]any, parts []string) (v any, ok bool) {
	var cur any = root
	for _, p := range parts {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i, err := strconv.Atoi(p)
			switch {
			case err != nil || i >= len(c):
				return nil, true
			case i < 0:
				return nil, false
			}
			cur = c[i]
		case nil, string, bool:
			return nil, true
		default:
			return nil, false
		}
	}
	switch cur.(type) {
	case nil, string, json.Number, bool, map[string]any, []any, int, int64, float64:
		return cur, true
	}
	return nil, false
}
