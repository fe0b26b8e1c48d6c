// Package config loads and validates hookrelay's YAML configuration.
//
// # Basics
//
// [Load] reads a file and [Parse] decodes bytes. Both walk the YAML node
// tree against the [Config] struct themselves, so that every problem is
// reported with the full key path and the line and column it sits on, and
// every problem is reported at once: the error is a [*ValidationError]
// holding one [FieldError] per problem, sorted by position. Its Error
// method prints one problem per line in the compiler form
//
//	config.yaml:30:7: webhooks[1].retry.max_attempt: unknown key "max_attempt"
//
// Keys that are absent take the DefaultX values of this package; an
// absent webhook "active" key means true, an absent "triggers" key means
// all seven triggers (null counts as absent).
//
// YAML anchors, aliases and "<<" merge keys work, and a top-level key
// starting with "x-" is ignored so that it can hold shared blocks:
//
//	x-hook: &hook
//	  retry: {max_attempts: 3, initial_backoff: 2s, max_backoff: 1m}
//	  headers: {Authorization: Bearer ${API_KEY}}
//	webhooks:
//	  - <<: *hook
//	    name: a
//	    url: https://hooks.example.com/a
//
// A merge is applied deeply: a nested block (retry, headers, ...) given both
// by the merged mapping and by the mapping itself combines the two, the
// mapping's own values winning. An alias or merge key that refers back to a
// node containing it is an error ([ErrAlias]), and so are aliases that
// expand to more than 100,000 values.
//
// # Environment
//
// Every scalar value is expanded at load time: ${VAR} becomes the variable's
// value (or "" when it is unset), ${VAR:-default} becomes default when VAR
// is unset or empty, and $$ becomes a single $. Any other $ stays as it is.
// The values of webhooks[].headers are the exception: they are kept raw,
// because package sender resolves them at send time so that secrets live in
// no long-lived struct; sender follows the same rules, $$ included (both use
// sender.ScanEnv). Validation still checks that every ${VAR} without a
// default used in a header is set and that its value holds no line break or
// other control character, and names the variable, never its value.
// The environment is read through [LoadOptions.Getenv].
//
// # Caveats
//
// Checks that depend on sibling packages use them directly: URLs go through
// sender.CheckURL (and sender.ResolveCheck when [LoadOptions.ResolveDNS] is
// set), triggers through renderer.ParseTrigger and templates through
// renderer.CompileTemplate (the body templates and the Coralogix
// application_name and subsystem_name), so that "hookrelay validate" refuses
// exactly what "hookrelay run" would. For the same reason the NATS
// credentials and TLS files must be readable files.
package config
