// Package store keeps hookrelay's invocation records, dead letters and
// rejected events in a bbolt file.
//
// # Basics
//
// Open opens the file and starts one writer goroutine. Every write
// (RecordAsync, Record, PutDeadLetter, PutRejected) is encoded in the
// caller's goroutine and queued; the writer takes everything queued, up to
// Options.MaxBatch records, and commits it in one bbolt transaction (group
// commit), then runs the callbacks. One fsync thus covers thousands of
// records. When writes arrive concurrently, the writer waits up to 2ms for
// more before committing (never when each write waits for the one before),
// since a commit's two fsyncs cost the same whatever its size. Start starts the background pruner, and Close commits what is
// queued and closes the file.
//
// Records are keyed by 8-byte big-endian sequence numbers, so a bucket
// iterates in write order. A record's ID is the 16 hex digits of its key,
// which sort the same way; List methods return records newest first and
// page with a Before ID. Invocations and dead letters also have an index
// bucket per webhook, so listing one webhook does not scan the others.
//
// Dead letters and rejected events are stored as their JSON, so they can be
// inspected with bbolt's command-line tool. Invocations, written for every
// HTTP attempt, use a compact binary format instead (a version byte, a fixed
// header, length-prefixed fields, bodies of 256 bytes or more S2-compressed;
// see invcodec.go): it is several times cheaper to encode and about a third
// smaller. Reading one gives back exactly what the JSON format gave. This
// format replaced JSON invocation records before any release; files written
// with JSON invocation records are still read.
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
