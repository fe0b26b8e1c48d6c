package main

import (
	"errors"
	"testing"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/sender"
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

// Ensure the dead-letter table shows a delivery error's reason without the
// repeated package prefixes, and other reasons as they are.
func TestCompactReason(t *testing.T) {
	sendErr := &sender.Error{Class: sender.Permanent, Reason: sender.ReasonClientError,
		Err: errors.New(`sender: unexpected status 400 Bad Request: "invalid"`)}
	for given, want := range map[string]string{
		sendErr.Error():                          `permanent (client_error): unexpected status 400 Bad Request: "invalid"`,
		"render: template line 1: missing field": "render: template line 1: missing field",
	} {
		if got := compactReason(given); got != want {
			t.Errorf("compactReason(%q) = %q, want %q", given, got, want)
		}
	}
}
