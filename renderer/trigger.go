package renderer

import (
	"fmt"
	"strings"
)

// Trigger is the normalized name of an access-request event, as shown in the
// webhook UI's trigger list.
type Trigger string

// The triggers a webhook can subscribe to.
const (
	// RequestCreated fires when an access request is created.
	RequestCreated Trigger = "RequestCreated"
	// RequestApproved fires when an access request is approved.
	RequestApproved Trigger = "RequestApproved"
	// RequestRejected fires when an access request is rejected.
	RequestRejected Trigger = "RequestRejected"
	// RequestGranted fires when access is granted.
	RequestGranted Trigger = "RequestGranted"
	// RequestExpired fires when granted access expires.
	RequestExpired Trigger = "RequestExpired"
	// RequestFailed fires when granting access fails.
	RequestFailed Trigger = "RequestFailed"
	// Manual fires for an access request sent to one webhook on demand.
	Manual Trigger = "Manual"
)

// accessPrefix is the prefix some producers put in front of the trigger name
// in event_type (AccessRequestCreated).
const accessPrefix = "Access"

// Triggers returns all triggers in their canonical order.
func Triggers() []Trigger {
	return []Trigger{RequestCreated, RequestApproved, RequestRejected, RequestGranted, RequestExpired, RequestFailed, Manual}
}

// String returns the trigger's name.
func (t Trigger) String() string { return string(t) }

// Valid reports whether t is one of Triggers.
func (t Trigger) Valid() bool {
	_, ok := lookupTrigger(string(t))
	return ok
}

// lookupTrigger maps an exact trigger name to its Trigger without allocating.
func lookupTrigger(s string) (Trigger, bool) {
	switch Trigger(s) {
	case RequestCreated, RequestApproved, RequestRejected, RequestGranted, RequestExpired, RequestFailed, Manual:
		return Trigger(s), true
	}
	return "", false
}

// ParseTrigger returns the Trigger named by s. It accepts both the trigger
// name ("RequestCreated") and the event_type form with an "Access" prefix
// ("AccessRequestCreated"). The error wraps ErrUnknownTrigger, names the bad
// value and lists the valid ones.
func ParseTrigger(s string) (Trigger, error) {
	if t, ok := lookupTrigger(s); ok {
		return t, nil
	}
	if rest, ok := strings.CutPrefix(s, accessPrefix); ok {
		if t, ok := lookupTrigger(rest); ok {
			return t, nil
		}
	}
	names := make([]string, 0, 7)
	for _, t := range Triggers() {
		names = append(names, string(t))
	}
	return "", fmt.Errorf("%w %q (valid: %s; an %q prefix is accepted)", ErrUnknownTrigger, s, strings.Join(names, ", "), accessPrefix)
}
