package renderer

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Webhook is the part of a webhook's configuration the renderer needs.
type Webhook struct {
	// Name identifies the webhook; unique.
	Name string
	// Active webhooks receive events; inactive ones match nothing.
	Active bool
	// Triggers the webhook subscribes to ("AccessRequest…" forms accepted).
	// A webhook without triggers matches no event.
	Triggers []Trigger
	// Filters maps a key of ValidFilterKeys to accepted values. Keys are
	// ANDed, values within a key ORed; an empty or nil slice is no constraint.
	Filters map[string][]string
	// BodyTemplate is the Handlebars body template.
	BodyTemplate string
	// JSON marks a JSON body: values are escaped for their JSON context and
	// the output must be valid JSON. See IsJSONTemplate.
	JSON bool
}

// IsJSONTemplate reports whether a body template looks like JSON: it starts
// with [ or with a { that does not open a Handlebars tag ({{), after
// trimming whitespace. Callers combine it with the webhook's Content-Type
// to set Webhook.JSON.
func IsJSONTemplate(tpl string) bool {
	t := strings.TrimSpace(tpl)
	return strings.HasPrefix(t, "[") || (strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "{{"))
}

// compiled is one webhook ready to match and render.
type compiled struct {
	hook Webhook
	m    matcher
	tpl  *Template
}

// Renderer matches events to webhooks and renders their bodies. It is
// immutable after New and safe for concurrent use.
type Renderer struct {
	hooks  []compiled
	byName map[string]int
}

// New compiles every webhook's template once and its triggers and filters.
// It returns one error listing every bad webhook (errors.Join): a
// *TemplateError for a template that does not compile, and errors wrapping
// ErrDuplicateWebhook, ErrUnknownTrigger or ErrUnknownFilterKey.
func New(hooks []Webhook) (*Renderer, error) {
	r := &Renderer{hooks: make([]compiled, 0, len(hooks)), byName: make(map[string]int, len(hooks))}
	var errs []error
	for _, h := range hooks {
		c, herrs := compileWebhook(h)
		if _, dup := r.byName[h.Name]; dup {
			herrs = append(herrs, fmt.Errorf("webhook %q: %w", h.Name, ErrDuplicateWebhook))
		}
		if len(herrs) > 0 {
			errs = append(errs, herrs...)
			continue
		}
		r.byName[h.Name] = len(r.hooks)
		r.hooks = append(r.hooks, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// compileWebhook compiles one webhook, returning all its problems.
func compileWebhook(h Webhook) (compiled, []error) {
	var errs []error
	c := compiled{hook: h, m: matcher{active: h.Active}}
	c.hook.Triggers = make([]Trigger, 0, len(h.Triggers))
	for _, t := range h.Triggers {
		nt, err := ParseTrigger(string(t))
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook %q: triggers: %w", h.Name, err))
			continue
		}
		c.m.triggers |= triggerBit(nt)
		c.hook.Triggers = append(c.hook.Triggers, nt)
	}
	c.hook.Filters = make(map[string][]string, len(h.Filters))
	for _, name := range slices.Sorted(maps.Keys(h.Filters)) {
		vals := h.Filters[name]
		k, ok := parseFilterKey(name)
		if !ok {
			errs = append(errs, fmt.Errorf("webhook %q: filters: %w %q (valid: %s)", h.Name, ErrUnknownFilterKey, name, strings.Join(filterKeyNames[:], ", ")))
			continue
		}
		c.hook.Filters[name] = append([]string(nil), vals...)
		if len(vals) == 0 {
			continue
		}
		cl := filterClause{key: k, values: append([]string(nil), vals...)}
		c.m.clauses = append(c.m.clauses, cl)
	}
	tpl, err := CompileTemplate(h.BodyTemplate, h.JSON)
	if err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			te.Webhook = h.Name
		}
		errs = append(errs, err)
	}
	c.tpl = tpl
	return c, errs
}

// Match returns the names of the webhooks the event goes to, in
// configuration order: active, subscribed to the event's trigger, and
// passing every filter.
func (r *Renderer) Match(ev *Event) []string {
	if ev == nil {
		return nil
	}
	f := eventFacts{ev: ev}
	var out []string
	for i := range r.hooks {
		if r.hooks[i].m.match(&f) {
			out = append(out, r.hooks[i].hook.Name)
		}
	}
	return out
}

// MatchOne reports whether the event goes to the named webhook.
func (r *Renderer) MatchOne(name string, ev *Event) bool {
	i, ok := r.byName[name]
	if !ok || ev == nil {
		return false
	}
	f := eventFacts{ev: ev}
	return r.hooks[i].m.match(&f)
}

// Render renders the named webhook's body for the event. It returns an
// error wrapping ErrUnknownWebhook for a name not configured, and a
// *RenderError (wrapping ErrExec or ErrInvalidJSON) when rendering fails.
func (r *Renderer) Render(name string, ev *Event) ([]byte, error) {
	i, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownWebhook, name)
	}
	out, err := r.hooks[i].tpl.Render(ev)
	if err != nil {
		var re *RenderError
		if errors.As(err, &re) {
			re.Webhook = name
		}
		return nil, err
	}
	return out, nil
}

// Webhook returns the named webhook's configuration, triggers normalized.
func (r *Renderer) Webhook(name string) (Webhook, bool) {
	i, ok := r.byName[name]
	if !ok {
		return Webhook{}, false
	}
	h := r.hooks[i].hook
	h.Triggers = append([]Trigger(nil), h.Triggers...)
	filters := make(map[string][]string, len(h.Filters))
	for k, v := range h.Filters {
		filters[k] = append([]string(nil), v...)
	}
	h.Filters = filters
	return h, true
}

// Names returns the configured webhook names in configuration order.
func (r *Renderer) Names() []string {
	out := make([]string, len(r.hooks))
	for i := range r.hooks {
		out[i] = r.hooks[i].hook.Name
	}
	return out
}
