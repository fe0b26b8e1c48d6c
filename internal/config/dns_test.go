package config_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/sender"
)

// fakeDNS is a loopback UDP DNS server answering A queries from a table.
type fakeDNS struct {
	conn    net.PacketConn
	answers map[string]netip.Addr // lower-case FQDN without the final dot
	queries atomic.Int64
}

func newFakeDNS(tb testing.TB, answers map[string]netip.Addr) *fakeDNS {
	tb.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fakeDNS{conn: conn, answers: answers}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			f.queries.Add(1)
			if resp := f.answer(buf[:n]); resp != nil {
				_, _ = conn.WriteTo(resp, addr)
			}
		}
	}()
	tb.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	return f
}

// answer builds the reply to one query: an A record when the name is known
// and the query is for A, else an empty answer.
func (f *fakeDNS) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	// Question: labels, then type and class.
	off := 12
	var labels []string
	for off < len(q) && q[off] != 0 {
		l := int(q[off])
		if off+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[off+1:off+1+l]))
		off += 1 + l
	}
	off++ // the root label
	if off+4 > len(q) {
		return nil
	}
	qtype := int(q[off])<<8 | int(q[off+1])
	question := q[12 : off+4]
	ip, known := f.answers[strings.ToLower(strings.Join(labels, "."))]

	resp := append([]byte{}, q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0)
	if !known {
		resp[3] = 0x83 // NXDOMAIN
	}
	resp = append(resp, question...)
	if known && qtype == 1 && ip.Is4() {
		resp[7] = 1 // one answer
		a := ip.As4()
		resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, a[0], a[1], a[2], a[3])
	}
	return resp
}

// resolver returns a pure-Go resolver that asks only f.
func (f *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", f.conn.LocalAddr().String())
		},
	}
}

// Ensure ResolveDNS refuses a host resolving to a blocked address, accepts a
// public one, and is skipped when off or when unsafe URLs are allowed.
func TestParse_ResolveDNS(t *testing.T) {
	dns := newFakeDNS(t, map[string]netip.Addr{
		"internal.hookrelay.test": netip.MustParseAddr("10.1.2.3"),
		"public.hookrelay.test":   netip.MustParseAddr("93.184.216.34"),
	})
	given := "webhooks:\n  - name: internal\n    url: https://internal.hookrelay.test/hook\n" +
		"  - name: public\n    url: https://public.hookrelay.test/hook\n"

	_, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil), ResolveDNS: true, Resolver: dns.resolver()})
	fes := fieldErrors(t, err)
	if len(fes) != 1 || fes[0].Path != "webhooks[0].url" || fes[0].Line != 3 {
		t.Fatalf("errors = %+v", fes)
	}
	if !errors.Is(err, sender.ErrUnsafeAddress) || !errors.Is(err, config.ErrURL) {
		t.Errorf("err = %v, want ErrUnsafeAddress and ErrURL", err)
	}
	if dns.queries.Load() == 0 {
		t.Error("the resolver was not asked")
	}

	before := dns.queries.Load()
	if _, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil), Resolver: dns.resolver()}); err != nil {
		t.Errorf("without ResolveDNS: %v", err)
	}
	unsafe := "delivery: {allow_unsafe_urls: true}\n" + given
	if _, err := config.Parse([]byte(unsafe), "config.yaml", config.LoadOptions{Getenv: env(nil), ResolveDNS: true, Resolver: dns.resolver()}); err != nil {
		t.Errorf("with allow_unsafe_urls: %v", err)
	}
	if n := dns.queries.Load(); n != before {
		t.Errorf("resolver asked %d times when it should not be", n-before)
	}
}
