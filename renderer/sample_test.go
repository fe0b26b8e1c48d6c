package renderer

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Ensure Sample produces decodable, deterministic, varying ~1 KB events.
func TestSample(t *testing.T) {
	seen := map[string]bool{}
	for _, tr := range Triggers() {
		for n := range 5 {
			b := Sample(tr, n)
			if !bytes.Equal(b, Sample(tr, n)) {
				t.Fatalf("Sample(%s, %d) is not deterministic", tr, n)
			}
			if len(b) < 800 || len(b) > 2048 {
				t.Errorf("Sample(%s, %d) is %d bytes, want about 1 KB", tr, n, len(b))
			}
			ev := mustDecode(t, b)
			if ev.Trigger != tr || ev.Type != string(tr) {
				t.Fatalf("Sample(%s, %d) has type %q", tr, n, ev.Type)
			}
			whole, frac, ok := strings.Cut(string(ev.Time), ".")
			if !ok || len(frac) != 6 || len(whole) != 10 {
				t.Fatalf("event_time %q is not epoch seconds with 6 fractional digits", ev.Time)
			}
			id, _ := ev.Get("data.id")
			fid, _ := ev.Get("data.friendly_id")
			key := id.(string) + fid.(string)
			if seen[key] {
				t.Fatalf("Sample(%s, %d) repeats id %s", tr, n, key)
			}
			seen[key] = true
		}
	}
	if a, b := Sample(RequestCreated, 1), Sample(RequestCreated, 2); bytes.Equal(a, b) {
		t.Fatal("samples do not vary with n")
	}
	if ev := mustDecode(t, Sample("bogus", 0)); ev.Trigger != RequestCreated {
		t.Fatalf("unknown trigger sample has %s", ev.Trigger)
	}
}

// Ensure Schema is valid JSON Schema text that describes every field a
// sample carries.
func TestSchema(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	if schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema = %v", schema["$schema"])
	}
	s := Schema()
	s[0] = 'x'
	if Schema()[0] != '{' {
		t.Fatal("Schema returns shared bytes")
	}
	var sample map[string]any
	if err := json.Unmarshal(Sample(RequestGranted, 3), &sample); err != nil {
		t.Fatal(err)
	}
	checkDescribed(t, "", schema, sample)
}

// checkDescribed fails for any field of v that the schema node does not
// describe (with a description).
func checkDescribed(t *testing.T, path string, node map[string]any, v any) {
	t.Helper()
	if _, ok := node["description"].(string); !ok && path != "" {
		t.Errorf("%s has no description", path)
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := node["properties"].(map[string]any)
		if props == nil {
			if node["additionalProperties"] == true {
				return
			}
			t.Errorf("%s: schema has no properties", path)
			return
		}
		for k, child := range x {
			p, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("%s.%s is not in the schema", path, k)
				continue
			}
			checkDescribed(t, path+"."+k, p, child)
		}
	case []any:
		items, _ := node["items"].(map[string]any)
		if items == nil {
			t.Errorf("%s: schema has no items", path)
			return
		}
		for _, child := range x {
			checkDescribed(t, path+"[]", items, child)
		}
	}
}
