package sender

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Ensure CheckURL accepts only https URLs on port 443 without user info or
// blocked IP literals, and that AllowUnsafe lifts the restrictions.
func TestCheckURL(t *testing.T) {
	tests := []struct {
		name        string
		given       string
		allowUnsafe bool
		wantErr     error
		wantUnsafe  bool
	}{
		{name: "GoodHTTPS", given: "https://api.coralogix.us/api/v1/logs"},
		{name: "Port443", given: "https://example.com:443/hook"},
		{name: "PublicIPLiteral", given: "https://93.184.216.34/hook"},
		{name: "HTTP", given: "http://example.com/hook", wantErr: ErrBadURL},
		{name: "Port8443", given: "https://example.com:8443/hook", wantErr: ErrBadURL},
		{name: "UserInfo", given: "https://user:pass@example.com/hook", wantErr: ErrBadURL},
		{name: "PrivateIPv4", given: "https://10.0.0.1/hook", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "Metadata", given: "https://169.254.169.254/latest/meta-data", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "IPv6Loopback", given: "https://[::1]/hook", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "IPv6ULA", given: "https://[fd00::1]/hook", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "IPv4MappedLoopback", given: "https://[::ffff:127.0.0.1]/hook", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "IPv4TranslatedLoopback", given: "https://[::ffff:0:7f00:1]/", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "IPv6SiteLocal", given: "https://[fec0::1]/hook", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "Localhost", given: "https://localhost/hook", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "Loopback", given: "https://127.0.0.1/hook", wantErr: ErrBadURL, wantUnsafe: true},
		{name: "EmptyHost", given: "https:///hook", wantErr: ErrBadURL},
		{name: "Relative", given: "/hook", wantErr: ErrBadURL},
		{name: "FTP", given: "ftp://example.com/x", wantErr: ErrBadURL},
		{name: "Opaque", given: "https:example.com", wantErr: ErrBadURL},
		{name: "BadPort", given: "https://example.com:99999/", wantErr: ErrBadURL},
		{name: "Unparseable", given: "https://exa mple.com/%zz", wantErr: ErrBadURL},
		{name: "UnsafeHTTP", given: "http://127.0.0.1:8080/hook", allowUnsafe: true},
		{name: "UnsafePrivate", given: "https://10.0.0.1:8443/hook", allowUnsafe: true},
		{name: "UnsafeStillNoUserInfo", given: "http://u:p@127.0.0.1/", allowUnsafe: true, wantErr: ErrBadURL},
		// IPv4 addresses written as numbers get the address rules too.
		{name: "Hex32", given: "https://0x7f000001/", wantErr: ErrBadURL, wantUnsafe: true},                  // 127.0.0.1
		{name: "Decimal32", given: "https://2130706433/", wantErr: ErrBadURL, wantUnsafe: true},              // 127.0.0.1
		{name: "Octal", given: "https://0177.0.0.1/", wantErr: ErrBadURL, wantUnsafe: true},                  // 127.0.0.1
		{name: "TwoParts", given: "https://127.1/", wantErr: ErrBadURL, wantUnsafe: true},                    // 127.0.0.1
		{name: "HexTwoParts", given: "https://0x7f.1/", wantErr: ErrBadURL, wantUnsafe: true},                // 127.0.0.1
		{name: "PrivateTrailingDot", given: "https://10.0.0.1./", wantErr: ErrBadURL, wantUnsafe: true},      // 10.0.0.1
		{name: "MetadataDecimal", given: "https://2852039166/", wantErr: ErrBadURL, wantUnsafe: true},        // 169.254.169.254
		{name: "WithPort443", given: "https://0x7f000001:443/", wantErr: ErrBadURL, wantUnsafe: true},        // port does not matter
		{name: "FiveParts", given: "https://1.2.3.4.5/", wantErr: ErrBadURL},                                 // not an address
		{name: "Overflow", given: "https://999999999999/", wantErr: ErrBadURL},                               // not an address
		{name: "MalformedEvenWhenUnsafe", given: "http://1.2.3.4.5/", allowUnsafe: true, wantErr: ErrBadURL}, // unsafe does not fix syntax
		{name: "LoopbackWhenUnsafe", given: "http://127.1:8080/", allowUnsafe: true},                         // unsafe lifts the address rule
		{name: "HexPublic", given: "https://0x5db8d822/hook"},                                                // 93.184.216.34
		{name: "PlainPublic", given: "https://93.184.216.34/hook"},                                           // as before
		{name: "PlainLoopback", given: "https://127.0.0.1/hook", wantErr: ErrBadURL, wantUnsafe: true},       // as before
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckURL(tc.given, tc.allowUnsafe)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("CheckURL(%q) = %v, want %v", tc.given, err, tc.wantErr)
			}
			if got := errors.Is(err, ErrUnsafeAddress); got != tc.wantUnsafe {
				t.Errorf("errors.Is(err, ErrUnsafeAddress) = %v, want %v (err %v)", got, tc.wantUnsafe, err)
			}
			if err != nil && strings.Contains(err.Error(), "pass") {
				t.Errorf("error text leaks user info: %v", err)
			}
		})
	}
}

// Ensure CheckURL's errors do not quote the query string.
func TestCheckURL_RedactsQuery(t *testing.T) {
	err := CheckURL("http://example.com/hook?token=hunter2secret", false)
	if err == nil {
		t.Fatal("CheckURL accepted http")
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("error text leaks query value: %v", err)
	}
}

// Ensure IsBlockedIP blocks internal, special and embedded-internal
// addresses and allows public ones.
func TestIsBlockedIP(t *testing.T) {
	tests := []struct {
		name  string
		given string
		want  bool
	}{
		{"Loopback", "127.0.0.1", true},
		{"Loopback8", "127.255.0.9", true},
		{"Private10", "10.1.2.3", true},
		{"Private172", "172.16.0.1", true},
		{"Private172Top", "172.31.255.255", true},
		{"Public172", "172.32.0.1", false},
		{"Private192", "192.168.1.1", true},
		{"LinkLocal", "169.254.1.1", true},
		{"Metadata", "169.254.169.254", true},
		{"Unspecified", "0.0.0.0", true},
		{"ThisNetwork", "0.1.2.3", true},
		{"CGNAT", "100.64.0.1", true},
		{"CGNATTop", "100.127.255.255", true},
		{"PublicBelowCGNAT", "100.63.255.255", false},
		{"Multicast", "224.0.0.1", true},
		{"Broadcast", "255.255.255.255", true},
		{"Reserved", "240.0.0.1", true},
		{"Public", "93.184.216.34", false},
		{"PublicDNS", "8.8.8.8", false},
		{"IPv6Loopback", "::1", true},
		{"IPv6Unspecified", "::", true},
		{"IPv6ULA", "fd00::1", true},
		{"IPv6ULAfc", "fc00::1", true},
		{"IPv6LinkLocal", "fe80::1", true},
		{"IPv6LinkLocalZone", "fe80::1%eth0", true},
		{"IPv6Multicast", "ff02::1", true},
		{"AWSMetadataIPv6", "fd00:ec2::254", true},
		{"MappedLoopback", "::ffff:127.0.0.1", true},
		{"MappedMetadata", "::ffff:169.254.169.254", true},
		{"MappedPublic", "::ffff:8.8.8.8", false},
		{"NAT64Private", "64:ff9b::a00:1", true},
		{"NAT64Public", "64:ff9b::808:808", false},
		{"SixToFourLoopback", "2002:7f00:1::", true},
		{"SixToFourPublic", "2002:808:808::", false},
		{"PublicIPv6", "2606:4700:4700::1111", false},
		{"SiteLocal", "fec0::1", true},                      // fec0::/10, deprecated
		{"SiteLocalTop", "feff:ffff::1", true},              // last of fec0::/10
		{"IPv4TranslatedLoopback", "::ffff:0:7f00:1", true}, // ::ffff:0:0:0/96 (SIIT)
		{"IPv4TranslatedPublic", "::ffff:0:808:808", true},  // the whole range
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsBlockedIP(netip.MustParseAddr(tc.given)); got != tc.want {
				t.Errorf("IsBlockedIP(%s) = %v, want %v", tc.given, got, tc.want)
			}
		})
	}
	t.Run("Invalid", func(t *testing.T) {
		// Ensure the zero Addr is blocked.
		if !IsBlockedIP(netip.Addr{}) {
			t.Error("IsBlockedIP(zero) = false, want true")
		}
	})
}

// Ensure the dial-time check refuses exactly what IsBlockedIP blocks,
// including the deprecated site-local and IPv4-translated IPv6 ranges.
func TestSafeControl(t *testing.T) {
	tests := []struct {
		name    string
		given   string
		wantErr error
	}{
		{name: "SiteLocal", given: "[fec0::1]:443", wantErr: ErrUnsafeAddress},
		{name: "IPv4Translated", given: "[::ffff:0:7f00:1]:443", wantErr: ErrUnsafeAddress},
		{name: "IPv4Mapped", given: "[::ffff:127.0.0.1]:443", wantErr: ErrUnsafeAddress},
		{name: "Loopback", given: "127.0.0.1:443", wantErr: ErrUnsafeAddress},
		{name: "Public", given: "93.184.216.34:443"},
		{name: "PublicIPv6", given: "[2606:4700:4700::1111]:443"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := safeControl("tcp", tc.given, nil)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("safeControl(%q) = %v, want %v", tc.given, err, tc.wantErr)
			}
		})
	}
}

// Ensure ResolveCheck refuses blocked literals and local names and ignores
// resolution failures.
func TestResolveCheck(t *testing.T) {
	// A resolver whose DNS server refuses every connection: lookups of real
	// names fail fast without leaving the machine.
	failing := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return nil, errors.New("no dns in tests")
		},
	}
	tests := []struct {
		name    string
		given   string
		wantErr error
	}{
		{name: "LoopbackLiteral", given: "127.0.0.1", wantErr: ErrUnsafeAddress},
		{name: "BracketedIPv6", given: "[::1]", wantErr: ErrUnsafeAddress},
		{name: "Metadata", given: "169.254.169.254", wantErr: ErrUnsafeAddress},
		{name: "Localhost", given: "localhost", wantErr: ErrUnsafeAddress},
		{name: "PublicLiteral", given: "93.184.216.34"},
		{name: "DNSFailureIsNotAnError", given: "hooks.example.com"},
		// Numeric hosts are addresses, decided without DNS.
		{name: "Hex32", given: "0x7f000001", wantErr: ErrUnsafeAddress}, // 127.0.0.1
		{name: "TwoParts", given: "127.1", wantErr: ErrUnsafeAddress},   // 127.0.0.1
		{name: "FiveParts", given: "1.2.3.4.5", wantErr: ErrBadURL},     // not an address
		{name: "HexPublic", given: "0x5db8d822"},                        // 93.184.216.34
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := ResolveCheck(ctx, tc.given, failing)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("ResolveCheck(%q) = %v, want %v", tc.given, err, tc.wantErr)
			}
		})
	}
}

// Ensure the default transport refuses to dial a blocked address when unsafe
// URLs are not allowed, whether the URL names the IP or a name resolving to
// it, and that the server sees no connection at all.
func TestSender_Send_BlockedDial(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			rc := &recorder{}
			ts := httptest.NewUnstartedServer(rc)
			conns := countConns(ts)
			ts.Start()
			t.Cleanup(ts.Close)
			_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())

			// CheckURL would refuse this URL statically; build the sender
			// with AllowUnsafe and then swap in the safe connection pool to
			// prove the dial-time check on its own.
			s := newUnsafe(t, Endpoint{URL: "http://" + net.JoinHostPort(host, port) + "/hook?k=v"}, Options{})
			s.pool = newPool(net.JoinHostPort(host, port), nil, false, 2, time.Second)

			att, err := s.Send(t.Context(), Delivery{ID: "d-1", Body: []byte(`{}`)})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Send error = %v, want *Error", err)
			}
			if !errors.Is(err, ErrUnsafeAddress) || e.Class != Permanent || e.Reason != ReasonBadURL {
				t.Errorf("Send error = %v (class %s, reason %s), want ErrUnsafeAddress permanent bad_url", err, e.Class, e.Reason)
			}
			if att.Response != nil {
				t.Errorf("Attempt.Response = %+v, want nil", att.Response)
			}
			if n := conns.Load(); n != 0 {
				t.Errorf("server saw %d connections, want 0", n)
			}
			if n := rc.count.Load(); n != 0 {
				t.Errorf("server saw %d requests, want 0", n)
			}
			if c := s.Breaker().Counts; c.TotalFailures != 0 || c.TotalExclusions != 1 {
				t.Errorf("breaker counts = %+v, want the attempt excluded", c)
			}
		})
	}
}
