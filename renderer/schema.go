package renderer

import _ "embed"

// schemaJSON is the event payload schema.
//
//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of the event payload, every
// field with a description. The caller owns the returned slice.
func Schema() []byte {
	return append([]byte(nil), schemaJSON...)
}
