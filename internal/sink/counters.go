package sink

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxNames caps the distinct names one by_application or by_subsystem table
// holds; further names are counted under otherName.
const maxNames = 10_000

// otherName collects the entries of names beyond maxNames.
const otherName = "(other)"

// keyShards is the number of independently locked shards of a keySet.
const keyShards = 64

// Tally is a point-in-time copy of the sink's main counters.
type Tally struct {
	// Requests counts every request to an ingestion path (or an unknown
	// path), whatever its answer.
	Requests int64 `json:"requests"`
	// Accepted counts requests answered 200.
	Accepted int64 `json:"accepted"`
	// Entries counts log entries in accepted requests (a generic body is one entry).
	Entries int64 `json:"entries"`
	// Bytes counts decompressed body bytes of accepted requests.
	Bytes int64 `json:"bytes"`
	// Rejected counts requests answered with anything but 200, injected
	// failures included.
	Rejected int64 `json:"rejected"`
	// UniqueKeys counts distinct Idempotency-Key values of accepted requests.
	UniqueKeys int64 `json:"unique_keys"`
	// DuplicateKeys counts accepted requests whose Idempotency-Key was seen before.
	DuplicateKeys int64 `json:"duplicate_keys"`
	// UniqueEntries counts distinct Options.EntryKey values of accepted entries.
	UniqueEntries int64 `json:"unique_entries"`
	// DuplicateEntries counts accepted entries whose EntryKey was seen before.
	DuplicateEntries int64 `json:"duplicate_entries"`
}

// KeptEntry is one accepted log entry (or generic body) remembered because
// Options.Keep > 0.
type KeptEntry struct {
	// Path is the endpoint that received it.
	Path string `json:"path"`
	// ReceivedAt is when the sink accepted it.
	ReceivedAt time.Time `json:"received_at"`
	// Headers holds the request's Idempotency-Key, User-Agent and
	// Content-Type, those that were present.
	Headers map[string]string `json:"headers,omitempty"`
	// ApplicationName is the bulk or legacy body's application, shared by its entries.
	ApplicationName string `json:"applicationName,omitempty"`
	// SubsystemName is the bulk or legacy body's subsystem, shared by its entries.
	SubsystemName string `json:"subsystemName,omitempty"`
	// Entry is the log entry object, or the whole generic body.
	Entry json.RawMessage `json:"entry"`
}

// Snapshot is everything GET /received reports.
type Snapshot struct {
	// Requests counts every request to an ingestion or unknown path.
	Requests int64 `json:"requests"`
	// Accepted counts requests answered 200.
	Accepted int64 `json:"accepted"`
	// Entries counts log entries in accepted requests.
	Entries int64 `json:"entries"`
	// Bytes counts decompressed body bytes of accepted requests.
	Bytes int64 `json:"bytes"`
	// Rejected counts the other answers by status code ("400", "401", "500", …).
	Rejected map[string]int64 `json:"rejected"`
	// ByApplication counts accepted entries by applicationName.
	ByApplication map[string]int64 `json:"by_application"`
	// BySubsystem counts accepted entries by subsystemName.
	BySubsystem map[string]int64 `json:"by_subsystem"`
	// BySeverity counts accepted entries by severity ("1".."6"); entries
	// without a severity are not counted here.
	BySeverity map[string]int64 `json:"by_severity"`
	// ByPath counts accepted requests by endpoint path.
	ByPath map[string]int64 `json:"by_path"`
	// UniqueKeys counts distinct Idempotency-Key values of accepted requests.
	UniqueKeys int64 `json:"unique_keys"`
	// DuplicateKeys counts accepted requests whose Idempotency-Key was seen before.
	DuplicateKeys int64 `json:"duplicate_keys"`
	// UniqueEntries counts distinct Options.EntryKey values of accepted entries.
	UniqueEntries int64 `json:"unique_entries"`
	// DuplicateEntries counts accepted entries whose EntryKey was seen before.
	DuplicateEntries int64 `json:"duplicate_entries"`
	// Last holds up to Options.Keep most recently accepted entries, oldest first.
	Last []KeptEntry `json:"last,omitempty"`
}

// nameCounts counts entries by name. Lookups of known names take a read lock
// and do not allocate.
type nameCounts struct {
	mu sync.RWMutex
	m  map[string]*atomic.Int64
}

func (c *nameCounts) add(name []byte, n int64) {
	c.mu.RLock()
	p := c.m[string(name)]
	c.mu.RUnlock()
	if p == nil {
		c.mu.Lock()
		if p = c.m[string(name)]; p == nil {
			if len(c.m) >= maxNames {
				if p = c.m[otherName]; p == nil {
					p = new(atomic.Int64)
					c.m[otherName] = p
				}
			} else {
				p = new(atomic.Int64)
				c.m[string(name)] = p
			}
		}
		c.mu.Unlock()
	}
	p.Add(n)
}

func (c *nameCounts) snapshot() map[string]int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]int64, len(c.m))
	for k, v := range c.m {
		out[k] = v.Load()
	}
	return out
}

func (c *nameCounts) reset() {
	c.mu.Lock()
	c.m = make(map[string]*atomic.Int64)
	c.mu.Unlock()
}

// ContentKey is an Options.EntryKey that keys an entry by its bytes (a
// 64-bit hash): an entry received twice byte for byte, as a retried or
// redelivered one is, counts as a duplicate. The hash is seeded once per
// process.
func ContentKey(entry json.RawMessage) string {
	return string(binary.LittleEndian.AppendUint64(nil, maphash.Bytes(contentSeed, entry)))
}

var contentSeed = maphash.MakeSeed()

// keySet remembers keys in shards, each a map under its own mutex, and
// counts how many were new and how many repeated.
type keySet struct {
	seed   maphash.Seed
	shards [keyShards]struct {
		mu sync.Mutex
		m  map[string]struct{}
		_  [40]byte // keep shards on separate cache lines
	}
	unique, dup atomic.Int64
}

func newKeySet() *keySet {
	k := &keySet{seed: maphash.MakeSeed()}
	for i := range k.shards {
		k.shards[i].m = make(map[string]struct{})
	}
	return k
}

// add records key and reports whether it was new.
func (k *keySet) add(key string) bool {
	sh := &k.shards[maphash.String(k.seed, key)%keyShards]
	sh.mu.Lock()
	_, seen := sh.m[key]
	if !seen {
		sh.m[key] = struct{}{}
	}
	sh.mu.Unlock()
	if seen {
		k.dup.Add(1)
	} else {
		k.unique.Add(1)
	}
	return !seen
}

func (k *keySet) reset() {
	for i := range k.shards {
		sh := &k.shards[i]
		sh.mu.Lock()
		sh.m = make(map[string]struct{})
		sh.mu.Unlock()
	}
	k.unique.Store(0)
	k.dup.Store(0)
}

// ring holds the last cap(items) kept entries.
type ring struct {
	mu    sync.Mutex
	items []KeptEntry
	next  int
	full  bool
}

func (r *ring) add(e KeptEntry) {
	r.mu.Lock()
	r.items[r.next] = e
	r.next++
	if r.next == len(r.items) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func (r *ring) snapshot() []KeptEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]KeptEntry(nil), r.items[:r.next]...)
	}
	out := make([]KeptEntry, 0, len(r.items))
	out = append(out, r.items[r.next:]...)
	return append(out, r.items[:r.next]...)
}

func (r *ring) reset() {
	r.mu.Lock()
	clear(r.items)
	r.next, r.full = 0, false
	r.mu.Unlock()
}

// Tally returns the main counters.
func (s *Sink) Tally() Tally {
	return Tally{
		Requests:         s.requests.Load(),
		Accepted:         s.accepted.Load(),
		Entries:          s.entries.Load(),
		Bytes:            s.bytes.Load(),
		Rejected:         s.rejected.Load(),
		UniqueKeys:       s.keys.unique.Load(),
		DuplicateKeys:    s.keys.dup.Load(),
		UniqueEntries:    s.entryKeys.unique.Load(),
		DuplicateEntries: s.entryKeys.dup.Load(),
	}
}

// Received returns every counter and the kept entries: what GET /received
// serves.
func (s *Sink) Received() Snapshot {
	t := s.Tally()
	snap := Snapshot{
		Requests:         t.Requests,
		Accepted:         t.Accepted,
		Entries:          t.Entries,
		Bytes:            t.Bytes,
		Rejected:         make(map[string]int64),
		ByApplication:    s.byApp.snapshot(),
		BySubsystem:      s.bySub.snapshot(),
		BySeverity:       make(map[string]int64),
		ByPath:           make(map[string]int64),
		UniqueKeys:       t.UniqueKeys,
		DuplicateKeys:    t.DuplicateKeys,
		UniqueEntries:    t.UniqueEntries,
		DuplicateEntries: t.DuplicateEntries,
	}
	for code := range s.byStatus {
		if n := s.byStatus[code].Load(); n > 0 {
			snap.Rejected[strconv.Itoa(code)] = n
		}
	}
	for sev := 1; sev < len(s.bySev); sev++ {
		if n := s.bySev[sev].Load(); n > 0 {
			snap.BySeverity[strconv.Itoa(sev)] = n
		}
	}
	for ep := range s.byPath {
		if n := s.byPath[ep].Load(); n > 0 {
			snap.ByPath[endpoint(ep).path()] = n
		}
	}
	if s.kept != nil {
		snap.Last = s.kept.snapshot()
	}
	return snap
}

// Reset zeroes every counter and forgets the seen keys and kept entries.
func (s *Sink) Reset() {
	for _, c := range []*atomic.Int64{&s.requests, &s.accepted, &s.entries, &s.bytes, &s.rejected} {
		c.Store(0)
	}
	for code := range s.byStatus {
		s.byStatus[code].Store(0)
	}
	for sev := range s.bySev {
		s.bySev[sev].Store(0)
	}
	for ep := range s.byPath {
		s.byPath[ep].Store(0)
	}
	s.byApp.reset()
	s.bySub.reset()
	s.keys.reset()
	s.entryKeys.reset()
	if s.kept != nil {
		s.kept.reset()
	}
}

// RunTally writes one line to w every interval until ctx ends, e.g.
//
//	sink: 1234 req (+120/s) 56789 entries (+5000/s) rejected 3
//
// A non-positive every returns at once.
func (s *Sink) RunTally(ctx context.Context, w io.Writer, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	prev, prevAt := s.Tally(), s.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, at := s.Tally(), s.now()
		elapsed := at.Sub(prevAt)
		if elapsed <= 0 {
			elapsed = every
		}
		io.WriteString(w, tallyLine(prev, cur, elapsed))
		prev, prevAt = cur, at
	}
}

// tallyLine formats one RunTally line for the change from prev to cur over elapsed.
func tallyLine(prev, cur Tally, elapsed time.Duration) string {
	rate := func(d int64) int64 {
		if elapsed <= 0 {
			return 0
		}
		return int64(float64(d) / elapsed.Seconds())
	}
	return fmt.Sprintf("sink: %d req (+%d/s) %d entries (+%d/s) rejected %d\n",
		cur.Requests, rate(cur.Requests-prev.Requests),
		cur.Entries, rate(cur.Entries-prev.Entries),
		cur.Rejected)
}
