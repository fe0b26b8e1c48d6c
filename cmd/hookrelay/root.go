package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/sender"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "hookrelay",
		Short:         "Relay Apono access-request events from NATS JetStream to outgoing webhooks",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRunCmd(),
		newValidateCmd(),
		newPublishCmd(),
		newTestCmd(),
		newInvokeCmd(),
		newSchemaCmd(),
		newInvocationsCmd(),
		newDLQCmd(),
		newSinkCmd(),
	)
	// cobra's own help and completion commands print help and exit 0 for
	// a topic or shell they do not know; here that is a user error too.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(_ *cobra.Command, args []string) error {
			c, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return userError{fmt.Errorf("unknown help topic %q", strings.Join(args, " "))}
			}
			return c.Help()
		},
	})
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			addSubcommands(c)
		}
	}
	return root
}

// loadConfig reads and validates the config file; any problem is the user's.
func loadConfig(path string, resolveDNS bool) (*config.Config, error) {
	return loadConfigWith(path, config.LoadOptions{ResolveDNS: resolveDNS})
}

// loadClientConfig reads the config of a command that talks to the running
// daemon (publish, test, invoke, invocations, dlq). The header secrets are
// the daemon's business: they need not be set where the command runs.
func loadClientConfig(path string) (*config.Config, error) {
	return loadConfigWith(path, config.LoadOptions{Client: true})
}

func loadConfigWith(path string, opts config.LoadOptions) (*config.Config, error) {
	if path == "" {
		return nil, userErrorf("--config is required")
	}
	cfg, err := config.Load(path, opts)
	if err != nil {
		return nil, userError{err}
	}
	return cfg, nil
}

// newLogger builds the daemon's logger; from names where level came from
// ("--log-level" or the environment variable), for the error.
func newLogger(level, from string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, userErrorf("%s %q: %w (want debug, info, warn or error)", from, level, err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.Sampling = nil
	return zc.Build()
}

// DefaultGCPercent is the relay's GOGC when the environment sets none.
const DefaultGCPercent = 200

func newRunCmd() *cobra.Command {
	var cfgPath, logLevel string
	var shutdown time.Duration
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the relay daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath, true)
			if err != nil {
				return err
			}
			from := "--log-level"
			if !cmd.Flags().Changed("log-level") {
				from = "HOOKRELAY_LOG_LEVEL"
			}
			log, err := newLogger(logLevel, from)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			if _, set := os.LookupEnv("GOGC"); !set {
				// The relay allocates per event and has memory to spare:
				// collecting less often buys throughput. GOGC overrides.
				debug.SetGCPercent(DefaultGCPercent)
			}
			d, err := NewDaemon(cfg, DaemonOptions{Logger: log})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := d.Start(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			// A second signal now ends the process at once.
			stop()
			log.Info("shutting down: no new work; finishing in-flight deliveries", zap.Duration("within", shutdown))
			cctx, cancel := context.WithTimeout(context.Background(), shutdown)
			defer cancel()
			if err := d.Close(cctx); err != nil {
				log.Warn("shutdown", zap.Error(err))
			}
			log.Info("stopped")
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")
	cmd.Flags().StringVar(&logLevel, "log-level", envOr("HOOKRELAY_LOG_LEVEL", "info"), "debug, info, warn or error")
	cmd.Flags().DurationVar(&shutdown, "shutdown-timeout", 30*time.Second, "how long in-flight deliveries may take to finish on SIGTERM")
	return cmd
}

func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok && v != "" {
		return v
	}
	return def
}

func newValidateCmd() *cobra.Command {
	var cfgPath string
	var noDNS bool
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a config file; print every error with its location",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath, !noDNS)
			if err != nil {
				return err
			}
			if _, err := NewDaemon(cfg, DaemonOptions{}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d webhooks)\n", cfgPath, len(cfg.Webhooks))
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")
	cmd.Flags().BoolVar(&noDNS, "no-dns", false, "do not resolve webhook hosts")
	return cmd
}

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the event payload schema (JSON Schema)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(renderer.Schema())
			return err
		},
	}
}

// redactURL drops user info and query values from a URL, or from each of a
// comma-separated list of URLs (a NATS cluster), for display.
func redactURL(raw string) string {
	if strings.Contains(raw, ",") {
		parts := strings.Split(raw, ",")
		for i, p := range parts {
			parts[i] = redactURL(strings.TrimSpace(p))
		}
		return strings.Join(parts, ",")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable url>"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "REDACTED")
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// webhookURL shows a webhook's URL as its invocations do
// (sender.RedactURL): query values masked, no user info or fragment.
func webhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable url>"
	}
	return sender.RedactURL(u)
}

// printJSONLines writes each value as one JSON document per line.
func printJSONLines[T any](w io.Writer, vs []T) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

func readFileOrStdin(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, userErrorf("--file %s: no such file", path)
		}
		return nil, userErrorf("--file %s: %w", path, err)
	}
	return b, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
