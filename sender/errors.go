package sender

import "errors"

// ErrBadURL is returned when a webhook URL does not satisfy the URL policy:
// it does not parse, has the wrong scheme or port, carries user info or has
// no host.
var ErrBadURL = errors.New("sender: bad url")

// ErrUnsafeAddress is returned when a URL names, resolves to or dials an
// address that the URL policy blocks (loopback, private, link-local, metadata
// and similar). Errors from CheckURL for a blocked IP literal match both
// ErrBadURL and ErrUnsafeAddress.
var ErrUnsafeAddress = errors.New("sender: unsafe address")

// ErrBadMethod is returned by New for an HTTP method other than POST, PUT,
// PATCH, DELETE or GET.
var ErrBadMethod = errors.New("sender: bad method")

// ErrBadHeader is returned by New for a header whose name is not a valid
// HTTP token or whose value holds a malformed ${VAR} reference or a control
// character.
var ErrBadHeader = errors.New("sender: bad header")

// ErrMissingEnv is returned when a header refers to an environment variable
// (${VAR} without a default) that is not set. The error names the header and
// the variable, never a value.
var ErrMissingEnv = errors.New("sender: missing environment variable")

// ErrInvalidOption is returned by New for an invalid Endpoint or Options
// value such as a negative timeout or a failure ratio above 1.
var ErrInvalidOption = errors.New("sender: invalid option")

// ErrBreakerOpen is wrapped by the *Error that Send returns when the
// webhook's circuit breaker refuses the request. No request was made.
var ErrBreakerOpen = errors.New("sender: circuit breaker open")

// ErrUnexpectedStatus is wrapped by the *Error that Send returns for a
// response whose status is not 2xx.
var ErrUnexpectedStatus = errors.New("sender: unexpected status")

// ErrAttemptTimeout is the cause of an attempt that ran longer than the
// endpoint's Timeout.
var ErrAttemptTimeout = errors.New("sender: attempt timed out")

// ErrEntryTooLarge is wrapped by the *Error that SendBatch gives an entry
// that the endpoint refused with 413 even when sent alone.
var ErrEntryTooLarge = errors.New("sender: batch entry too large")

// ErrBadEntry is wrapped by the *Error that SendBatch gives an entry that is
// not a JSON object; such an entry is not sent.
var ErrBadEntry = errors.New("sender: bad batch entry")
