// Package renderer turns Apono access-request events into webhook bodies.
//
// It owns four jobs and knows nothing about NATS or HTTP:
//
//   - decoding and validating an event payload (DecodeEvent),
//   - deciding which webhooks an event goes to (Renderer.Match: trigger, active
//     flag and filters),
//   - rendering a webhook's Handlebars body template for an event
//     (Renderer.Render, Template.Render),
//   - sample events and the payload JSON Schema (Sample, Schema).
//
// # Rendering
//
// Templates are Handlebars, executed by github.com/aymerick/raymond and
// compiled once. Values are never HTML-escaped. In a JSON template every
// simple mustache {{ expr }} is escaped for the place it lands in:
//
//   - outside any JSON string (depth 0) a value renders as a JSON value: a
//     quoted string, a plain decimal number, true/false, compact JSON for
//     objects and arrays, and the empty string "" when the field is missing
//     or JSON null (raymond passes nil for both, so they cannot be told
//     apart; a null inside a rendered object or array stays null);
//   - inside a JSON string literal (depth 1) a value is JSON-string escaped;
//   - inside a string literal of JSON text that itself sits in a string
//     literal (depth 2, like the Coralogix seed's integration_type_fields),
//     and so on to any depth, a value is escaped once per level, innermost
//     first, so that decoding every level yields the original text.
//
// Numbers keep their decimal text (epoch seconds such as 1732406400.123456
// never turn into 1.73e+09), a missing field renders as the empty string
// (empty text inside strings, "" as a value), and {{{ expr }}} (or
// {{& expr }}) stays raw. The context of each mustache is found once at
// compile time: the template's literal text is scanned as (tolerant) JSON
// with the mustaches replaced by placeholders, and every string literal that
// holds placeholders and decodes to text starting with { or [ is scanned
// again, one level deeper. The rendered body of a JSON
// template must be valid JSON, otherwise Render returns a *RenderError
// wrapping ErrInvalidJSON.
//
// In a template that is not JSON, values render as plain text.
//
// Two departures from plain Handlebars help JSON bodies: a brace run right
// after a tag closes the tag first ({"n": {{ x }}} is the mustache {{ x }}
// followed by "}", where Handlebars would report a bad triple-stash), and the
// lookup helper keeps the looked-up value's type (an object renders as JSON).
// The log helper renders nothing and writes nowhere.
//
// # Hot path
//
// DecodeEvent decodes with a small purpose-built JSON decoder that yields
// the same tree as encoding/json with UseNumber (every string shares one
// copy of the payload); whatever it does not accept is decoded again by
// encoding/json, which then gives the answer and the exact error.
// Fields.DecodeEvent builds only the parts of the tree that the configured
// webhooks read (the paths of their templates, filters and Coralogix
// entries), checking the rest without building it; a template that needs
// raymond can read anything, so it keeps the whole tree.
//
// A template whose every tag is a lone path ({{ data.id }},
// {{ data.access_groups.[0].name }}, {{{ x }}}, comments) is also compiled to
// a list of literal text and paths, and renders by appending into a pooled
// buffer, with no raymond evaluation; its output is byte for byte what
// raymond produces, and values only raymond resolves the same way (a
// negative index, a method of a json.Number, types a decoded event never
// holds) send the render to raymond. Templates with blocks, helper calls,
// this, ../ or @data always render with raymond. When such a template is
// JSON, has no raw mustache, and is valid JSON with every kind of value in
// each place (checked once at compile time), its output for a decoded event
// is not checked again.
//
// # Caveats
//
// The context scan sees the text of all branches of a block helper
// concatenated; a template whose branches open a string in one branch and
// close it in another may get the wrong depth. Partials are not supported:
// a template using one ({{> name}}) does not compile.
//
// raymond's parser leaves one blocked goroutine behind for every template it
// rejects. CompileTemplate checks block structure itself first, so the usual
// mistakes (unclosed or mismatched blocks, a stray {{else}}, a partial) do
// not reach the parser, but other syntax errors still cost one goroutine each.
package renderer
