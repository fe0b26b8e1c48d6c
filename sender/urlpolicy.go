package sender

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// blockedPrefixes lists the IPv4 and IPv6 ranges that no webhook may reach
// unless unsafe URLs are allowed. Ranges that netip.Addr already classifies
// (loopback, private, link-local, multicast, unspecified) are checked by
// IsBlockedIP directly and are not repeated here.
var blockedPrefixes = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),     // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),       // reserved, incl. 255.255.255.255 broadcast
	netip.MustParsePrefix("::/96"),             // IPv4-compatible (deprecated)
	netip.MustParsePrefix("::ffff:0:0:0/96"),   // IPv4-translated (SIIT), e.g. ::ffff:0:7f00:1
	netip.MustParsePrefix("64:ff9b:1::/48"),    // local-use NAT64
	netip.MustParsePrefix("100::/64"),          // discard-only
	netip.MustParsePrefix("fec0::/10"),         // site-local (deprecated by RFC 3879)
	netip.MustParsePrefix("fd00:ec2::254/128"), // AWS IMDS over IPv6 (also inside fc00::/7)
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFourNet = netip.MustParsePrefix("2002::/16")
)

// IsBlockedIP reports whether ip is an address that a webhook must not reach:
// loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local
// (169.254/16 including the 169.254.169.254 metadata service, fe80::/10),
// unspecified, multicast, carrier-grade NAT (100.64/10), 0.0.0.0/8, reserved
// 240/4 and broadcast, the fd00:ec2::254 metadata address, deprecated IPv6
// site-local fec0::/10, and any IPv6 form that embeds an IPv4 address
// (IPv4-compatible ::/96 and IPv4-translated ::ffff:0:0:0/96 always;
// IPv4-mapped, NAT64 64:ff9b::/96 and 6to4 2002::/16 when the embedded
// address is blocked). The dial-time check uses the same predicate. An
// invalid address is blocked.
func IsBlockedIP(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("").Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64Prefix.Contains(ip):
			return IsBlockedIP(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFourNet.Contains(ip):
			return IsBlockedIP(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return false
}

// CheckURL checks raw against the static URL policy: it must parse as an
// absolute URL with scheme https (http only if allowUnsafe), no user info, a
// non-empty host and an empty or 443 port (any valid port if allowUnsafe).
// A host that names an IP address blocked by IsBlockedIP, or a "localhost"
// name, is refused unless allowUnsafe. An IP address may be written as any
// literal netip.ParseAddr accepts or, for IPv4, in the numeric forms of
// inet_aton and WHATWG URLs ("0x7f000001", "2130706433", "0177.0.0.1",
// "127.1"): a host whose last label is a number is read that way, and one
// that does not parse as such an address (such as "1.2.3.4.5") is refused
// even when allowUnsafe. Errors wrap ErrBadURL (and ErrUnsafeAddress for
// blocked addresses) and never quote the query string or user info.
func CheckURL(raw string, allowUnsafe bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: does not parse", ErrBadURL)
	}
	safe := RedactURL(u)
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowUnsafe {
			return fmt.Errorf("%w: %s: scheme http is not allowed, use https", ErrBadURL, safe)
		}
	case "":
		return fmt.Errorf("%w: %s: not an absolute URL", ErrBadURL, safe)
	default:
		return fmt.Errorf("%w: %s: scheme %q is not allowed", ErrBadURL, safe, u.Scheme)
	}
	if u.Opaque != "" {
		return fmt.Errorf("%w: %s: opaque URL", ErrBadURL, safe)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s: user info is not allowed", ErrBadURL, safe)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: %s: empty host", ErrBadURL, safe)
	}
	if port := u.Port(); port != "" {
		n, perr := strconv.Atoi(port)
		if perr != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: %s: invalid port %q", ErrBadURL, safe, port)
		}
		if n != 443 && !allowUnsafe {
			return fmt.Errorf("%w: %s: port %d is not allowed, only 443", ErrBadURL, safe, n)
		}
	}
	ip, isIP, herr := hostIP(host)
	if herr != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadURL, safe, herr)
	}
	if allowUnsafe {
		return nil
	}
	if isIP {
		if IsBlockedIP(ip) {
			return fmt.Errorf("%w: %w: %s: %s", ErrBadURL, ErrUnsafeAddress, safe, blockedHost(host, ip))
		}
		return nil
	}
	if isLocalhostName(host) {
		return fmt.Errorf("%w: %w: %s: host %q is local", ErrBadURL, ErrUnsafeAddress, safe, host)
	}
	return nil
}

// blockedHost says that host, which names ip, is blocked.
func blockedHost(host string, ip netip.Addr) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return fmt.Sprintf("address %s is blocked", ip)
	}
	return fmt.Sprintf("host %q is the address %s, which is blocked", host, ip)
}

// hostIP reports whether host (a URL host without brackets or port) names an
// IP address, and which. That is the case for an address netip.ParseAddr
// accepts, and for a host whose last dot-separated label is a number (the
// WHATWG URL "ends in a number" rule: all decimal digits, or "0x" or "0X"
// followed by hex digits), because resolvers that use inet_aton and browsers
// read such a host as an IPv4 address rather than a name: "0x7f000001",
// "2130706433", "0177.0.0.1", "127.1" and "0x7f.1" all mean 127.0.0.1. Such a
// host is parsed by parseIPv4Number; when that fails the host is invalid and
// an error says so. One trailing dot is ignored, as in "127.0.0.1.".
func hostIP(host string) (ip netip.Addr, isIP bool, err error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip, true, nil
	}
	if strings.Contains(host, ":") || !endsInNumber(host) {
		return netip.Addr{}, false, nil
	}
	ip, ok := parseIPv4Number(host)
	if !ok {
		return netip.Addr{}, false, fmt.Errorf("host %q ends in a number but is not a valid IPv4 address", host)
	}
	return ip, true, nil
}

// endsInNumber applies the WHATWG URL "ends in a number" rule to host.
func endsInNumber(host string) bool {
	labels := strings.Split(host, ".")
	if len(labels) > 1 && labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	last := labels[len(labels)-1]
	if h, ok := cutHexPrefix(last); ok {
		return strings.Trim(h, "0123456789abcdefABCDEF") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// cutHexPrefix returns s without a leading "0x" or "0X", and whether it had one.
func cutHexPrefix(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return s[2:], true
	}
	return s, false
}

// parseIPv4Number parses s as inet_aton does: one to four dot-separated
// parts, each decimal, octal (a leading 0) or hex (a leading 0x or 0X, the
// digits possibly empty for 0); every part but the last is one byte and the
// last fills the remaining bytes. One trailing dot is allowed (WHATWG). It
// fails on an empty part, a bad digit or a part too large for its bytes.
func parseIPv4Number(s string) (netip.Addr, bool) {
	parts := strings.Split(strings.TrimSuffix(s, "."), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var addr uint32
	for i, p := range parts {
		n, ok := parseIPv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		bytes := 1
		if i == len(parts)-1 {
			bytes = 5 - len(parts)
		}
		if n >= 1<<(8*bytes) {
			return netip.Addr{}, false
		}
		addr |= uint32(n) << (8 * (4 - i - bytes))
	}
	return netip.AddrFrom4([4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)}), true
}

// parseIPv4Part parses one part of an inet_aton address. A value above
// 2^32-1 is too large for any part and fails.
func parseIPv4Part(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base, digits := 10, p
	if h, ok := cutHexPrefix(p); ok {
		base, digits = 16, h
		if digits == "" {
			return 0, true // "0x" is 0, as in inet_aton and WHATWG
		}
	} else if len(p) > 1 && p[0] == '0' {
		base, digits = 8, p[1:]
	}
	n, err := strconv.ParseUint(digits, base, 32)
	return n, err == nil
}

// isLocalhostName reports whether host is "localhost" or a name below it,
// which RFC 6761 reserves for loopback.
func isLocalhostName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// ResolveCheck resolves host with resolver (a zero net.Resolver when nil) and
// returns an error wrapping ErrUnsafeAddress if any address it resolves to is
// blocked by IsBlockedIP. An IP address, in any form CheckURL reads as one,
// is checked without resolving; a host that ends in a number but is not a
// valid IPv4 address gives an error wrapping ErrBadURL. A DNS
// failure is not an error here: the dial-time check still guards the
// connection, and an endpoint may be unresolvable at validation time.
func ResolveCheck(ctx context.Context, host string, resolver *net.Resolver) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	ip, isIP, err := hostIP(host)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	if isIP {
		if IsBlockedIP(ip) {
			return fmt.Errorf("%w: %s", ErrUnsafeAddress, blockedHost(host, ip))
		}
		return nil
	}
	if isLocalhostName(host) {
		return fmt.Errorf("%w: host %q is local", ErrUnsafeAddress, host)
	}
	if resolver == nil {
		resolver = &net.Resolver{}
	}
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, ip := range addrs {
		if IsBlockedIP(ip) {
			return fmt.Errorf("%w: host %q resolves to blocked address %s", ErrUnsafeAddress, host, ip)
		}
	}
	return nil
}

// RedactURL returns u as a string without user info and with every query
// value replaced by "REDACTED", so that it can be logged or put in an error.
// The fragment is dropped. A nil URL gives "".
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := *u
	r.User = nil
	r.Fragment = ""
	r.RawFragment = ""
	if r.RawQuery != "" {
		q, err := url.ParseQuery(r.RawQuery)
		if err != nil {
			r.RawQuery = "REDACTED"
		} else {
			for k, vs := range q {
				for i := range vs {
					vs[i] = "REDACTED"
				}
				q[k] = vs
			}
			r.RawQuery = q.Encode()
		}
	}
	return r.String()
}

// safeControl is a net.Dialer Control function that refuses to connect to a
// blocked address. It runs after name resolution, for every address dialed,
// so DNS rebinding cannot smuggle a blocked address past CheckURL.
func safeControl(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %q", ErrUnsafeAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrUnsafeAddress, err)
	}
	if IsBlockedIP(ap.Addr()) {
		return fmt.Errorf("%w: address %s is blocked", ErrUnsafeAddress, ap.Addr())
	}
	return nil
}
