package sender

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Ensure header values split into literals and ${VAR} references.
func TestParseValue(t *testing.T) {
	tests := []struct {
		name     string
		given    string
		want     []segment
		wantRefs bool
		wantErr  bool
	}{
		{name: "Literal", given: "plain", want: []segment{{lit: "plain"}}},
		{name: "Empty", given: ""},
		{name: "DollarLiteral", given: "cost $5", want: []segment{{lit: "cost $5"}}},
		{name: "Var", given: "${KEY}", want: []segment{{name: "KEY"}}, wantRefs: true},
		{name: "Bearer", given: "Bearer ${KEY}", want: []segment{{lit: "Bearer "}, {name: "KEY"}}, wantRefs: true},
		{name: "Default", given: "${A:-x y}!", want: []segment{{name: "A", def: "x y", hasDef: true}, {lit: "!"}}, wantRefs: true},
		{name: "EmptyDefault", given: "${A:-}", want: []segment{{name: "A", hasDef: true}}, wantRefs: true},
		{name: "Two", given: "${A}:${B}", want: []segment{{name: "A"}, {lit: ":"}, {name: "B"}}, wantRefs: true},
		{name: "Unterminated", given: "Bearer ${KEY", wantErr: true},
		{name: "EmptyName", given: "${}", wantErr: true},
		{name: "BadName", given: "${1A}", wantErr: true},
		{name: "BadChar", given: "${A-B}", wantErr: true},
		// "$$" is a literal "$", as in every other config value.
		{name: "Escape", given: "cost $$10", want: []segment{{lit: "cost $10"}}},
		{name: "EscapedRef", given: "literal $${KEY}", want: []segment{{lit: "literal ${KEY}"}}},
		{name: "EscapeThenRef", given: "$$${KEY}", want: []segment{{lit: "$"}, {name: "KEY"}}, wantRefs: true},
		{name: "DoubleEscape", given: "$$$$", want: []segment{{lit: "$$"}}},
		{name: "BadNameThenUnterminated", given: "${1A} ${B", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, refs, err := parseValue(tc.given)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseValue(%q) error = %v, wantErr %v", tc.given, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if refs != tc.wantRefs || len(got) != len(tc.want) {
				t.Fatalf("parseValue(%q) = %+v, %v; want %+v, %v", tc.given, got, refs, tc.want, tc.wantRefs)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("segment %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// Ensure ScanEnv reports every malformed reference of a value and still
// passes on the references after an invalid name.
func TestScanEnv(t *testing.T) {
	var refs []string
	var lit strings.Builder
	err := ScanEnv("a $$ ${1A} ${B:-x} ${C-D} $${E} ${F", func(s string) { lit.WriteString(s) }, func(r EnvRef) { refs = append(refs, r.Name) })
	if err == nil {
		t.Fatal("ScanEnv succeeded, want an error")
	}
	for _, want := range []string{`"1A"`, `"C-D"`, `unterminated "${"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Join(refs, ",") != "B" {
		t.Errorf("refs = %v, want [B]", refs)
	}
	if got := lit.String(); got != "a $    ${E} " {
		t.Errorf("literal text = %q", got)
	}
}

// Ensure "$$" in a configured header is sent as one "$" and never resolves
// the variable it escapes, whether or not that variable is set.
func TestSender_Send_HeaderDollarEscape(t *testing.T) {
	for _, env := range []map[string]string{nil, {"AUD_NOT_SET_X": "leaked-value"}} {
		rc := &recorder{}
		ts := newServer(t, rc)
		s := newUnsafe(t, Endpoint{URL: ts.URL, Headers: map[string]string{
			"X-Cost": "cost $$10",
			"X-Lit":  "literal $${AUD_NOT_SET_X}",
		}}, Options{Getenv: fixedEnv(env)})
		att, err := s.Send(t.Context(), Delivery{ID: "d-1", Body: []byte(`{}`)})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		reqs := rc.requests()
		if len(reqs) != 1 {
			t.Fatalf("got %d requests, want 1", len(reqs))
		}
		if got := reqs[0].header.Get("X-Cost"); got != "cost $10" {
			t.Errorf("X-Cost sent as %q, want %q", got, "cost $10")
		}
		if got := reqs[0].header.Get("X-Lit"); got != "literal ${AUD_NOT_SET_X}" {
			t.Errorf("X-Lit sent as %q, want %q", got, "literal ${AUD_NOT_SET_X}")
		}
		if got := att.Request.Headers["X-Cost"]; got != "cost $10" {
			t.Errorf("Attempt shows X-Cost as %q, want %q", got, "cost $10")
		}
	}
}

// Ensure secret-looking header names are recognised.
func TestIsSensitiveName(t *testing.T) {
	tests := []struct {
		name  string
		given string
		want  bool
	}{
		{"Authorization", "Authorization", true},
		{"ProxyAuthorization", "Proxy-Authorization", true},
		{"Cookie", "Cookie", true},
		{"SetCookie", "Set-Cookie", true},
		{"XAPIKey", "X-Api-Key", true},
		{"APIKey", "Api-Key", true},
		{"Token", "X-Auth-Token", true},
		{"Secret", "X-Webhook-Secret", true},
		{"PrivateKey", "Private-Key", true},
		{"IdempotencyKey", "Idempotency-Key", false},
		{"ContentType", "Content-Type", false},
		{"Custom", "X-Source", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isSensitiveName(tc.given); got != tc.want {
				t.Errorf("isSensitiveName(%q) = %v, want %v", tc.given, got, tc.want)
			}
		})
	}
}

// Ensure New validates the endpoint and names the header and variable of a
// missing environment reference without quoting any value.
func TestNew(t *testing.T) {
	env := fixedEnv(map[string]string{"PRESENT": "value-123", "NEWLINE": "value-123\nX-B: 1"})
	good := Endpoint{Name: "hook", URL: "https://example.com/hook"}
	tests := []struct {
		name      string
		given     func(ep *Endpoint)
		wantErr   error
		wantTexts []string
	}{
		{name: "Good", given: func(ep *Endpoint) {}},
		{name: "LowercaseMethod", given: func(ep *Endpoint) { ep.Method = "put" }},
		{name: "PresentVar", given: func(ep *Endpoint) { ep.Headers = map[string]string{"Authorization": "Bearer ${PRESENT}"} }},
		{name: "MissingVarWithDefault", given: func(ep *Endpoint) { ep.Headers = map[string]string{"X-Env": "${NOPE:-dev}"} }},
		{
			name:      "MissingVar",
			given:     func(ep *Endpoint) { ep.Headers = map[string]string{"authorization": "Bearer ${CORALOGIX_API_KEY}"} },
			wantErr:   ErrMissingEnv,
			wantTexts: []string{"Authorization", "CORALOGIX_API_KEY"},
		},
		{name: "EmptyName", given: func(ep *Endpoint) { ep.Name = "" }, wantErr: ErrInvalidOption},
		{name: "HTTP", given: func(ep *Endpoint) { ep.URL = "http://example.com/" }, wantErr: ErrBadURL},
		{name: "Blocked", given: func(ep *Endpoint) { ep.URL = "https://169.254.169.254/" }, wantErr: ErrUnsafeAddress},
		{name: "BadMethod", given: func(ep *Endpoint) { ep.Method = "TRACE" }, wantErr: ErrBadMethod},
		{name: "BadHeaderName", given: func(ep *Endpoint) { ep.Headers = map[string]string{"Bad Name": "x"} }, wantErr: ErrBadHeader},
		{name: "HeaderCRLF", given: func(ep *Endpoint) { ep.Headers = map[string]string{"X-A": "a\r\nX-B: b"} }, wantErr: ErrBadHeader},
		{name: "Unterminated", given: func(ep *Endpoint) { ep.Headers = map[string]string{"X-A": "${A"} }, wantErr: ErrBadHeader},
		{name: "EscapedMissingVar", given: func(ep *Endpoint) { ep.Headers = map[string]string{"X-Lit": "literal $${NOT_SET}"} }},
		{
			name:      "ResolvedControlChar",
			given:     func(ep *Endpoint) { ep.Headers = map[string]string{"X-A": "${NEWLINE}"} },
			wantErr:   ErrBadHeader,
			wantTexts: []string{`header "X-A"`},
		},
		{name: "DuplicateHeader", given: func(ep *Endpoint) { ep.Headers = map[string]string{"x-a": "1", "X-A": "2"} }, wantErr: ErrBadHeader},
		{name: "NegativeTimeout", given: func(ep *Endpoint) { ep.Timeout = -1 }, wantErr: ErrInvalidOption},
		{name: "NegativeConcurrency", given: func(ep *Endpoint) { ep.Concurrency = -1 }, wantErr: ErrInvalidOption},
		{name: "RatioAboveOne", given: func(ep *Endpoint) { ep.Breaker.FailureRatio = 1.5 }, wantErr: ErrInvalidOption},
		{name: "InitialAboveMax", given: func(ep *Endpoint) { ep.Retry = RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Minute} }, wantErr: ErrInvalidOption},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := good
			tc.given(&ep)
			s, err := New(ep, Options{Getenv: env})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("New() error = %v, want %v", err, tc.wantErr)
			}
			for _, want := range tc.wantTexts {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if err != nil && strings.Contains(err.Error(), "value-123") {
				t.Errorf("error %q leaks a variable's value", err)
			}
			if err != nil && strings.Contains(err.Error(), `webhook "hook"`) {
				t.Errorf("error %q names the webhook; the caller does that", err)
			}
			if s != nil {
				s.Close()
			}
		})
	}
}

// Ensure New applies the documented defaults.
func TestNew_Defaults(t *testing.T) {
	s, err := New(Endpoint{Name: "hook", URL: "https://example.com/"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := RetryPolicy{MaxAttempts: DefaultMaxAttempts, InitialBackoff: DefaultInitialBackoff, MaxBackoff: DefaultMaxBackoff}
	if got := s.RetryPolicy(); got != want {
		t.Errorf("RetryPolicy() = %+v, want %+v", got, want)
	}
	if s.method != DefaultMethod || s.timeout != DefaultTimeout || s.Name() != "hook" {
		t.Errorf("method %q timeout %s name %q, want defaults", s.method, s.timeout, s.Name())
	}
	if got := s.Breaker().State; got != "closed" {
		t.Errorf("Breaker().State = %q, want closed", got)
	}
}
