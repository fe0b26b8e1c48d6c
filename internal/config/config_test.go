package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// env returns a Getenv reading only vars.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// fixtureEnv is the environment the testdata fixtures expect.
var fixtureEnv = map[string]string{
	"HOOKRELAY_ADMIN_TOKEN": "admin-secret-token",
	"CORALOGIX_API_KEY":     "cx-secret-key",
}

// fieldErrors returns the problems of a *ValidationError, failing the test
// if err is not one.
func fieldErrors(tb testing.TB, err error) []config.FieldError {
	tb.Helper()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		tb.Fatalf("error %v (%T) is not a *config.ValidationError", err, err)
	}
	return ve.Errors
}

// Ensure the spec's full example config parses with every value it shows.
func TestLoad_FullExample(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "full.yaml"), config.LoadOptions{Getenv: env(fixtureEnv)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.Path, filepath.Join("testdata", "full.yaml"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	if cfg.NATS.URL != "" || cfg.NATS.Embedded.Listen != "127.0.0.1:4222" || cfg.NATS.Embedded.StoreDir != "./data/nats" {
		t.Errorf("NATS = %+v", cfg.NATS)
	}
	wantEvents := config.Events{Stream: "APONO_EVENTS", Subjects: []string{"apono.events.>"}, MaxAge: config.Duration(168 * time.Hour), MaxEventBytes: 1048576}
	if !reflect.DeepEqual(cfg.Events, wantEvents) {
		t.Errorf("Events = %+v, want %+v", cfg.Events, wantEvents)
	}
	if cfg.Store.Path != "./data/hookrelay.db" || cfg.Store.InvocationRetention.Std() != 168*time.Hour {
		t.Errorf("Store = %+v", cfg.Store)
	}
	if cfg.Admin.Token != "admin-secret-token" || cfg.Admin.Listen != "127.0.0.1:8080" {
		t.Errorf("Admin = %+v", cfg.Admin)
	}
	if len(cfg.Webhooks) != 1 {
		t.Fatalf("got %d webhooks, want 1", len(cfg.Webhooks))
	}
	w, ok := cfg.Webhook("coralogix-access-requests")
	if !ok {
		t.Fatal("Webhook(coralogix-access-requests) not found")
	}
	if w.Line != 21 {
		t.Errorf("Line = %d, want 21", w.Line)
	}
	if !w.Active || w.Method != "POST" || w.URL != "https://api.coralogix.us/api/v1/logs" {
		t.Errorf("webhook = %+v", *w)
	}
	if got := w.Headers["Authorization"]; got != "Bearer ${CORALOGIX_API_KEY}" {
		t.Errorf("Authorization header = %q, want it kept raw", got)
	}
	if !strings.Contains(w.BodyTemplate, `"alias":"apono-webhook"`) || !strings.Contains(w.BodyTemplate, `\"{{ data.access_groups.[0].integration.name }}\"`) {
		t.Errorf("BodyTemplate = %q", w.BodyTemplate)
	}
	if !w.IsJSON() {
		t.Error("IsJSON = false, want true")
	}
	wantTriggers := []string{"RequestCreated", "RequestApproved", "RequestRejected", "RequestGranted", "RequestExpired", "RequestFailed", "Manual"}
	if !reflect.DeepEqual(w.Triggers, wantTriggers) {
		t.Errorf("Triggers = %v", w.Triggers)
	}
	if got := w.Filters["integration_name"]; !reflect.DeepEqual(got, []string{"prod-postgres"}) {
		t.Errorf("Filters[integration_name] = %v", got)
	}
	if got := w.Filters["approval_type"]; !reflect.DeepEqual(got, []string{"manual", "automatic"}) {
		t.Errorf("Filters[approval_type] = %v", got)
	}
	if got, ok := w.Filters["resource_type"]; !ok || len(got) != 0 {
		t.Errorf("Filters[resource_type] = %v, %v; want present and empty", got, ok)
	}
	if len(w.Filters) != 10 {
		t.Errorf("got %d filters, want 10", len(w.Filters))
	}
	if w.Timeout.Std() != 10*time.Second || w.Concurrency != 64 || w.Ordered {
		t.Errorf("timeout/concurrency/ordered = %s/%d/%v", w.Timeout, w.Concurrency, w.Ordered)
	}
	wantRetry := config.Retry{MaxAttempts: 8, InitialBackoff: config.Duration(time.Second), MaxBackoff: config.Duration(5 * time.Minute)}
	if w.Retry != wantRetry {
		t.Errorf("Retry = %+v", w.Retry)
	}
	wantBreaker := config.Breaker{FailureRatio: 0.5, MinRequests: 10, OpenFor: config.Duration(30 * time.Second)}
	if w.CircuitBreaker != wantBreaker {
		t.Errorf("CircuitBreaker = %+v", w.CircuitBreaker)
	}
	wantCX := &config.Coralogix{
		Region: "us2", ApplicationName: "apono", SubsystemName: "access-requests",
		Batch: config.Batch{MaxEvents: 500, MaxBytes: 1500000, MaxWait: config.Duration(time.Second)},
	}
	if !reflect.DeepEqual(w.Coralogix, wantCX) {
		t.Errorf("Coralogix = %+v, want %+v", w.Coralogix, wantCX)
	}
	if got := w.Coralogix.BaseURL(); got != "https://ingress.us2.coralogix.com" {
		t.Errorf("BaseURL = %q", got)
	}
}

// Ensure absent keys take the documented defaults.
func TestLoad_Defaults(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "minimal.yaml"), config.LoadOptions{Getenv: env(nil)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &config.Config{
		NATS:   config.NATS{Embedded: config.Embedded{Listen: config.DefaultEmbeddedListen, StoreDir: config.DefaultEmbeddedStoreDir}},
		Events: config.Events{Stream: "APONO_EVENTS", Subjects: []string{"apono.events.>"}, MaxAge: config.Duration(168 * time.Hour), MaxEventBytes: 1 << 20},
		Store:  config.Store{Path: "./data/hookrelay.db", InvocationRetention: config.Duration(168 * time.Hour)},
		Admin:  config.Admin{Listen: "127.0.0.1:8080"},
		Webhooks: []config.Webhook{{
			Name: "minimal", Active: true, Method: "POST", URL: "https://hooks.example.com/apono",
			Triggers:       []string{"RequestCreated", "RequestApproved", "RequestRejected", "RequestGranted", "RequestExpired", "RequestFailed", "Manual"},
			Timeout:        config.Duration(10 * time.Second),
			Concurrency:    64,
			Retry:          config.Retry{MaxAttempts: 8, InitialBackoff: config.Duration(time.Second), MaxBackoff: config.Duration(5 * time.Minute)},
			CircuitBreaker: config.Breaker{FailureRatio: 0.5, MinRequests: 10, OpenFor: config.Duration(30 * time.Second)},
			Line:           2,
		}},
		Path: filepath.Join("testdata", "minimal.yaml"),
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

// Ensure an empty document is a valid config with every default and no webhooks.
func TestParse_Empty(t *testing.T) {
	for _, given := range []string{"", "# nothing\n", "{}\n"} {
		cfg, err := config.Parse([]byte(given), "empty.yaml", config.LoadOptions{Getenv: env(nil)})
		if err != nil {
			t.Fatalf("Parse(%q): %v", given, err)
		}
		if cfg.Events.Stream != config.DefaultStream || len(cfg.Webhooks) != 0 {
			t.Errorf("Parse(%q) = %+v", given, cfg)
		}
	}
}

// Ensure anchors, "<<" merges and top-level x- keys work, and the mapping's own keys win.
func TestLoad_Anchors(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "anchors.yaml"), config.LoadOptions{Getenv: env(nil)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	first, _ := cfg.Webhook("first")
	second, _ := cfg.Webhook("second")
	if first == nil || second == nil {
		t.Fatalf("webhooks = %+v", cfg.Webhooks)
	}
	if first.Timeout.Std() != 20*time.Second || second.Timeout.Std() != 30*time.Second {
		t.Errorf("timeouts = %s, %s; want 20s, 30s", first.Timeout, second.Timeout)
	}
	if first.Line != 7 || second.Line != 10 {
		t.Errorf("lines = %d, %d; want 7, 10", first.Line, second.Line)
	}
	want := config.Retry{MaxAttempts: 3, InitialBackoff: config.Duration(2 * time.Second), MaxBackoff: config.Duration(time.Minute)}
	if first.Retry != want {
		t.Errorf("first retry = %+v, want %+v", first.Retry, want)
	}
	// The merge is deep: second keeps the shared backoffs.
	want.MaxAttempts = 5
	if second.Retry != want {
		t.Errorf("second retry = %+v, want %+v", second.Retry, want)
	}
	if got := first.Headers; len(got) != 1 || got["Authorization"] != "Bearer ${API_KEY:-none}" {
		t.Errorf("first headers = %v", got)
	}
	if got := second.Headers; len(got) != 2 || got["Authorization"] != "Bearer ${OTHER_KEY:-none}" || got["X-Team"] != "platform" {
		t.Errorf("second headers = %v", got)
	}
}

// Ensure a missing file and a YAML syntax error name the file (and the line).
func TestLoad_Errors(t *testing.T) {
	t.Run("MissingFile", func(t *testing.T) {
		// Ensure the error names the missing file and wraps fs.ErrNotExist.
		path := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := config.Load(path, config.LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Syntax", func(t *testing.T) {
		// Ensure a syntax error carries the file name and line and matches ErrSyntax.
		path := filepath.Join("testdata", "syntax.yaml")
		_, err := config.Load(path, config.LoadOptions{})
		if !errors.Is(err, config.ErrSyntax) {
			t.Fatalf("err = %v, want ErrSyntax", err)
		}
		fes := fieldErrors(t, err)
		// The flow mapping opened on line 4, column 14, is never closed.
		if len(fes) != 1 || fes[0].Line != 4 || fes[0].Col != 14 {
			t.Errorf("errors = %+v, want one at line 4, column 14", fes)
		}
		if want := path + ":4:14: yaml: "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Error() = %q, want prefix %q", err.Error(), want)
		}
	})
}

// Ensure a syntax error is placed where the fault is, not where the block
// around it began (yaml.v3's own line), and that control characters in the
// message are escaped.
func TestParse_SyntaxErrorPosition(t *testing.T) {
	tests := []struct {
		name      string
		given     string
		line, col int
		msg       string
	}{
		{
			name:  "MisindentedKey",
			given: "nats:\n  url: \"\"\nwebhooks:\n  - name: a\n    url: https://x.example.com/h\n    headers:\n      A: b\n     C: d\n",
			line:  8, col: 6, msg: "yaml: value is not allowed in this context",
		},
		{
			name:  "Tab",
			given: "webhooks:\n  - name: a\n\turl: https://x.example.com/h\n",
			line:  3, col: 1, msg: `yaml: found character '\t' that cannot start any token`,
		},
		{
			name:  "QuoteLeftOpen",
			given: "nats:\n  url: \"\"\nwebhooks:\n  - name: a\n    url: \"https://x.example.com/h\n    method: POST\n    headers:\n      A: b\nevents:\n  subjects: [\"apono.events.>\"]\n",
			line:  5, col: 10,
			msg: "yaml: the quoted value opened here runs on to line 10 (is its closing quote missing?); there: value is not allowed in this context. map key-value is pre-defined",
		},
		{
			name:  "UnclosedQuote",
			given: "webhooks:\n  - name: a\n    url: \"https://x.example.com/h\n    method: POST\n",
			line:  3, col: 10, msg: "yaml: could not find end character of double-quoted text",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.given), "c.yaml", config.LoadOptions{})
			if !errors.Is(err, config.ErrSyntax) {
				t.Fatalf("err = %v, want ErrSyntax", err)
			}
			fes := fieldErrors(t, err)
			if len(fes) != 1 || fes[0].Line != tt.line || fes[0].Col != tt.col || fes[0].Msg != tt.msg {
				t.Fatalf("errors = %+v; want one at %d:%d saying %q", fes, tt.line, tt.col, tt.msg)
			}
		})
	}
}

// Ensure every problem in a file is reported at once, sorted by line, each
// with its path and position.
func TestLoad_MultipleErrors(t *testing.T) {
	path := filepath.Join("testdata", "invalid.yaml")
	_, err := config.Load(path, config.LoadOptions{Getenv: env(nil)})
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	fes := fieldErrors(t, err)
	want := []string{
		"events.stream (line 2, col 3): stream name \"apono.events\"",
		"events.subjects (line 3, col 3): at least one subject is required",
		"events.max_event_bytes (line 4, col 3): 100 is out of range",
		"admin.token (line 6, col 3): an admin token is required",
		"webhooks[0].url (line 9, col 5): ",
		"webhooks[0].method (line 10, col 5): method \"FETCH\" is not one of POST PUT PATCH DELETE GET",
		"webhooks[0].headers.Authorization (line 12): environment variable HOOKRELAY_TEST_UNSET_KEY is not set",
		"webhooks[1].name (line 13, col 5): duplicate webhook name \"dup\" (first used by webhooks[0] on line 8)",
		"webhooks[1].triggers[1] (line 15, col 32): ",
		"webhooks[1].filters.colour (line 17, col 7): unknown filter key \"colour\"",
		"webhooks[1].retry.max_attempt (line 19, col 7): unknown key \"max_attempt\"",
		"webhooks[1].body_template (line 20, col ",
		"webhooks[1].coralogix.region (line 22, col 7): unknown region \"mars1\"",
		"webhooks[1].coralogix.application_name (line 21, col 5): application_name is required",
	}
	var got []string
	for _, fe := range fes {
		got = append(got, fe.Error())
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("missing %q in\n%s", w, all)
		}
	}
	for i := 1; i < len(fes); i++ {
		if fes[i].Line < fes[i-1].Line {
			t.Errorf("errors not sorted by line:\n%s", all)
			break
		}
	}
	// The printed form is one problem per line, compiler style.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(fes) {
		t.Errorf("Error() has %d lines for %d problems", len(lines), len(fes))
	}
	if !strings.Contains(err.Error(), path+":19:7: webhooks[1].retry.max_attempt: unknown key \"max_attempt\"") {
		t.Errorf("Error() = \n%s", err.Error())
	}
	if !strings.Contains(err.Error(), path+":12: webhooks[0].headers.Authorization: environment variable HOOKRELAY_TEST_UNSET_KEY is not set") {
		t.Errorf("Error() = \n%s", err.Error())
	}
	for _, class := range []error{config.ErrUnknownKey, config.ErrDuplicateName, config.ErrEnv, config.ErrURL, config.ErrTemplate, config.ErrInvalidValue, config.ErrRequired} {
		if !errors.Is(err, class) {
			t.Errorf("errors.Is(err, %v) = false", class)
		}
	}
}

// Ensure Parse never panics and fails only with located field errors.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"syntax.yaml", "invalid.yaml"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("webhooks:\n  - name: a\n\turl: x\n"))
	f.Add([]byte("nats: {url: \"nats://a:4222\", replicas: 3}\nwebhooks:\n  - name: a\n    url: https://h.example.com/a\n    body_template: '{\"id\":\"{{data.id}}\"}'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := config.Parse(data, "f.yaml", config.LoadOptions{Getenv: func(string) (string, bool) { return "", false }})
		if err == nil {
			return
		}
		var ve *config.ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) == 0 {
			t.Fatalf("error %v (%T) is not a ValidationError with field errors", err, err)
		}
		for _, fe := range ve.Errors {
			if fe.Msg == "" || fe.Line < 0 || fe.Col < 0 {
				t.Fatalf("field error %+v", fe)
			}
		}
	})
}
