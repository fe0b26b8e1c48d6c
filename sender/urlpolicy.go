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
	netip.MustParsePrefix("64:ff9b:1::/48"),    // local-use NAT64
	netip.MustParsePrefix("100::/64"),          // discard-only
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
// 240/4 and broadcast, the fd00:ec2::254 metadata address, and any IPv6 form
// that embeds one of those IPv4 addresses (IPv4-mapped, NAT64 64:ff9b::/96,
// 6to4 2002::/16). An invalid address is blocked.
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
// A host that is an IP literal blocked by IsBlockedIP, or a "localhost" name,
// is refused unless allowUnsafe. Errors wrap ErrBadURL (and ErrUnsafeAddress
// for blocked addresses) and never quote the query string or user info.
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
	if allowUnsafe {
		return nil
	}
	if ip, perr := netip.ParseAddr(host); perr == nil {
		if IsBlockedIP(ip) {
			return fmt.Errorf("%w: %w: %s: address %s is blocked", ErrBadURL, ErrUnsafeAddress, safe, ip)
		}
		return nil
	}
	if isLocalhostName(host) {
		return fmt.Errorf("%w: %w: %s: host %q is local", ErrBadURL, ErrUnsafeAddress, safe, host)
	}
	return nil
}

// isLocalhostName reports whether host is "localhost" or a name below it,
// which RFC 6761 reserves for loopback.
func isLocalhostName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// ResolveCheck resolves host with resolver (a zero net.Resolver when nil) and
// returns an error wrapping ErrUnsafeAddress if any address it resolves to is
// blocked by IsBlockedIP. An IP literal is checked without resolving. A DNS
// failure is not an error here: the dial-time check still guards the
// connection, and an endpoint may be unresolvable at validation time.
func ResolveCheck(ctx context.Context, host string, resolver *net.Resolver) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(host); err == nil {
		if IsBlockedIP(ip) {
			return fmt.Errorf("%w: address %s is blocked", ErrUnsafeAddress, ip)
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
