package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hookrelay/hookrelay/consumer"
	"github.com/hookrelay/hookrelay/renderer"
)

// rejection is a routing error with a short reason for metrics.
type rejection struct {
	reason string
	err    error
}

func (r rejection) Error() string        { return r.err.Error() }
func (r rejection) Unwrap() error        { return r.err }
func (r rejection) RejectReason() string { return r.reason }

var _ consumer.RejectReasoner = rejection{}

// rejectReasons maps the decoder's sentinels to metric labels.
var rejectReasons = []struct {
	err    error
	reason string
}{
	{renderer.ErrEmpty, "empty"},
	{renderer.ErrTooLarge, "too_large"},
	{renderer.ErrInvalidUTF8, "invalid_utf8"},
	{renderer.ErrNotObject, "not_object"},
	{renderer.ErrMalformed, "malformed"},
	{renderer.ErrUnknownEventType, "unknown_event_type"},
}

// Route implements consumer.Router: decode, match, render once per matching
// webhook. A target (the Manual trigger through the admin API) restricts the
// event to that one webhook, whatever its filters say.
func (d *Daemon) Route(payload []byte, target string) (consumer.Routed, error) {
	ev, err := d.fields.DecodeEvent(payload, d.cfg.Events.MaxEventBytes)
	if err != nil {
		reason := "invalid"
		for _, r := range rejectReasons {
			if errors.Is(err, r.err) {
				reason = r.reason
				break
			}
		}
		return consumer.Routed{}, rejection{reason: reason, err: err}
	}
	var names []string
	if target != "" {
		// Only a Manual event for an active webhook with the Manual trigger
		// may name its webhook; anything else is refused, whoever sent it.
		wh, ok := d.rd.Webhook(target)
		if !ok || !wh.Active || ev.Trigger != renderer.Manual || !slices.Contains(wh.Triggers, renderer.Manual) {
			return consumer.Routed{}, rejection{reason: "bad_target",
				err: fmt.Errorf("event for webhook %q refused: only a Manual event may target a webhook, and only an active one with the Manual trigger", target)}
		}
		names = []string{target}
	} else {
		names = d.rd.Match(ev)
	}
	out := consumer.Routed{EventType: ev.Type, Deliveries: make([]consumer.Rendered, 0, len(names))}
	for _, name := range names {
		body, err := d.render(name, ev, payload)
		out.Deliveries = append(out.Deliveries, consumer.Rendered{Webhook: name, Body: body, Err: err})
	}
	return out, nil
}

// render makes one webhook's body for a decoded event: a Coralogix log
// entry for a native Coralogix webhook, the event as published for a
// webhook without a body template, else its body template.
func (d *Daemon) render(name string, ev *renderer.Event, payload []byte) ([]byte, error) {
	if cx := d.coralogix[name]; cx != nil {
		return cx.Entry(ev, payload)
	}
	if d.asPublished[name] {
		return payload, nil
	}
	return d.rd.Render(name, ev)
}

// rerender renders a stored event again for one webhook with its current
// template: what replaying a dead letter of the render stage sends.
func (d *Daemon) rerender(name string, payload []byte) ([]byte, error) {
	ev, err := renderer.DecodeEvent(payload, 0)
	if err != nil {
		return nil, err
	}
	return d.render(name, ev, payload)
}
