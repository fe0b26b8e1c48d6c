package sender

import (
	"net/http"
	"testing"
	"time"
)

// Ensure Backoff grows exponentially with jitter in [v/2, v), caps at
// MaxBackoff and honours a positive Retry-After up to MaxBackoff.
func TestSender_Backoff(t *testing.T) {
	policy := RetryPolicy{MaxAttempts: 8, InitialBackoff: time.Second, MaxBackoff: time.Minute}
	tests := []struct {
		name       string
		given      int
		retryAfter time.Duration
		rand       float64
		want       time.Duration
	}{
		{name: "FirstAttemptLowJitter", given: 1, rand: 0, want: 500 * time.Millisecond},
		{name: "FirstAttemptMidJitter", given: 1, rand: 0.5, want: 750 * time.Millisecond},
		{name: "SecondAttempt", given: 2, rand: 0, want: time.Second},
		{name: "ThirdAttempt", given: 3, rand: 0, want: 2 * time.Second},
		{name: "SixthAttempt", given: 6, rand: 0, want: 16 * time.Second},
		{name: "CappedAtMax", given: 7, rand: 0, want: 30 * time.Second},
		{name: "CappedHighJitter", given: 40, rand: 0.999999, want: time.Minute - 30*time.Microsecond},
		{name: "HugeAttemptNoOverflow", given: 1 << 30, rand: 0, want: 30 * time.Second},
		{name: "ZeroAttemptIsFirst", given: 0, rand: 0, want: 500 * time.Millisecond},
		{name: "RetryAfterHonoured", given: 1, retryAfter: 7 * time.Second, rand: 0.3, want: 7 * time.Second},
		{name: "RetryAfterClamped", given: 1, retryAfter: time.Hour, want: time.Minute},
		{name: "BadRandIgnored", given: 1, rand: 1.5, want: 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Sender{retry: policy, rand: func() float64 { return tc.rand }}
			got := s.Backoff(tc.given, tc.retryAfter)
			if d := got - tc.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("Backoff(%d, %s) = %s, want %s", tc.given, tc.retryAfter, got, tc.want)
			}
		})
	}
}

// Ensure the default jitter source stays within [v/2, v].
func TestSender_Backoff_DefaultRand(t *testing.T) {
	s := newUnsafe(t, Endpoint{URL: "http://127.0.0.1:1/", Retry: RetryPolicy{InitialBackoff: time.Second, MaxBackoff: time.Minute}}, Options{})
	for i := 0; i < 1000; i++ {
		got := s.Backoff(3, 0)
		if got < 2*time.Second || got > 4*time.Second {
			t.Fatalf("Backoff(3, 0) = %s, want within [2s, 4s]", got)
		}
	}
}

// Ensure Retry-After is read as seconds or an HTTP-date and clamped.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	limit := 5 * time.Minute
	tests := []struct {
		name  string
		given string
		want  time.Duration
	}{
		{name: "Empty", given: "", want: 0},
		{name: "Seconds", given: "120", want: 2 * time.Minute},
		{name: "SecondsSpaces", given: " 3 ", want: 3 * time.Second},
		{name: "SecondsClamped", given: "86400", want: limit},
		{name: "SecondsHuge", given: "99999999999999999", want: limit},
		{name: "Zero", given: "0", want: 0},
		{name: "Negative", given: "-5", want: 0},
		{name: "Date", given: now.Add(45 * time.Second).Format(http.TimeFormat), want: 45 * time.Second},
		{name: "DatePast", given: now.Add(-time.Hour).Format(http.TimeFormat), want: 0},
		{name: "DateClamped", given: now.Add(time.Hour).Format(http.TimeFormat), want: limit},
		{name: "Garbage", given: "soon", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.given, now, limit); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.given, got, tc.want)
			}
		})
	}
}
