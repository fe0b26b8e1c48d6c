// Command hookrelay-bench is the end-to-end benchmark behind `make bench`.
//
// In one run it starts a Coralogix-compatible sink (internal/sink) on
// loopback, writes a temporary config with one webhook aimed at that sink,
// starts the relay binary given by -relay as a subprocess (embedded NATS),
// publishes BENCH_EVENTS sample events (default 100000) with JetStream
// PublishAsync, and waits until every event reached the sink. It measures
// delivered events per second, publish→delivery latency per event, the
// relay's CPU time per event and peak RSS, duplicates and lost events.
//
// It then measures, in the same process, what bounds the relay from outside:
// plain net/http POSTs of the same rendered bodies to the same sink (the HTTP
// ceiling); an in-process JetStream server's publish rate and its
// consume+ack rate on a file stream, one after the other (the JetStream
// ceiling); and the two at once, a consumer acking each payload while it is
// published (the JetStream hop). The hop is one durable hop with no work per
// message: no relay that acks each event after a durable output can pass it
// on the same machine, and the report prints its CPU per message and the rate
// the machine's cores would allow at that cost. The relay's rate is reported
// as a fraction of each.
//
// The last line of the output is machine-readable:
//
//	RESULT mode=per-event events_per_s=N cpu_us_per_event=N peak_rss_mib=N p99_ms=N lost=N http_ceiling_per_s=N js_ceiling_per_s=N js_hop_per_s=N
//
// The command exits non-zero when any event was lost.
//
// # Modes
//
// A mode (-mode) owns the pieces that depend on how events are delivered:
// the webhook in the relay's config, the sink path the ceiling posts to, and
// how an accepted sink entry maps back to a benchmark event index. There are
// two: "per-event" (one POST per event, the Coralogix seed template) and
// "coralogix-batched" (native Coralogix mode, gzip batches of entries).
package main
