package renderer

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// diffTemplates are templates made only of simple path mustaches, covering
// every depth, raw output, whitespace control, comments, brace runs and the
// path forms raymond resolves.
var diffTemplates = []struct {
	src    string
	isJSON bool
}{
	{`{"a": {{ data.v }}, "b": "{{ data.v }}", "c": "{\"d\": \"{{ data.v }}\", \"e\": {{ data.v }}}", "f": "{\"g\": \"{\\\"h\\\": \\\"{{ data.v }}\\\"}\"}"}`, true},
	{`{"r": "{{{ data.v }}}", "s": {{& data.v }}, "t": {{{ data.v }}}}`, true},
	{"v={{ data.v }} raw={{{ data.v }}} l={{ data.list.[1] }} {{!-- c --}}\n  {{~ data.v ~}}  \n{{! standalone }}\nend", false},
	{`[{{ data.list.[0] }}, {{ data.list.[1] }}, {{ data.list.[9] }}, {{ data.list.x }}, {{ data.list.[01] }}, {{ data.list.[ 1] }}, {{ data.v.x }}, {{ data/nested/k }}, {{ data.[a b] }}, {{ nope.x }}, {{ data.s.length }}, {{ data.b.x }}, {{ data.z.x }}, {{ data.z }}, {{ data }}]`, true},
	{"{\n  {{! standalone comment }}\n  \"a\": \"{{ data.v }}\",\n  {{!-- another --}}\n  \"b\": [\"{{ data.list }}\", {{ data.nested }}]\n}", true},
	{`{"a": "  {{~ data.v }}  ", "b": "{{ data.v ~}}  x", "n": {"m": {{ data.n }}}}`, true},
	{`{"a": "\{{ data.v }}", "b": "{{ data.s }}"}`, true},
	{`{ "{{ data.s }}": {{ data.n }}, "{\"k\": \"{{ data.s }}\"}": "{{ event_time }}" }`, true},
	{`{"neg": "{{ data.list.[-1] }}"}`, true},
	{`{"method": "{{ data.n.String }}"}`, true},
	{"", true},
	{"plain text, no tags", false},
}

// diffValues are the values put at data.v.
var diffValues = []any{
	nil, "", "plain", `"`, `\`, "\\\"", "\n\t\r\b\f", "\x00\x01\x1f\x7f", "<>&'", "é 日本 🔐", "{{ data.id }}",
	"\u2028\u2029", `}"]}`, `\u0000`, "\ufffd", "a\xffb",
	json.Number("0"), json.Number("-12.5"), json.Number("1732406400.123456"), json.Number("1.5e3"), json.Number("-7.25E+2"),
	json.Number("25e-4"), json.Number("1e999999"), true, false, 7, int64(-3), 1.5, 1e21,
	map[string]any{"q": `a"b`, "n": json.Number("1e2"), "l": []any{"\u2028", nil, true}},
	[]any{"x\"y", json.Number("2"), map[string]any{}},
	[]any{}, map[string]any{},
}

// diffEvent returns an event whose data.v is v, with lists, nested objects
// and scalars to walk through.
func diffEvent(v any) *Event {
	data := map[string]any{
		"v":      v,
		"s":      "text \"quoted\"",
		"n":      json.Number("42"),
		"b":      true,
		"z":      nil,
		"list":   []any{"zero", json.Number("1"), map[string]any{"k": "v"}},
		"nested": map[string]any{"k": "nested value", "deep": []any{v}},
		"a b":    "spaced key",
	}
	root := map[string]any{"event_type": "RequestCreated", "event_time": json.Number("1732406400.123456"), "data": data}
	return &Event{Type: "RequestCreated", Trigger: RequestCreated, Time: "1732406400.123456", Data: data, Root: root}
}

// compareFastPath renders ev with the fast form and with raymond and fails
// the test when they differ in bytes or error. It reports whether the fast
// form handled the event (rather than deferring to raymond).
func compareFastPath(tb testing.TB, tpl *Template, ev *Event) bool {
	tb.Helper()
	if tpl.fast == nil {
		tb.Fatalf("template has no fast form:\n%s", tpl.Source())
	}
	var root map[string]any
	valid := false
	if ev != nil {
		root, valid = ev.Root, tpl.alwaysJSON && ev.decoded
	}
	fastOut, ok, fastErr := tpl.renderFast(root, valid)
	if !ok {
		return false
	}
	slowOut, slowErr := tpl.renderRaymond(root)
	switch {
	case (fastErr == nil) != (slowErr == nil):
		tb.Fatalf("fast err %v, raymond err %v\ntemplate:\n%s", fastErr, slowErr, tpl.Source())
	case fastErr != nil && fastErr.Error() != slowErr.Error():
		tb.Fatalf("fast err %q, raymond err %q\ntemplate:\n%s", fastErr, slowErr, tpl.Source())
	case string(fastOut) != string(slowOut):
		tb.Fatalf("output differs\ntemplate:\n%s\nfast:    %q\nraymond: %q", tpl.Source(), fastOut, slowOut)
	}
	return true
}

// Ensure the fast form renders byte for byte what raymond renders, for every
// kind of value at every depth and every path form, and defers to raymond
// where only raymond knows the answer.
func TestTemplate_Render_FastPathMatchesRaymond(t *testing.T) {
	for _, tc := range diffTemplates {
		tpl, err := CompileTemplate(tc.src, tc.isJSON)
		if err != nil {
			t.Fatalf("compile %q: %v", tc.src, err)
		}
		handled := 0
		for _, v := range diffValues {
			if compareFastPath(t, tpl, diffEvent(v)) {
				handled++
			}
		}
		compareFastPath(t, tpl, nil)
		compareFastPath(t, tpl, &Event{})
		wantHandled := len(diffValues)
		switch {
		case strings.Contains(tc.src, "[-1]") || strings.Contains(tc.src, ".String"):
			wantHandled = 0 // raymond panics on a negative index and calls methods
		case strings.Contains(tc.src, "data.v.x"):
			// Only raymond steps into numbers (json.Number has methods).
			for _, v := range diffValues {
				switch v.(type) {
				case nil, string, bool, map[string]any, []any:
				default:
					wantHandled--
				}
			}
		}
		if handled != wantHandled {
			t.Errorf("fast form handled %d of %d events for %q", handled, wantHandled, tc.src)
		}
	}
}

// Ensure every golden case with only simple mustaches takes the fast form
// and matches raymond on the golden event and on samples of every trigger.
func TestTemplate_Render_FastPathGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "template.hbs"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	fastCases := map[string]bool{"seed": true, "seed_awkward": true, "nested_depth3": true, "values": true, "triple_stash": true}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			src := string(readFile(t, p))
			tpl, err := CompileTemplate(src, IsJSONTemplate(src))
			if err != nil {
				t.Fatal(err)
			}
			if (tpl.fast != nil) != fastCases[name] {
				t.Fatalf("fast form present = %v, want %v", tpl.fast != nil, fastCases[name])
			}
			if tpl.fast == nil {
				return
			}
			events := []*Event{mustDecode(t, readFile(t, filepath.Join(dir, "event.json")))}
			for i, trig := range Triggers() {
				events = append(events, mustDecode(t, Sample(trig, i)))
			}
			for _, ev := range events {
				if !compareFastPath(t, tpl, ev) {
					t.Fatal("fast form deferred to raymond for a decoded event")
				}
			}
		})
	}
}

// Ensure templates that need raymond (blocks, helpers, this, @data, ../)
// get no fast form and still render.
func TestCompileTemplate_NoFastPath(t *testing.T) {
	tests := []struct {
		name  string
		given string
	}{
		{name: "If", given: `{"a": "{{#if data.id}}{{ data.id }}{{/if}}"}`},
		{name: "Each", given: `[{{#each data.approvals}}"{{ type }}"{{/each}}]`},
		{name: "Helper", given: `{"a": {{ lookup data.access_groups 0 }}}`},
		{name: "This", given: `{"a": {{ this.event_type }}}`},
		{name: "Data", given: `{"a": "{{ @root.event_type }}"}`},
		{name: "Parent", given: `{"a": "{{ ../event_type }}"}`},
		{name: "Literal", given: `{"a": {{ "x" }}}`},
		{name: "Hash", given: `{"a": "{{ data.id k=1 }}"}`},
	}
	ev := mustDecode(t, Sample(RequestApproved, 3))
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			tpl, err := CompileTemplate(test.given, IsJSONTemplate(test.given))
			if err != nil {
				t.Fatal(err)
			}
			if tpl.fast != nil {
				t.Fatal("template got a fast form")
			}
			if _, err := tpl.Render(ev); err != nil && test.name != "Hash" {
				t.Fatal(err)
			}
		})
	}
}

// Ensure Render on a fast template reuses no memory between calls: the
// returned slices stay intact after later renders.
func TestTemplate_Render_FastPathOwnsOutput(t *testing.T) {
	tpl, err := CompileTemplate(`{"id": "{{ data.id }}"}`, true)
	if err != nil {
		t.Fatal(err)
	}
	var outs [][]byte
	for i := range 20 {
		ev := mustDecode(t, Sample(RequestCreated, i))
		out, err := tpl.Render(ev)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out)
	}
	for i, out := range outs {
		id, _ := mustDecode(t, Sample(RequestCreated, i)).Get("data.id")
		if want := `{"id": "` + id.(string) + `"}`; string(out) != want {
			t.Fatalf("render %d changed to %s, want %s", i, out, want)
		}
	}
}

// Ensure the fast form and raymond agree for fuzzed templates and fuzzed
// text placed at several paths of an event (and, when the text is JSON, its
// decoded value).
func FuzzTemplate_FastPath(f *testing.F) {
	for _, tc := range diffTemplates {
		f.Add(tc.src, "a\"b\\c\n\u2028é", tc.isJSON)
	}
	for _, name := range []string{"seed", "nested_depth3", "values", "triple_stash"} {
		f.Add(string(readFile(f, filepath.Join("testdata", name, "template.hbs"))), `{"k": ["v", 1e3, null]}`, true)
	}
	f.Add(`{"a": "{{ data.j.k }}", "b": {{ data.j.[0] }}, "c": "{\"d\": {{ data.j }}}"}`, `[1, "x"]`, true)
	base := Sample(RequestCreated, 0)
	f.Fuzz(func(t *testing.T, src, s string, isJSON bool) {
		tpl, err := CompileTemplate(src, isJSON)
		if err != nil || tpl.fast == nil {
			return
		}
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\ufffd")
		}
		ev := mustDecode(t, base)
		ev.Data["justification"] = s
		ev.Data["requester"].(map[string]any)["name"] = s
		ev.Data["access_groups"].([]any)[0].(map[string]any)["integration"].(map[string]any)["name"] = s
		ev.Data["v"] = s
		if j, err := decodeNumbers([]byte(s)); err == nil {
			ev.Data["j"] = j
		}
		compareFastPath(t, tpl, ev)
		for _, v := range diffValues {
			compareFastPath(t, tpl, diffEvent(v))
		}
	})
}

// Ensure a JSON template skips the output check only where every value it
// can print keeps the body valid JSON.
func TestTemplate_AlwaysJSON(t *testing.T) {
	seed := string(readFile(t, "testdata/seed/template.hbs"))
	deep := string(readFile(t, "testdata/nested_depth3/template.hbs"))
	for _, c := range []struct {
		src  string
		want bool
	}{
		{seed, true},
		{deep, true},
		{`{"a": {{ x }}, "b": [{{ y }}, "{{ z }}"], "c": "{\"d\": {{ x }}}"}`, true},
		{`{"a": {{~ x ~}} }`, true},
		{`{"a": 1{{ x }}}`, false},  // digits continue a number
		{`{"a": -{{ x }}}`, false},  // only a number may follow a minus
		{`{ {{ x }}: 1}`, false},    // a key must be a string
		{`[{{ x }}{{ y }}]`, false}, // two values with no comma
		{`{"a": {{{ x }}}}`, false}, // raw: anything goes
		{`{"a": "{{ x }}}`, false},  // unterminated string
		{`{"a": {{ x }}} trailing`, false},
		{`{"a": {{#if x}}1{{/if}}}`, false}, // needs raymond: always checked
	} {
		tpl, err := CompileTemplate(c.src, true)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if tpl.alwaysJSON != c.want {
			t.Errorf("alwaysJSON(%s) = %v, want %v", c.src, tpl.alwaysJSON, c.want)
		}
	}
	// The check is skipped only for an event DecodeEvent made: one built by
	// hand may hold values the decoder never makes.
	tpl, err := CompileTemplate(`{"a": {{ x }}}`, true)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tpl.Render(&Event{Root: map[string]any{"x": json.Number("1x")}}); err == nil {
		t.Fatalf("invalid JSON without an error: %s", out)
	}

	// Inside a string the sample holds a quote and a backslash, so a place
	// wrongly taken to be inside a string is not trusted.
	ft := &fastTemplate{segs: []fastSeg{{lit: `{"a": 1`, parts: []string{"x"}, depth: 1}}, tail: "}"}
	if ft.alwaysJSON() {
		t.Fatal("a mustache after a number, taken to be inside a string, was trusted")
	}
}
