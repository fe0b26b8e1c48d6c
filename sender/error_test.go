package sender

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// statusCase is the expected classification of one HTTP status.
type statusCase struct {
	status     int
	wantClass  Class
	wantReason Reason
}

// statusTable lists every status from 100 to 599 with its expected class and
// reason. It is the single table shared by the Classify and Send tests.
func statusTable(tb testing.TB) []statusCase {
	tb.Helper()
	ranges := []struct {
		from, to   int
		wantClass  Class
		wantReason Reason
	}{
		{100, 199, Permanent, ReasonClientError}, // informational as final status: not delivered
		{200, 299, Delivered, ReasonNone},
		{300, 399, Permanent, ReasonClientError}, // redirects are never followed
		{400, 400, Permanent, ReasonClientError},
		{401, 401, Permanent, ReasonAuthError},
		{402, 402, Permanent, ReasonClientError},
		{403, 403, Permanent, ReasonAuthError},
		{404, 407, Permanent, ReasonClientError},
		{408, 408, Retryable, ReasonTimeout},
		{409, 428, Permanent, ReasonClientError},
		{429, 429, Retryable, ReasonRateLimited},
		{430, 499, Permanent, ReasonClientError},
		{500, 599, Retryable, ReasonServerError},
	}
	var out []statusCase
	for _, r := range ranges {
		for code := r.from; code <= r.to; code++ {
			out = append(out, statusCase{status: code, wantClass: r.wantClass, wantReason: r.wantReason})
		}
	}
	if len(out) != 500 {
		tb.Fatalf("status table has %d entries, want 500", len(out))
	}
	for i, c := range out {
		if c.status != 100+i {
			tb.Fatalf("status table entry %d is %d, want %d", i, c.status, 100+i)
		}
	}
	return out
}

// Ensure every status from 100 to 599 maps to the class and reason in the
// shared table.
func TestClassify(t *testing.T) {
	for _, tc := range statusTable(t) {
		gotClass, gotReason := Classify(tc.status)
		if gotClass != tc.wantClass || gotReason != tc.wantReason {
			t.Errorf("Classify(%d) = (%s, %s), want (%s, %s)",
				tc.status, gotClass, gotReason, tc.wantClass, tc.wantReason)
		}
	}
}

// Ensure class and reason names are the documented metric labels.
func TestClass_String(t *testing.T) {
	tests := []struct {
		name  string
		given fmt.Stringer
		want  string
	}{
		{"Delivered", Delivered, "delivered"},
		{"Retryable", Retryable, "retryable"},
		{"Permanent", Permanent, "permanent"},
		{"BreakerOpen", BreakerOpen, "breaker_open"},
		{"UnknownClass", Class(42), "class_42"},
		{"ReasonNone", ReasonNone, "none"},
		{"ReasonClientError", ReasonClientError, "client_error"},
		{"ReasonAuthError", ReasonAuthError, "auth_error"},
		{"ReasonRateLimited", ReasonRateLimited, "rate_limited"},
		{"ReasonServerError", ReasonServerError, "server_error"},
		{"ReasonTimeout", ReasonTimeout, "timeout"},
		{"ReasonNetwork", ReasonNetwork, "network"},
		{"ReasonContextCanceled", ReasonContextCanceled, "context_canceled"},
		{"ReasonBreakerOpen", ReasonBreakerOpen, "breaker_open"},
		{"ReasonBadURL", ReasonBadURL, "bad_url"},
		{"ReasonConfig", ReasonConfig, "config"},
		{"UnknownReason", Reason(99), "reason_99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.given.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// Ensure an *Error describes itself and unwraps to its cause.
func TestError_Error(t *testing.T) {
	cause := statusError(503, []byte("busy"))
	e := &Error{Class: Retryable, Reason: ReasonServerError, StatusCode: 503, RetryAfter: 2 * time.Second, Err: cause}
	got := e.Error()
	for _, want := range []string{"retryable", "server_error", "retry after 2s", "503", `"busy"`} {
		if !strings.Contains(got, want) {
			t.Errorf("Error() = %q, missing %q", got, want)
		}
	}
	if !errors.Is(e, ErrUnexpectedStatus) {
		t.Errorf("errors.Is(e, ErrUnexpectedStatus) = false")
	}
	var target *Error
	if !errors.As(fmt.Errorf("wrapped: %w", e), &target) || target != e {
		t.Errorf("errors.As did not find the *Error")
	}
}
