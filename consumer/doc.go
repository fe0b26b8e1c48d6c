// Package consumer moves work through JetStream: it owns the streams and the
// durable pull consumers, turns event messages into one delivery message per
// matching webhook, turns delivery messages into HTTP attempts, and picks the
// ack verb for each outcome.
//
// # Data path
//
// Events arrive on the events stream. The renderer stage consumes them with
// one durable consumer, asks a Router which webhooks match and what each one's
// body is, publishes one delivery per webhook to the deliveries stream with a
// dedupe id derived from the event's stream sequence and the webhook name, and
// acknowledges the event only once every delivery is stored by JetStream. A
// crash between the two publishes nothing twice: the redelivered event
// produces the same dedupe ids.
//
// Each webhook has its own durable consumer on the deliveries stream. A pool
// of workers sized to the webhook's concurrency sends each delivery through a
// Sender, records the attempt in the Store and only then acknowledges it:
//
//   - delivered: Ack after the invocation record is committed;
//   - retryable, attempts left: NakWithDelay with the sender's backoff;
//   - permanent, or no attempts left: dead letter written first, then TermWithReason;
//   - breaker open: the delivery is parked, kept in flight with InProgress,
//     fetching pauses for that webhook, and once the breaker lets probes
//     through the parked deliveries go first; a refusal never shows in
//     NumDelivered, so it never counts as an attempt.
//
// A batching webhook (native Coralogix mode) gets its deliveries packed,
// many to a message (up to 64 KiB of entries), by the renderer stage; its
// sender stage gathers messages into batches by count, bytes and time,
// sends each batch as one request, and settles each message from the
// outcome of its deliveries.
//
// A webhook that sends several requests at once (concurrency above 1, not
// ordered) gets its request bodies packed too, up to its concurrency (at
// most 64) to a message: the deliveries of one render batch share one
// message, one store write and one ack. Its workers take the deliveries
// of a pack one each. One that may succeed later (retryable with attempts
// left, refused by the breaker, cut short by shutdown) is published again
// as a message of its own, carrying the attempts made and the time before
// which it must not be tried; the pack is acked once those are stored and
// every attempt is recorded. From there it is retried like any delivery
// message; its first arrival always goes back until its time and never
// counts, so the count is the same on every replica. Packs in hand are
// kept alive with InProgress, and a redelivered event's request bodies go
// one to a message, whose dedupe ids catch a copy stored before.
//
// Malformed events are recorded as rejected and acknowledged, so they never
// block the stream.
package consumer
