package sender

import (
	"maps"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// MaxRecordedBody is the most of a request or response body kept in an
// Attempt.
const MaxRecordedBody = 64 << 10

// maxDrain is how much of a response body beyond MaxRecordedBody is read and
// discarded so that the connection can be reused; past it the connection is
// closed instead.
const maxDrain = 1 << 20

// maxSnippet is the most of a response body quoted in an error.
const maxSnippet = 256

// Delivery is one rendered body for one webhook.
type Delivery struct {
	// ID is sent as the Idempotency-Key header; it must stay the same across
	// retries and replays of the delivery.
	ID string
	// Body is the rendered request body.
	Body []byte
	// ContentType is sent as Content-Type unless the endpoint configures
	// one; "" means application/json.
	ContentType string
}

// Attempt records one HTTP attempt with secrets redacted.
type Attempt struct {
	// StartedAt is when the request started.
	StartedAt time.Time `json:"started_at"`
	// Duration is how long the attempt took, response body included.
	Duration time.Duration `json:"duration"`
	// Request is what was sent.
	Request RequestData `json:"request"`
	// Response is what came back; nil when no response arrived.
	Response *ResponseData `json:"response,omitempty"`
}

// RequestData is the redacted record of a request.
type RequestData struct {
	// Method is the HTTP method.
	Method string `json:"method"`
	// URL is the target without user info and with query values redacted.
	URL string `json:"url"`
	// Headers are the sent headers; secret values read "[REDACTED]" (an auth
	// scheme may be kept, as in "Bearer [REDACTED]").
	Headers map[string]string `json:"headers"`
	// Body is the request body, cut at MaxRecordedBody bytes.
	Body string `json:"body"`
	// Truncated reports whether Body was cut.
	Truncated bool `json:"truncated,omitempty"`
}

// ResponseData is the redacted record of a response.
type ResponseData struct {
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Headers are the response headers, multiple values joined with ", ";
	// Set-Cookie and other secret-named headers read "[REDACTED]".
	Headers map[string]string `json:"headers"`
	// Body is the response body, cut at MaxRecordedBody bytes.
	Body string `json:"body"`
	// Truncated reports whether Body was cut.
	Truncated bool `json:"truncated,omitempty"`
}

// requestData builds the redacted record of the request for o.
func (s *Sender) requestData(o *outgoing) RequestData {
	h := maps.Clone(s.display)
	h[idempotencyKey] = o.id
	if o.contentType != "" && !s.ctConfigured {
		h[contentType] = o.contentType
	}
	if o.encoding != "" {
		h[contentEncoding] = o.encoding
	}
	rd := RequestData{Method: s.method, URL: s.displayURL, Headers: h}
	if o.record != nil {
		rd.Body, rd.Truncated = o.record()
		return rd
	}
	body := o.body
	if len(body) > MaxRecordedBody {
		body, rd.Truncated = body[:MaxRecordedBody], true
	}
	rd.Body = string(body)
	return rd
}

// readResponse returns the redacted record of resp: its status, the
// headers the server sent and up to MaxRecordedBody bytes of its body. cut
// says the body was too large to read (maxResponseBody) and is not kept.
func readResponse(resp *fasthttp.Response, wire wireHeaders, cut bool, secrets []string) *ResponseData {
	rd := &ResponseData{Status: resp.StatusCode(), Headers: responseHeaders(&resp.Header, wire, secrets), Truncated: cut}
	body := resp.Body()
	if len(body) > MaxRecordedBody {
		body, rd.Truncated = body[:MaxRecordedBody], true
	}
	if len(body) > 0 {
		rd.Body = string(scrubBytes(body, secrets))
	}
	return rd
}

// responseHeaders flattens and redacts response headers, a name's values
// joined with ", ".
func responseHeaders(h *fasthttp.ResponseHeader, wire wireHeaders, secrets []string) map[string]string {
	m := make(map[string]string, h.Len())
	for k, v := range h.All() {
		switch string(k) {
		case "Transfer-Encoding":
			// How the body was framed, as net/http leaves it out.
			continue
		case "Content-Length":
			if wire.known && !wire.length {
				continue
			}
		case "Connection":
			if wire.known && !wire.connection {
				continue
			}
		}
		name := string(k)
		val := string(v)
		if isSensitiveName(name) {
			val = redacted
		} else {
			val = scrubString(val, secrets)
		}
		if prev, ok := m[name]; ok && prev != redacted {
			val = prev + ", " + val
		}
		m[name] = val
	}
	return m
}

// snippet returns at most maxSnippet bytes of body, cut on a rune boundary.
func snippet(body string) []byte {
	if len(body) <= maxSnippet {
		return []byte(body)
	}
	i := maxSnippet
	for i > 0 && !utf8.RuneStart(body[i]) {
		i--
	}
	return []byte(body[:i])
}
