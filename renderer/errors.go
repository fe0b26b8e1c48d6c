package renderer

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrEmpty is returned by DecodeEvent when the payload is empty or only whitespace.
var ErrEmpty = errors.New("empty event")

// ErrTooLarge is returned by DecodeEvent when the payload exceeds the size limit.
var ErrTooLarge = errors.New("event too large")

// ErrInvalidUTF8 is returned by DecodeEvent when the payload is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("event is not valid UTF-8")

// ErrNotObject is returned by DecodeEvent when the payload is valid JSON but not an object.
var ErrNotObject = errors.New("event is not a JSON object")

// ErrMalformed is returned by DecodeEvent when the payload is not JSON, carries
// trailing data, or has a field of the wrong shape.
var ErrMalformed = errors.New("malformed event")

// ErrUnknownEventType is returned by DecodeEvent when event_type is missing,
// not a string, or names no known trigger.
var ErrUnknownEventType = errors.New("unknown event type")

// ErrUnknownTrigger is returned by ParseTrigger for a name that is not a trigger.
var ErrUnknownTrigger = errors.New("unknown trigger")

// ErrUnknownFilterKey is returned by New for a filter key not in ValidFilterKeys.
var ErrUnknownFilterKey = errors.New("unknown filter key")

// ErrDuplicateWebhook is returned by New when two webhooks share a name.
var ErrDuplicateWebhook = errors.New("duplicate webhook name")

// ErrUnknownWebhook is returned by Renderer.Render for a name that was not configured.
var ErrUnknownWebhook = errors.New("unknown webhook")

// ErrTemplate is matched (errors.Is) by every *TemplateError.
var ErrTemplate = errors.New("invalid template")

// ErrEmptyName is returned by Coralogix.Entry when the application or
// subsystem name renders empty for an event.
var ErrEmptyName = errors.New("empty Coralogix name")

// ErrExec is wrapped by a *RenderError when the template fails while executing.
var ErrExec = errors.New("template execution failed")

// ErrInvalidJSON is wrapped by a *RenderError when a JSON template renders
// output that is not valid JSON.
var ErrInvalidJSON = errors.New("rendered body is not valid JSON")

// TemplateError reports a template that does not compile. Line and Col are
// 1-based positions inside the template text (0 when unknown).
type TemplateError struct {
	// Webhook is the webhook owning the template; empty for CompileTemplate.
	Webhook string
	// Field is the config key holding the template, such as
	// "application_name"; empty means "body_template".
	Field string
	// Line is the 1-based line of the problem inside the template.
	Line int
	// Col is the 1-based column (in bytes) of the problem inside the template.
	Col int
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *TemplateError) Error() string {
	var b []byte
	if e.Webhook != "" {
		b = append(b, "webhook "...)
		b = strconv.AppendQuote(b, e.Webhook)
		b = append(b, ": "...)
	}
	if e.Field != "" {
		b = append(b, e.Field...)
	} else {
		b = append(b, "body_template"...)
	}
	if e.Line > 0 {
		b = append(b, " line "...)
		b = strconv.AppendInt(b, int64(e.Line), 10)
		if e.Col > 0 {
			b = append(b, " col "...)
			b = strconv.AppendInt(b, int64(e.Col), 10)
		}
	}
	b = append(b, ": "...)
	if e.Err != nil {
		b = append(b, e.Err.Error()...)
	} else {
		b = append(b, ErrTemplate.Error()...)
	}
	return string(b)
}

// Unwrap returns ErrTemplate and the underlying error.
func (e *TemplateError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrTemplate}
	}
	return []error{ErrTemplate, e.Err}
}

// RenderError reports a failure to render one webhook's body for one event.
// It wraps ErrExec or ErrInvalidJSON.
type RenderError struct {
	// Webhook is the webhook being rendered; empty for Template.Render.
	Webhook string
	// Offset is the byte offset of a JSON error inside the rendered body, or -1.
	Offset int64
	// Err is the underlying error (wraps ErrExec or ErrInvalidJSON).
	Err error
}

// Error implements error.
func (e *RenderError) Error() string {
	if e.Webhook == "" {
		return fmt.Sprintf("render: %v", e.Err)
	}
	return fmt.Sprintf("render webhook %q: %v", e.Webhook, e.Err)
}

// Unwrap returns the underlying error.
func (e *RenderError) Unwrap() error { return e.Err }
