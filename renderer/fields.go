package renderer

import (
	"strings"
	"sync"
)

// Fields is the part of an event that a set of webhooks reads: the paths
// their templates print, their filters test and their Coralogix entries
// use. Decoding with Fields builds only those parts of the event's tree and
// checks the rest without building it, which for a template that prints a
// dozen fields of a large event is most of the decoding cost.
//
// A Fields that may need anything (a template with blocks or helpers, which
// can reach any field) decodes the whole event, and so does one whose paths
// are too long or too many to be worth following. Build it completely with
// the Add methods before the first DecodeEvent; from then on it is
// read-only and safe for concurrent use.
type Fields struct {
	root *fieldNode // nil: the whole event
	once sync.Once  // seals root on first use
}

// Bounds past which Fields keeps the whole event rather than follow paths.
const (
	maxFieldDepth = 32   // segments in one path
	maxFieldNodes = 4096 // nodes in the sealed trie, element unions included
)

// fieldNode is one step of the paths read. A nil *fieldNode keeps the whole
// value it stands for.
type fieldNode struct {
	kids map[string]*fieldNode
	// elem is what each element keeps when the value is an array: the
	// union of kids, since a path steps into an array by an index. It is
	// set by seal.
	elem   *fieldNode
	sealed bool
}

func newFieldNode() *fieldNode { return &fieldNode{kids: map[string]*fieldNode{}} }

// NewFields returns the fields every event decode reads: event_type,
// event_time and data (which must be an object when present).
func NewFields() *Fields {
	f := &Fields{root: newFieldNode()}
	f.add("event_type")
	f.add("event_time")
	f.root.kids["data"] = newFieldNode()
	return f
}

// AddAll makes f keep the whole event.
func (f *Fields) AddAll() { f.root = nil }

// All reports whether f keeps the whole event.
func (f *Fields) All() bool {
	f.once.Do(f.seal)
	return f.root == nil
}

// add records that the value at parts is read whole. A segment "*" stands
// for every element of an array.
func (f *Fields) add(parts ...string) {
	if f.root == nil {
		return
	}
	if len(parts) > maxFieldDepth {
		f.AddAll()
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
			c = newFieldNode()
			n.kids[p] = c
		}
		n = c
	}
}

// seal computes every node's elem, or gives up on following paths when the
// trie grows past maxFieldNodes.
func (f *Fields) seal() {
	if f.root == nil {
		return
	}
	budget := maxFieldNodes
	if !f.root.seal(&budget) {
		f.AddAll()
	}
}

// seal computes elem for n and every node below it, each node once. It
// reports false when budget, the nodes it may still visit or make, runs
// out.
func (n *fieldNode) seal(budget *int) bool {
	if n.sealed {
		return true
	}
	n.sealed = true
	if *budget--; *budget < 0 {
		return false
	}
	if len(n.kids) == 0 {
		n.elem = n // keeps nothing below, and neither do its elements
		return true
	}
	var only *fieldNode
	for _, c := range n.kids {
		if c == nil {
			n.elem = nil // some path keeps the elements whole
			return sealKids(n, budget)
		}
		only = c
	}
	if !sealKids(n, budget) {
		return false
	}
	if len(n.kids) == 1 {
		n.elem = only // already sealed
		return true
	}
	m := newFieldNode()
	fresh := map[*fieldNode]bool{m: true}
	for _, c := range n.kids {
		if !mergeInto(m, c, fresh, budget) {
			return false
		}
	}
	n.elem = m
	return m.seal(budget)
}

// sealKids seals n's children.
func sealKids(n *fieldNode, budget *int) bool {
	for _, c := range n.kids {
		if c != nil && !c.seal(budget) {
			return false
		}
	}
	return true
}

// mergeInto adds what src keeps to dst, a node made in this merge (listed
// in fresh). Subtrees only one side has are shared, not copied; only nodes
// in fresh are ever written to.
func mergeInto(dst, src *fieldNode, fresh map[*fieldNode]bool, budget *int) bool {
	for k, c := range src.kids {
		prev, seen := dst.kids[k]
		switch {
		case !seen:
			dst.kids[k] = c
		case prev == nil || c == nil:
			dst.kids[k] = nil
		case prev == c:
		default:
			if !fresh[prev] {
				if *budget--; *budget < 0 {
					return false
				}
				m := newFieldNode()
				fresh[m] = true
				if !mergeInto(m, prev, fresh, budget) {
					return false
				}
				dst.kids[k], prev = m, m
			}
			if !mergeInto(prev, c, fresh, budget) {
				return false
			}
		}
	}
	return true
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
			for _, p := range filterSteps[c.key] {
				f.add(p...)
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

// filterSteps is filterPaths split into steps.
var filterSteps = func() (steps [numFilterKeys][][]string) {
	for k, paths := range filterPaths {
		for _, p := range paths {
			steps[k] = append(steps[k], strings.Split(p, "."))
		}
	}
	return steps
}()

// DecodeEvent decodes and validates one event payload like the package's
// DecodeEvent, with the same errors for the same payloads, but builds only
// the parts of the tree f reads: Root and Data then hold every field on
// those paths, exactly as a full decode gives them, and nothing else.
func (f *Fields) DecodeEvent(b []byte, maxBytes int) (*Event, error) {
	f.once.Do(f.seal)
	return decodeEvent(b, maxBytes, f.root)
}
