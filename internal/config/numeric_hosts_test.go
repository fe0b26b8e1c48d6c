package config_test

import (
	"testing"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/sender"
)

// Ensure webhook hosts written as IPv4 numbers (inet_aton / WHATWG forms)
// get the same address rules as dotted-quad literals, and malformed ones are
// refused as invalid hosts.
func TestParse_NumericHosts(t *testing.T) {
	const blocked = `is the address 127.0.0.1, which is blocked`
	checkRules(t, []ruleCase{
		// One hex number for the whole address.
		{name: "Hex32", given: "webhooks:\n  - name: a\n    url: https://0x7f000001/\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "0x7f000001" ` + blocked}, wantIs: sender.ErrUnsafeAddress},
		// One decimal number for the whole address.
		{name: "Decimal32", given: "webhooks:\n  - name: a\n    url: https://2130706433/\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "2130706433" ` + blocked}, wantIs: sender.ErrUnsafeAddress},
		// An octal first part.
		{name: "OctalPart", given: "webhooks:\n  - name: a\n    url: https://0177.0.0.1/\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "0177.0.0.1" ` + blocked}, wantIs: sender.ErrUnsafeAddress},
		// Two parts: the last fills three bytes.
		{name: "TwoParts", given: "webhooks:\n  - name: a\n    url: https://127.1/\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "127.1" ` + blocked}, wantIs: sender.ErrUnsafeAddress},
		// A hex part followed by a decimal one.
		{name: "HexTwoParts", given: "webhooks:\n  - name: a\n    url: https://0x7f.1/\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "0x7f.1" ` + blocked}, wantIs: sender.ErrUnsafeAddress},
		// The metadata address as one decimal number (169.254.169.254).
		{name: "MetadataDecimal", given: "webhooks:\n  - name: a\n    url: https://2852039166/latest\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "2852039166" is the address 169.254.169.254, which is blocked`}, wantIs: sender.ErrUnsafeAddress},
		// A dotted quad with a trailing dot is still that address.
		{name: "TrailingDot", given: "webhooks:\n  - name: a\n    url: https://10.0.0.1./\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "10.0.0.1." is the address 10.0.0.1, which is blocked`}, wantIs: sender.ErrUnsafeAddress},
		// Five parts: ends in a number but is no IPv4 address.
		{name: "FiveParts", given: "webhooks:\n  - name: a\n    url: https://1.2.3.4.5/\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "1.2.3.4.5" ends in a number but is not a valid IPv4 address`}, wantIs: sender.ErrBadURL},
		// A number too large for 32 bits.
		{name: "Overflow", given: "webhooks:\n  - name: a\n    url: https://999999999999/\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "999999999999" ends in a number but is not a valid IPv4 address`}, wantIs: sender.ErrBadURL},
		// A name whose last label is numeric is not a valid host either.
		{name: "NameEndingInNumber", given: "webhooks:\n  - name: a\n    url: https://hooks.example.123/\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, `host "hooks.example.123" ends in a number`}, wantIs: sender.ErrBadURL},
		// The Coralogix endpoint goes through the same rule.
		{name: "CoralogixEndpoint", given: "webhooks:\n  - name: a\n    coralogix:\n      endpoint: https://0x7f.1\n      application_name: a\n      subsystem_name: b\n",
			wantErr: []string{`webhooks[0].coralogix.endpoint (line 4, col 7): `, `host "0x7f.1" ` + blocked}, wantIs: sender.ErrUnsafeAddress},
		// allow_unsafe_urls does not make a malformed host valid.
		{name: "MalformedEvenWhenUnsafe", given: "delivery:\n  allow_unsafe_urls: true\nwebhooks:\n  - name: a\n    url: http://1.2.3.4.5:8080/\n",
			wantErr: []string{`webhooks[0].url (line 5, col 5): `, `not a valid IPv4 address`}, wantIs: sender.ErrBadURL},
	})
}

// Ensure numeric hosts that name public addresses, numeric hosts under
// allow_unsafe_urls, and names that merely contain digits still pass.
func TestParse_NumericHostsValid(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		unsafe bool
	}{
		{"DottedQuadPublic", "https://93.184.216.34/hook", false},   // plain literal, as before
		{"HexPublic", "https://0x5db8d822/hook", false},             // 93.184.216.34 in hex
		{"TwoPartsPublic", "https://8.526344/hook", false},          // 8.8.8.8 as a.b
		{"DigitsInsideName", "https://1.2.3.4.example.com/", false}, // last label is not a number
		{"HexLookingTLD", "https://hooks.example.0xzz/", false},     // "0xzz" is not hex
		{"LoopbackWhenUnsafe", "http://127.1:9999/", true},          // unsafe lifts the address rule
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			given := "delivery:\n  allow_unsafe_urls: " + map[bool]string{false: "false", true: "true"}[test.unsafe] +
				"\nwebhooks:\n  - name: a\n    url: " + test.url + "\n"
			if _, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil)}); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}
