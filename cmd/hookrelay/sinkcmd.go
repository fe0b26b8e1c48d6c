package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookrelay/hookrelay/internal/sink"
)

func newSinkCmd() *cobra.Command {
	opts := sink.DefaultOptions()
	// Count repeated entries: what a retry or a redelivery sent again.
	opts.EntryKey = sink.ContentKey
	var listen, certFile, keyFile string
	var tally time.Duration
	var noValidate bool
	cmd := &cobra.Command{
		Use:   "sink --listen ADDR [--fail-rate F] [--status CODE] ...",
		Short: "Run a local Coralogix-compatible ingestion sink",
		Long: "A local server that answers like Coralogix ingestion: /logs/v1/singles, /logs/v1/bulk and the legacy\n" +
			"/api/v1/logs. It checks the bearer key, the schema and the 2 MB limit, can inject faults, and shows\n" +
			"what it received at GET /received.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.APIKey == "" {
				opts.APIKey = os.Getenv("SINK_API_KEY")
			}
			opts.Validate = !noValidate
			if err := opts.Check(); err != nil {
				return userError{err}
			}
			if (certFile == "") != (keyFile == "") {
				return userErrorf("--tls-cert and --tls-key go together")
			}
			s := sink.New(opts)
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return depErrorf("--listen %s: %w", listen, err)
			}
			srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sink: listening on %s://%s (POST /logs/v1/singles, /logs/v1/bulk, /api/v1/logs; GET /received)\n", scheme, ln.Addr())
			if tally > 0 {
				go s.RunTally(ctx, cmd.OutOrStdout(), tally)
			}
			errc := make(chan error, 1)
			go func() {
				if certFile != "" {
					errc <- srv.ServeTLS(ln, certFile, keyFile)
				} else {
					errc <- srv.Serve(ln)
				}
			}()
			select {
			case <-ctx.Done():
			case err := <-errc:
				if !errors.Is(err, http.ErrServerClosed) {
					return depError{err}
				}
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			t := s.Tally()
			fmt.Fprintf(cmd.OutOrStdout(), "sink: %d requests, %d accepted, %d entries, %d rejected\n", t.Requests, t.Accepted, t.Entries, t.Rejected)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on")
	f.StringVar(&opts.APIKey, "api-key", "", "bearer key to require (default $SINK_API_KEY; empty accepts any)")
	f.Float64Var(&opts.FailRate, "fail-rate", 0, "fraction of requests to fail with --fail-status")
	f.IntVar(&opts.FailStatus, "fail-status", sink.DefaultFailStatus, "status of injected failures")
	f.IntVar(&opts.Status, "status", 0, "answer every request with this status")
	f.DurationVar(&opts.Latency, "latency", 0, "delay every answer by this much")
	f.StringVar(&opts.RetryAfter, "retry-after", "", "Retry-After header on injected failures")
	f.IntVar(&opts.Keep, "keep", 100, "how many recent entries GET /received shows")
	f.IntVar(&opts.MaxBodyBytes, "max-body-bytes", sink.DefaultMaxBodyBytes, "largest decompressed body accepted (413 above)")
	f.BoolVar(&noValidate, "no-validate", false, "check only JSON syntax, size and auth")
	f.DurationVar(&tally, "tally", 5*time.Second, "print a tally line this often (0: never)")
	f.StringVar(&certFile, "tls-cert", "", "serve HTTPS with this certificate")
	f.StringVar(&keyFile, "tls-key", "", "key of --tls-cert")
	return cmd
}
