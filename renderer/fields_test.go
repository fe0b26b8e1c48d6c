package renderer

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fieldsFixture is a set of webhooks reading the event in every way Fields
// follows: fast templates printing scalars, objects and array elements,
// filters of every key, and a Coralogix entry.
type fieldsFixture struct {
	r      *Renderer
	cx     *Coralogix
	fields *Fields
}

func newFieldsFixture(tb testing.TB) *fieldsFixture {
	tb.Helper()
	seed := string(readFile(tb, "testdata/seed/template.hbs"))
	hooks := []Webhook{
		{Name: "seed", Active: true, Triggers: Triggers(), BodyTemplate: seed, JSON: true},
		{Name: "objects", Active: true, Triggers: Triggers(), JSON: true,
			BodyTemplate: `{"r": {{data.requester}}, "g0": {{data.access_groups.[0]}}, "n": {{data.access_duration_in_seconds}},` +
				` "u": "{{data.access_groups.[0].access_units.[0].resource.name}}", "a1": {{data.approvals.[1]}}, "t": {{event_time}}}`},
		{Name: "text", Active: true, Triggers: Triggers(),
			BodyTemplate: `{{data.friendly_id}} {{data.approvals.[0].approver.email}} {{{data.custom_fields}}}`},
	}
	values := map[string][]string{
		FilterIntegrationName:  {"prod-postgres"},
		FilterIntegrationType:  {"postgresql", "mysql"},
		FilterResourceType:     {"Database", "postgresql-table"},
		FilterResourceName:     {"billing"},
		FilterPermission:       {"READ_ONLY"},
		FilterAccessFlowName:   {"Production on-call access"},
		FilterAccessBundleName: {"prod-readonly"},
		FilterRequesterEmail:   {"ada.lovelace@example.com"},
		FilterGranteeName:      {"Ada Lovelace"},
		FilterApprovalType:     {"MANUAL"},
	}
	for _, k := range ValidFilterKeys() {
		hooks = append(hooks, Webhook{Name: "filter-" + k, Active: true, Triggers: Triggers(),
			Filters: map[string][]string{k: values[k]}, BodyTemplate: `{}`, JSON: true})
	}
	r, err := New(hooks)
	if err != nil {
		tb.Fatal(err)
	}
	cx, err := NewCoralogix(CoralogixSpec{ApplicationName: "apono", SubsystemName: "{{data.access_flow.name}}", ComputerName: "h"})
	if err != nil {
		tb.Fatal(err)
	}
	cx.now = func() time.Time { return time.Unix(1700000000, 0) }
	f := NewFields()
	f.AddRenderer(r)
	f.AddCoralogix(cx)
	if f.All() {
		tb.Fatal("fast templates and filters made Fields keep everything")
	}
	return &fieldsFixture{r: r, cx: cx, fields: f}
}

// compare checks that decoding b with the fixture's Fields gives the same
// answer as a full decode: the same error, or the same matches, bodies and
// Coralogix entry.
func (fx *fieldsFixture) compare(tb testing.TB, b []byte) {
	tb.Helper()
	full, ferr := DecodeEvent(b, 1<<16)
	part, perr := fx.fields.DecodeEvent(b, 1<<16)
	if (ferr == nil) != (perr == nil) || (ferr != nil && ferr.Error() != perr.Error()) {
		tb.Fatalf("errors differ:\nfull:   %v\nfields: %v", ferr, perr)
	}
	if ferr != nil {
		return
	}
	if full.Type != part.Type || full.Trigger != part.Trigger || full.Time != part.Time {
		tb.Fatalf("header differs: %q %q %q vs %q %q %q", full.Type, full.Trigger, full.Time, part.Type, part.Trigger, part.Time)
	}
	if fm, pm := fx.r.Match(full), fx.r.Match(part); !reflect.DeepEqual(fm, pm) {
		tb.Fatalf("matches differ:\nfull:   %v\nfields: %v", fm, pm)
	}
	for _, name := range fx.r.Names() {
		fo, ferr := fx.r.Render(name, full)
		po, perr := fx.r.Render(name, part)
		if !bytes.Equal(fo, po) || (ferr == nil) != (perr == nil) || (ferr != nil && ferr.Error() != perr.Error()) {
			tb.Fatalf("webhook %s renders differ:\nfull:   %s (%v)\nfields: %s (%v)", name, fo, ferr, po, perr)
		}
	}
	fe, ferr := fx.cx.Entry(full, b)
	pe, perr := fx.cx.Entry(part, b)
	if !bytes.Equal(fe, pe) || (ferr == nil) != (perr == nil) {
		tb.Fatalf("coralogix entries differ:\nfull:   %s (%v)\nfields: %s (%v)", fe, ferr, pe, perr)
	}
}

func TestFields_BuildsOnlyWhatIsRead(t *testing.T) {
	fx := newFieldsFixture(t)
	for _, trig := range Triggers() {
		fx.compare(t, Sample(trig, 3))
	}

	seed, err := CompileTemplate(string(readFile(t, "testdata/seed/template.hbs")), true)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFields()
	f.AddTemplate(seed)
	ev, err := f.DecodeEvent(Sample(RequestCreated, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"data.grantee", "data.approvals", "data.custom_fields", "data.access_groups.0.access_units", "data.access_groups.0.integration.id", "data.requester.missing"} {
		if v, ok := ev.Get(absent); ok {
			t.Errorf("%s was built: %v", absent, v)
		}
	}
	want := mustDecode(t, Sample(RequestCreated, 0))
	for _, path := range []string{"event_type", "event_time", "data.requester", "data.access_groups.0.integration.name", "data.access_groups.0.integration.type", "data.access_bundle.id"} {
		got, _ := ev.Get(path)
		exp, _ := want.Get(path)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: got %v, want %v", path, got, exp)
		}
	}
	if _, ok := ev.Get("data.access_flow.name"); !ok {
		t.Error("data.access_flow.name (read by the seed) is missing")
	}
	if out, err := seed.Render(ev); err != nil || !bytes.Equal(out, mustRender(t, seed, want)) {
		t.Fatalf("seed render differs: %s (%v)", out, err)
	}
}

func mustRender(tb testing.TB, tpl *Template, ev *Event) []byte {
	tb.Helper()
	out, err := tpl.Render(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestFields_SameAnswerAsFullDecode(t *testing.T) {
	fx := newFieldsFixture(t)
	for _, b := range fieldsCorpus {
		fx.compare(t, []byte(b))
	}
}

// fieldsCorpus holds payloads where skipping could go wrong: bad JSON in a
// skipped member, duplicate and escaped keys, arrays and objects where the
// other is expected, and nulls.
var fieldsCorpus = []string{
	`{"event_type":"RequestCreated","skipped":{"a":[1,2,{"b":"\u00e9"}]},"data":{"id":"x"}}`,
	`{"event_type":"RequestCreated","skipped":{"a":[1,2,}]},"data":{}}`,
	`{"event_type":"RequestCreated","skipped":"\x","data":{}}`,
	`{"event_type":"RequestCreated","skipped":01,"data":{}}`,
	`{"event_type":"RequestCreated","skipped":tru,"data":{}}`,
	`{"event_type":"RequestCreated","skipped":"a` + "\t" + `b","data":{}}`,
	`{"event_type":"RequestCreated","data":{"grantee":{"x":[}}}`,
	`{"event_type":"RequestCreated","data":5}`,
	`{"event_type":"RequestCreated","data":[{"a":1}]}`,
	`{"event_type":"RequestCreated","data":null}`,
	`{"event_type":"RequestCreated","data":{"a":1},"data":"late"}`,
	`{"event_type":"RequestCreated","d\u0061ta":{"requester":{"\u0065mail":"e@x"}}}`,
	`{"event_type":"Manual","event_time":"1.5","data":{"access_groups":{"0":{"integration":{"type":"t","name":"prod-postgres"}}}}}`,
	`{"event_type":"Manual","data":{"access_groups":[null,{"integration":[1]},{"integration":{"type":5,"name":"prod-postgres"}}]}}`,
	`{"event_type":"Manual","data":{"access_groups":[{"access_units":[{"resource":{"type":{"name":"Database"},"name":"billing"},"permission":{"name":"READ_ONLY"}}]}]}}`,
	`{"event_type":"Manual","data":{"approvals":[{"type":"manual","approver":{"email":"a@b"}},{"type":"Automatic","x":[[[]]]}]}}`,
	`{"event_type":"Manual","data":{"requester":"not an object","access_flow":null,"access_bundle":[]}}`,
	`{"event_type":"RequestCreated","data":{}} trailing`,
	`{"event_type":"RequestCreated","data":{}`,
	`{"event_type":"RequestCreated","skipped":` + deepArray(600) + `,"data":{"id":"deep"}}`,
	`{"event_type":"RequestCreated","skipped":` + deepArray(20000) + `,"data":{}}`,
}

func deepArray(n int) string {
	return string(bytes.Repeat([]byte("["), n)) + string(bytes.Repeat([]byte("]"), n))
}

func TestFields_NothingOfData(t *testing.T) {
	tpl, err := CompileTemplate(`{{other}}`, false)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFields()
	f.AddTemplate(tpl)
	for _, b := range []string{
		`{"event_type":"Manual","other":"x","data":{"id":"1","a":[{"b":[1]}]}}`,
		`{"event_type":"Manual","data":[{"a":[{"b":1}]}]}`,
		`{"event_type":"Manual","data":{"a":}}`,
	} {
		full, ferr := DecodeEvent([]byte(b), 0)
		ev, err := f.DecodeEvent([]byte(b), 0)
		if (err == nil) != (ferr == nil) || (err != nil && err.Error() != ferr.Error()) {
			t.Fatalf("%s: error %v, full decode %v", b, err, ferr)
		}
		if err != nil {
			continue
		}
		if len(ev.Data) != 0 || ev.Root["other"] != "x" || ev.Type != full.Type {
			t.Fatalf("%s: built %v", b, ev.Root)
		}
	}
}

func TestFields_RaymondTemplateKeepsEverything(t *testing.T) {
	tpl, err := CompileTemplate(`{{#each data.approvals}}{{type}}{{/each}}`, false)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFields()
	f.AddTemplate(tpl)
	if !f.All() {
		t.Fatal("a block template must make Fields keep the whole event")
	}
	ev, err := f.DecodeEvent(Sample(RequestApproved, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev.Root, mustDecode(t, Sample(RequestApproved, 0)).Root) {
		t.Fatal("Fields keeping everything built a different tree")
	}
}

// FuzzFields_DecodeEvent checks that decoding with Fields answers exactly as
// a full decode for whatever the webhooks read.
func FuzzFields_DecodeEvent(f *testing.F) {
	for _, trig := range Triggers() {
		f.Add(Sample(trig, 1))
	}
	for _, b := range fieldsCorpus {
		f.Add([]byte(b))
	}
	fx := newFieldsFixture(f)
	f.Fuzz(func(t *testing.T, b []byte) { fx.compare(t, b) })
}

// Ensure building Fields stays cheap for long and overlapping paths (each
// node is sealed once; subtrees one side of a union has are shared), and
// that past its bounds it keeps the whole event instead.
func TestFields_LongAndManyPaths(t *testing.T) {
	path := func(n int, seg string) string {
		p := make([]string, n)
		for i := range p {
			p[i] = seg
		}
		return strings.Join(p, ".")
	}
	// A path of 30 segments: each step could be an array, so every node has
	// an element union; building it used to take time doubling per step.
	long := path(30, "a")
	tpl, err := CompileTemplate(`{"x": {{`+long+`}}, "y": {{`+path(29, "a")+`.b}}}`, true)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFields()
	f.AddTemplate(tpl)
	if f.All() {
		t.Fatal("a 30-segment path made Fields keep everything")
	}
	nested := `{"b":2,"a":"leaf"}`
	for range 29 {
		nested = `[{"a":` + nested + `,"z":1}]`
	}
	ev, err := f.DecodeEvent([]byte(`{"event_type":"Manual","a":`+nested+`}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	full := mustDecode(t, []byte(`{"event_type":"Manual","a":`+nested+`}`))
	if got, want := mustRender(t, tpl, ev), mustRender(t, tpl, full); !bytes.Equal(got, want) {
		t.Fatalf("render differs:\n%s\n%s", got, want)
	}

	tpl, err = CompileTemplate(`{{`+path(maxFieldDepth+1, "a")+`}}`, false)
	if err != nil {
		t.Fatal(err)
	}
	f = NewFields()
	f.AddTemplate(tpl)
	if !f.All() {
		t.Fatal("a path past maxFieldDepth must make Fields keep everything")
	}

	// Many overlapping paths through arrays of arrays: the unions stay
	// within maxFieldNodes or Fields keeps everything; either way it ends.
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "{{a.k%d.a.k%d.a.k%d.a}}", i%7, i%5, i%3)
	}
	tpl, err = CompileTemplate(b.String(), false)
	if err != nil {
		t.Fatal(err)
	}
	f = NewFields()
	f.AddTemplate(tpl)
	_ = f.All()
	if _, err := f.DecodeEvent([]byte(`{"event_type":"Manual","a":[{"k1":[{"a":[[1]]}]}]}`), 0); err != nil {
		t.Fatal(err)
	}
}
