package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// Ensure ${VAR}, ${VAR:-default} and $$ are expanded in scalars, headers
// stay raw, and an unset variable is fine outside headers.
func TestParse_Env(t *testing.T) {
	given := `nats:
  embedded:
    listen: ${NATS_LISTEN:-127.0.0.1:0}
    store_dir: ${DATA}/nats
events:
  max_event_bytes: ${MAX_EVENT}
admin:
  token: ${HOOKRELAY_ADMIN_TOKEN}
webhooks:
  - name: ${HOOK_NAME:-env-hook}
    url: https://${HOOK_HOST}/p?a=$$x&b=$y
    timeout: ${TIMEOUT:-30}
    concurrency: ${CONCURRENCY}
    ordered: ${ORDERED:-true}
    headers:
      Authorization: Bearer ${CX_KEY}
      X-Region: ${REGION:-us}
      X-Price: $$5
    body_template: '{"user": "${USER_FIELD:-{{ data.requester.email }}}"}'
`
	vars := map[string]string{
		"DATA":       "/var/lib/hookrelay",
		"MAX_EVENT":  "2048",
		"HOOK_HOST":  "hooks.example.com",
		"CX_KEY":     "s3cret",
		"TIMEOUT":    "", // set but empty: the default applies
		"USER_FIELD": "",
	}
	cfg, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(vars)})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.NATS.Embedded.Listen; got != "127.0.0.1:0" {
		t.Errorf("embedded.listen = %q", got)
	}
	if got := cfg.NATS.Embedded.StoreDir; got != "/var/lib/hookrelay/nats" {
		t.Errorf("embedded.store_dir = %q", got)
	}
	if cfg.Events.MaxEventBytes != 2048 {
		t.Errorf("max_event_bytes = %d", cfg.Events.MaxEventBytes)
	}
	if cfg.Admin.Token != "" {
		t.Errorf("admin.token = %q, want empty (unset)", cfg.Admin.Token)
	}
	w := cfg.Webhooks[0]
	if w.Name != "env-hook" || w.URL != "https://hooks.example.com/p?a=$x&b=$y" {
		t.Errorf("name, url = %q, %q", w.Name, w.URL)
	}
	if w.Timeout.Std() != 30*time.Second {
		t.Errorf("timeout = %s, want 30s", w.Timeout)
	}
	if w.Concurrency != config.DefaultConcurrency {
		t.Errorf("concurrency = %d, want the default (CONCURRENCY unset)", w.Concurrency)
	}
	if !w.Ordered || w.EffectiveConcurrency() != 1 {
		t.Errorf("ordered = %v, effective concurrency = %d", w.Ordered, w.EffectiveConcurrency())
	}
	wantHeaders := map[string]string{"Authorization": "Bearer ${CX_KEY}", "X-Region": "${REGION:-us}", "X-Price": "$$5"}
	for k, want := range wantHeaders {
		if got := w.Headers[k]; got != want {
			t.Errorf("header %s = %q, want raw %q", k, got, want)
		}
	}
	if got, want := w.BodyTemplate, `{"user": "{{ data.requester.email }}"}`; got != want {
		t.Errorf("body_template = %q, want %q", got, want)
	}
}

// Ensure a header's missing variable is named without printing any value,
// and a variable with a default or one that is set is accepted.
func TestParse_HeaderEnv(t *testing.T) {
	given := hook + "    headers:\n      Authorization: Bearer ${CX_KEY}\n      X-Other: ${OTHER:-x}\n      X-Set: ${SET_BUT_EMPTY}\n"
	_, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(map[string]string{"SET_BUT_EMPTY": ""})})
	fes := fieldErrors(t, err)
	if len(fes) != 1 || fes[0].Path != "webhooks[0].headers.Authorization" || fes[0].Line != 5 {
		t.Fatalf("errors = %+v", fes)
	}
	if !errors.Is(err, config.ErrEnv) || !strings.Contains(err.Error(), "environment variable CX_KEY is not set") {
		t.Errorf("err = %v", err)
	}

	const secret = "very-secret-value"
	cfg, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(map[string]string{"CX_KEY": secret, "SET_BUT_EMPTY": ""})})
	if err != nil {
		t.Fatalf("Parse with CX_KEY set: %v", err)
	}
	if got := cfg.Webhooks[0].Headers["Authorization"]; strings.Contains(got, secret) {
		t.Errorf("header value %q holds the resolved secret", got)
	}
}

// Ensure the default Getenv is the process environment.
func TestParse_DefaultGetenv(t *testing.T) {
	t.Setenv("HOOKRELAY_CONFIG_TEST_TOKEN", "from-process-env")
	cfg, err := config.Parse([]byte("admin:\n  token: ${HOOKRELAY_CONFIG_TEST_TOKEN}\n"), "config.yaml", config.LoadOptions{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Admin.Token != "from-process-env" {
		t.Errorf("admin.token = %q", cfg.Admin.Token)
	}
}
