package renderer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Coralogix severities (the numbers the ingestion API takes).
const (
	SeverityDebug    = 1
	SeverityVerbose  = 2
	SeverityInfo     = 3
	SeverityWarning  = 4
	SeverityError    = 5
	SeverityCritical = 6
)

// DefaultSeverity maps an event to its Coralogix severity: a failed
// request is an error, a rejected one a warning, the rest information.
func DefaultSeverity(t Trigger) int {
	switch t {
	case RequestFailed:
		return SeverityError
	case RequestRejected:
		return SeverityWarning
	}
	return SeverityInfo
}

// CoralogixSpec says how a webhook turns events into Coralogix log entries.
type CoralogixSpec struct {
	// ApplicationName and SubsystemName are Handlebars templates (plain
	// text, no escaping); most are constants.
	ApplicationName string
	SubsystemName   string
	// TextTemplate renders the entry's text; empty means the event itself
	// as compact JSON.
	TextTemplate string
	// Severity overrides DefaultSeverity per trigger.
	Severity map[Trigger]int
	// ComputerName is the relay's host name.
	ComputerName string
}

// Coralogix renders events as Coralogix log entries, in the shape of the
// /logs/v1/singles API: applicationName, subsystemName, computerName, text,
// timestamp (ms), hiResTimestamp (ns), severity, category (the event type)
// and className (the integration type).
type Coralogix struct {
	app, sub, text *Template
	severity       map[Trigger]int
	computer       string
	now            func() time.Time
}

// NewCoralogix compiles a spec's templates.
func NewCoralogix(spec CoralogixSpec) (*Coralogix, error) {
	c := &Coralogix{severity: spec.Severity, computer: spec.ComputerName, now: time.Now}
	var err error
	if c.app, err = CompileTemplate(spec.ApplicationName, false); err != nil {
		return nil, inField("application_name", err)
	}
	if c.sub, err = CompileTemplate(spec.SubsystemName, false); err != nil {
		return nil, inField("subsystem_name", err)
	}
	if strings.TrimSpace(spec.TextTemplate) != "" {
		if c.text, err = CompileTemplate(spec.TextTemplate, IsJSONTemplate(spec.TextTemplate)); err != nil {
			return nil, inField("body_template", err)
		}
	}
	return c, nil
}

// inField names the config key of the template a compile error is about.
func inField(field string, err error) error {
	var te *TemplateError
	if errors.As(err, &te) {
		te.Field = field
		return te
	}
	return fmt.Errorf("%s: %w", field, err)
}

// Entry renders one event (raw is its payload as received) as a log entry.
// The text is the rendered body template, or the event itself; JSON text is
// embedded as a JSON value (the singles API takes "string or JSON"), so it
// is neither escaped twice nor parsed again by Coralogix.
func (c *Coralogix) Entry(ev *Event, raw []byte) ([]byte, error) {
	app, err := textOf(c.app, ev)
	if err != nil {
		return nil, fmt.Errorf("application_name: %w", err)
	}
	sub, err := textOf(c.sub, ev)
	if err != nil {
		return nil, fmt.Errorf("subsystem_name: %w", err)
	}
	// Coralogix refuses an entry without either name, and with it the
	// whole batch: this event alone goes to the dead letters.
	switch {
	case strings.TrimSpace(app) == "":
		return nil, fmt.Errorf("%w: application_name rendered empty for this event; Coralogix needs a name", ErrEmptyName)
	case strings.TrimSpace(sub) == "":
		return nil, fmt.Errorf("%w: subsystem_name rendered empty for this event; Coralogix needs a name", ErrEmptyName)
	}
	text, textJSON := bytes.TrimSpace(raw), true
	if c.text != nil {
		if text, err = c.text.Render(ev); err != nil {
			return nil, err
		}
		textJSON = c.text.JSON()
	}
	sev, ok := c.severity[ev.Trigger]
	if !ok {
		sev = DefaultSeverity(ev.Trigger)
	}
	ms, ns := eventTimestamps(ev.Time, c.now)
	className := ""
	if groups := list(field(ev.Data, "access_groups")); len(groups) > 0 {
		className, _ = field(groups[0], "integration", "type").(string)
	}

	out := make([]byte, 0, len(text)+len(app)+len(sub)+len(c.computer)+len(ev.Type)+len(className)+192)
	out = append(out, `{"applicationName":"`...)
	out = appendEscaped(out, app)
	out = append(out, `","subsystemName":"`...)
	out = appendEscaped(out, sub)
	out = append(out, '"')
	if c.computer != "" {
		out = append(out, `,"computerName":"`...)
		out = appendEscaped(out, c.computer)
		out = append(out, '"')
	}
	out = append(out, `,"text":`...)
	if textJSON {
		out = append(out, text...)
	} else {
		out = append(out, '"')
		out = appendEscaped(out, string(text))
		out = append(out, '"')
	}
	out = append(out, `,"timestamp":`...)
	out = append(out, ms...)
	out = append(out, `,"hiResTimestamp":"`...)
	out = append(out, ns...)
	out = append(out, `","severity":`...)
	out = strconv.AppendInt(out, int64(sev), 10)
	if ev.Type != "" {
		out = append(out, `,"category":"`...)
		out = appendEscaped(out, ev.Type)
		out = append(out, '"')
	}
	if className != "" {
		out = append(out, `,"className":"`...)
		out = appendEscaped(out, className)
		out = append(out, '"')
	}
	return append(out, '}'), nil
}

// textOf renders a text template for ev; one that prints no value (most
// application and subsystem names) is its literal text, with no rendering.
func textOf(t *Template, ev *Event) (string, error) {
	if !t.json && t.fast != nil && len(t.fast.segs) == 0 {
		return t.fast.tail, nil
	}
	b, err := t.Render(ev)
	return string(b), err
}

// eventTimestamps turns event_time (epoch seconds with a fraction, as
// written) into epoch milliseconds with a fraction and epoch nanoseconds,
// by moving the decimal point in the text, so no precision is lost. An
// absent or unusable event_time gives the current time.
func eventTimestamps(t json.Number, now func() time.Time) (ms, ns string) {
	s := string(t)
	if strings.ContainsAny(s, "eE") {
		// Written in exponent form: the same exact expansion templates use.
		s = string(appendPlainNumber(nil, s))
	}
	if s != "" && !strings.ContainsAny(s, "eE-+") {
		intPart, frac, _ := strings.Cut(s, ".")
		if intPart != "" && allDigits(intPart) && allDigits(frac) {
			frac9 := (frac + "000000000")[:9]
			nsStr := strings.TrimLeft(intPart+frac9, "0")
			if nsStr == "" {
				nsStr = "0"
			}
			msInt := strings.TrimLeft(intPart+frac9[:3], "0")
			if msInt == "" {
				msInt = "0"
			}
			msFrac := strings.TrimRight(frac9[3:], "0")
			if msFrac != "" {
				return msInt + "." + msFrac, nsStr
			}
			return msInt, nsStr
		}
	}
	n := now().UnixNano()
	return fmt.Sprintf("%d.%06d", n/1e6, n%1e6), fmt.Sprintf("%d", n)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
