// Package store keeps hookrelay's invocation records, dead letters and
// rejected events in a bbolt file.
//
// # Basics
//
// Open opens the file and starts one writer goroutine. Every write
// (RecordAsync, Record, PutDeadLetter, PutRejected) is encoded as JSON in the
// caller's goroutine and queued; the writer takes everything queued, up to
// Options.MaxBatch records, and commits it in one bbolt transaction (group
// commit), then runs the callbacks. One fsync thus covers thousands of
// records. Start starts the background pruner, and Close commits what is
// queued and closes the file.
//
// Records are keyed by 8-byte big-endian sequence numbers, so a bucket
// iterates in write order. A record's ID is the 16 hex digits of its key,
// which sort the same way; List methods return records newest first and
// page with a Before ID. Invocations and dead letters also have an index
// bucket per webhook, so listing one webhook does not scan the others.
//
// Values are the records' JSON, so the file can be inspected with bbolt's
// command-line tool.
//
// # Caveats
//
// Only one process can open the file; Open fails with ErrLocked after
// Options.LockTimeout. The file is opened with NoFreelistSync, so opening it
// after a crash rebuilds the free list by scanning the file.
//
// Callbacks run on the writer goroutine and must be quick. A write whose
// context ends while it is queued may still be committed.
//
// Pruning deletes invocations and rejected events by their StartedAt and
// ReceivedAt; dead letters stay until DeleteDeadLetter removes them.
package store
