// Package sender delivers one rendered body to one webhook over HTTP and
// says whether another attempt can help.
//
// # Basics
//
// New validates an Endpoint (URL policy, method, headers, policies) and
// builds a Sender with its own connections and circuit breaker. Send
// makes exactly one attempt and returns a redacted Attempt record and, unless
// the endpoint answered 2xx, an *Error carrying a Class (Retryable,
// Permanent, BreakerOpen), a Reason usable as a metric label, the status
// code and the endpoint's Retry-After. Backoff turns an attempt number and a
// Retry-After into the wait before the next attempt. Counting attempts and
// waiting is the caller's job; the sender knows nothing of NATS or storage.
//
// Every request carries Idempotency-Key (the Delivery ID, stable across
// retries), User-Agent and, unless configured, Content-Type. Header values
// may reference ${VAR} or ${VAR:-default}; they are expanded from the
// environment on every Send and never stored.
//
// # Batches
//
// SendBatch sends many JSON log entries in one request, as Coralogix's
// /logs/v1/singles endpoint takes them: a JSON array written straight into a
// pooled gzip writer (Content-Encoding gzip, BestSpeed), with BatchID of the
// entry IDs as Idempotency-Key so that a retried group carries the same key.
// Each request goes through the same attempt path as Send: headers,
// breaker, timeout, redaction and classification. A 413 answer splits the
// group in halves, sent at once; an entry refused alone fails with
// ErrEntryTooLarge. The BatchResult lists every request made and one error
// per entry. Attempt records hold the uncompressed array up to
// MaxRecordedBody; more of it is never built.
//
// # Connections
//
// Each Sender keeps up to Endpoint.Concurrency HTTP/1.1 connections to its
// endpoint; HTTP/2 is not offered. fasthttp writes each request and parses
// each answer; the Sender dials (TLS handshake included) and makes every
// exchange with the attempt's context, so that a canceled context or the
// attempt timeout ends it wherever it waits: for a free connection, in a
// dial, a handshake, a write or a read. Headers go out as configured, Host
// first, values trimmed of surrounding blanks as net/http does; a Host
// header that resolves empty leaves the URL's host; an internationalized
// host is dialed, named and sent as SNI in its punycode form.
//
// A connection goes back to the pool only after a complete answer that
// leaves it usable (not a 101, no "Connection: close", nothing left over).
// Before reuse it is checked, without blocking, to be open and quiet (the
// socket, and a TLS connection's own buffer): a server that closed it, or
// sent a stale answer (a 408) while it was idle, gets a new connection
// instead. If a reused connection still fails before
// any byte of an answer, the request goes again on another, as net/http
// does; once an answer has begun it is never sent again. An answer that
// comes before the request is written (a 413 for a large body) is the
// result: a body of 64 KiB or more is written while the answer is awaited,
// so a final answer of 300 or more ends the write even when the server stops
// reading and keeps the connection open (an interim 1xx or an early 2xx does
// not: the server may still read the rest). A connection idle for 30 s is
// not reused, and the
// sweeper closes it within 15 s more. Response headers may take
// up to 64 KiB; a response body is read up to MaxRecordedBody plus 1 MiB,
// and a longer one is recorded as cut and its connection closed.
//
// # Classification
//
// 2xx is delivered. 408, 429, 5xx, attempt timeouts and network errors are
// Retryable. 401 and 403 (ReasonAuthError), every other 4xx, 1xx and 3xx are
// Permanent: redirects are never followed.
//
// # Circuit breaker
//
// Each Sender owns a gobreaker TwoStepCircuitBreaker. Retryable outcomes
// count as failures; 2xx and permanent statuses count as successes, so a
// 401 reaches the dead letter with its real cause instead of being hidden
// behind an open breaker. A canceled context or a refused address is not
// counted. The breaker trips when, within its rolling window, at least
// MinRequests attempts completed and the failure ratio reached
// FailureRatio; it then refuses requests for OpenFor and afterwards lets
// HalfOpenRequests probes through.
//
// # URL policy
//
// CheckURL enforces https on port 443 with no user info and no blocked IP
// literal; ResolveCheck refuses names that resolve to blocked addresses; and
// the dialer refuses blocked addresses at connect time,
// so DNS rebinding cannot reach them. IsBlockedIP defines "blocked". The
// AllowUnsafe option lifts all of this for local sinks and tests. No proxy
// from the environment is used.
//
// # Caveats
//
// Secrets stay out of errors, Attempts and logs: values of headers that use
// ${VAR} or have secret-looking names are shown as "[REDACTED]", URLs lose
// user info and query values, and secret values echoed by an endpoint are
// masked in recorded response bodies and headers. Bodies are recorded up to
// MaxRecordedBody bytes. The breaker's own timing uses the wall clock;
// Options.Now only feeds records, Retry-After dates and OpenRemaining.
package sender
