package main

import (
	"bytes"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/sink"
	"github.com/hookrelay/hookrelay/renderer"
)

// markerPrefix starts the marker put into data.id of every benchmark event:
// "bench-000123-" followed by the sample's own id.
const markerPrefix = "bench-"

// seedTemplate is the Coralogix generic-webhook body of the seed page, as in
// configs/demo.yaml.
const seedTemplate = `{
   "alias":"apono-webhook",
   "integration_type_fields":"{ \"event_type\": \"{{ event_type }}\", \"event_time\": \"{{ event_time }}\", \"id\": \"{{ data.id }}\", \"friendly_id\": \"{{ data.friendly_id }}\", \"requester_id\": \"{{ data.requester.id }}\", \"requester_name\": \"{{ data.requester.name }}\", \"requester_email\": \"{{ data.requester.email }}\", \"justification\": \"{{ data.justification }}\", \"creation_date\": \"{{ data.creation_date }}\", \"access_flow_id\": \"{{ data.access_flow.id }}\", \"access_flow_name\": \"{{ data.access_flow.name }}\", \"access_bundle_id\": \"{{ data.access_bundle.id }}\", \"access_bundle_name\": \"{{ data.access_bundle.id }}\", \"access_groups_integration_name\": \"{{ data.access_groups.[0].integration.name }}\", \"access_groups_integration_type\": \"{{ data.access_groups.[0].integration.type }}\"}",
   "url":"https://api.coralogix.us/api/v1/logs"
}
`

// benchAPIKey is the sink's API key; the webhook sends it as a bearer token.
const benchAPIKey = "bench-key"

// mode holds what depends on how the relay delivers events: the webhook in
// the relay's config, where the ceiling posts, and how a sink entry maps back
// to an event index. A batched mode adds another value of this type.
type mode struct {
	// name is the -mode value and the RESULT line's mode=.
	name string
	// webhook returns the one webhook of the relay's config, aimed at sinkURL.
	webhook func(sinkURL string, concurrency int) map[string]any
	// sinkPath is the sink endpoint the webhook and the HTTP ceiling use.
	sinkPath string
	// extract finds the event index in one accepted sink entry (the raw log
	// entry, or the whole generic body).
	extract func(entry []byte) (int, bool)
	// body renders what the HTTP ceiling posts for one event payload.
	body func(payload []byte) ([]byte, error)
	// batch, when above 0, makes the HTTP ceiling post gzip-compressed JSON
	// arrays of that many bodies (each body then one array element), and
	// count entries rather than requests.
	batch int
}

// modes lists the known modes by name.
func modes() map[string]*mode {
	return map[string]*mode{"per-event": perEventMode(), "coralogix-batched": batchedMode()}
}

// perEventMode is one POST of the seed's generic body per event.
func perEventMode() *mode {
	const hook = "bench-coralogix"
	var rd *renderer.Renderer
	return &mode{
		name:     "per-event",
		sinkPath: sink.PathLegacy,
		webhook: func(sinkURL string, concurrency int) map[string]any {
			return map[string]any{
				"name":            hook,
				"active":          true,
				"method":          "POST",
				"url":             sinkURL + sink.PathLegacy,
				"headers":         map[string]string{"Authorization": "Bearer " + benchAPIKey},
				"body_template":   seedTemplate,
				"triggers":        triggerNames(),
				"timeout":         "10s",
				"concurrency":     concurrency,
				"retry":           map[string]any{"max_attempts": 8, "initial_backoff": "1s", "max_backoff": "5m"},
				"circuit_breaker": map[string]any{"failure_ratio": 0.5, "min_requests": 10, "open_for": "30s"},
			}
		},
		extract: markerIndex,
		body: func(payload []byte) ([]byte, error) {
			if rd == nil {
				r, err := renderer.New([]renderer.Webhook{{
					Name: hook, Active: true, Triggers: renderer.Triggers(),
					BodyTemplate: seedTemplate, JSON: true,
				}})
				if err != nil {
					return nil, err
				}
				rd = r
			}
			ev, err := renderer.DecodeEvent(payload, 0)
			if err != nil {
				return nil, err
			}
			return rd.Render(hook, ev)
		},
	}
}

// batchedEvents is the batch size of the coralogix-batched mode.
const batchedEvents = 500

// batchedMode is the native Coralogix mode: events become log entries sent
// to /logs/v1/singles in gzip batches of up to 500.
func batchedMode() *mode {
	const hook = "bench-coralogix-native"
	var cx *renderer.Coralogix
	return &mode{
		name:     "coralogix-batched",
		sinkPath: sink.PathSingles,
		batch:    batchedEvents,
		webhook: func(sinkURL string, concurrency int) map[string]any {
			return map[string]any{
				"name":     hook,
				"active":   true,
				"headers":  map[string]string{"Authorization": "Bearer " + benchAPIKey},
				"triggers": triggerNames(),
				"timeout":  "10s",
				// Requests in flight; each carries up to a whole batch.
				"concurrency": max(1, concurrency/16),
				"retry":       map[string]any{"max_attempts": 8, "initial_backoff": "1s", "max_backoff": "5m"},
				"coralogix": map[string]any{
					"endpoint":         sinkURL,
					"application_name": "apono",
					"subsystem_name":   "access-requests",
					"batch":            map[string]any{"max_events": batchedEvents, "max_bytes": 1500000, "max_wait": "200ms"},
				},
			}
		},
		extract: markerIndex,
		body: func(payload []byte) ([]byte, error) {
			if cx == nil {
				c, err := renderer.NewCoralogix(renderer.CoralogixSpec{ApplicationName: "apono", SubsystemName: "access-requests", ComputerName: "bench"})
				if err != nil {
					return nil, err
				}
				cx = c
			}
			ev, err := renderer.DecodeEvent(payload, 0)
			if err != nil {
				return nil, err
			}
			entry, err := cx.Entry(ev, payload)
			if err != nil {
				return nil, err
			}
			return append(append([]byte{'['}, entry...), ']'), nil
		},
	}
}

func triggerNames() []string {
	ts := renderer.Triggers()
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// marker is the text put in front of data.id of event i.
func marker(i int) string { return fmt.Sprintf("%s%06d-", markerPrefix, i) }

// markerIndex finds "bench-<digits>-" in b and returns the number.
func markerIndex(b []byte) (int, bool) {
	at := bytes.Index(b, []byte(markerPrefix))
	if at < 0 {
		return 0, false
	}
	n, digits := 0, 0
	for _, c := range b[at+len(markerPrefix):] {
		if c == '-' {
			return n, digits > 0
		}
		if c < '0' || c > '9' || digits == 9 {
			return 0, false
		}
		n = n*10 + int(c-'0')
		digits++
	}
	return 0, false
}

// dataIDField is how a sample payload begins its data object.
var dataIDField = []byte(`"data":{"id":"`)

// benchEvent returns sample payload i (the seven types in turn) with the
// marker in front of its data.id, and its event type.
func benchEvent(i int) ([]byte, string, error) {
	ts := renderer.Triggers()
	t := ts[i%len(ts)]
	p := renderer.Sample(t, i)
	at := bytes.Index(p, dataIDField)
	if at < 0 {
		return nil, "", fmt.Errorf("%w: %s", ErrNoMarker, t)
	}
	at += len(dataIDField)
	m := marker(i)
	out := make([]byte, 0, len(p)+len(m))
	out = append(out, p[:at]...)
	out = append(out, m...)
	out = append(out, p[at:]...)
	return out, string(t), nil
}

// since is a monotonic clock in nanoseconds from base, never zero.
func since(base time.Time) int64 { return int64(time.Since(base)) + 1 }
