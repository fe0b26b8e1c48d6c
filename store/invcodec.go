package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/klauspost/compress/s2"
)

// Invocations, the store's hot record, are kept in a compact binary format
// instead of JSON: encoding them with encoding/json cost more CPU than the
// rest of a write, and their bodies made records large. A value is
//
//	format  byte    invFormatV1
//	flags   byte    invFlag bits
//	sec     int64   StartedAt, Unix seconds, big-endian
//	nsec    uint32  StartedAt, nanoseconds, big-endian
//	zone    int16   StartedAt's UTC offset in minutes, big-endian (see invFlagUTC)
//	strings         Outcome, Webhook, DeliveryID, EventID, EventType, BatchID,
//	                Error: each a uvarint length and the bytes
//	attempt varint
//	duration uint64 DurationMS as IEEE 754 bits, big-endian
//	strings         Request.Method, Request.URL
//	headers         Request.Headers (see appendHeaders)
//	body            Request.Body: a uint32 length, big-endian, and the bytes,
//	                S2-compressed when invFlagRequestS2 is set
//	status  varint  Response.Status  } only when invFlagResponse is set
//	headers         Response.Headers }
//	body            Response.Body    }
//
// The ID is not stored: it is the record's key. Filters read the fixed
// header and the first strings without decoding the rest (see readInvMeta).
//
// Decoding gives back exactly what a JSON round trip gave: the encoder
// replaces invalid UTF-8 the way encoding/json does and StartedAt comes back
// in the location time.Parse would give its RFC 3339 form.

// invFormatV1 is the first byte of a binary invocation record. Records
// written as JSON start with '{' and are still read.
const invFormatV1 byte = 1

// Bits of an invocation record's flags byte.
const (
	invFlagResponse   = 1 << iota // Response is not nil
	invFlagTest                   // Test is true
	invFlagRequestS2              // the request body is S2-compressed
	invFlagResponseS2             // the response body is S2-compressed
	invFlagUTC                    // StartedAt is UTC (its offset was 0); zone is 0
)

// invHeaderLen is the length of the fixed part of an invocation record.
const invHeaderLen = 1 + 1 + 8 + 4 + 2

// compressMinBytes is the shortest body worth compressing. Shorter bodies,
// and bodies that compress by less than an eighth, are stored as they are.
const compressMinBytes = 256

// maxDecodedBody bounds a compressed body's decoded length, so a damaged
// record cannot make a read allocate without limit: a body is cut to
// MaxBodyBytes and replacing invalid UTF-8 can triple it.
const maxDecodedBody = 3 * MaxBodyBytes

// encodeInvocation encodes inv, whose bodies are already cut, into a new
// slice. scratch is a reusable buffer for compressed bodies.
func encodeInvocation(inv *Invocation, scratch *[]byte) ([]byte, error) {
	if y := inv.StartedAt.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%w: started_at year %d outside [0,9999]", ErrInvalidRecord, y)
	}
	if math.IsNaN(inv.DurationMS) || math.IsInf(inv.DurationMS, 0) {
		return nil, fmt.Errorf("%w: duration_ms is %v", ErrInvalidRecord, inv.DurationMS)
	}
	strs := [...]string{
		validUTF8(inv.Outcome), validUTF8(inv.Webhook), validUTF8(inv.DeliveryID),
		validUTF8(inv.EventID), validUTF8(inv.EventType), validUTF8(inv.BatchID),
		validUTF8(inv.Error), validUTF8(inv.Request.Method), validUTF8(inv.Request.URL),
	}
	reqHeaders := validHeaders(inv.Request.Headers)
	var resp HTTPResponse
	var respHeaders map[string]string
	flags := byte(0)
	if inv.Response != nil {
		flags |= invFlagResponse
		resp = *inv.Response
		respHeaders = validHeaders(resp.Headers)
	}
	if inv.Test {
		flags |= invFlagTest
	}

	// Compress the bodies into scratch first, so the record is allocated at
	// its exact size.
	buf := (*scratch)[:0]
	reqBody, buf, reqS2 := compressBody(validUTF8(inv.Request.Body), buf)
	respBody, buf, respS2 := compressBody(validUTF8(resp.Body), buf)
	*scratch = buf
	if reqS2 {
		flags |= invFlagRequestS2
	}
	if respS2 {
		flags |= invFlagResponseS2
	}

	n := invHeaderLen + binary.MaxVarintLen64 + 8 + 4 + len(reqBody) + headersLen(reqHeaders)
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	if flags&invFlagResponse != 0 {
		n += binary.MaxVarintLen64 + headersLen(respHeaders) + 4 + len(respBody)
	}
	b := make([]byte, 0, n)

	b = append(b, invFormatV1, 0)
	sec, nsec, zone, utc := splitTime(inv.StartedAt)
	if utc {
		flags |= invFlagUTC
	}
	b[1] = flags
	b = binary.BigEndian.AppendUint64(b, uint64(sec))
	b = binary.BigEndian.AppendUint32(b, nsec)
	b = binary.BigEndian.AppendUint16(b, uint16(zone))
	for _, s := range strs[:7] {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, int64(inv.Attempt))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(inv.DurationMS))
	b = appendString(b, strs[7])
	b = appendString(b, strs[8])
	b = appendHeaders(b, reqHeaders)
	b = appendBody(b, reqBody)
	if flags&invFlagResponse != 0 {
		b = binary.AppendVarint(b, int64(resp.Status))
		b = appendHeaders(b, respHeaders)
		b = appendBody(b, respBody)
	}
	return b, nil
}

// compressBody returns the bytes to store for body and whether they are
// S2-compressed. Compressed bytes are appended to buf, which is returned.
func compressBody(body string, buf []byte) (stored []byte, _ []byte, compressed bool) {
	// The bytes of body are only read: by the compressor and when they are
	// copied into the record.
	raw := unsafe.Slice(unsafe.StringData(body), len(body))
	if len(body) < compressMinBytes {
		return raw, buf, false
	}
	need := s2.MaxEncodedLen(len(body))
	buf = slices.Grow(buf, need)
	dst := buf[len(buf) : len(buf)+need]
	enc := s2.Encode(dst, raw)
	if len(enc) > len(body)-len(body)/8 {
		return raw, buf, false
	}
	return enc, buf[:len(buf)+len(enc)], true
}

// splitTime returns what the record keeps of t: what t's RFC 3339 form
// keeps. An offset of 0 is written "Z" and read back as UTC; other offsets
// keep whole minutes (the form keeps the wall clock, so the instant moves by
// the seconds dropped) and are read back by time.Parse's rules (see
// joinTime).
func splitTime(t time.Time) (sec int64, nsec uint32, zone int16, utc bool) {
	_, off := t.Zone()
	return t.Unix() + int64(off%60), uint32(t.Nanosecond()), int16(off / 60), off == 0
}

// joinTime is the inverse of splitTime: it returns the time time.Parse gives
// for the RFC 3339 form of the time split.
func joinTime(sec int64, nsec uint32, zone int16, utc bool) time.Time {
	t := time.Unix(sec, int64(nsec))
	if utc {
		return t.UTC()
	}
	off := int(zone) * 60
	if _, local := t.In(time.Local).Zone(); local == off {
		return t.In(time.Local)
	}
	return t.In(time.FixedZone("", off))
}

// appendString appends s with its uvarint length.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBody appends body with its uint32 length.
func appendBody(b, body []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// appendHeaders appends h as a uvarint of its size plus one (0 for a nil
// map, which JSON writes as null) and its keys and values as strings.
func appendHeaders(b []byte, h map[string]string) []byte {
	if h == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(h))+1)
	for k, v := range h {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	return b
}

// headersLen bounds the encoded length of h.
func headersLen(h map[string]string) int {
	n := binary.MaxVarintLen64
	for k, v := range h {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	return n
}

// validUTF8 returns s as encoding/json writes it and reads it back: every
// byte that is not part of valid UTF-8 becomes U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+2*8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return string(out)
}

// validHeaders returns h with its keys and values as a JSON round trip gives
// them back. When invalid UTF-8 makes two keys equal, the one that sorts
// last wins, as it does in JSON (encoding/json sorts keys).
func validHeaders(h map[string]string) map[string]string {
	ok := true
	for k, v := range h {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			ok = false
			break
		}
	}
	if ok {
		return h
	}
	out := make(map[string]string, len(h))
	for _, k := range slices.Sorted(mapKeys(h)) {
		out[validUTF8(k)] = validUTF8(h[k])
	}
	return out
}

// mapKeys iterates over the keys of h.
func mapKeys(h map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}
}

// invReader reads an encoded invocation. The first error sticks: later
// reads return zero values.
type invReader struct {
	b   []byte
	err error
}

func (r *invReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("invocation record: bad %s", what)
	}
	r.b = nil
}

// bytes returns the next uvarint-prefixed string, uncopied.
func (r *invReader) bytes(what string) []byte {
	n, w := binary.Uvarint(r.b)
	if w <= 0 || n > uint64(len(r.b)-w) {
		r.fail(what)
		return nil
	}
	s := r.b[w : w+int(n)]
	r.b = r.b[w+int(n):]
	return s
}

// string returns the next string, copied.
func (r *invReader) string(what string) string { return string(r.bytes(what)) }

func (r *invReader) varint(what string) int64 {
	v, w := binary.Varint(r.b)
	if w <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[w:]
	return v
}

// int returns the next varint, which must fit an int.
func (r *invReader) int(what string) int {
	v := r.varint(what)
	if int64(int(v)) != v {
		r.fail(what)
		return 0
	}
	return int(v)
}

func (r *invReader) uint64(what string) uint64 {
	if len(r.b) < 8 {
		r.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *invReader) headers(what string) map[string]string {
	n, w := binary.Uvarint(r.b)
	// Every entry takes at least two bytes.
	if w <= 0 || (n > 0 && n-1 > uint64(len(r.b)-w)/2) {
		r.fail(what)
		return nil
	}
	r.b = r.b[w:]
	if n == 0 {
		return nil
	}
	h := make(map[string]string, n-1)
	for range n - 1 {
		k := r.string(what)
		h[k] = r.string(what)
	}
	if r.err != nil {
		return nil
	}
	return h
}

// body returns the next body, decompressing it when compressed is set.
func (r *invReader) body(what string, compressed bool) string {
	if len(r.b) < 4 {
		r.fail(what)
		return ""
	}
	n := binary.BigEndian.Uint32(r.b)
	if uint64(n) > uint64(len(r.b)-4) {
		r.fail(what)
		return ""
	}
	raw := r.b[4 : 4+n]
	r.b = r.b[4+n:]
	if !compressed {
		return string(raw)
	}
	if l, err := s2.DecodedLen(raw); err != nil || l > maxDecodedBody {
		r.fail(what)
		return ""
	}
	d, err := s2.Decode(nil, raw)
	if err != nil {
		r.fail(what)
		return ""
	}
	return string(d)
}

// invMeta is what filters and pruning need of an invocation record. Its
// byte slices point into the record.
type invMeta struct {
	startedAt  time.Time
	outcome    []byte
	webhook    []byte
	deliveryID []byte
}

// readInvMeta reads the meta data of the invocation record v without
// decoding the rest.
func readInvMeta(v []byte) (invMeta, error) {
	if len(v) > 0 && v[0] == '{' {
		var inv Invocation
		if err := json.Unmarshal(v, &inv); err != nil {
			return invMeta{}, err
		}
		return invMeta{startedAt: inv.StartedAt, outcome: []byte(inv.Outcome),
			webhook: []byte(inv.Webhook), deliveryID: []byte(inv.DeliveryID)}, nil
	}
	if len(v) < invHeaderLen || v[0] != invFormatV1 {
		return invMeta{}, errRecordFormat(v)
	}
	r := invReader{b: v[invHeaderLen:]}
	m := invMeta{
		startedAt:  time.Unix(int64(binary.BigEndian.Uint64(v[2:])), int64(binary.BigEndian.Uint32(v[10:]))),
		outcome:    r.bytes("outcome"),
		webhook:    r.bytes("webhook"),
		deliveryID: r.bytes("delivery_id"),
	}
	return m, r.err
}

// decodeInvocation decodes the invocation record v stored under key k. It
// copies everything out of v.
func decodeInvocation(k, v []byte) (Invocation, error) {
	var inv Invocation
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &inv)
		return inv, err
	}
	if len(v) < invHeaderLen || v[0] != invFormatV1 {
		return Invocation{}, errRecordFormat(v)
	}
	flags := v[1]
	if nsec := binary.BigEndian.Uint32(v[10:]); nsec >= 1e9 {
		return Invocation{}, fmt.Errorf("invocation record: bad started_at")
	}
	inv.ID = keyID(k)
	inv.StartedAt = joinTime(int64(binary.BigEndian.Uint64(v[2:])), binary.BigEndian.Uint32(v[10:]),
		int16(binary.BigEndian.Uint16(v[14:])), flags&invFlagUTC != 0)
	r := invReader{b: v[invHeaderLen:]}
	inv.Outcome = r.string("outcome")
	inv.Webhook = r.string("webhook")
	inv.DeliveryID = r.string("delivery_id")
	inv.EventID = r.string("event_id")
	inv.EventType = r.string("event_type")
	inv.BatchID = r.string("batch_id")
	inv.Error = r.string("error")
	inv.Attempt = r.int("attempt")
	inv.DurationMS = math.Float64frombits(r.uint64("duration_ms"))
	inv.Request.Method = r.string("request method")
	inv.Request.URL = r.string("request url")
	inv.Request.Headers = r.headers("request headers")
	inv.Request.Body = r.body("request body", flags&invFlagRequestS2 != 0)
	if flags&invFlagResponse != 0 {
		inv.Response = &HTTPResponse{
			Status:  r.int("response status"),
			Headers: r.headers("response headers"),
			Body:    r.body("response body", flags&invFlagResponseS2 != 0),
		}
	}
	inv.Test = flags&invFlagTest != 0
	switch {
	case r.err != nil:
		return Invocation{}, r.err
	case len(r.b) != 0:
		return Invocation{}, fmt.Errorf("invocation record: %d bytes after the end", len(r.b))
	}
	return inv, nil
}

// errRecordFormat describes a record of unknown format.
func errRecordFormat(v []byte) error {
	if len(v) == 0 {
		return fmt.Errorf("invocation record: empty")
	}
	return fmt.Errorf("invocation record: unknown format %#x or %d bytes too short", v[0], len(v))
}
