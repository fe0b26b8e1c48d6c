package renderer

import "strings"

// Fields is the part of an event that a set of webhooks reads: the paths
// their templates print, their filters test and their Coralogix entries
// use. Decoding with Fields builds only those parts of the event's tree and
// checks the rest without building it, which for a template that prints a
// dozen fields of a large event is most of the decoding cost.
//
// A Fields that may need anything (a template with blocks or helpers, which
// can reach any field) decodes the whole event. Fields is built once, then
// read-only and safe for concurrent use.
type Fields struct {
	root *fieldNode // nil: the whole event
}

// fieldNode is one step of the paths read. A nil *fieldNode keeps the whole
// value it stands for.
type fieldNode struct {
	kids map[string]*fieldNode
	// elem is what each element keeps when the value is an array: the
	// union of kids, since a path steps into an array by an index.
	elem *fieldNode
}

// NewFields returns the fields every event decode reads: event_type,
// event_time and data (which must be an object when present).
func NewFields() *Fields {
	f := &Fields{root: &fieldNode{kids: map[string]*fieldNode{}}}
	f.add("event_type")
	f.add("event_time")
	f.root.kids["data"] = &fieldNode{kids: map[string]*fieldNode{}}
	f.root.seal()
	return f
}

// AddAll makes f keep the whole event.
func (f *Fields) AddAll() { f.root = nil }

// All reports whether f keeps the whole event.
func (f *Fields) All() bool { return f.root == nil }

// add records that the value at parts is read whole. A segment "*" stands
// for every element of an array.
func (f *Fields) add(parts ...string) {
	if f.root == nil {
		return
	}
	n := f.root
	for i, p := range parts {
		c, ok := n.kids[p]
		if ok && c == nil {
			return // already kept whole
		}
		if i == len(parts)-1 {
			n.kids[p] = nil
			break
		}
		if !ok {
			c = &fieldNode{kids: map[string]*fieldNode{}}
			n.kids[p] = c
		}
		n = c
	}
	f.root.seal()
}

// seal computes elem for n and every node below it.
func (n *fieldNode) seal() {
	if len(n.kids) == 0 {
		n.elem = n // keeps nothing below, and neither do its elements
		return
	}
	n.elem = &fieldNode{kids: map[string]*fieldNode{}}
	for _, c := range n.kids {
		if c == nil {
			n.elem = nil
			continue
		}
		c.seal()
		if n.elem != nil {
			n.elem = merge(n.elem, c)
		}
	}
	if n.elem != nil {
		n.elem.seal()
	}
}

// merge returns a new node keeping what a or b keeps; neither is nil.
func merge(a, b *fieldNode) *fieldNode {
	out := &fieldNode{kids: make(map[string]*fieldNode, len(a.kids)+len(b.kids))}
	for _, src := range []*fieldNode{a, b} {
		for k, c := range src.kids {
			prev, seen := out.kids[k]
			switch {
			case !seen && c != nil:
				out.kids[k] = merge(&fieldNode{}, c)
			case !seen || prev == nil || c == nil:
				out.kids[k] = nil
			default:
				out.kids[k] = merge(prev, c)
			}
		}
	}
	return out
}

// AddTemplate records what t reads. A template that needs raymond (blocks,
// helpers, partials, scoped paths) may read anything, so f then keeps the
// whole event.
func (f *Fields) AddTemplate(t *Template) {
	if t == nil {
		return
	}
	if t.fast == nil {
		f.AddAll()
		return
	}
	for _, s := range t.fast.segs {
		f.add(s.parts...)
	}
}

// AddRenderer records what r's webhooks read: their templates and filters.
func (f *Fields) AddRenderer(r *Renderer) {
	for i := range r.hooks {
		f.AddTemplate(r.hooks[i].tpl)
		for _, c := range r.hooks[i].m.clauses {
			for _, p := range filterPaths[c.key] {
				f.add(strings.Split(p, ".")...)
			}
		}
	}
}

// AddCoralogix records what c's entries read: its templates and the
// integration type of the first access group (the className).
func (f *Fields) AddCoralogix(c *Coralogix) {
	f.AddTemplate(c.app)
	f.AddTemplate(c.sub)
	f.AddTemplate(c.text)
	f.add("data", "access_groups", "*", "integration", "type")
}

// filterPaths lists, per filter key, the paths extract reads ("*": every
// element of an array).
var filterPaths = [numFilterKeys][]string{
	fkIntegrationName: {"data.access_groups.*.integration.name"},
	fkIntegrationType: {"data.access_groups.*.integration.type"},
	fkResourceType: {
		"data.access_groups.*.access_units.*.resource.type.name",
		"data.access_groups.*.access_units.*.resource.type.id",
		"data.access_groups.*.resource_types.*.name",
		"data.access_groups.*.resource_types.*.id",
	},
	fkResourceName:     {"data.access_groups.*.access_units.*.resource.name"},
	fkPermission:       {"data.access_groups.*.access_units.*.permission.name"},
	fkAccessFlowName:   {"data.access_flow.name"},
	fkAccessBundleName: {"data.access_bundle.name"},
	fkRequesterEmail:   {"data.requester.email"},
	fkGranteeName:      {"data.grantee.name"},
	fkApprovalType:     {"data.approvals.*.type"},
}

// DecodeEvent decodes and validates one event payload like the package's
// DecodeEvent, with the same errors for the same payloads, but builds only
// the parts of the tree f reads: Root and Data then hold every field on
// those paths, exactly as a full decode gives them, and nothing else.
func (f *Fields) DecodeEvent(b []byte, maxBytes int) (*Event, error) {
	return decodeEvent(b, maxBytes, f.root)
}
