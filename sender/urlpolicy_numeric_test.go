package sender

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// Ensure hostIP reads hosts that end in a number as inet_aton IPv4
// addresses, leaves names and IPv6 alone, and refuses malformed numbers.
func TestHostIP(t *testing.T) {
	tests := []struct {
		name    string
		given   string
		want    string // the address; "" for a name
		wantErr bool
	}{
		{"DottedQuad", "127.0.0.1", "127.0.0.1", false},              // plain literal, via netip as before
		{"IPv6", "::1", "::1", false},                                // IPv6 literal, via netip as before
		{"Name", "hooks.example.com", "", false},                     // an ordinary name
		{"NameWithDigits", "1.2.3.4.example.com", "", false},         // last label is not a number
		{"NotHex", "hooks.0xzz", "", false},                          // "0x" then non-hex: a name
		{"Hex32", "0x7f000001", "127.0.0.1", false},                  // one hex number
		{"HexUpper", "0X7F000001", "127.0.0.1", false},               // upper-case prefix and digits
		{"Decimal32", "2130706433", "127.0.0.1", false},              // one decimal number
		{"OctalPart", "0177.0.0.1", "127.0.0.1", false},              // octal first part
		{"OctalAll", "0177.00.00.01", "127.0.0.1", false},            // octal in every part
		{"TwoParts", "127.1", "127.0.0.1", false},                    // last part fills three bytes
		{"ThreeParts", "10.1.258", "10.1.1.2", false},                // last part fills two bytes
		{"HexTwoParts", "0x7f.1", "127.0.0.1", false},                // hex then decimal
		{"EmptyHex", "0x", "0.0.0.0", false},                         // "0x" alone is 0 (inet_aton, WHATWG)
		{"TrailingDot", "127.0.0.1.", "127.0.0.1", false},            // one trailing dot is ignored
		{"LeadingZeroDecimalIsOctal", "010.0.0.1", "8.0.0.1", false}, // 010 is octal 8, as inet_aton reads it
		{"MaxDecimal", "4294967295", "255.255.255.255", false},       // largest 32-bit value
		{"Overflow32", "4294967296", "", true},                       // one past 32 bits
		{"OverflowHuge", "999999999999", "", true},                   // far past 32 bits
		{"FiveParts", "1.2.3.4.5", "", true},                         // more than four parts
		{"PartTooBig", "256.0.0.1", "", true},                        // a non-last part above 255
		{"LastTooBigForTwo", "1.16777216", "", true},                 // last of two parts above 2^24-1
		{"BadOctalDigit", "08.0.0.1", "", true},                      // 8 is not an octal digit
		{"EmptyPart", "127..1", "", true},                            // empty part inside
		{"NameThenNumber", "hooks.example.123", "", true},            // a name label before a number
		{"TwoTrailingDots", "127.0.0.1..", "", false},                // last label empty: not a number, a name
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ip, isIP, err := hostIP(tc.given)
			if (err != nil) != tc.wantErr {
				t.Fatalf("hostIP(%q) error = %v, want error %v", tc.given, err, tc.wantErr)
			}
			got := ""
			if isIP {
				got = ip.String()
			}
			if got != tc.want {
				t.Errorf("hostIP(%q) = %q, want %q", tc.given, got, tc.want)
			}
		})
	}
}

// Ensure CheckURL applies the address rules to numeric IPv4 hosts and
// refuses malformed ones, while plain literals behave as before.
func TestCheckURL_NumericHosts(t *testing.T) {
	tests := []struct {
		name        string
		given       string
		allowUnsafe bool
		wantErr     error
		wantUnsafe  bool
	}{
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
		})
	}
}

// Ensure New, which builds the sender used at send time, refuses numeric
// hosts through the same CheckURL.
func TestNew_NumericHost(t *testing.T) {
	_, err := New(Endpoint{Name: "a", URL: "https://0x7f000001/hook"}, Options{})
	if !errors.Is(err, ErrUnsafeAddress) {
		t.Fatalf("New = %v, want ErrUnsafeAddress", err)
	}
}

// Ensure ResolveCheck reads numeric hosts as addresses without resolving.
func TestResolveCheck_NumericHosts(t *testing.T) {
	// Every lookup fails: a numeric host must be decided without DNS.
	failing := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no dns in tests")
	}}
	tests := []struct {
		name    string
		given   string
		wantErr error
	}{
		{"Hex32", "0x7f000001", ErrUnsafeAddress}, // 127.0.0.1
		{"TwoParts", "127.1", ErrUnsafeAddress},   // 127.0.0.1
		{"FiveParts", "1.2.3.4.5", ErrBadURL},     // not an address
		{"HexPublic", "0x5db8d822", nil},          // 93.184.216.34
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
