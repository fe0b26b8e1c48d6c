package sink

import "errors"

var (
	// ErrInvalidOption is wrapped by Options.Check for a value that cannot be used.
	ErrInvalidOption = errors.New("sink: invalid option")

	// ErrUnauthorized means the request carried no API key or the wrong one (401).
	ErrUnauthorized = errors.New("unauthorized")

	// ErrTooLarge means the decompressed body exceeds Options.MaxBodyBytes (413).
	ErrTooLarge = errors.New("request body too large")

	// ErrBadEncoding means the body claimed gzip but is not a valid gzip stream (400).
	ErrBadEncoding = errors.New("invalid gzip body")

	// ErrUnsupportedEncoding means a Content-Encoding other than gzip or identity (415).
	ErrUnsupportedEncoding = errors.New("unsupported content encoding")

	// ErrInvalidJSON means the body is not well-formed JSON (400).
	ErrInvalidJSON = errors.New("invalid JSON")

	// ErrSchema means the body is JSON but breaks the endpoint's schema:
	// an unknown or missing field, or a value of the wrong type or range (400).
	ErrSchema = errors.New("schema violation")
)
