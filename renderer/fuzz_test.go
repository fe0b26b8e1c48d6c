package renderer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Ensure DecodeEvent never panics, wraps exactly one sentinel on failure,
// and that every event it accepts renders the seed template as valid JSON.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"event_type":"RequestCreated","event_time":1732406400.123456,"data":{"id":"x"}}`))
	f.Add(Sample(RequestGranted, 1))
	f.Add([]byte(`{"event_type":"AccessRequestFailed","data":{"justification":"a\"b\\c\u2028","access_groups":[{"integration":{"name":1e400}}]}}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(" \t\n"))
	f.Add([]byte("{\"event_type\":\"Manual\",\"x\":\"\xff\"}"))
	f.Add([]byte(`{"event_type":"Manual"} trailing`))
	f.Add([]byte(`{"event_type":"Manual","data":{"access_groups":[{"integration":{"name":{"deep":[true,null]}}}]}}`))
	tpl, err := CompileTemplate(string(readFile(f, "testdata/seed/template.hbs")), true)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b, 1<<16)
		if err != nil {
			n := 0
			for _, s := range decodeSentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 || ev != nil {
				t.Fatalf("err %v wraps %d sentinels (event %v)", err, n, ev)
			}
			return
		}
		if ev.Root == nil || ev.Data == nil || !ev.Trigger.Valid() {
			t.Fatalf("bad event %+v", ev)
		}
		out, err := tpl.Render(ev)
		if err != nil {
			t.Fatalf("seed render: %v", err)
		}
		var doc struct {
			Fields string `json:"integration_type_fields"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		var inner map[string]any
		if err := json.Unmarshal([]byte(doc.Fields), &inner); err != nil {
			t.Fatalf("nested level is not JSON: %v\n%s", err, doc.Fields)
		}
		if inner["event_type"] != ev.Type {
			t.Fatalf("event_type %q did not round-trip: %q", ev.Type, inner["event_type"])
		}
	})
}

// Ensure any justification text renders the seed template (depth 2) and a
// depth-3 template as valid JSON that decodes back to the exact text.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"plain", `"`, `\`, "\\\"", "\n\t\r", "\x00\x01\x1f\x7f", "<>&'", "é 日本 🔐", "{{ data.id }}", "{{{x}}}",
		"\u2028\u2029", `}"]}`, `\u0000`, "\ufffd", "",
	} {
		f.Add(s)
	}
	seed, err := CompileTemplate(string(readFile(f, "testdata/seed/template.hbs")), true)
	if err != nil {
		f.Fatal(err)
	}
	deep, err := CompileTemplate(string(readFile(f, "testdata/nested_depth3/template.hbs")), true)
	if err != nil {
		f.Fatal(err)
	}
	base := Sample(RequestCreated, 0)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			// Events are validated UTF-8; DecodeEvent never yields such text.
			s = strings.ToValidUTF8(s, "\ufffd")
		}
		ev := mustDecode(t, base)
		ev.Data["justification"] = s
		ev.Data["requester"].(map[string]any)["name"] = s
		for _, c := range []struct {
			tpl   *Template
			paths map[string]string
		}{
			{seed, map[string]string{"integration_type_fields.justification": "data.justification", "integration_type_fields.requester_name": "data.requester.name"}},
			{deep, map[string]string{"level1.level2.level3": "data.justification", "level1.name": "data.requester.name", "direct": "data.justification", "value": "data.justification"}},
		} {
			out, err := c.tpl.Render(ev)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			for outPath, evPath := range c.paths {
				assertRoundTrip(t, out, outPath, ev, evPath)
			}
		}
	})
}

// Ensure compiling any template text never panics (the raymond lexer runs
// in its own goroutine, where a panic would kill the process), that a
// compiled template renders a sample without panicking, and that a JSON
// template never renders invalid JSON without an error, whatever the
// event's values (val, of a kind chosen by kind, goes in the fields the
// seeds print).
func FuzzCompileTemplate(f *testing.F) {
	for _, s := range []string{
		`{"a": "{{ data.id }}"}`, `{"a": {{ x }}}`, `{{#each data.approvals}}{{ type }}{{/each}}`, `{{{ x }}}}`,
		`"{\"a\": \"{{ x }}\"}"`, `{{> p}}`, `{{!-- c --}}`, `{{~ x ~}}`, `\{{ x }}`, `{{{{raw}}}} {{x}} {{{{/raw}}}}`,
		`{{ data.access_groups.[-1] }}`, `{{ lookup data.access_groups -1 }}`, `{{#with data}}{{ ../event_type }}{{/with}}`,
	} {
		f.Add(s, true, "x", uint8(0))
	}
	for _, s := range []string{`{"a": 1{{ x }}}`, `{"a": -{{ x }}}`, `{ {{ x }}: 1}`, `[{{ x }}{{ y }}]`, `{"a": {{ x }}5}`, `{"a": "b"}{{ x }}`} {
		f.Add(s, true, `"`, uint8(0))
		f.Add(s, true, "12", uint8(1))
	}
	f.Fuzz(func(t *testing.T, src string, isJSON bool, val string, kind uint8) {
		ev := mustDecode(t, Sample(RequestApproved, 2))
		var v any = strings.ToValidUTF8(val, "\ufffd")
		switch kind % 5 {
		case 1:
			if isJSONNumber(val) {
				v = json.Number(val)
			}
		case 2:
			v = kind > 128
		case 3:
			v = nil
		case 4:
			v = map[string]any{"k": v, "l": []any{v, json.Number("-1.5")}}
		}
		for _, k := range []string{"x", "y"} {
			ev.Root[k] = v
		}
		ev.Data["id"] = v
		tpl, err := CompileTemplate(src, isJSON)
		if err != nil {
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("compile error %T is not a *TemplateError: %v", err, err)
			}
			return
		}
		out, err := tpl.Render(ev)
		if err != nil {
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("render error %T is not a *RenderError: %v", err, err)
			}
			return
		}
		if isJSON && !json.Valid(out) {
			t.Fatalf("JSON template rendered invalid JSON without an error: %s", out)
		}
	})
}
