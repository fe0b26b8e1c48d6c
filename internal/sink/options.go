package sink

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
)

const (
	// DefaultMaxBodyBytes is the Coralogix limit on one request's decompressed body.
	DefaultMaxBodyBytes = 2_000_000

	// DefaultFailStatus is the status of a failure injected by Options.FailRate.
	DefaultFailStatus = 500
)

// Options configures a Sink. Start from DefaultOptions: the zero value turns
// schema validation off.
type Options struct {
	// APIKey is the key expected in "Authorization: Bearer <key>" (or, on the
	// legacy /api/v1/logs endpoint, in the body's privateKey). Empty accepts
	// every request.
	APIKey string

	// MaxBodyBytes limits the decompressed body; larger bodies get 413.
	// Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int

	// FailRate is the fraction (0..1) of otherwise acceptable ingestion
	// requests answered with FailStatus, decided by Rand.
	FailRate float64

	// FailStatus is the status of failures injected by FailRate.
	// Zero means DefaultFailStatus.
	FailStatus int

	// Status, when non-zero, answers every ingestion request with this status
	// without looking at it (authentication included).
	Status int

	// Latency delays every ingestion answer. The wait ends early when the
	// request's context ends; such a request is counted as rejected with 499.
	Latency time.Duration

	// RetryAfter, when set, is sent as the Retry-After header of injected
	// failures (Status and FailRate).
	RetryAfter string

	// Keep is how many of the most recently accepted log entries (or generic
	// bodies) Received returns. Zero keeps none.
	Keep int

	// Validate turns on full schema validation: unknown fields, required
	// fields, value types and ranges, and the JSON inside a generic body's
	// integration_type_fields string. When false only JSON syntax, size and
	// authentication are checked. DefaultOptions sets it.
	Validate bool

	// EntryKey, when set, derives a key from every accepted log entry (the
	// raw entry object; the whole body for a generic request). Distinct and
	// repeated non-empty keys are counted as unique and duplicate entries.
	// The slice is only valid during the call. It must be safe for concurrent use.
	EntryKey func(entry json.RawMessage) string

	// Rand returns a number in [0, 1) for FailRate; it must be safe for
	// concurrent use. Nil means math/rand/v2's Float64.
	Rand func() float64

	// Now is the clock for received_at and tally rates. Nil means time.Now.
	Now func() time.Time

	// Logger receives debug lines about rejected requests. Nil means no logging.
	Logger *zap.Logger
}

// DefaultOptions returns the options of a strict sink: full validation, the
// Coralogix size limit, no faults.
func DefaultOptions() Options {
	return Options{
		MaxBodyBytes: DefaultMaxBodyBytes,
		FailStatus:   DefaultFailStatus,
		Validate:     true,
	}
}

// Check reports the first option that New would have to replace, wrapped in
// ErrInvalidOption. Zero values are fine: they select the defaults.
func (o Options) Check() error {
	switch {
	case o.MaxBodyBytes < 0:
		return fmt.Errorf("%w: MaxBodyBytes %d is negative", ErrInvalidOption, o.MaxBodyBytes)
	case math.IsNaN(o.FailRate) || o.FailRate < 0 || o.FailRate > 1:
		return fmt.Errorf("%w: FailRate %v is outside 0..1", ErrInvalidOption, o.FailRate)
	case o.FailStatus != 0 && !injectable(o.FailStatus):
		return fmt.Errorf("%w: FailStatus %d is not a 3xx, 4xx or 5xx status", ErrInvalidOption, o.FailStatus)
	case o.Status != 0 && !injectable(o.Status):
		return fmt.Errorf("%w: Status %d is not a 3xx, 4xx or 5xx status", ErrInvalidOption, o.Status)
	case o.Latency < 0:
		return fmt.Errorf("%w: Latency %v is negative", ErrInvalidOption, o.Latency)
	case o.Keep < 0:
		return fmt.Errorf("%w: Keep %d is negative", ErrInvalidOption, o.Keep)
	}
	return nil
}

// injectable reports whether code may be injected as a failure.
func injectable(code int) bool { return code >= 300 && code <= 599 }

// withDefaults returns o with zero and invalid values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if math.IsNaN(o.FailRate) || o.FailRate < 0 {
		o.FailRate = 0
	}
	o.FailRate = min(o.FailRate, 1)
	if !injectable(o.FailStatus) {
		o.FailStatus = DefaultFailStatus
	}
	if !injectable(o.Status) {
		o.Status = 0
	}
	o.Latency = max(o.Latency, 0)
	o.Keep = max(o.Keep, 0)
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}
