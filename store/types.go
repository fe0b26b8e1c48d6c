package store

import "time"

// Outcomes of an Invocation.
const (
	// OutcomeDelivered means the endpoint accepted the request.
	OutcomeDelivered = "delivered"
	// OutcomeRetrying means the attempt failed and the delivery will be tried again.
	OutcomeRetrying = "retrying"
	// OutcomeDeadLettered means the attempt failed and the delivery was moved to the dead letters.
	OutcomeDeadLettered = "dead_lettered"
	// OutcomeFailed means a test send failed (test sends are never retried),
	// or a shared batch request failed (its events' records say the rest).
	OutcomeFailed = "failed"
)

// MaxBodyBytes is the largest request or response body kept in an Invocation.
// Record cuts longer bodies to at most this many bytes, at a UTF-8 character
// boundary, and appends nothing.
const MaxBodyBytes = 64 << 10

// MaxSampleBytes is the largest Rejected.Sample kept by PutRejected.
const MaxSampleBytes = 1 << 10

// Invocation is one HTTP attempt ("View Invocation Data").
type Invocation struct {
	// ID is assigned by the store: 16 lowercase hex digits of the big-endian
	// sequence number, so IDs sort in the order records were written.
	ID         string        `json:"id"`
	Webhook    string        `json:"webhook"`
	DeliveryID string        `json:"delivery_id"`
	EventID    string        `json:"event_id"`
	EventType  string        `json:"event_type"`
	Attempt    int           `json:"attempt"`
	StartedAt  time.Time     `json:"started_at"`
	DurationMS float64       `json:"duration_ms"`
	Request    HTTPRequest   `json:"request"`
	Response   *HTTPResponse `json:"response"`
	Error      string        `json:"error"`
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome"`
	// BatchID is set when many events shared one request (Coralogix batching).
	BatchID string `json:"batch_id,omitempty"`
	Test    bool   `json:"test,omitempty"`
}

// HTTPRequest is the request half of an Invocation.
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// HTTPResponse is the response half of an Invocation; it is nil when no
// response arrived.
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// DeadLetter is a delivery that will not be retried; it holds everything
// needed to replay it without the original event.
type DeadLetter struct {
	// ID is assigned by the store (16 hex digits, sortable).
	ID         string `json:"id"`
	Webhook    string `json:"webhook"`
	DeliveryID string `json:"delivery_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	// Headers holds non-secret delivery metadata (e.g. content type).
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the rendered body, full size (not cut).
	Body []byte `json:"body"`
	// Event is the event payload, kept when rendering failed, so a replay
	// can render it again with the webhook's template as it is then.
	Event            []byte    `json:"event,omitempty"`
	Reason           string    `json:"reason"`
	Attempts         int       `json:"attempts"`
	LastStatus       int       `json:"last_status,omitempty"`
	LastInvocationID string    `json:"last_invocation_id,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// Rejected is an event the relay could not accept (malformed, too large,
// unknown type).
type Rejected struct {
	// ID is assigned by the store (16 hex digits, sortable).
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	StreamSeq uint64 `json:"stream_seq"`
	Reason    string `json:"reason"`
	Size      int    `json:"size"`
	// Sample is the first MaxSampleBytes of the payload with invalid UTF-8
	// replaced; see SampleOf.
	Sample     string    `json:"sample"`
	ReceivedAt time.Time `json:"received_at"`
}

// InvocationFilter selects invocations for ListInvocations. Empty fields do
// not filter.
type InvocationFilter struct {
	// Webhook lists only this webhook's invocations (served from its index).
	Webhook string
	// Outcome lists only invocations with this outcome (one of the Outcome constants).
	Outcome string
	// DeliveryID lists only the attempts of this delivery.
	DeliveryID string
	// Before is an invocation ID; only older invocations are listed. Use the
	// last ID of one page as Before of the next.
	Before string
	// Limit caps the result: 0 means DefaultListLimit, larger than
	// MaxListLimit means MaxListLimit.
	Limit int
}

// Stats describes the store's contents and its group-commit writer.
type Stats struct {
	// Invocations is the number of invocation records.
	Invocations int64 `json:"invocations"`
	// DeadLetters is the number of dead letters.
	DeadLetters int64 `json:"dead_letters"`
	// Rejected is the number of rejected events.
	Rejected int64 `json:"rejected"`
	// FileSize is the size of the data file in bytes.
	FileSize int64 `json:"file_size"`
	// Commits is the number of group-commit transactions since Open
	// (including any that failed).
	Commits uint64 `json:"commits"`
	// Queued is the number of writes waiting for the writer.
	Queued int `json:"queued"`
}
