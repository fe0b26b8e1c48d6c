package renderer

import "testing"

// BenchmarkRender_Seed renders the Coralogix seed template for a ~1 KB event.
func BenchmarkRender_Seed(b *testing.B) {
	tpl, err := CompileTemplate(string(readFile(b, "testdata/seed/template.hbs")), true)
	if err != nil {
		b.Fatal(err)
	}
	ev := mustDecode(b, Sample(RequestCreated, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEvent decodes a ~1 KB event.
func BenchmarkDecodeEvent(b *testing.B) {
	payload := Sample(RequestCreated, 0)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(payload, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEvent_SeedFields decodes a ~1 KB event building only what
// the seed template reads.
func BenchmarkDecodeEvent_SeedFields(b *testing.B) {
	tpl, err := CompileTemplate(string(readFile(b, "testdata/seed/template.hbs")), true)
	if err != nil {
		b.Fatal(err)
	}
	f := NewFields()
	f.AddTemplate(tpl)
	payload := Sample(RequestCreated, 0)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.DecodeEvent(payload, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipeline decodes, matches (against filtered webhooks) and renders
// the seed template: the per-event hot path.
func BenchmarkPipeline(b *testing.B) {
	seed := string(readFile(b, "testdata/seed/template.hbs"))
	r, err := New([]Webhook{
		{Name: "other", Active: true, Triggers: []Trigger{RequestExpired}, BodyTemplate: seed, JSON: true},
		{Name: "filtered", Active: true, Triggers: Triggers(), Filters: map[string][]string{"integration_type": {"mysql"}}, BodyTemplate: seed, JSON: true},
		{Name: "coralogix", Active: true, Triggers: Triggers(), Filters: map[string][]string{"integration_name": {"prod-postgres"}, "approval_type": {"manual", "automatic"}}, BodyTemplate: seed, JSON: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	payload := Sample(RequestCreated, 0)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		ev, err := DecodeEvent(payload, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		names := r.Match(ev)
		if len(names) != 1 {
			b.Fatalf("matched %v", names)
		}
		if _, err := r.Render(names[0], ev); err != nil {
			b.Fatal(err)
		}
	}
}
