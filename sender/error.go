package sender

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Class says whether another attempt at a delivery can help.
type Class int

const (
	// Delivered is the zero Class: the endpoint answered 2xx. Classify returns
	// it for 2xx statuses; an *Error never carries it.
	Delivered Class = iota
	// Retryable outcomes (408, 429, 5xx, timeouts, network errors) may succeed
	// on a later attempt.
	Retryable
	// Permanent outcomes (other 4xx, 1xx, 3xx, a refused address or a broken
	// configuration) will not succeed however often they are tried.
	Permanent
	// BreakerOpen means the webhook's circuit breaker refused the request; no
	// request was made and no attempt should be counted.
	BreakerOpen
)

// String returns the class name used in logs and metric labels.
func (c Class) String() string {
	switch c {
	case Delivered:
		return "delivered"
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case BreakerOpen:
		return "breaker_open"
	default:
		return "class_" + strconv.Itoa(int(c))
	}
}

// Reason says why a delivery attempt did not succeed. Its String value is a
// metric label.
type Reason int

const (
	// ReasonNone is the zero Reason, used with Delivered.
	ReasonNone Reason = iota
	// ReasonClientError is a 4xx other than 401, 403, 408 and 429, or a 1xx
	// or 3xx status (redirects are never followed).
	ReasonClientError
	// ReasonAuthError is a 401 or 403.
	ReasonAuthError
	// ReasonRateLimited is a 429.
	ReasonRateLimited
	// ReasonServerError is a 5xx.
	ReasonServerError
	// ReasonTimeout is a 408 or an attempt that ran out of time.
	ReasonTimeout
	// ReasonNetwork is a connection, TLS or protocol failure.
	ReasonNetwork
	// ReasonContextCanceled means the caller's context ended before or during
	// the attempt.
	ReasonContextCanceled
	// ReasonBreakerOpen means the circuit breaker refused the request.
	ReasonBreakerOpen
	// ReasonBadURL means the URL or a dialed address was refused by the URL
	// policy.
	ReasonBadURL
	// ReasonConfig means the request could not be built from the endpoint's
	// configuration, such as a header's environment variable that is no
	// longer set.
	ReasonConfig
)

// String returns the reason as a metric label.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonClientError:
		return "client_error"
	case ReasonAuthError:
		return "auth_error"
	case ReasonRateLimited:
		return "rate_limited"
	case ReasonServerError:
		return "server_error"
	case ReasonTimeout:
		return "timeout"
	case ReasonNetwork:
		return "network"
	case ReasonContextCanceled:
		return "context_canceled"
	case ReasonBreakerOpen:
		return "breaker_open"
	case ReasonBadURL:
		return "bad_url"
	case ReasonConfig:
		return "config"
	default:
		return "reason_" + strconv.Itoa(int(r))
	}
}

// Error is the error Send returns for every attempt that did not deliver.
// Its text never holds a header value, user info or a query string.
type Error struct {
	// Class says whether another attempt can help.
	Class Class
	// Reason is the cause, usable as a metric label.
	Reason Reason
	// StatusCode is the response status, or 0 when there was no response.
	StatusCode int
	// RetryAfter is the endpoint's Retry-After, clamped to [0, MaxBackoff],
	// or 0 when it sent none.
	RetryAfter time.Duration
	// Err is the underlying cause.
	Err error
}

// Error describes the failure: class, reason, status and cause.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sender: ")
	b.WriteString(e.Class.String())
	b.WriteString(" (")
	b.WriteString(e.Reason.String())
	b.WriteString(")")
	if e.RetryAfter > 0 {
		b.WriteString(", retry after ")
		b.WriteString(e.RetryAfter.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Classify maps an HTTP status to a Class and Reason. 2xx gives
// (Delivered, ReasonNone). 408, 429 and 5xx are Retryable (ReasonTimeout,
// ReasonRateLimited, ReasonServerError). 401 and 403 are Permanent with
// ReasonAuthError, and every other status, including 1xx and 3xx (redirects
// are never followed), is Permanent with ReasonClientError.
func Classify(status int) (Class, Reason) {
	switch {
	case status >= 200 && status <= 299:
		return Delivered, ReasonNone
	case status == 408:
		return Retryable, ReasonTimeout
	case status == 429:
		return Retryable, ReasonRateLimited
	case status >= 500 && status <= 599:
		return Retryable, ReasonServerError
	case status == 401 || status == 403:
		return Permanent, ReasonAuthError
	default:
		return Permanent, ReasonClientError
	}
}

// statusError builds the cause for a non-2xx response, with a short snippet
// of the (already scrubbed) body.
func statusError(status int, snippet []byte) error {
	if len(snippet) == 0 {
		return fmt.Errorf("%w %d %s", ErrUnexpectedStatus, status, http.StatusText(status))
	}
	return fmt.Errorf("%w %d %s: %q", ErrUnexpectedStatus, status, http.StatusText(status), snippet)
}
