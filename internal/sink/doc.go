// Package sink is a local server that behaves like Coralogix log ingestion,
// for development, demos, benchmarks and tests.
//
// # Basics
//
// A *Sink is an http.Handler. It accepts
//
//   - POST /logs/v1/singles: a JSON array of log entries;
//   - POST /logs/v1/bulk: one object with applicationName, subsystemName and logEntries;
//   - POST /api/v1/logs: the legacy object with privateKey and logEntries, or any
//     JSON object (the generic-webhook body), whose integration_type_fields, when
//     it is a string, must itself hold JSON;
//
// and answers 200 with "{}". It checks "Authorization: Bearer <key>" against
// Options.APIKey (401), decompresses Content-Encoding gzip (a bad stream is
// 400), limits the decompressed body to Options.MaxBodyBytes (413) and, when
// Options.Validate is set, validates the schema (400 with a short reason).
//
// GET /received returns a Snapshot of the counters: requests, entries, bytes,
// rejections by status, entries by application, subsystem and severity,
// accepted requests by path, distinct and repeated Idempotency-Key values and,
// with Options.EntryKey, distinct and repeated entries; with Options.Keep, the
// last accepted entries too. DELETE /received resets them. GET /healthz is a
// liveness probe. Sink.RunTally prints a one-line summary at an interval.
//
// Faults are injected by Options: Status answers every ingestion request with
// one status, FailRate answers a fraction of them with FailStatus (drawn from
// the injected Rand), RetryAfter adds a Retry-After header to injected
// failures, and Latency delays every answer.
//
// # Performance
//
// The request path allocates little: bodies are read into pooled buffers,
// gzip readers are reused, validation is a single pass of a hand-written JSON
// scanner over the body that decodes nothing but the names it counts, and
// counters are atomics. Per-request name counts are merged into the shared
// tables once per request.
//
// # Caveats
//
// Counting happens only for requests answered 200: an injected failure, a
// rejection or a request whose client went away during Latency (counted as
// rejected with 499) adds no entries and no keys. Idempotency keys and entry
// keys are kept in memory until Reset. Non-UTF-8 bytes inside strings are
// accepted, as encoding/json accepts them.
package sink
