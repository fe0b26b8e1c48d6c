package sender

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// batchIDPrefix starts every batch id.
const batchIDPrefix = "b-"

// maxPooledWire is the largest compressed-body buffer kept for reuse; a
// bigger one is left to the garbage collector.
const maxPooledWire = 4 << 20

// BatchEntry is one log entry (a complete JSON object) in a batch.
type BatchEntry struct {
	// ID is the delivery id of the event the entry was rendered for.
	ID string
	// JSON is the entry: one JSON object, sent as is.
	JSON []byte
}

// BatchResult says what happened to a batch.
type BatchResult struct {
	// Attempts holds every HTTP request made, in order; a 413 answer splits
	// a group in two and adds a request for each half.
	Attempts []BatchAttempt
	// Errs holds one error per entry, in the entries' order: nil when the
	// entry was delivered, otherwise the *Error of the request that carried
	// it last, or of the refusal (breaker open, canceled context, bad entry)
	// when no request carried it.
	Errs []error
}

// BatchAttempt is one HTTP request of a batch.
type BatchAttempt struct {
	// ID is the batch id sent as Idempotency-Key, derived from the IDs of
	// the entries the request carried.
	ID string
	// First is the index of the request's first entry.
	First int
	// N is the number of entries: the request carried entries
	// [First, First+N).
	N int
	// Attempt is the redacted record of the request; its Request.Body is the
	// uncompressed JSON array, cut at MaxRecordedBody.
	Attempt Attempt
	// Err is the request's *Error, or nil when it was delivered.
	Err error
}

// BatchID returns the batch id of entries: "b-" and the first 32 hex digits
// of a SHA-256 over their IDs in order. The same IDs in the same order give
// the same id, so a retried group carries the same Idempotency-Key.
func BatchID(entries []BatchEntry) string {
	h := sha256.New()
	var scratch [1024]byte
	b := scratch[:0]
	for _, e := range entries {
		if len(b)+binary.MaxVarintLen64+len(e.ID) > len(scratch) {
			h.Write(b)
			b = scratch[:0]
		}
		b = binary.AppendUvarint(b, uint64(len(e.ID)))
		b = append(b, e.ID...)
	}
	h.Write(b)
	var sum [sha256.Size]byte
	return batchIDPrefix + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// SendBatch sends entries as one gzip-compressed JSON array with
// Content-Encoding gzip and, unless the endpoint configures one, Content-Type
// application/json. The Idempotency-Key is BatchID of the entries sent.
//
// Every request is one attempt through Send's path: same headers, breaker,
// timeout, redaction and classification. A 413 answer splits the group into
// two halves that are sent at once, one after the other, within ctx; a single
// entry that still gets 413 fails Permanent (ReasonClientError) with
// ErrEntryTooLarge naming its size. Any other outcome applies to every entry
// of the request. An entry that is not a JSON object fails Permanent with
// ErrBadEntry and is not sent; the entries around it are.
//
// The result has one error per entry; counting attempts and retrying them is
// the caller's job.
func (s *Sender) SendBatch(ctx context.Context, entries []BatchEntry) BatchResult {
	res := BatchResult{Errs: make([]error, len(entries))}
	start := 0
	for i := 0; i <= len(entries); i++ {
		if i < len(entries) && isJSONObject(entries[i].JSON) {
			continue
		}
		if i > start {
			s.sendGroup(ctx, entries, start, i-start, &res)
		}
		if i < len(entries) {
			res.Errs[i] = &Error{Class: Permanent, Reason: ReasonClientError,
				Err: fmt.Errorf("%w: entry %d of %d bytes", ErrBadEntry, i, len(entries[i].JSON))}
		}
		start = i + 1
	}
	return res
}

// sendGroup sends entries [first, first+n) as one request, splits it on 413
// and records the outcome in res.
func (s *Sender) sendGroup(ctx context.Context, entries []BatchEntry, first, n int, res *BatchResult) {
	group := entries[first : first+n]
	wire, err := s.compress(group)
	if err != nil {
		e := &Error{Class: Permanent, Reason: ReasonConfig, Err: fmt.Errorf("compressing batch: %w", err)}
		for i := range group {
			res.Errs[first+i] = e
		}
		return
	}
	id := BatchID(group)
	att, e := s.attempt(ctx, &outgoing{
		id:       id,
		encoding: "gzip",
		wire:     wire,
		entries:  n,
		record:   func() (string, bool) { return recordArray(group) },
	})
	wire.release()
	if e != nil && e.StatusCode == http.StatusRequestEntityTooLarge && n == 1 {
		e.Err = fmt.Errorf("%w: entry %d of %d bytes: %w", ErrEntryTooLarge, first, len(group[0].JSON), e.Err)
	}
	if !att.StartedAt.IsZero() {
		ba := BatchAttempt{ID: id, First: first, N: n, Attempt: att}
		if e != nil {
			ba.Err = e
		}
		res.Attempts = append(res.Attempts, ba)
	}
	if e != nil && e.StatusCode == http.StatusRequestEntityTooLarge && n > 1 {
		half := n / 2
		s.sendGroup(ctx, entries, first, half, res)
		s.sendGroup(ctx, entries, first+half, n-half, res)
		return
	}
	var err2 error
	if e != nil {
		err2 = e
	}
	for i := range group {
		res.Errs[first+i] = err2
	}
}

// compress writes group as a JSON array straight into a pooled gzip writer
// and returns the pooled compressed buffer.
func (s *Sender) compress(group []BatchEntry) (*wireBuf, error) {
	wb := s.wires.Get().(*wireBuf)
	zw := s.gzips.Get().(*gzip.Writer)
	defer s.gzips.Put(zw)
	zw.Reset(&wb.buf)
	var err error
	write := func(p []byte) {
		if err == nil {
			_, err = zw.Write(p)
		}
	}
	punct := [...]byte{'[', ',', ']'}
	write(punct[0:1])
	for i, e := range group {
		if i > 0 {
			write(punct[1:2])
		}
		write(e.JSON)
	}
	write(punct[2:3])
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		wb.release()
		return nil, err
	}
	return wb, nil
}

// recordArray returns the uncompressed JSON array of group cut at
// MaxRecordedBody bytes, building no more than that, and whether it was cut.
func recordArray(group []BatchEntry) (string, bool) {
	total := 1 + len(group) // brackets and commas
	for _, e := range group {
		total += len(e.JSON)
	}
	size := min(total, MaxRecordedBody)
	punct := [...]byte{'[', ',', ']'}
	openArray, comma, closeArray := punct[0:1], punct[1:2], punct[2:3]
	var b strings.Builder
	b.Grow(size)
	add := func(p []byte) bool {
		if room := size - b.Len(); len(p) > room {
			b.Write(p[:room])
			return false
		}
		b.Write(p)
		return true
	}
	if !add(openArray) {
		return b.String(), true
	}
	for i, e := range group {
		if i > 0 && !add(comma) || !add(e.JSON) {
			return b.String(), true
		}
	}
	if !add(closeArray) {
		return b.String(), true
	}
	return b.String(), total > size
}

// isJSONObject reports whether p looks like one JSON object: its first and
// last non-space bytes are braces. It is a cheap guard against an entry that
// would make the whole array invalid, not a full validation.
func isJSONObject(p []byte) bool {
	p = bytes.TrimSpace(p)
	return len(p) >= 2 && p[0] == '{' && p[len(p)-1] == '}'
}

// wireBuf is a pooled buffer holding a compressed request body. The
// request is written before attempt returns, so the buffer goes back to the
// pool as soon as its attempt is over.
type wireBuf struct {
	buf  bytes.Buffer
	pool *sync.Pool
}

// release recycles the buffer, unless it grew too large to keep.
func (w *wireBuf) release() {
	if w.buf.Cap() > maxPooledWire {
		return
	}
	w.buf.Reset()
	w.pool.Put(w)
}
