package config_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookrelay/hookrelay/internal/config"
)

// Ensure Duration reads Go durations and integer seconds and refuses the rest.
func TestDuration_UnmarshalYAML(t *testing.T) {
	tests := []struct {
		name    string
		given   string
		want    time.Duration
		wantErr error
	}{
		{name: "Seconds", given: "10s", want: 10 * time.Second},
		{name: "Hours", given: "168h", want: 168 * time.Hour},
		{name: "Compound", given: "1m30s", want: 90 * time.Second},
		{name: "IntegerSeconds", given: "45", want: 45 * time.Second},
		{name: "Millis", given: "250ms", want: 250 * time.Millisecond},
		{name: "Word", given: "soon", wantErr: config.ErrType},
		{name: "Float", given: "1.5", wantErr: config.ErrType},
		{name: "Sequence", given: "[1s]", wantErr: config.ErrType},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			// Ensure the value decodes (or fails) as documented.
			var got struct {
				D config.Duration `yaml:"d"`
			}
			err := yaml.Unmarshal([]byte("d: "+test.given), &got)
			if test.wantErr != nil {
				if !errors.Is(err, test.wantErr) {
					t.Fatalf("err = %v, want %v", err, test.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.D.Std() != test.want {
				t.Errorf("got %s, want %s", got.D, test.want)
			}
		})
	}
}

// Ensure Duration marshals as a Go duration string in YAML and JSON.
func TestDuration_Marshal(t *testing.T) {
	d := config.Duration(90 * time.Second)
	y, err := yaml.Marshal(map[string]config.Duration{"d": d})
	if err != nil || string(y) != "d: 1m30s\n" {
		t.Errorf("yaml = %q, %v", y, err)
	}
	j, err := json.Marshal(map[string]config.Duration{"d": d})
	if err != nil || string(j) != `{"d":"1m30s"}` {
		t.Errorf("json = %s, %v", j, err)
	}
	var back config.Duration
	if err := back.UnmarshalText([]byte("1m30s")); err != nil || back != d {
		t.Errorf("UnmarshalText = %s, %v", back, err)
	}
}

// Ensure IsJSON follows the Content-Type header, else the template's first character.
func TestWebhook_IsJSON(t *testing.T) {
	tests := []struct {
		name  string
		given config.Webhook
		want  bool
	}{
		{name: "ObjectTemplate", given: config.Webhook{BodyTemplate: "  \n {\"a\":1}"}, want: true},
		{name: "ArrayTemplate", given: config.Webhook{BodyTemplate: "[1]"}, want: true},
		{name: "TextTemplate", given: config.Webhook{BodyTemplate: "hello {{ data.id }}"}, want: false},
		{name: "EmptyTemplate", given: config.Webhook{}, want: false},
		{name: "ContentTypeJSON", given: config.Webhook{Headers: map[string]string{"content-type": "application/vnd.api+JSON"}, BodyTemplate: "x"}, want: true},
		{name: "ContentTypeText", given: config.Webhook{Headers: map[string]string{"Content-Type": "text/plain"}, BodyTemplate: "{\"a\":1}"}, want: false},
		{name: "OtherHeader", given: config.Webhook{Headers: map[string]string{"X-Json": "json"}, BodyTemplate: "text"}, want: false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			// Ensure the detection gives the expected answer.
			if got := test.given.IsJSON(); got != test.want {
				t.Errorf("IsJSON() = %v, want %v", got, test.want)
			}
		})
	}
}

// Ensure every region maps to its ingress host and unknown ones are refused.
func TestCoralogixIngressHost(t *testing.T) {
	want := map[string]string{
		"us1": "ingress.us1.coralogix.com", "us2": "ingress.us2.coralogix.com", "us3": "ingress.us3.coralogix.com",
		"eu1": "ingress.eu1.coralogix.com", "eu2": "ingress.eu2.coralogix.com",
		"ap1": "ingress.ap1.coralogix.com", "ap2": "ingress.ap2.coralogix.com", "ap3": "ingress.ap3.coralogix.com",
		"gov1": "ingress.gov1.coralogixgov.us",
	}
	regions := config.CoralogixRegions()
	if len(regions) != len(want) {
		t.Errorf("CoralogixRegions() = %v", regions)
	}
	for _, r := range regions {
		got, ok := config.CoralogixIngressHost(r)
		if !ok || got != want[r] {
			t.Errorf("CoralogixIngressHost(%q) = %q, %v; want %q", r, got, ok, want[r])
		}
	}
	for _, bad := range []string{"", "US1", "eu3", "gov2"} {
		if got, ok := config.CoralogixIngressHost(bad); ok {
			t.Errorf("CoralogixIngressHost(%q) = %q, true; want false", bad, got)
		}
	}
}

// Ensure severity names map to Coralogix's numbers.
func TestCoralogixSeverity(t *testing.T) {
	for name, want := range map[string]int{"debug": 1, "verbose": 2, "info": 3, "warning": 4, "error": 5, "critical": 6} {
		if got, ok := config.CoralogixSeverity(name); !ok || got != want {
			t.Errorf("CoralogixSeverity(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := config.CoralogixSeverity("fatal"); ok {
		t.Error("CoralogixSeverity(fatal) ok, want false")
	}
}

// Ensure Webhook finds webhooks by exact name and returns a pointer into the config.
func TestConfig_Webhook(t *testing.T) {
	cfg := &config.Config{Webhooks: []config.Webhook{{Name: "a"}, {Name: "b"}}}
	w, ok := cfg.Webhook("b")
	if !ok || w != &cfg.Webhooks[1] {
		t.Errorf("Webhook(b) = %p, %v", w, ok)
	}
	if w, ok := cfg.Webhook("B"); ok || w != nil {
		t.Errorf("Webhook(B) = %v, %v; want not found", w, ok)
	}
}
