package renderer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Ensure CompileTemplate reports syntax errors with the line and column of
// the problem inside the template.
func TestCompileTemplate_Errors(t *testing.T) {
	tests := []struct {
		name     string
		given    string
		wantLine int
		wantCol  int
		wantMsg  string
	}{
		{name: "UnclosedExpression", given: "{\n  \"a\": \"{{ data.id\"\n}", wantLine: 2, wantMsg: "Unterminated string"},
		{name: "UnclosedBlock", given: "{\n  \"a\": \"{{#if data.id}}x\"\n}", wantLine: 2, wantCol: 9, wantMsg: `block "if" is never closed`},
		{name: "CloseWithoutOpen", given: "{\n  {{/each}}}", wantLine: 2, wantCol: 3, wantMsg: "closes no open block"},
		{name: "ElseOutsideBlock", given: "a {{else}} b", wantLine: 1, wantCol: 3, wantMsg: "outside a block"},
		{name: "ParserError", given: "{\n {{#if}}{{/if}} {{ a=b }}", wantLine: 2, wantMsg: "Expecting"},
		{name: "MismatchedBlock", given: "{{#if a}}\n  {{/each}}", wantLine: 2, wantCol: 3, wantMsg: `{{/each}} does not match the open block "if" (line 1 col 1)`},
		{name: "BadCharacter", given: "ok\n  {{ data.id % 2 }}", wantLine: 2, wantCol: 14, wantMsg: "Unexpected character"},
		{name: "TripleMismatch", given: "{\"n\": {{{ data.n }}\n}", wantLine: 1, wantCol: 18, wantMsg: "Close"},
		{name: "ErrorAfterBraceSplit", given: "{\"a\": {{ x }}}, \"b\": {{ y }}}, {{#if}}", wantLine: 1, wantCol: 32, wantMsg: "never closed"},
		{name: "UnclosedComment", given: "a\nb {{!-- never closed", wantLine: 2, wantCol: 3, wantMsg: "Unclosed comment"},
		// No partial is ever registered, so one could only fail at render time.
		{name: "Partial", given: "{\n  \"a\": \"{{> part }}\"\n}", wantLine: 2, wantCol: 9, wantMsg: "{{> part}}: partials are not supported"},
		{name: "PartialWithContext", given: "{{~> part data }}", wantLine: 1, wantCol: 1, wantMsg: "partials are not supported"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := CompileTemplate(test.given, true)
			var te *TemplateError
			if !errors.As(err, &te) || !errors.Is(err, ErrTemplate) {
				t.Fatalf("err = %v, want *TemplateError", err)
			}
			if te.Line != test.wantLine || (test.wantCol != 0 && te.Col != test.wantCol) || te.Col < 1 {
				t.Fatalf("at %d:%d, want %d:%d (%v)", te.Line, te.Col, test.wantLine, test.wantCol, err)
			}
			if !strings.Contains(err.Error(), test.wantMsg) || !strings.Contains(err.Error(), fmt.Sprintf("line %d col %d", te.Line, te.Col)) {
				t.Fatalf("message %q lacks %q or the position", err, test.wantMsg)
			}
		})
	}
}

// Ensure Template.Render escapes for the right JSON depth in small templates.
func TestTemplate_Render(t *testing.T) {
	ev := mustDecode(t, []byte(`{"event_type":"RequestCreated","event_time":1732406400.123456,"data":{"s":"a\"b<\n","n":3600,"b":true,"list":["x","y"],"groups":[{"name":"g0"}]}}`))
	tests := []struct {
		name      string
		given     string
		givenJSON bool
		want      string
		wantErr   error
	}{
		{name: "Depth0", given: `{"s": {{ data.s }}, "n": {{ data.n }}, "b": {{ data.b }}, "m": {{ data.m }}}`, givenJSON: true, want: `{"s": "a\"b<\n", "n": 3600, "b": true, "m": ""}`},
		{name: "Depth1", given: `{"s": "{{ data.s }}|{{ data.n }}|{{ data.b }}|{{ data.m }}"}`, givenJSON: true, want: `{"s": "a\"b<\n|3600|true|"}`},
		{name: "Depth2", given: `{"s": "{\"i\": \"{{ data.s }}\", \"n\": {{ data.n }}}"}`, givenJSON: true, want: `{"s": "{\"i\": \"a\\\"b<\\n\", \"n\": 3600}"}`},
		{name: "Depth2Array", given: `["[\"{{ data.s }}\"]"]`, givenJSON: true, want: `["[\"a\\\"b<\\n\"]"]`},
		{name: "NotJSONInString", given: `{"s": "say {\"{{ data.s }}\"}"}`, givenJSON: true, want: `{"s": "say {\"a\"b<\n\"}"}`},
		{name: "BraceRuns", given: `{"a": {"n": {{ data.n }}}, "r": {{{ data.n }}}}`, givenJSON: true, want: `{"a": {"n": 3600}, "r": 3600}`},
		{name: "BraceRunAfterBlock", given: `{"a": {{#if data.b}}{"b": {{ data.b }}}{{/if}}}`, givenJSON: true, want: `{"a": {"b": true}}`},
		{name: "KeyFromValue", given: `{ "{{ data.groups.[0].name }}": 1 }`, givenJSON: true, want: `{ "g0": 1 }`},
		{name: "Time", given: `{"t": {{ event_time }}, "u": "{{ event_time }}"}`, givenJSON: true, want: `{"t": 1732406400.123456, "u": "1732406400.123456"}`},
		{name: "WhitespaceControl", given: "{\"s\": \"  {{~ data.n ~}}  \"}", givenJSON: true, want: `{"s": "3600"}`},
		{name: "EachInArray", given: `[{{#each data.list}}"{{ this }}"{{#unless @last}},{{/unless}}{{/each}}]`, givenJSON: true, want: `["x","y"]`},
		{name: "HelperCall", given: `{"g": {{ lookup data.groups 0 }}, "h": "{{ lookup data.list 1 }}"}`, givenJSON: true, want: `{"g": {"name":"g0"}, "h": "y"}`},
		{name: "RawStays", given: `{"s": "{{{ data.s }}}"}`, givenJSON: true, wantErr: ErrInvalidJSON},
		{name: "PlainText", given: `s={{ data.s }} n={{ data.n }} m=[{{ data.m }}] l={{ data.list }}`, givenJSON: false, want: "s=a\"b<\n n=3600 m=[] l=[\"x\",\"y\"]"},
		{name: "NegativeIndex", given: `{"x": "{{ data.list.[-1] }}"}`, givenJSON: true, wantErr: ErrExec},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			tpl, err := CompileTemplate(test.given, test.givenJSON)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(ev)
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("err = %v, want %v", err, test.wantErr)
			}
			if err != nil {
				var re *RenderError
				if !errors.As(err, &re) {
					t.Fatalf("err %T is not a *RenderError", err)
				}
				if errors.Is(err, ErrInvalidJSON) && (re.Offset < 0 || !strings.Contains(err.Error(), "offset")) {
					t.Fatalf("invalid JSON error lacks its offset: %v", err)
				}
				return
			}
			if string(got) != test.want {
				t.Fatalf("got  %s\nwant %s", got, test.want)
			}
			if test.givenJSON && !json.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
		})
	}
}

// Ensure a missing field renders as the empty string: "" in value position
// of a JSON template, empty text inside JSON strings and in plain text, in
// both the fast form and raymond. A field present with JSON null renders
// the same way (raymond passes nil for both), while a null inside a
// rendered object or array stays null and {{{ }}} stays raw.
func TestTemplate_Render_MissingAndNull(t *testing.T) {
	ev := mustDecode(t, []byte(`{"event_type":"Manual","data":{"z":null,"s":"x","list":["a",null],"obj":{"k":null},"arr":[{"k":null},{},{"k":1}]}}`))
	tests := []struct {
		name      string
		given     string
		givenJSON bool
		wantFast  bool
		want      string
		wantErr   error
	}{
		{name: "ValueMissing", given: `{"m": {{ data.nope }}, "d": {{ data.nope.deeper }}, "r": {{ nope.x }}}`, givenJSON: true, wantFast: true, want: `{"m": "", "d": "", "r": ""}`},
		{name: "ValueNull", given: `{"z": {{ data.z }}, "l": {{ data.list.[1] }}, "k": {{ data.obj.k }}}`, givenJSON: true, wantFast: true, want: `{"z": "", "l": "", "k": ""}`},
		{name: "ValueOutOfRange", given: `[{{ data.list.[9] }}, {{ data.list.x }}, {{ data.s.x }}, {{ data.z.x }}]`, givenJSON: true, wantFast: true, want: `["", "", "", ""]`},
		{name: "ValueNullInsideObject", given: `{"o": {{ data.obj }}, "l": {{ data.list }}}`, givenJSON: true, wantFast: true, want: `{"o": {"k":null}, "l": ["a",null]}`},
		{name: "StringMissingAndNull", given: `{"m": "{{ data.nope }}", "z": "<{{ data.z }}>", "n": "{\"i\": \"{{ data.nope }}\"}"}`, givenJSON: true, wantFast: true, want: `{"m": "", "z": "<>", "n": "{\"i\": \"\"}"}`},
		{name: "PlainText", given: `m=[{{ data.nope }}] z=[{{ data.z }}]`, wantFast: true, want: `m=[] z=[]`},
		{name: "RawInString", given: `{"m": "{{{ data.nope }}}", "z": "{{{ data.z }}}"}`, givenJSON: true, wantFast: true, want: `{"m": "", "z": ""}`},
		{name: "RawStaysRaw", given: `{"m": {{{ data.nope }}}}`, givenJSON: true, wantFast: true, wantErr: ErrInvalidJSON},
		{name: "RaymondWith", given: `{"m": {{#with data}}{{ nope }}{{/with}}, "z": {{#with data}}{{ z }}{{/with}}}`, givenJSON: true, want: `{"m": "", "z": ""}`},
		{name: "RaymondEach", given: `[{{#each data.arr}}{{ k }}{{#unless @last}}, {{/unless}}{{/each}}]`, givenJSON: true, want: `["", "", 1]`},
		{name: "RaymondLookup", given: `{"m": {{ lookup data "nope" }}, "z": {{ lookup data "z" }}, "i": {{ lookup data.list 9 }}}`, givenJSON: true, want: `{"m": "", "z": "", "i": ""}`},
		{name: "RaymondThis", given: `{"m": {{ this.nope }}, "z": {{ this.data.z }}, "s": "{{ this.nope }}"}`, givenJSON: true, want: `{"m": "", "z": "", "s": ""}`},
		{name: "RaymondPlainText", given: `{{#with data}}m=[{{ nope }}] z=[{{ z }}]{{/with}}`, want: `m=[] z=[]`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			tpl, err := CompileTemplate(test.given, test.givenJSON)
			if err != nil {
				t.Fatal(err)
			}
			if (tpl.fast != nil) != test.wantFast {
				t.Fatalf("fast form present = %v, want %v", tpl.fast != nil, test.wantFast)
			}
			if tpl.fast != nil && !compareFastPath(t, tpl, ev) {
				t.Fatal("fast form deferred to raymond")
			}
			got, err := tpl.Render(ev)
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("err = %v, want %v", err, test.wantErr)
			}
			if err != nil {
				return
			}
			if string(got) != test.want {
				t.Fatalf("got  %s\nwant %s", got, test.want)
			}
			if test.givenJSON && !json.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
		})
	}
}

// Ensure Renderer.Render names the webhook in its errors and rejects unknown names.
func TestRenderer_Render(t *testing.T) {
	r, err := New([]Webhook{
		{Name: "good", BodyTemplate: `{"id": "{{ data.id }}"}`, JSON: true},
		{Name: "broken", BodyTemplate: `{"id": {{{ data.id }}}}`, JSON: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := mustDecode(t, []byte(`{"event_type":"RequestCreated","data":{"id":"x y"}}`))
	if got, err := r.Render("good", ev); err != nil || string(got) != `{"id": "x y"}` {
		t.Fatalf("Render(good) = %s, %v", got, err)
	}
	_, err = r.Render("broken", ev)
	var re *RenderError
	if !errors.As(err, &re) || re.Webhook != "broken" || !errors.Is(err, ErrInvalidJSON) || re.Offset != 8 {
		t.Fatalf("Render(broken) err = %#v", err)
	}
	if !strings.Contains(err.Error(), `"broken"`) {
		t.Fatalf("error does not name the webhook: %v", err)
	}
	if _, err := r.Render("nope", ev); !errors.Is(err, ErrUnknownWebhook) {
		t.Fatalf("Render(nope) err = %v", err)
	}
	if got, err := r.Render("good", nil); err != nil || string(got) != `{"id": ""}` {
		t.Fatalf("Render(nil event) = %s, %v", got, err)
	}
}

// Ensure a compiled template renders correctly from many goroutines at once
// and that compiling the same template twice registers nothing globally.
func TestTemplate_Render_Concurrent(t *testing.T) {
	src := string(readFile(t, "testdata/seed/template.hbs"))
	tpl, err := CompileTemplate(src, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CompileTemplate(src, true); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				n := g*50 + i
				ev, err := DecodeEvent(Sample(Triggers()[n%7], n), 0)
				if err != nil {
					errs <- err
					return
				}
				out, err := tpl.Render(ev)
				if err != nil {
					errs <- err
					return
				}
				var doc struct {
					Fields string `json:"integration_type_fields"`
				}
				var inner struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(out, &doc); err != nil {
					errs <- err
					return
				}
				if err := json.Unmarshal([]byte(doc.Fields), &inner); err != nil {
					errs <- err
					return
				}
				if want, _ := ev.Get("data.id"); inner.ID != want {
					errs <- fmt.Errorf("sample %d: id %q, want %q", n, inner.ID, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Ensure IsJSONTemplate recognizes JSON bodies.
func TestIsJSONTemplate(t *testing.T) {
	for given, want := range map[string]bool{"{}": true, "\n  [1]": true, "text {": false, "": false, "{{ x }} wants {": false, "{ {{ x }} }": true, "{\"a\":{{x}} }": true} {
		if got := IsJSONTemplate(given); got != want {
			t.Errorf("IsJSONTemplate(%q) = %v, want %v", given, got, want)
		}
	}
}

// Ensure a helper called with only path arguments ({{ lookup a b }}) is
// treated as a helper call, not as a lone path.
func TestTemplate_Render_HelperWithPathArgs(t *testing.T) {
	ev := mustDecode(t, []byte(`{"event_type":"Manual","data":{"list":["x","y"],"groups":[{"name":"g0"}],"key":"name","one":1}}`))
	tpl, err := CompileTemplate(`{"g": "{{ lookup data.groups.[0] data.key }}", "h": {{ lookup data.list data.one }}, "p": "{{ data.key }}"}`, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(ev)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"g": "g0", "h": "y", "p": "name"}`; string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
