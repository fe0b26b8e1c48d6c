package config

import (
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nodeRef records where a path was written: the key (nil for sequence
// items) and the value.
type nodeRef struct{ key, val *yaml.Node }

// maxAliasValues bounds the values decoded through aliases and merge keys,
// so that nested aliases (a "billion laughs" file) cannot make decoding run
// for ever or exhaust memory. A real config expands a few thousand at most.
const maxAliasValues = 100_000

// decoder walks a yaml.Node tree against the Config struct, so that every
// problem carries its key path and position.
type decoder struct {
	getenv func(string) (string, bool)
	nodes  map[string]nodeRef
	lines  [][]byte
	errs   []FieldError

	// open holds the mappings and sequences being decoded, so that an
	// alias or merge key referring back to one of them is refused rather
	// than followed for ever.
	open map[*yaml.Node]bool
	// aliasDepth counts the aliases being followed; aliasValues counts the
	// values decoded through them, up to maxAliasValues.
	aliasDepth, aliasValues int
	// stopped is set once aliasValues passed the limit: nothing more is decoded.
	stopped bool
}

var (
	durationType = reflect.TypeFor[Duration]()
	webhookType  = reflect.TypeFor[Webhook]()
)

func refValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

// pos locates path: its key if it has one, else its value; an absent path
// (a default) is located at its nearest written ancestor.
func (d *decoder) pos(path string) (line, col int) {
	for {
		if r, ok := d.nodes[path]; ok {
			if r.key != nil {
				return r.key.Line, r.key.Column
			}
			return r.val.Line, r.val.Column
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return 0, 0
		}
		path = path[:i]
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a document"
	}
}

// shown quotes a scalar as written (never its expansion, which may hold a
// secret), noting when it was expanded.
func shown(n *yaml.Node) string {
	q := strconv.Quote(n.Value)
	if strings.Contains(n.Value, "${") {
		q += " (after expansion)"
	}
	return q
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// visit counts a value decoded through an alias. It reports false, having
// reported the problem once, when aliases expanded too many values.
func (d *decoder) visit(n *yaml.Node, path string) bool {
	if d.stopped {
		return false
	}
	if d.aliasDepth == 0 {
		return true
	}
	if d.aliasValues++; d.aliasValues > maxAliasValues {
		d.stopped = true
		d.errorf(path, n, ErrAlias, "aliases expand to more than %d values; the file nests aliases too deeply", maxAliasValues)
		return false
	}
	return true
}

// follow resolves the alias n and calls f with its target, unless the target
// is being decoded already: the alias then refers back to a node that
// contains it, which is reported (what names the alias in the message).
// Without this check a merge key referring back to its own mapping would
// recurse until the stack overflows.
func (d *decoder) follow(n *yaml.Node, path, what string, f func(*yaml.Node)) {
	t := n
	for t.Kind == yaml.AliasNode && t.Alias != nil {
		t = t.Alias
	}
	if d.open[t] {
		d.errorf(path, n, ErrAlias, "%s refers back to %s that contains it (anchor &%s, line %d)", what, kindName(t), t.Anchor, t.Line)
		return
	}
	d.aliasDepth++
	f(t)
	d.aliasDepth--
}

// enter marks the mapping or sequence n as being decoded; leave unmarks it.
func (d *decoder) enter(n *yaml.Node) {
	if d.open == nil {
		d.open = map[*yaml.Node]bool{}
	}
	d.open[n] = true
}

func (d *decoder) leave(n *yaml.Node) { delete(d.open, n) }

// decode stores n into v. expand says whether scalars get ${VAR} expansion.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, expand bool) {
	if !d.visit(n, path) {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		d.follow(n, path, "alias *"+n.Value, func(t *yaml.Node) { d.decode(t, v, path, expand) })
		return
	}
	if isNull(n) {
		// An empty value means "not set": keep the default, except that
		// an optional block is removed.
		if v.Kind() == reflect.Pointer {
			v.SetZero()
		}
		return
	}
	if v.Type() == durationType {
		s, ok := d.scalar(n, path, expand, "a duration")
		if !ok || s == "" {
			return
		}
		dur, err := parseDuration(s)
		if err != nil {
			d.errorf(path, n, ErrType, "%s is not a duration (use e.g. 10s, 1m30s, 168h or integer seconds)", shown(n))
			return
		}
		v.Set(reflect.ValueOf(dur))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			p := reflect.New(v.Type().Elem())
			if df, ok := p.Interface().(defaulter); ok {
				df.setDefaults()
			}
			v.Set(p)
		}
		d.decode(n, v.Elem(), path, expand)
	case reflect.Struct:
		d.decodeStruct(n, v, path, expand, map[string]bool{})
	case reflect.Slice:
		d.decodeSlice(n, v, path, expand)
	case reflect.Map:
		d.decodeMap(n, v, path, expand)
	case reflect.String:
		if s, ok := d.scalar(n, path, expand, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, path, expand, "true or false")
		if !ok || s == "" {
			return
		}
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.errorf(path, n, ErrType, "%s is not a boolean (use true or false)", shown(n))
		}
	case reflect.Int:
		s, ok := d.scalar(n, path, expand, "an integer")
		if !ok || s == "" {
			return
		}
		i, err := strconv.ParseInt(s, 0, 64)
		if err != nil || i < math.MinInt32 || i > math.MaxInt32 {
			d.errorf(path, n, ErrType, "%s is not an integer", shown(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint32:
		s, ok := d.scalar(n, path, expand, "a non-negative integer")
		if !ok || s == "" {
			return
		}
		i, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			d.errorf(path, n, ErrType, "%s is not a non-negative integer", shown(n))
			return
		}
		v.SetUint(i)
	case reflect.Float64:
		s, ok := d.scalar(n, path, expand, "a number")
		if !ok || s == "" {
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(path, n, ErrType, "%s is not a number", shown(n))
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(path, n, ErrType, "unsupported field type %s", v.Type())
	}
}

// scalar returns n's (expanded) text, or reports that it is not a scalar.
func (d *decoder) scalar(n *yaml.Node, path string, expand bool, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(path, n, ErrType, "expected %s, got %s", want, kindName(n))
		return "", false
	}
	if !expand {
		return n.Value, true
	}
	s, err := expandEnv(n.Value, d.getenv)
	if err != nil {
		d.errorf(path, n, ErrEnv, "%s", strings.TrimPrefix(err.Error(), ErrEnv.Error()+": "))
		return "", false
	}
	return s, true
}

// fieldByKey maps YAML keys of a struct type to field indexes.
func fieldByKey(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, expand bool, seen map[string]bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(path, n, ErrType, "expected a mapping, got %s", kindName(n))
		return
	}
	d.enter(n)
	defer d.leave(n)
	fields := fieldByKey(v.Type())
	// Merged mappings go first: the mapping's own keys override them,
	// wherever the "<<" key is written.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], v, path, expand)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(path, k, ErrType, "expected a string key, got %s", kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			continue
		}
		if path == "" && strings.HasPrefix(k.Value, "x-") {
			// Top-level extension keys hold anchors for "<<" merges.
			continue
		}
		p := join(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(p, k, ErrUnknownKey, "unknown key %q", k.Value)
			continue
		}
		if seen[k.Value] {
			d.errorf(p, k, ErrDuplicateKey, "key %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		d.nodes[p] = nodeRef{key: k, val: val}
		f := v.Type().Field(idx)
		d.decode(val, v.Field(idx), p, expand && f.Tag.Get("config") != "raw")
	}
}

// merge applies the mapping (or sequence of mappings) of a "<<" merge key.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string, expand bool) {
	if !d.visit(n, path) {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		d.follow(n, path, `merge key "<<"`, func(t *yaml.Node) { d.merge(t, v, path, expand) })
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		d.decodeStruct(n, v, path, expand, map[string]bool{})
	case yaml.SequenceNode:
		d.enter(n)
		defer d.leave(n)
		// Earlier mappings in the sequence win, so apply them last.
		for i := len(n.Content) - 1; i >= 0; i-- {
			d.merge(n.Content[i], v, path, expand)
		}
	default:
		d.errorf(path, n, ErrType, "merge key \"<<\" needs a mapping, got %s", kindName(n))
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string, expand bool) {
	et := v.Type().Elem()
	if n.Kind == yaml.ScalarNode && et.Kind() == reflect.String {
		// A single string stands for a one-element list.
		s, ok := d.scalar(n, path, expand, "a string")
		if ok {
			v.Set(reflect.ValueOf([]string{s}))
		}
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(path, n, ErrType, "expected a sequence, got %s", kindName(n))
		return
	}
	d.enter(n)
	defer d.leave(n)
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := index(path, i)
		d.nodes[p] = nodeRef{val: item}
		e := out.Index(i)
		if df, ok := e.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(item, e, p, expand)
		if et == webhookType {
			e.FieldByName("Line").SetInt(int64(item.Line))
		}
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, expand bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(path, n, ErrType, "expected a mapping, got %s", kindName(n))
		return
	}
	d.enter(n)
	defer d.leave(n)
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.errorf(path, k, ErrType, "expected a string key, got %s", kindName(k))
			continue
		}
		p := join(path, k.Value)
		if seen[k.Value] {
			d.errorf(p, k, ErrDuplicateKey, "key %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		kv := reflect.ValueOf(k.Value)
		d.nodes[p] = nodeRef{key: k, val: val}
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e, p, expand)
		v.SetMapIndex(kv, e)
	}
}
