package sink

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hookrelay/hookrelay/internal/testutil"
)

const testKey = "cxtp_test-key"

// seedTemplate is the body template of the seed page, verbatim: valid JSON
// whose integration_type_fields string holds JSON too.
const seedTemplate = `{
   "alias":"apono-webhook",
   "integration_type_fields":"{ \"event_type\": \"{{ event_type }}\", \"event_time\": \"{{ event_time }}\", \"id\": \"{{ data.id }}\", \"friendly_id\": \"{{ data.friendly_id }}\", \"requester_id\": \"{{ data.requester.id }}\", \"requester_name\": \"{{ data.requester.name }}\", \"requester_email\": \"{{ data.requester.email }}\", \"justification\": \"{{ data.justification }}\", \"creation_date\": \"{{ data.creation_date }}\", \"access_flow_id\": \"{{ data.access_flow.id }}\", \"access_flow_name\": \"{{ data.access_flow.name }}\", \"access_bundle_id\": \"{{ data.access_bundle.id }}\", \"access_bundle_name\": \"{{ data.access_bundle.id }}\", \"access_groups_integration_name\": \"{{ data.access_groups.[0].integration.name }}\", \"access_groups_integration_type\": \"{{ data.access_groups.[0].integration.type }}\"}",
   "url":"<https://api.coralogix.us/api/v1/logs>"
}`

// seedBody renders the seed's generic body the way hookrelay must: the inner
// JSON is encoded, then encoded again as a string.
func seedBody(t testing.TB, justification string) []byte {
	t.Helper()
	inner, err := json.Marshal(map[string]string{
		"event_type":    "RequestCreated",
		"event_time":    "1732406400.123456",
		"id":            "req-1",
		"justification": justification,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"alias":                   "apono-webhook",
		"integration_type_fields": string(inner),
		"url":                     "<https://api.coralogix.us/api/v1/logs>",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkFor polls until f returns nil; see testutil.CheckFor.
var checkFor = testutil.CheckFor

// newTestSink starts a sink behind a TLS httptest server.
func newTestSink(t testing.TB, opts Options) (*Sink, *httptest.Server) {
	t.Helper()
	s := New(opts)
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func strictOptions() Options {
	o := DefaultOptions()
	o.APIKey = testKey
	return o
}

// request describes one request sent by do.
type request struct {
	method  string // default POST
	path    string
	body    []byte
	gzip    bool
	headers map[string]string
	noAuth  bool
	chunked bool // hide the length so the body is sent chunked
}

type response struct {
	status int
	body   string
	header http.Header
}

func do(t testing.TB, srv *httptest.Server, req request) response {
	t.Helper()
	resp, err := send(t.Context(), srv, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// send sends req to srv; unlike do it may be called from any goroutine.
func send(ctx context.Context, srv *httptest.Server, req request) (response, error) {
	method := req.method
	if method == "" {
		method = http.MethodPost
	}
	body := req.body
	if req.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var rd io.Reader = bytes.NewReader(body)
	if req.chunked {
		rd = struct{ io.Reader }{rd}
	}
	r, err := http.NewRequestWithContext(ctx, method, srv.URL+req.path, rd)
	if err != nil {
		return response{}, err
	}
	r.Header.Set("Content-Type", "application/json")
	if !req.noAuth {
		r.Header.Set("Authorization", "Bearer "+testKey)
	}
	if req.gzip {
		r.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range req.headers {
		r.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(r)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}, nil
}

// Ensure every endpoint accepts valid bodies and counts their entries by
// application, subsystem, severity and path.
func TestSink_ServeHTTP_Accept(t *testing.T) {
	tests := []struct {
		name        string
		givenPath   string
		givenBody   []byte
		givenGzip   bool
		givenNoAuth bool
		wantEntries int64
		wantApp     map[string]int64
		wantSub     map[string]int64
		wantSev     map[string]int64
	}{
		{
			name:      "singles",
			givenPath: PathSingles,
			givenBody: []byte(`[{"applicationName":"apono","subsystemName":"access","text":"created","severity":3,
				"timestamp":1732406400123.456,"hiResTimestamp":"1732406400123456000","computerName":"relay-1",
				"category":"c","className":"k","methodName":"m","threadId":"t"},
				{"applicationName":"apono","subsystemName":"audit","text":{"event_type":"RequestGranted","n":[1,2]},"severity":6}]`),
			wantEntries: 2,
			wantApp:     map[string]int64{"apono": 2},
			wantSub:     map[string]int64{"access": 1, "audit": 1},
			wantSev:     map[string]int64{"3": 1, "6": 1},
		},
		{
			name:        "singles without severity",
			givenPath:   PathSingles,
			givenBody:   []byte(`[{"applicationName":"a","subsystemName":"s","text":""}]`),
			wantEntries: 1,
			wantApp:     map[string]int64{"a": 1},
			wantSub:     map[string]int64{"s": 1},
			wantSev:     map[string]int64{},
		},
		{
			name:        "singles with escaped names",
			givenPath:   PathSingles,
			givenBody:   []byte(`[{"applicationName":"ap\u006Fno \"x\"","subsystemName":"s\/1","text":"t"},{"applicationName":"apono \"x\"","subsystemName":"s/1","text":"t"}]`),
			wantEntries: 2,
			wantApp:     map[string]int64{`apono "x"`: 2},
			wantSub:     map[string]int64{"s/1": 2},
			wantSev:     map[string]int64{},
		},
		{
			name:        "singles empty array",
			givenPath:   PathSingles,
			givenBody:   []byte(` [ ] `),
			wantEntries: 0,
			wantApp:     map[string]int64{},
			wantSub:     map[string]int64{},
			wantSev:     map[string]int64{},
		},
		{
			name:        "singles gzip",
			givenPath:   PathSingles,
			givenBody:   singlesBody(100, 200),
			givenGzip:   true,
			wantEntries: 100,
			wantApp:     map[string]int64{"apono": 100},
			wantSub:     map[string]int64{"access-requests": 100},
			wantSev:     map[string]int64{"3": 100},
		},
		{
			name:      "bulk",
			givenPath: PathBulk,
			givenBody: []byte(`{"logEntries":[{"timestamp":1732406400123,"severity":5,"text":"a","hiResTimestamp":"1","className":"c","methodName":"m","threadId":"t","category":"x"},
				{"severity":1,"text":{"k":"v"}}],"applicationName":"apono","subsystemName":"bulk","computerName":"h"}`),
			wantEntries: 2,
			wantApp:     map[string]int64{"apono": 2},
			wantSub:     map[string]int64{"bulk": 2},
			wantSev:     map[string]int64{"5": 1, "1": 1},
		},
		{
			name:        "bulk gzip",
			givenPath:   PathBulk,
			givenBody:   []byte(`{"applicationName":"apono","subsystemName":"bulk","logEntries":[{"severity":4,"text":"w"}]}`),
			givenGzip:   true,
			wantEntries: 1,
			wantApp:     map[string]int64{"apono": 1},
			wantSub:     map[string]int64{"bulk": 1},
			wantSev:     map[string]int64{"4": 1},
		},
		{
			name:        "legacy object with bearer",
			givenPath:   PathLegacy,
			givenBody:   []byte(`{"privateKey":"other","applicationName":"apono","subsystemName":"legacy","logEntries":[{"timestamp":1,"severity":2,"text":"x"}]}`),
			wantEntries: 1,
			wantApp:     map[string]int64{"apono": 1},
			wantSub:     map[string]int64{"legacy": 1},
			wantSev:     map[string]int64{"2": 1},
		},
		{
			name:        "legacy object with privateKey instead of bearer",
			givenPath:   PathLegacy,
			givenBody:   []byte(`{"privateKey":"` + testKey + `","applicationName":"apono","subsystemName":"legacy","logEntries":[{"severity":3,"text":"x"},{"severity":3,"text":"y"}]}`),
			givenNoAuth: true,
			wantEntries: 2,
			wantApp:     map[string]int64{"apono": 2},
			wantSub:     map[string]int64{"legacy": 2},
			wantSev:     map[string]int64{"3": 2},
		},
		{
			name:        "seed template verbatim",
			givenPath:   PathLegacy,
			givenBody:   []byte(seedTemplate),
			wantEntries: 1,
			wantApp:     map[string]int64{},
			wantSub:     map[string]int64{},
			wantSev:     map[string]int64{},
		},
		{
			name:        "seed body rendered with quotes and newlines",
			givenPath:   PathLegacy,
			givenBody:   seedBody(t, "needs \"prod\" access\nfor {{ incident }} \\ now"),
			wantEntries: 1,
			wantApp:     map[string]int64{},
			wantSub:     map[string]int64{},
			wantSev:     map[string]int64{},
		},
		{
			name:        "seed body gzip",
			givenPath:   PathLegacy,
			givenBody:   seedBody(t, "x"),
			givenGzip:   true,
			wantEntries: 1,
			wantApp:     map[string]int64{},
			wantSub:     map[string]int64{},
			wantSev:     map[string]int64{},
		},
		{
			name:        "generic object without integration_type_fields",
			givenPath:   PathLegacy,
			givenBody:   []byte(`{"anything":[1,2,{"x":null}],"integration_type_fields":{"already":"an object"}}`),
			wantEntries: 1,
			wantApp:     map[string]int64{},
			wantSub:     map[string]int64{},
			wantSev:     map[string]int64{},
		},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			s, srv := newTestSink(t, strictOptions())
			resp := do(t, srv, request{path: test.givenPath, body: test.givenBody, gzip: test.givenGzip, noAuth: test.givenNoAuth})
			if resp.status != http.StatusOK || resp.body != "{}" {
				t.Fatalf("got %d %q, want 200 {}", resp.status, resp.body)
			}
			got := s.Received()
			if got.Requests != 1 || got.Accepted != 1 || got.Entries != test.wantEntries {
				t.Fatalf("requests/accepted/entries = %d/%d/%d, want 1/1/%d", got.Requests, got.Accepted, got.Entries, test.wantEntries)
			}
			if got.Bytes != int64(len(test.givenBody)) {
				t.Errorf("bytes = %d, want %d (decompressed)", got.Bytes, len(test.givenBody))
			}
			assertCounts(t, "by_application", got.ByApplication, test.wantApp)
			assertCounts(t, "by_subsystem", got.BySubsystem, test.wantSub)
			assertCounts(t, "by_severity", got.BySeverity, test.wantSev)
			assertCounts(t, "by_path", got.ByPath, map[string]int64{test.givenPath: 1})
			assertCounts(t, "rejected", got.Rejected, map[string]int64{})
		})
	}
}

func assertCounts(t testing.TB, what string, got, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
	}
}

// Ensure every kind of bad request is answered with its status and a reason
// naming the problem, and counted as rejected without entries.
func TestSink_ServeHTTP_Reject(t *testing.T) {
	const entry = `{"applicationName":"apono","subsystemName":"s","text":"t","severity":3}`
	tests := []struct {
		name         string
		givenRequest request
		wantStatus   int
		wantReason   string
	}{
		{
			name:         "missing authorization",
			givenRequest: request{path: PathSingles, body: []byte(`[` + entry + `]`), noAuth: true},
			wantStatus:   401,
			wantReason:   "missing Authorization",
		},
		{
			name:         "wrong key",
			givenRequest: request{path: PathSingles, body: []byte(`[` + entry + `]`), headers: map[string]string{"Authorization": "Bearer nope"}},
			wantStatus:   401,
			wantReason:   "invalid API key",
		},
		{
			name:         "not a bearer token",
			givenRequest: request{path: PathBulk, body: []byte(`{}`), headers: map[string]string{"Authorization": "Basic " + testKey}},
			wantStatus:   401,
			wantReason:   "not a Bearer token",
		},
		{
			name:         "legacy without bearer or privateKey",
			givenRequest: request{path: PathLegacy, body: seedBody(t, "x"), noAuth: true},
			wantStatus:   401,
			wantReason:   "missing Authorization",
		},
		{
			name:         "legacy with wrong privateKey",
			givenRequest: request{path: PathLegacy, body: []byte(`{"privateKey":"nope","applicationName":"a","subsystemName":"s","logEntries":[]}`), noAuth: true},
			wantStatus:   401,
		},
		{
			name:         "unknown fields are named",
			givenRequest: request{path: PathSingles, body: []byte(`[` + entry + `,{"applicationName":"a","subsystemName":"s","text":"t","colour":"red","siz\u0065":1}]`)},
			wantStatus:   400,
			wantReason:   `logs[1]: unknown fields "colour", "size"`,
		},
		{
			name:         "missing applicationName",
			givenRequest: request{path: PathSingles, body: []byte(`[{"subsystemName":"s","text":"t"}]`)},
			wantStatus:   400,
			wantReason:   `missing required field "applicationName"`,
		},
		{
			name:         "empty applicationName",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"","subsystemName":"s","text":"t"}]`)},
			wantStatus:   400,
			wantReason:   `"applicationName"`,
		},
		{
			name:         "blank subsystemName",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"  ","text":"t"}]`)},
			wantStatus:   400,
			wantReason:   `missing required field "subsystemName"`,
		},
		{
			name:         "empty subsystemName in bulk",
			givenRequest: request{path: PathBulk, body: []byte(`{"applicationName":"a","subsystemName":"","logEntries":[{"severity":3,"text":"t"}]}`)},
			wantStatus:   400,
			wantReason:   `"subsystemName"`,
		},
		{
			name:         "applicationName not a string",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":7,"subsystemName":"s","text":"t"}]`)},
			wantStatus:   400,
			wantReason:   "applicationName must be a string",
		},
		{
			name:         "missing subsystemName",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","text":"t"}]`)},
			wantStatus:   400,
			wantReason:   `"subsystemName"`,
		},
		{
			name:         "severity too high",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s","text":"t","severity":7}]`)},
			wantStatus:   400,
			wantReason:   "severity must be an integer from 1 to 6",
		},
		{
			name:         "severity zero",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s","text":"t","severity":0}]`)},
			wantStatus:   400,
			wantReason:   "severity",
		},
		{
			name:         "severity fractional",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s","text":"t","severity":3.5}]`)},
			wantStatus:   400,
			wantReason:   "severity",
		},
		{
			name:         "severity as string",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s","text":"t","severity":"3"}]`)},
			wantStatus:   400,
			wantReason:   "severity",
		},
		{
			name:         "text missing",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s"}]`)},
			wantStatus:   400,
			wantReason:   `missing required field "text"`,
		},
		{
			name:         "text null",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s","text":null}]`)},
			wantStatus:   400,
			wantReason:   "text must be a string or an object",
		},
		{
			name:         "timestamp as string",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s","text":"t","timestamp":"1"}]`)},
			wantStatus:   400,
			wantReason:   "timestamp",
		},
		{
			name:         "hiResTimestamp not digits",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s","text":"t","hiResTimestamp":"12a"}]`)},
			wantStatus:   400,
			wantReason:   "hiResTimestamp",
		},
		{
			name:         "singles entry not an object",
			givenRequest: request{path: PathSingles, body: []byte(`["text"]`)},
			wantStatus:   400,
			wantReason:   "logs[0] must be an object",
		},
		{
			name:         "singles body is an object",
			givenRequest: request{path: PathSingles, body: []byte(entry)},
			wantStatus:   400,
			wantReason:   "must be a JSON array",
		},
		{
			name:         "not JSON",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a",}]`)},
			wantStatus:   400,
			wantReason:   "invalid JSON",
		},
		{
			name:         "trailing data",
			givenRequest: request{path: PathSingles, body: []byte(`[` + entry + `] []`)},
			wantStatus:   400,
			wantReason:   "trailing data",
		},
		{
			name:         "empty body",
			givenRequest: request{path: PathBulk},
			wantStatus:   400,
			wantReason:   "invalid JSON",
		},
		{
			name:         "bulk missing severity",
			givenRequest: request{path: PathBulk, body: []byte(`{"applicationName":"a","subsystemName":"s","logEntries":[{"text":"t"}]}`)},
			wantStatus:   400,
			wantReason:   `logEntries[0]: missing required field "severity"`,
		},
		{
			name:         "bulk entry with applicationName",
			givenRequest: request{path: PathBulk, body: []byte(`{"applicationName":"a","subsystemName":"s","logEntries":[{"text":"t","severity":1,"applicationName":"a"}]}`)},
			wantStatus:   400,
			wantReason:   `unknown field "applicationName"`,
		},
		{
			name:         "bulk unknown top-level field",
			givenRequest: request{path: PathBulk, body: []byte(`{"applicationName":"a","subsystemName":"s","privateKey":"k","logEntries":[]}`)},
			wantStatus:   400,
			wantReason:   `unknown field "privateKey"`,
		},
		{
			name:         "bulk missing logEntries",
			givenRequest: request{path: PathBulk, body: []byte(`{"applicationName":"a","subsystemName":"s"}`)},
			wantStatus:   400,
			wantReason:   `"logEntries"`,
		},
		{
			name:         "legacy object with bad entry",
			givenRequest: request{path: PathLegacy, body: []byte(`{"applicationName":"a","subsystemName":"s","logEntries":[{"severity":9,"text":"t"}]}`)},
			wantStatus:   400,
			wantReason:   "severity",
		},
		{
			name:         "seed body whose integration_type_fields is not JSON",
			givenRequest: request{path: PathLegacy, body: []byte(`{"alias":"apono-webhook","integration_type_fields":"{ \"justification\": \"say \"hi\"\" }","url":"x"}`)},
			wantStatus:   400,
			wantReason:   "integration_type_fields is a string but not JSON",
		},
		{
			name:         "seed body with a raw newline in the inner JSON",
			givenRequest: request{path: PathLegacy, body: []byte(`{"integration_type_fields":"{ \"justification\": \"a\nb\" }"}`)},
			wantStatus:   400,
			wantReason:   "integration_type_fields",
		},
		{
			name:         "generic body not an object",
			givenRequest: request{path: PathLegacy, body: []byte(`["a"]`)},
			wantStatus:   400,
			wantReason:   "must be a JSON object",
		},
		{
			name:         "bad gzip stream",
			givenRequest: request{path: PathSingles, body: []byte(`[]`), headers: map[string]string{"Content-Encoding": "gzip"}},
			wantStatus:   400,
			wantReason:   "invalid gzip",
		},
		{
			name:         "truncated gzip stream",
			givenRequest: request{path: PathSingles, body: gzipped(t, singlesBody(50, 100))[:200], headers: map[string]string{"Content-Encoding": "gzip"}},
			wantStatus:   400,
			wantReason:   "invalid gzip",
		},
		{
			name:         "gzip stream far larger than its content",
			givenRequest: request{path: PathSingles, body: emptyGzipMembers(t, 300_000), headers: map[string]string{"Content-Encoding": "gzip"}},
			wantStatus:   413,
			wantReason:   "exceeds 2000000 bytes",
		},
		{
			name:         "chunked gzip stream far larger than its content",
			givenRequest: request{path: PathSingles, body: emptyGzipMembers(t, 300_000), headers: map[string]string{"Content-Encoding": "gzip"}, chunked: true},
			wantStatus:   413,
			wantReason:   "exceeds 2000000 bytes",
		},
		{
			name:         "chunked plain body over 2 MB",
			givenRequest: request{path: PathSingles, body: padded(`[]`, DefaultMaxBodyBytes+1), chunked: true},
			wantStatus:   413,
			wantReason:   "exceeds 2000000 bytes",
		},
		{
			name:         "unsupported encoding",
			givenRequest: request{path: PathSingles, body: []byte(`[]`), headers: map[string]string{"Content-Encoding": "br"}},
			wantStatus:   415,
			wantReason:   "unsupported content encoding",
		},
		{
			name:         "decompressed body over 2 MB",
			givenRequest: request{path: PathSingles, body: padded(`[]`, DefaultMaxBodyBytes+1), gzip: true},
			wantStatus:   413,
			wantReason:   "exceeds 2000000 bytes",
		},
		{
			name:         "plain body over 2 MB",
			givenRequest: request{path: PathSingles, body: padded(`[]`, DefaultMaxBodyBytes+1)},
			wantStatus:   413,
			wantReason:   "exceeds 2000000 bytes",
		},
		{
			name:         "wrong method",
			givenRequest: request{method: http.MethodGet, path: PathSingles},
			wantStatus:   405,
		},
		{
			name:         "unknown path",
			givenRequest: request{path: "/logs/v2/singles", body: []byte(`[]`)},
			wantStatus:   404,
		},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			s, srv := newTestSink(t, strictOptions())
			resp := do(t, srv, test.givenRequest)
			if resp.status != test.wantStatus {
				t.Fatalf("got %d %q, want %d", resp.status, resp.body, test.wantStatus)
			}
			if !strings.Contains(resp.body, test.wantReason) {
				t.Fatalf("reason %q does not contain %q", resp.body, test.wantReason)
			}
			if resp.header.Get("Retry-After") != "" {
				t.Errorf("Retry-After set on a real rejection")
			}
			got := s.Received()
			assertCounts(t, "rejected", got.Rejected, map[string]int64{fmt.Sprint(test.wantStatus): 1})
			if got.Requests != 1 || got.Accepted != 0 || got.Entries != 0 || got.Bytes != 0 {
				t.Fatalf("requests/accepted/entries/bytes = %d/%d/%d/%d, want 1/0/0/0", got.Requests, got.Accepted, got.Entries, got.Bytes)
			}
			if tally := s.Tally(); tally.Rejected != 1 {
				t.Fatalf("tally rejected = %d, want 1", tally.Rejected)
			}
		})
	}
}

// emptyGzipMembers returns n concatenated gzip members without content:
// a valid multistream gzip body that decompresses to nothing.
func emptyGzipMembers(t testing.TB, n int) []byte {
	one := gzipped(t, nil)
	return bytes.Repeat(one, n)
}

// padded returns prefix followed by spaces up to n bytes: valid JSON of an
// exact size.
func padded(prefix string, n int) []byte {
	return append([]byte(prefix), bytes.Repeat([]byte(" "), n-len(prefix))...)
}

// Ensure a body of exactly MaxBodyBytes is accepted, plain or gzip, and a
// custom limit applies to the decompressed size.
func TestSink_ServeHTTP_SizeLimit(t *testing.T) {
	tests := []struct {
		name       string
		givenMax   int
		givenSize  int
		givenGzip  bool
		wantStatus int
	}{
		{name: "default limit exactly", givenSize: DefaultMaxBodyBytes, wantStatus: 200},
		{name: "default limit exactly gzip", givenSize: DefaultMaxBodyBytes, givenGzip: true, wantStatus: 200},
		{name: "custom limit exactly", givenMax: 1000, givenSize: 1000, givenGzip: true, wantStatus: 200},
		{name: "custom limit plus one", givenMax: 1000, givenSize: 1001, givenGzip: true, wantStatus: 413},
		{name: "custom limit plus one plain", givenMax: 1000, givenSize: 1001, wantStatus: 413},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			opts := strictOptions()
			opts.MaxBodyBytes = test.givenMax
			_, srv := newTestSink(t, opts)
			resp := do(t, srv, request{path: PathSingles, body: padded(`[]`, test.givenSize), gzip: test.givenGzip})
			if resp.status != test.wantStatus {
				t.Fatalf("got %d %q, want %d", resp.status, resp.body, test.wantStatus)
			}
		})
	}
}

// Ensure that with Validate off the schema is not enforced but JSON syntax,
// authentication and size still are.
func TestSink_ServeHTTP_NoValidate(t *testing.T) {
	tests := []struct {
		name         string
		givenRequest request
		wantStatus   int
		wantEntries  int64
	}{
		{
			name:         "unknown field and bad severity accepted",
			givenRequest: request{path: PathSingles, body: []byte(`[{"applicationName":"a","colour":"red","severity":9},{"severity":2}]`)},
			wantStatus:   200,
			wantEntries:  2,
		},
		{
			name:         "seed body with broken inner JSON accepted",
			givenRequest: request{path: PathLegacy, body: []byte(`{"integration_type_fields":"{ \"a\": \"b\"\" }"}`)},
			wantStatus:   200,
			wantEntries:  1,
		},
		{
			name:         "bulk without names accepted",
			givenRequest: request{path: PathBulk, body: []byte(`{"logEntries":[{},{},{}]}`), gzip: true},
			wantStatus:   200,
			wantEntries:  3,
		},
		{
			name:         "invalid JSON still rejected",
			givenRequest: request{path: PathSingles, body: []byte(`[{]`)},
			wantStatus:   400,
		},
		{
			name:         "auth still checked",
			givenRequest: request{path: PathSingles, body: []byte(`[]`), noAuth: true},
			wantStatus:   401,
		},
		{
			name:         "size still checked",
			givenRequest: request{path: PathSingles, body: padded(`[]`, DefaultMaxBodyBytes+1), gzip: true},
			wantStatus:   413,
		},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			opts := strictOptions()
			opts.Validate = false
			s, srv := newTestSink(t, opts)
			resp := do(t, srv, test.givenRequest)
			if resp.status != test.wantStatus {
				t.Fatalf("got %d %q, want %d", resp.status, resp.body, test.wantStatus)
			}
			if got := s.Tally().Entries; got != test.wantEntries {
				t.Fatalf("entries = %d, want %d", got, test.wantEntries)
			}
		})
	}
}

// Ensure Status answers every ingestion request, authenticated or not, with
// Retry-After, while /received and /healthz keep working.
func TestSink_ServeHTTP_Status(t *testing.T) {
	opts := strictOptions()
	opts.Status = 503
	opts.RetryAfter = "7"
	s, srv := newTestSink(t, opts)
	for _, req := range []request{
		{path: PathSingles, body: singlesBody(1, 10)},
		{path: PathBulk, body: []byte(`not json`), noAuth: true},
		{path: PathLegacy, body: seedBody(t, "x")},
	} {
		resp := do(t, srv, req)
		if resp.status != 503 || resp.header.Get("Retry-After") != "7" {
			t.Fatalf("%s: got %d Retry-After %q, want 503 and 7", req.path, resp.status, resp.header.Get("Retry-After"))
		}
	}
	if resp := do(t, srv, request{method: http.MethodGet, path: PathHealth}); resp.status != 200 {
		t.Fatalf("healthz = %d", resp.status)
	}
	resp := do(t, srv, request{method: http.MethodGet, path: PathReceived})
	var snap Snapshot
	if err := json.Unmarshal([]byte(resp.body), &snap); err != nil || resp.status != 200 {
		t.Fatalf("GET /received = %d %q: %v", resp.status, resp.body, err)
	}
	assertCounts(t, "rejected", snap.Rejected, map[string]int64{"503": 3})
	if snap.Requests != 3 || snap.Entries != 0 || s.Tally().Rejected != 3 {
		t.Fatalf("requests %d entries %d rejected %d, want 3 0 3", snap.Requests, snap.Entries, s.Tally().Rejected)
	}
}

// Ensure FailRate fails exactly the requests for which the injected rand
// falls below it, with FailStatus and Retry-After, counting only the others.
func TestSink_ServeHTTP_FailRate(t *testing.T) {
	draws := []float64{0.1, 0.9, 0.29, 0.3, 0.0, 0.99}
	wantStatus := []int{429, 200, 429, 200, 429, 200}
	var next atomic.Int64
	opts := strictOptions()
	opts.FailRate = 0.3
	opts.FailStatus = 429
	opts.RetryAfter = "2"
	opts.Rand = func() float64 { return draws[next.Add(1)-1] }
	s, srv := newTestSink(t, opts)
	for k, want := range wantStatus {
		resp := do(t, srv, request{path: PathSingles, body: singlesBody(2, 10), headers: map[string]string{"Idempotency-Key": fmt.Sprint("key-", k)}})
		if resp.status != want {
			t.Fatalf("request %d: got %d, want %d", k, resp.status, want)
		}
		if gotRA, wantRA := resp.header.Get("Retry-After"), map[bool]string{true: "2", false: ""}[want == 429]; gotRA != wantRA {
			t.Fatalf("request %d: Retry-After %q, want %q", k, gotRA, wantRA)
		}
	}
	// An invalid request is rejected before the draw.
	if resp := do(t, srv, request{path: PathSingles, body: []byte(`{`)}); resp.status != 400 {
		t.Fatalf("invalid body: got %d, want 400", resp.status)
	}
	got := s.Tally()
	want := Tally{Requests: 7, Accepted: 3, Entries: 6, Bytes: got.Bytes, Rejected: 4, UniqueKeys: 3}
	if got != want {
		t.Fatalf("tally = %+v, want %+v", got, want)
	}
	if n := next.Load(); n != int64(len(draws)) {
		t.Fatalf("rand drawn %d times, want %d", n, len(draws))
	}
	assertCounts(t, "rejected", s.Received().Rejected, map[string]int64{"429": 3, "400": 1})
}

// Ensure Latency delays answers and ends with the request's context, counting
// the abandoned request as 499 and not as accepted.
func TestSink_ServeHTTP_Latency(t *testing.T) {
	t.Run("delays the answer", func(t *testing.T) {
		opts := strictOptions()
		opts.Latency = 50 * time.Millisecond
		s, srv := newTestSink(t, opts)
		start := time.Now()
		resp := do(t, srv, request{path: PathSingles, body: singlesBody(1, 10)})
		if took := time.Since(start); resp.status != 200 || took < opts.Latency {
			t.Fatalf("got %d after %v, want 200 after at least %v", resp.status, took, opts.Latency)
		}
		if s.Tally().Entries != 1 {
			t.Fatalf("entries = %d, want 1", s.Tally().Entries)
		}
	})
	t.Run("bounded by the request context", func(t *testing.T) {
		opts := strictOptions()
		opts.Latency = time.Hour
		s, srv := newTestSink(t, opts)
		// Open the TLS connection first so the deadline below only covers the wait.
		if resp := do(t, srv, request{method: http.MethodGet, path: PathHealth}); resp.status != 200 {
			t.Fatalf("healthz = %d", resp.status)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+PathSingles, bytes.NewReader(singlesBody(1, 10)))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+testKey)
		start := time.Now()
		resp, err := srv.Client().Do(r)
		if err == nil {
			// The sink answers 499 if it notices the leaving client first.
			resp.Body.Close()
			if resp.StatusCode != StatusClientClosed {
				t.Fatalf("got %d, want a client timeout", resp.StatusCode)
			}
		}
		if (err != nil && ctx.Err() == nil) || time.Since(start) > 5*time.Second {
			t.Fatalf("got %v after %v, want the client's deadline to end the request soon", err, time.Since(start))
		}
		checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
			if got := s.Received().Rejected["499"]; got != 1 {
				return fmt.Errorf("rejected 499 = %d, want 1", got)
			}
			return nil
		})
		if got := s.Tally(); got.Accepted != 0 || got.Entries != 0 {
			t.Fatalf("abandoned request counted: %+v", got)
		}
	})
}

// Ensure GET /received reports every counter and the kept entries with their
// headers, and DELETE /received resets them.
func TestSink_Received(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	opts := strictOptions()
	opts.Keep = 3
	opts.Now = func() time.Time { return at }
	s, srv := newTestSink(t, opts)
	hdr := map[string]string{"Idempotency-Key": "k1", "User-Agent": "hookrelay/test"}
	do(t, srv, request{path: PathSingles, body: []byte(`[{"applicationName":"a","subsystemName":"s","text":"1","severity":1},{"applicationName":"b","subsystemName":"s","text":"2","severity":1}]`), headers: hdr})
	do(t, srv, request{path: PathBulk, body: []byte(`{"applicationName":"a","subsystemName":"t","logEntries":[{"severity":5,"text":"3"},{"severity":5,"text":{"n":4}}]}`), gzip: true, headers: map[string]string{"Idempotency-Key": "k2"}})
	do(t, srv, request{path: PathSingles, body: []byte(`[]`), noAuth: true})

	resp := do(t, srv, request{method: http.MethodGet, path: PathReceived})
	if resp.status != 200 || !strings.HasPrefix(resp.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /received = %d %s", resp.status, resp.header.Get("Content-Type"))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(resp.body), &raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"requests", "entries", "bytes", "rejected", "by_application", "by_subsystem", "by_severity", "by_path", "unique_keys", "duplicate_keys", "unique_entries", "duplicate_entries", "last"} {
		if _, ok := raw[field]; !ok {
			t.Errorf("GET /received lacks %q", field)
		}
	}
	var got Snapshot
	if err := json.Unmarshal([]byte(resp.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Requests != 3 || got.Accepted != 2 || got.Entries != 4 || got.UniqueKeys != 2 {
		t.Fatalf("requests/accepted/entries/unique_keys = %d/%d/%d/%d, want 3/2/4/2", got.Requests, got.Accepted, got.Entries, got.UniqueKeys)
	}
	assertCounts(t, "rejected", got.Rejected, map[string]int64{"401": 1})
	assertCounts(t, "by_application", got.ByApplication, map[string]int64{"a": 3, "b": 1})
	assertCounts(t, "by_subsystem", got.BySubsystem, map[string]int64{"s": 2, "t": 2})
	assertCounts(t, "by_severity", got.BySeverity, map[string]int64{"1": 2, "5": 2})
	assertCounts(t, "by_path", got.ByPath, map[string]int64{PathSingles: 1, PathBulk: 1})

	wantLast := []KeptEntry{
		{Path: PathSingles, ReceivedAt: at, Headers: map[string]string{"Idempotency-Key": "k1", "User-Agent": "hookrelay/test", "Content-Type": "application/json"},
			Entry: json.RawMessage(`{"applicationName":"b","subsystemName":"s","text":"2","severity":1}`)},
		{Path: PathBulk, ReceivedAt: at, Headers: map[string]string{"Idempotency-Key": "k2", "User-Agent": "Go-http-client/1.1", "Content-Type": "application/json"},
			ApplicationName: "a", SubsystemName: "t", Entry: json.RawMessage(`{"severity":5,"text":"3"}`)},
		{Path: PathBulk, ReceivedAt: at, Headers: map[string]string{"Idempotency-Key": "k2", "User-Agent": "Go-http-client/1.1", "Content-Type": "application/json"},
			ApplicationName: "a", SubsystemName: "t", Entry: json.RawMessage(`{"severity":5,"text":{"n":4}}`)},
	}
	if len(got.Last) != len(wantLast) {
		t.Fatalf("last = %+v, want %d entries", got.Last, len(wantLast))
	}
	for k, want := range wantLast {
		g := got.Last[k]
		if g.Path != want.Path || !g.ReceivedAt.Equal(want.ReceivedAt) || g.ApplicationName != want.ApplicationName ||
			g.SubsystemName != want.SubsystemName || fmt.Sprint(g.Headers) != fmt.Sprint(want.Headers) || !jsonEqual(t, g.Entry, want.Entry) {
			t.Errorf("last[%d] = %+v (entry %s), want %+v (entry %s)", k, g, g.Entry, want, want.Entry)
		}
	}

	if resp := do(t, srv, request{method: http.MethodDelete, path: PathReceived}); resp.status != 200 {
		t.Fatalf("DELETE /received = %d", resp.status)
	}
	after := s.Received()
	if after.Requests != 0 || after.Entries != 0 || len(after.Rejected) != 0 || len(after.ByApplication) != 0 ||
		len(after.BySeverity) != 0 || len(after.ByPath) != 0 || after.UniqueKeys != 0 || len(after.Last) != 0 {
		t.Fatalf("after reset: %+v", after)
	}
	// A key seen before the reset is new again.
	do(t, srv, request{path: PathSingles, body: []byte(`[]`), headers: hdr})
	if got := s.Tally(); got.UniqueKeys != 1 || got.DuplicateKeys != 0 {
		t.Fatalf("after reset: %+v", got)
	}
	if resp := do(t, srv, request{method: http.MethodPut, path: PathReceived}); resp.status != 405 {
		t.Fatalf("PUT /received = %d, want 405", resp.status)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// Ensure Keep keeps only the most recent entries, oldest first, across and
// within requests.
func TestSink_Received_Keep(t *testing.T) {
	opts := strictOptions()
	opts.Keep = 4
	s, srv := newTestSink(t, opts)
	do(t, srv, request{path: PathSingles, body: singlesBody(3, 10)})
	do(t, srv, request{path: PathLegacy, body: seedBody(t, "x")})
	do(t, srv, request{path: PathSingles, body: singlesBody(6, 10)})
	last := s.Received().Last
	if len(last) != 4 {
		t.Fatalf("kept %d entries, want 4", len(last))
	}
	for k, e := range last {
		var got struct{ Text struct{ Seq int } }
		if err := json.Unmarshal(e.Entry, &got); err != nil {
			t.Fatal(err)
		}
		if want := k + 2; got.Text.Seq != want {
			t.Errorf("last[%d] has seq %d, want %d", k, got.Text.Seq, want)
		}
	}
}

// Ensure Idempotency-Key values and EntryKey values are counted as unique or
// duplicate, only for accepted requests.
func TestSink_Tally_Idempotency(t *testing.T) {
	opts := strictOptions()
	opts.EntryKey = func(entry json.RawMessage) string {
		var e struct{ Text struct{ ID string } }
		json.Unmarshal(entry, &e)
		return e.Text.ID
	}
	s, srv := newTestSink(t, opts)
	body := func(ids ...string) []byte {
		var parts []string
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf(`{"applicationName":"a","subsystemName":"s","text":{"id":%q}}`, id))
		}
		return []byte("[" + strings.Join(parts, ",") + "]")
	}
	steps := []struct {
		key  string
		body []byte
		auth bool
	}{
		{key: "d1", body: body("e1", "e2"), auth: true},
		{key: "d2", body: body("e3"), auth: true},
		{key: "d1", body: body("e1", "e2"), auth: true}, // a replay
		{key: "d3", body: body("e4"), auth: false},      // rejected: not counted
		{key: "", body: body("e3", "e5", ""), auth: true},
	}
	for _, step := range steps {
		do(t, srv, request{path: PathSingles, body: step.body, noAuth: !step.auth, headers: map[string]string{"Idempotency-Key": step.key}})
	}
	got := s.Tally()
	if got.UniqueKeys != 2 || got.DuplicateKeys != 1 {
		t.Errorf("keys unique/duplicate = %d/%d, want 2/1", got.UniqueKeys, got.DuplicateKeys)
	}
	if got.UniqueEntries != 4 || got.DuplicateEntries != 3 {
		t.Errorf("entries unique/duplicate = %d/%d, want 4/3", got.UniqueEntries, got.DuplicateEntries)
	}
}

// Ensure ContentKey counts an entry sent again byte for byte as a
// duplicate, in a batch and in a generic request, and a changed one as new.
func TestSink_ContentKey(t *testing.T) {
	opts := strictOptions()
	opts.EntryKey = ContentKey
	s, srv := newTestSink(t, opts)
	entry := func(id string) string {
		return fmt.Sprintf(`{"applicationName":"a","subsystemName":"s","text":{"id":%q}}`, id)
	}
	do(t, srv, request{path: PathSingles, body: []byte("[" + entry("e1") + "," + entry("e2") + "]")})
	do(t, srv, request{path: PathSingles, body: []byte("[" + entry("e2") + "," + entry("e3") + "]")})
	do(t, srv, request{path: PathSingles, body: []byte("[" + entry("e1") + "]")})
	if got := s.Tally(); got.UniqueEntries != 3 || got.DuplicateEntries != 2 {
		t.Errorf("entries unique/duplicate = %d/%d, want 3/2", got.UniqueEntries, got.DuplicateEntries)
	}
	if ContentKey([]byte(entry("e1"))) == ContentKey([]byte(entry("e4"))) {
		t.Error("two entries share a key")
	}
}

// Ensure counts stay exact when many clients send at once over TLS, while
// others read the counters.
func TestSink_ServeHTTP_Concurrent(t *testing.T) {
	const clients, perClient, batch = 8, 40, 25
	opts := strictOptions()
	opts.Keep = 10
	opts.EntryKey = func(entry json.RawMessage) string {
		var e struct{ Text struct{ ID string } }
		json.Unmarshal(entry, &e)
		return e.Text.ID
	}
	s, srv := newTestSink(t, opts)
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for c := range clients {
		wg.Go(func() {
			for k := range perClient {
				var parts []string
				for e := range batch {
					parts = append(parts, fmt.Sprintf(`{"applicationName":"app-%d","subsystemName":"s","severity":%d,"text":{"id":"%d-%d-%d"}}`, c%3, 1+e%6, c, k, e))
				}
				req := request{path: PathSingles, body: []byte("[" + strings.Join(parts, ",") + "]"), gzip: k%2 == 0,
					headers: map[string]string{"Idempotency-Key": fmt.Sprintf("%d-%d", c, k)}}
				if resp, err := send(t.Context(), srv, req); err != nil || resp.status != 200 {
					errs <- fmt.Errorf("client %d request %d: %d %s %v", c, k, resp.status, resp.body, err)
				}
				// every client replays its first request once
				if k == perClient-1 {
					req.body = []byte("[" + strings.Join(parts[:0], ",") + "]")
					req.headers["Idempotency-Key"] = fmt.Sprintf("%d-0", c)
					if resp, err := send(t.Context(), srv, req); err != nil || resp.status != 200 {
						errs <- fmt.Errorf("client %d replay: %d %v", c, resp.status, err)
					}
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				s.Received()
				s.Tally()
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := s.Received()
	const reqs = clients * (perClient + 1)
	if got.Requests != reqs || got.Accepted != reqs || got.Entries != clients*perClient*batch {
		t.Fatalf("requests/accepted/entries = %d/%d/%d, want %d/%d/%d", got.Requests, got.Accepted, got.Entries, reqs, reqs, clients*perClient*batch)
	}
	if got.UniqueKeys != clients*perClient || got.DuplicateKeys != clients {
		t.Fatalf("keys unique/duplicate = %d/%d, want %d/%d", got.UniqueKeys, got.DuplicateKeys, clients*perClient, clients)
	}
	if got.UniqueEntries != clients*perClient*batch || got.DuplicateEntries != 0 {
		t.Fatalf("entries unique/duplicate = %d/%d", got.UniqueEntries, got.DuplicateEntries)
	}
	var sum int64
	for _, n := range got.ByApplication {
		sum += n
	}
	if sum != got.Entries || len(got.ByApplication) != 3 || len(got.BySeverity) != 6 || len(got.Last) != 10 {
		t.Fatalf("by_application %v by_severity %v last %d", got.ByApplication, got.BySeverity, len(got.Last))
	}
}

// Ensure many distinct names in one request are all counted.
func TestSink_ServeHTTP_ManyNames(t *testing.T) {
	s, srv := newTestSink(t, strictOptions())
	const n = 3 * maxLocalKeys
	var parts []string
	for k := range n {
		parts = append(parts, fmt.Sprintf(`{"applicationName":"app-%d","subsystemName":"s\u002d%d","text":"t"}`, k, k%(2*maxLocalKeys)))
	}
	parts = append(parts, parts...)
	if resp := do(t, srv, request{path: PathSingles, body: []byte("[" + strings.Join(parts, ",") + "]")}); resp.status != 200 {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
	got := s.Received()
	if len(got.ByApplication) != n || len(got.BySubsystem) != 2*maxLocalKeys {
		t.Fatalf("%d applications, %d subsystems; want %d, %d", len(got.ByApplication), len(got.BySubsystem), n, 2*maxLocalKeys)
	}
	for k := range n {
		if c := got.ByApplication[fmt.Sprint("app-", k)]; c != 2 {
			t.Fatalf("app-%d counted %d times, want 2", k, c)
		}
	}
	if c := got.BySubsystem["s-0"]; c != 4 {
		t.Fatalf("s-0 counted %d times, want 4", c)
	}
}

// Ensure GET /healthz answers 200 without touching the counters.
func TestSink_ServeHTTP_Healthz(t *testing.T) {
	s, srv := newTestSink(t, strictOptions())
	resp := do(t, srv, request{method: http.MethodGet, path: PathHealth, noAuth: true})
	if resp.status != 200 || resp.body != "ok\n" {
		t.Fatalf("got %d %q", resp.status, resp.body)
	}
	if got := s.Tally(); got != (Tally{}) {
		t.Fatalf("tally = %+v, want zero", got)
	}
}

// Ensure a sink without an API key accepts requests without Authorization.
func TestSink_ServeHTTP_NoAPIKey(t *testing.T) {
	_, srv := newTestSink(t, DefaultOptions())
	if resp := do(t, srv, request{path: PathSingles, body: singlesBody(1, 1), noAuth: true}); resp.status != 200 {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
}

// syncBuffer is a log sink tests read while the code under test writes.
type syncBuffer = testutil.SyncBuffer

// Ensure RunTally prints a line per interval with rates from the injected
// clock, and returns when its context ends.
func TestSink_RunTally(t *testing.T) {
	var clock atomic.Int64 // seconds; every call advances by 2s
	opts := strictOptions()
	opts.Now = func() time.Time { return time.Unix(clock.Add(2), 0) }
	s, srv := newTestSink(t, opts)
	do(t, srv, request{path: PathSingles, body: singlesBody(10, 10)})
	do(t, srv, request{path: PathSingles, body: []byte(`[]`), noAuth: true})

	var out syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunTally(ctx, &out, time.Millisecond)
	}()
	checkFor(t, 5*time.Second, time.Millisecond, func() error {
		if !strings.Contains(out.String(), "\n") {
			return errors.New("no line yet")
		}
		return nil
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunTally did not return after cancel")
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	if want := "sink: 2 req (+0/s) 10 entries (+0/s) rejected 1"; first != want {
		t.Fatalf("got %q, want %q", first, want)
	}

	t.Run("zero interval returns at once", func(t *testing.T) {
		s.RunTally(t.Context(), io.Discard, 0)
	})
}

// Ensure tallyLine computes per-second rates over the elapsed time.
func TestSink_RunTally_Line(t *testing.T) {
	tests := []struct {
		name         string
		givenPrev    Tally
		givenCur     Tally
		givenElapsed time.Duration
		want         string
	}{
		{
			name:         "one second",
			givenPrev:    Tally{Requests: 1114, Entries: 51789},
			givenCur:     Tally{Requests: 1234, Entries: 56789, Rejected: 3},
			givenElapsed: time.Second,
			want:         "sink: 1234 req (+120/s) 56789 entries (+5000/s) rejected 3\n",
		},
		{
			name:         "half a second",
			givenPrev:    Tally{Requests: 0, Entries: 0},
			givenCur:     Tally{Requests: 10, Entries: 100},
			givenElapsed: 500 * time.Millisecond,
			want:         "sink: 10 req (+20/s) 100 entries (+200/s) rejected 0\n",
		},
		{
			name:         "no time",
			givenCur:     Tally{Requests: 10},
			givenElapsed: 0,
			want:         "sink: 10 req (+0/s) 0 entries (+0/s) rejected 0\n",
		},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if got := tallyLine(test.givenPrev, test.givenCur, test.givenElapsed); got != test.want {
				t.Fatalf("got %q, want %q", got, test.want)
			}
		})
	}
}

// Ensure Check refuses unusable options and New still serves with defaults.
func TestOptions_Check(t *testing.T) {
	tests := []struct {
		name    string
		given   Options
		wantErr error
	}{
		{name: "defaults", given: DefaultOptions()},
		{name: "zero", given: Options{}},
		{name: "faults", given: Options{FailRate: 1, FailStatus: 429, Status: 302, Latency: time.Second, Keep: 5}},
		{name: "negative max body", given: Options{MaxBodyBytes: -1}, wantErr: ErrInvalidOption},
		{name: "fail rate above one", given: Options{FailRate: 1.5}, wantErr: ErrInvalidOption},
		{name: "fail rate negative", given: Options{FailRate: -0.1}, wantErr: ErrInvalidOption},
		{name: "fail status 200", given: Options{FailStatus: 200}, wantErr: ErrInvalidOption},
		{name: "status 99", given: Options{Status: 99}, wantErr: ErrInvalidOption},
		{name: "status 600", given: Options{Status: 600}, wantErr: ErrInvalidOption},
		{name: "negative latency", given: Options{Latency: -time.Second}, wantErr: ErrInvalidOption},
		{name: "negative keep", given: Options{Keep: -1}, wantErr: ErrInvalidOption},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if err := test.given.Check(); !errors.Is(err, test.wantErr) {
				t.Fatalf("Check() = %v, want %v", err, test.wantErr)
			}
			// New replaces what Check refuses; the sink still answers.
			test.given.Latency = 0
			rec := httptest.NewRecorder()
			New(test.given).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathSingles, strings.NewReader(`[]`)))
			if rec.Code == 0 || rec.Code == http.StatusRequestEntityTooLarge {
				t.Fatalf("New(%+v) answered %d", test.given, rec.Code)
			}
		})
	}
}

// singlesBody returns a singles array of n entries of roughly size bytes each,
// whose text objects carry a sequence number.
func singlesBody(n, size int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	pad := strings.Repeat("x", max(0, size-200))
	for k := range n {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"applicationName":"apono","subsystemName":"access-requests","computerName":"relay-1","severity":3,`+
			`"timestamp":%d.5,"hiResTimestamp":"%d000000","text":{"seq":%d,"event_type":"AccessRequestCreated","id":"req-%d","justification":"%s"}}`,
			1732406400000+k, 1732406400000+k, k, k, pad)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// Ensure rejections are logged at debug level with path, status and reason,
// and never with the API key.
func TestSink_ServeHTTP_Logging(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	opts := strictOptions()
	opts.Logger = zap.New(core)
	_, srv := newTestSink(t, opts)
	do(t, srv, request{path: PathSingles, body: []byte(`[1]`)})
	do(t, srv, request{path: PathSingles, body: []byte(`[]`), headers: map[string]string{"Authorization": "Bearer " + testKey + "x"}})
	do(t, srv, request{path: PathSingles, body: []byte(`[]`)})
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("got %d log entries, want 2: %v", len(entries), entries)
	}
	for k, want := range []int64{400, 401} {
		fields := entries[k].ContextMap()
		if entries[k].Level != zap.DebugLevel || fields["status"] != want || fields["path"] != PathSingles || fields["reason"] == "" {
			t.Errorf("entry %d = %v %v", k, entries[k].Message, fields)
		}
		if strings.Contains(fmt.Sprint(fields), testKey) {
			t.Errorf("entry %d leaks the API key: %v", k, fields)
		}
	}
}

// Ensure a name table stops growing at maxNames and counts the rest under otherName.
func TestNameCounts_Add(t *testing.T) {
	c := nameCounts{m: make(map[string]*atomic.Int64)}
	for k := range maxNames + 5 {
		c.add([]byte(fmt.Sprint("n", k)), 2)
	}
	c.add([]byte("n0"), 1)
	got := c.snapshot()
	if len(got) != maxNames+1 || got[otherName] != 10 || got["n0"] != 3 {
		t.Fatalf("%d names, other %d, n0 %d; want %d, 10, 3", len(got), got[otherName], got["n0"], maxNames+1)
	}
}
