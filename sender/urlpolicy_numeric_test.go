package sender

import (
	"errors"
	"testing"
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

// Ensure New, which builds the sender used at send time, refuses numeric
// hosts through the same CheckURL.
func TestNew_NumericHost(t *testing.T) {
	_, err := New(Endpoint{Name: "a", URL: "https://0x7f000001/hook"}, Options{})
	if !errors.Is(err, ErrUnsafeAddress) {
		t.Fatalf("New = %v, want ErrUnsafeAddress", err)
	}
}
