package consumer

import "errors"

// ErrUnknownWebhook is returned when a call names a webhook the relay was not
// configured with.
var ErrUnknownWebhook = errors.New("consumer: unknown webhook")

// ErrNotStarted is returned by calls that need the relay's streams before
// Setup has run.
var ErrNotStarted = errors.New("consumer: relay not set up")

// ErrBodyTooLarge is a body larger than a delivery message may carry under
// the NATS server's max_payload.
var ErrBodyTooLarge = errors.New("consumer: body larger than a delivery message may be")

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("consumer: relay closed")
