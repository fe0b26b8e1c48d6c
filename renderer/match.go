package renderer

import (
	"encoding/json"
	"strings"
)

// Filter keys accepted in Webhook.Filters.
const (
	// FilterIntegrationName matches data.access_groups[].integration.name.
	FilterIntegrationName = "integration_name"
	// FilterIntegrationType matches data.access_groups[].integration.type.
	FilterIntegrationType = "integration_type"
	// FilterResourceType matches the name or id of
	// data.access_groups[].access_units[].resource.type and of
	// data.access_groups[].resource_types[].
	FilterResourceType = "resource_type"
	// FilterResourceName matches data.access_groups[].access_units[].resource.name.
	FilterResourceName = "resource_name"
	// FilterPermission matches data.access_groups[].access_units[].permission.name.
	FilterPermission = "permission"
	// FilterAccessFlowName matches data.access_flow.name.
	FilterAccessFlowName = "access_flow_name"
	// FilterAccessBundleName matches data.access_bundle.name.
	FilterAccessBundleName = "access_bundle_name"
	// FilterRequesterEmail matches data.requester.email.
	FilterRequesterEmail = "requester_email"
	// FilterGranteeName matches data.grantee.name.
	FilterGranteeName = "grantee_name"
	// FilterApprovalType matches data.approvals[].type, case-insensitively.
	FilterApprovalType = "approval_type"
)

// filterKey indexes the filter keys.
type filterKey int

const (
	fkIntegrationName filterKey = iota
	fkIntegrationType
	fkResourceType
	fkResourceName
	fkPermission
	fkAccessFlowName
	fkAccessBundleName
	fkRequesterEmail
	fkGranteeName
	fkApprovalType
	numFilterKeys
)

// filterKeyNames lists the keys in filterKey order.
var filterKeyNames = [numFilterKeys]string{
	FilterIntegrationName, FilterIntegrationType, FilterResourceType, FilterResourceName, FilterPermission,
	FilterAccessFlowName, FilterAccessBundleName, FilterRequesterEmail, FilterGranteeName, FilterApprovalType,
}

// ValidFilterKeys returns the filter keys a webhook may use, in documentation order.
func ValidFilterKeys() []string {
	out := make([]string, numFilterKeys)
	copy(out, filterKeyNames[:])
	return out
}

// parseFilterKey returns the index of a filter key name.
func parseFilterKey(s string) (filterKey, bool) {
	for i, n := range filterKeyNames {
		if n == s {
			return filterKey(i), true
		}
	}
	return 0, false
}

// filterClause is one constrained key: the event must carry one of values.
type filterClause struct {
	key    filterKey
	values []string // lower-cased for approval_type
}

// matcher is a webhook's compiled trigger set and filter.
type matcher struct {
	active   bool
	triggers uint8 // bit per Trigger in Triggers() order
	clauses  []filterClause
}

// triggerBit returns the bit of t in matcher.triggers.
func triggerBit(t Trigger) uint8 {
	switch t {
	case RequestCreated:
		return 1 << 0
	case RequestApproved:
		return 1 << 1
	case RequestRejected:
		return 1 << 2
	case RequestGranted:
		return 1 << 3
	case RequestExpired:
		return 1 << 4
	case RequestFailed:
		return 1 << 5
	case Manual:
		return 1 << 6
	}
	return 0
}

// eventFacts lazily extracts and caches the filterable values of one event.
type eventFacts struct {
	ev   *Event
	done [numFilterKeys]bool
	vals [numFilterKeys][]string
}

// get returns the values of the event for key k.
func (f *eventFacts) get(k filterKey) []string {
	if !f.done[k] {
		f.vals[k] = extract(f.ev, k, nil)
		f.done[k] = true
	}
	return f.vals[k]
}

// match reports whether ev passes m.
func (m *matcher) match(f *eventFacts) bool {
	if !m.active || m.triggers&triggerBit(f.ev.Trigger) == 0 {
		return false
	}
	for _, c := range m.clauses {
		if !clauseMatches(c, f.get(c.key)) {
			return false
		}
	}
	return true
}

// clauseMatches reports whether any of have equals any of c.values.
func clauseMatches(c filterClause, have []string) bool {
	for _, h := range have {
		for _, w := range c.values {
			if c.key == fkApprovalType {
				if strings.EqualFold(h, w) {
					return true
				}
			} else if h == w {
				return true
			}
		}
	}
	return false
}

// extract appends the event's values for key k to dst: those at each of
// filterPaths[k], the paths Fields keeps when it decodes for filters.
func extract(ev *Event, k filterKey, dst []string) []string {
	for _, p := range filterSteps[k] {
		dst = appendAt(dst, ev.Root, p)
	}
	return dst
}

// appendAt appends the strings and numbers at path below v, where a "*"
// step stands for every element of an array.
func appendAt(dst []string, v any, path []string) []string {
	for i, k := range path {
		if k == "*" {
			for _, e := range list(v) {
				dst = appendAt(dst, e, path[i+1:])
			}
			return dst
		}
		m, ok := v.(map[string]any)
		if !ok {
			return dst
		}
		v = m[k]
	}
	return appendStr(dst, v)
}

// field walks nested objects by key; it returns nil when a step is missing.
func field(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// list returns v as an array, or nil.
func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// appendStr appends v to dst when it is a string or number.
func appendStr(dst []string, v any) []string {
	switch s := v.(type) {
	case string:
		return append(dst, s)
	case json.Number:
		return append(dst, string(s))
	}
	return dst
}
