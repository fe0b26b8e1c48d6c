package renderer

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update rewrites the golden want.json files.
var update = flag.Bool("update", false, "rewrite renderer/testdata/*/want.json")

// goldenChecks is a case's checks.json: whether the template is JSON, and
// which output paths must decode (level by level) to which event values.
type goldenChecks struct {
	JSON   bool              `json:"json"`
	Fields map[string]string `json:"fields"` // output path → event path ("" = only decode)
}

// Ensure every golden case renders its want.json exactly, that JSON output is
// valid, and that decoding each nested level gives back the event's values.
func TestTemplate_Render_Golden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "template.hbs"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src := readFile(t, filepath.Join(dir, "template.hbs"))
			evb := readFile(t, filepath.Join(dir, "event.json"))
			var checks goldenChecks
			if err := json.Unmarshal(readFile(t, filepath.Join(dir, "checks.json")), &checks); err != nil {
				t.Fatalf("checks.json: %v", err)
			}
			if checks.JSON != IsJSONTemplate(string(src)) {
				t.Fatalf("checks.json json=%v but IsJSONTemplate=%v", checks.JSON, !checks.JSON)
			}
			tpl, err := CompileTemplate(string(src), checks.JSON)
			if err != nil {
				t.Fatal(err)
			}
			ev := mustDecode(t, evb)
			got, err := tpl.Render(ev)
			if err != nil {
				t.Fatal(err)
			}
			wantPath := filepath.Join(dir, "want.json")
			if *update {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, wantPath); !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s (run with -update to accept)\ngot:\n%s\nwant:\n%s", wantPath, got, want)
			}
			if !checks.JSON {
				return
			}
			if !json.Valid(got) {
				t.Fatalf("output is not valid JSON:\n%s", got)
			}
			for outPath, evPath := range checks.Fields {
				assertRoundTrip(t, got, outPath, ev, evPath)
			}
		})
	}
}

// readFile reads a test fixture.
func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// decodeNumbers decodes JSON keeping numbers as json.Number.
func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// nestedLookup walks a dotted path through decoded JSON; whenever the
// current value is a string and the path goes on, the string is decoded as
// JSON first (one nesting level).
func nestedLookup(tb testing.TB, v any, path string) any {
	tb.Helper()
	for _, seg := range strings.Split(path, ".") {
		if s, ok := v.(string); ok {
			inner, err := decodeNumbers([]byte(s))
			if err != nil {
				tb.Fatalf("path %s: level %q is not valid JSON: %v", path, s, err)
			}
			v = inner
		}
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[seg]; !ok {
				tb.Fatalf("path %s: no key %q", path, seg)
			}
		case []any:
			i := 0
			for _, ch := range seg {
				i = i*10 + int(ch-'0')
			}
			if i >= len(c) {
				tb.Fatalf("path %s: index %d out of range", path, i)
			}
			v = c[i]
		default:
			tb.Fatalf("path %s: cannot descend into %T at %q", path, v, seg)
		}
	}
	return v
}

// assertRoundTrip checks that the rendered value at outPath equals the
// event's value at evPath.
func assertRoundTrip(tb testing.TB, out []byte, outPath string, ev *Event, evPath string) {
	tb.Helper()
	doc, err := decodeNumbers(out)
	if err != nil {
		tb.Fatal(err)
	}
	got := nestedLookup(tb, doc, outPath)
	if evPath == "" {
		return // only the path (and every level on it) must decode
	}
	want, ok := ev.Get(evPath)
	if !ok {
		want = nil
	}
	switch w := want.(type) {
	case nil:
		if got != nil && got != "" {
			tb.Errorf("%s: got %#v for missing %s", outPath, got, evPath)
		}
	case string:
		if got != w {
			tb.Errorf("%s: got %q, want %q (from %s)", outPath, got, w, evPath)
		}
	case json.Number:
		plain := string(appendPlainNumber(nil, string(w)))
		if g, ok := got.(json.Number); ok && string(g) == plain {
			return
		}
		if g, ok := got.(string); ok && g == plain {
			return
		}
		tb.Errorf("%s: got %#v, want number %s (from %s)", outPath, got, plain, evPath)
	case bool:
		if got != w && got != map[bool]string{true: "true", false: "false"}[w] {
			tb.Errorf("%s: got %#v, want %v (from %s)", outPath, got, w, evPath)
		}
	default:
		wj, _ := json.Marshal(w)
		var gj []byte
		if s, ok := got.(string); ok {
			gj = []byte(s)
		} else {
			gj, _ = json.Marshal(got)
		}
		gv, _ := decodeNumbers(gj)
		gj2, _ := json.Marshal(gv)
		if !bytes.Equal(gj2, wj) {
			tb.Errorf("%s: got %s, want %s (from %s)", outPath, gj2, wj, evPath)
		}
	}
}
