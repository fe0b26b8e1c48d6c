package main

import "testing"

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
