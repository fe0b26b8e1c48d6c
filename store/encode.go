package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bucket names. Each *ByWebhook bucket holds one nested bucket per webhook
// whose keys are the record keys of that webhook.
var (
	bucketInvocations        = []byte("invocations")
	bucketInvocationsWebhook = []byte("invocations_by_webhook")
	bucketDeadLetters        = []byte("dead_letters")
	bucketDeadLettersWebhook = []byte("dead_letters_by_webhook")
	bucketRejected           = []byte("rejected")
)

// fillPercent is used for every bucket: records are only appended, so pages
// can be split nearly full instead of half full.
const fillPercent = 0.95

// idLen is the length of a record ID: 16 hex digits of an 8-byte key.
const idLen = 16

// idPlaceholder is the ID encoded into a record's JSON before the writer
// knows its sequence number. The ID is the first field of every record type,
// so the writer overwrites the placeholder in place (see patchID).
const idPlaceholder = "0000000000000000"

// idPrefix is how every encoded record starts.
var idPrefix = []byte(`{"id":"` + idPlaceholder + `"`)

// idOffset is where the ID's digits start in an encoded record.
const idOffset = len(`{"id":"`)

// keyID returns the ID of an 8-byte key.
func keyID(k []byte) string { return hex.EncodeToString(k) }

// parseID returns the key of a record ID.
func parseID(id string) ([]byte, bool) {
	if len(id) != idLen {
		return nil, false
	}
	k, err := hex.DecodeString(id)
	if err != nil {
		return nil, false
	}
	return k, true
}

// encodeRecord encodes v, whose first field must be an empty-able ID, with
// the ID placeholder.
func encodeRecord(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrInvalidRecord, err)
	}
	if !bytes.HasPrefix(b, idPrefix) {
		// Unreachable while every record type has ID as its first field.
		return nil, fmt.Errorf("%w: encoded %T does not start with its id", ErrInvalidRecord, v)
	}
	return b, nil
}

// patchID writes the ID of key k over the placeholder of an encoded record.
func patchID(b, k []byte) { hex.Encode(b[idOffset:idOffset+idLen], k) }

// cutUTF8 returns the longest prefix of s that has at most n bytes and does
// not end inside a UTF-8 sequence that s continues.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// SampleOf returns the Rejected.Sample of a payload: its first MaxSampleBytes
// bytes with invalid UTF-8 replaced by U+FFFD, cut again to MaxSampleBytes.
// Applying it to its own result returns the result unchanged.
func SampleOf(payload []byte) string {
	if len(payload) > MaxSampleBytes {
		payload = payload[:MaxSampleBytes]
	}
	return sanitizeSample(string(payload))
}

// sanitizeSample replaces invalid UTF-8 in s and cuts it to MaxSampleBytes.
func sanitizeSample(s string) string {
	return cutUTF8(strings.ToValidUTF8(s, "\uFFFD"), MaxSampleBytes)
}

// putSeq writes seq into the 8-byte key k.
func putSeq(k []byte, seq uint64) { binary.BigEndian.PutUint64(k, seq) }
