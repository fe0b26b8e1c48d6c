package config

import "testing"

// Ensure subjectsOverlap follows NATS wildcard rules: "*" is exactly one
// token, ">" one or more trailing tokens.
func TestSubjectsOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"a.b", "a.b", true},     // equal literals
		{"a.b", "a.c", false},    // different literals
		{"a.*", "a.b", true},     // '*' takes one token
		{"a.*", "a.b.c", false},  // '*' takes only one token
		{"a.>", "a.b.c", true},   // '>' takes the rest
		{"a.>", "a", false},      // '>' needs at least one token
		{"a.>", "a.>", true},     // equal wildcards
		{">", "x", true},         // '>' alone takes everything
		{"*.b.>", "a.*.c", true}, // a.b.c matches both
		{"*.b", "a.c.>", false},  // second tokens differ
		{"a.*.c", "a.b.>", true}, // a.b.c matches both
		{"a.*.c", "a.b", false},  // lengths differ, no '>'
		{"hookrelay.deliveries", "hookrelay.deliveries.>", false}, // the prefix itself is not in the stream
	}
	for _, tc := range tests {
		for _, pair := range [][2]string{{tc.a, tc.b}, {tc.b, tc.a}} {
			if got := subjectsOverlap(pair[0], pair[1]); got != tc.want {
				t.Errorf("subjectsOverlap(%q, %q) = %v, want %v", pair[0], pair[1], got, tc.want)
			}
		}
	}
}
