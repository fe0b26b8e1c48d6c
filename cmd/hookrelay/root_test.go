package main

import (
	"testing"

	"github.com/hookrelay/hookrelay/internal/config"
)

func TestRedactURL(t *testing.T) {
	// Ensure user info and query values are hidden in every URL of a list.
	tests := []struct {
		name, given, want string
	}{
		{"plain", "nats://a:4222", "nats://a:4222"},
		{"user info", "nats://u:p@a:4222", "nats://REDACTED@a:4222"},
		{"cluster", "nats://u:p@a:4222,nats://u2:secret@b:4222", "nats://REDACTED@a:4222,nats://REDACTED@b:4222"},
		{"second only", "nats://a:4222, nats://u2:secret@b:4222", "nats://a:4222,nats://REDACTED@b:4222"},
		{"query", "https://h/p?key=secret&x=1", "https://h/p?key=REDACTED&x=REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactURL(tt.given); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestContentTypeOf(t *testing.T) {
	// Ensure a webhook's default Content-Type follows its template.
	tests := []struct {
		name string
		w    config.Webhook
		want string
	}{
		{"json template", config.Webhook{BodyTemplate: `{"id":"{{data.id}}"}`}, "application/json"},
		{"text template", config.Webhook{BodyTemplate: "request {{data.id}} created"}, "text/plain; charset=utf-8"},
		{"no template", config.Webhook{}, "application/json"},
		{"coralogix", config.Webhook{Coralogix: &config.Coralogix{}}, "application/json"},
	}
	for _, tt := range tests {
		if got := contentTypeOf(&tt.w); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
