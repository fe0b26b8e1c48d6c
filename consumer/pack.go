package consumer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderPacked on a delivery message says it carries that many deliveries,
// framed by appendPacked, instead of one.
const HeaderPacked = "Hookrelay-Packed"

// HeaderPackKind says what the deliveries of a packed message are: log
// entries of a batching webhook (PackEntries, also when the header is
// absent) or request bodies of a webhook that sends one request per
// delivery (PackBodies).
const HeaderPackKind = "Hookrelay-Pack-Kind"

// Pack kinds.
const (
	PackEntries = "entries"
	PackBodies  = "bodies"
)

// packKind is the kind of a packed message, "" for a single delivery.
func packKind(h nats.Header) string {
	if h.Get(HeaderPacked) == "" {
		return ""
	}
	if k := h.Get(HeaderPackKind); k != "" {
		return k
	}
	return PackEntries
}

// errBadPack is a packed message that does not decode.
var errBadPack = errors.New("consumer: malformed packed delivery message")

// packedItem is one delivery inside a packed message.
type packedItem struct {
	deliveryID, eventID, eventType string
	body                           []byte
}

// packOverhead is the framing of one item besides its strings and body.
const packOverhead = 4 * binary.MaxVarintLen32

func (it *packedItem) size() int {
	return len(it.deliveryID) + len(it.eventID) + len(it.eventType) + len(it.body) + packOverhead
}

// appendPacked frames one item: four length-prefixed fields.
func appendPacked(dst []byte, it *packedItem) []byte {
	for _, f := range [...][]byte{[]byte(it.deliveryID), []byte(it.eventID), []byte(it.eventType), it.body} {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// unpack decodes a delivery message into its items: the framed items of a
// packed message, or the one delivery its headers describe.
func unpack(m jetstream.Msg) ([]packedItem, error) {
	hdr := m.Headers()
	n := hdr.Get(HeaderPacked)
	if n == "" {
		return []packedItem{{
			deliveryID: hdr.Get(HeaderDeliveryID),
			eventID:    hdr.Get(HeaderEventID),
			eventType:  hdr.Get(HeaderEventType),
			body:       m.Data(),
		}}, nil
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return nil, errBadPack
	}
	items := make([]packedItem, 0, count)
	b := m.Data()
	for len(b) > 0 {
		var f [4][]byte
		for i := range f {
			l, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < l {
				return nil, errBadPack
			}
			f[i], b = b[k:k+int(l)], b[k+int(l):]
		}
		items = append(items, packedItem{deliveryID: string(f[0]), eventID: string(f[1]), eventType: string(f[2]), body: f[3]})
	}
	if len(items) != count {
		return nil, errBadPack
	}
	return items, nil
}

// itemCount is the number of deliveries a message carries, from its
// headers alone.
func itemCount(h nats.Header) int {
	if n, err := strconv.Atoi(h.Get(HeaderPacked)); err == nil && n > 0 {
		return n
	}
	return 1
}

// packMsgs splits one webhook's deliveries, in order, into packed messages
// of kind of at most maxItems items and maxBytes bytes each. A message's
// dedupe id is derived from the delivery ids it carries, so the same
// deliveries packed the same way are stored once. A lone request body goes
// as a plain delivery message.
func (r *Relay) packMsgs(webhook, kind string, items []packedItem, maxItems, maxBytes int) []*nats.Msg {
	var out []*nats.Msg
	for len(items) > 0 {
		n, size := 0, 0
		for n < len(items) && n < maxItems {
			s := items[n].size()
			if n > 0 && size+s > maxBytes {
				break
			}
			size += s
			n++
		}
		if n == 1 && kind == PackBodies {
			it := &items[0]
			out = append(out, r.deliveryMsg(webhook, it.deliveryID, it.eventID, it.eventType, it.body))
			items = items[1:]
			continue
		}
		body := make([]byte, 0, size)
		h := sha256.New()
		for i := range items[:n] {
			body = appendPacked(body, &items[i])
			h.Write([]byte(items[i].deliveryID))
		}
		m := &nats.Msg{Subject: r.deliverySubject(webhook), Header: make(nats.Header, 3), Data: body}
		m.Header[jetstream.MsgIDHeader] = []string{"p-" + hex.EncodeToString(h.Sum(nil)[:16])}
		m.Header[HeaderPacked] = []string{strconv.Itoa(n)}
		m.Header[HeaderPackKind] = []string{kind}
		out = append(out, m)
		items = items[n:]
	}
	return out
}
