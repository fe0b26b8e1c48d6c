package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hookrelay/hookrelay/consumer"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/store"
)

func newPublishCmd() *cobra.Command {
	var cfgPath, file, sample, subject string
	var count int
	var raw bool
	cmd := &cobra.Command{
		Use:   "publish --config FILE [--file EVENT.json [--raw] | --sample TYPE] [--count N] [--subject S]",
		Short: "Publish Apono events to the events stream",
		Long: "Publish Apono events on NATS, on the subject apono.events.<event_type> (from events.subjects).\n" +
			"--sample TYPE makes a realistic payload of that type (RequestCreated … Manual, or \"all\" for one of each).\n" +
			"--file must hold one event the relay accepts; with --raw its bytes go as they are, to try the relay's rejection path.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (file == "") == (sample == "") {
				return userErrorf("give exactly one of --file or --sample")
			}
			if raw && file == "" {
				return userErrorf("--raw goes with --file")
			}
			if count < 1 {
				return userErrorf("--count must be ≥ 1")
			}
			cfg, err := loadClientConfig(cfgPath)
			if err != nil {
				return err
			}
			if subject != "" {
				if err := checkPublishSubject(subject, cfg); err != nil {
					return err
				}
			}
			maxBytes := cfg.Events.MaxEventBytes
			if raw {
				maxBytes = -1
			}
			events, err := publishPayloads(file, sample, count, maxBytes)
			if err != nil {
				return err
			}
			nc, err := connectNATS(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return depError{err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			subjects := map[string]int{}
			futures := make([]jetstream.PubAckFuture, 0, len(events))
			for _, ev := range events {
				subj := subject
				if subj == "" {
					subj = consumer.SubjectFor(cfg.Events.Subjects, eventTypeOf(ev))
				}
				f, err := js.PublishAsync(subj, ev)
				if err != nil {
					return depErrorf("publish to %s: %w", subj, err)
				}
				futures = append(futures, f)
				subjects[subj]++
			}
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return depErrorf("publish to %s: %w", f.Msg().Subject, err)
				case <-ctx.Done():
					return depErrorf("publish: %w", ctx.Err())
				}
			}
			keys := make([]string, 0, len(subjects))
			for k := range subjects {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(cmd.OutOrStdout(), "published %d event(s) to %s\n", subjects[k], k)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "event JSON file (- for stdin)")
	cmd.Flags().StringVar(&sample, "sample", "", "publish a sample event of this type (or \"all\")")
	cmd.Flags().IntVarP(&count, "count", "n", 1, "how many events to publish")
	cmd.Flags().StringVar(&subject, "subject", "", "publish on this subject instead of apono.events.<event_type> (one of events.subjects, no wildcards)")
	cmd.Flags().BoolVar(&raw, "raw", false, "publish the --file bytes as they are, even if the relay will reject them")
	return cmd
}

// checkPublishSubject makes sure --subject is one subject the events stream
// takes: a literal (no wildcards) that events.subjects covers. Any other
// subject finds no stream, or another stream such as the relay's own
// deliveries.
func checkPublishSubject(subj string, cfg *config.Config) error {
	if !server.IsValidPublishSubject(subj) {
		return userErrorf("--subject %q: want one literal subject, such as apono.events.RequestCreated (no wildcards, spaces or empty tokens)", subj)
	}
	if !slices.ContainsFunc(cfg.Events.Subjects, func(p string) bool { return server.SubjectMatchesFilter(subj, p) }) {
		return userErrorf("--subject %q is not a subject of the events stream (events.subjects %q in %s)", subj, cfg.Events.Subjects, cfg.Path)
	}
	return nil
}

// publishPayloads makes the payloads to publish: count copies of the --file
// event, or count samples of each type. The --file event must decode as one
// the relay accepts, at most maxBytes long; maxBytes < 0 publishes the file
// as it is (--raw).
func publishPayloads(file, sample string, count, maxBytes int) ([][]byte, error) {
	var out [][]byte
	if file != "" {
		b, err := readFileOrStdin(file)
		if err != nil {
			return nil, err
		}
		if maxBytes >= 0 {
			if _, err := renderer.DecodeEvent(b, maxBytes); err != nil {
				return nil, userErrorf("--file %s: %w (--raw publishes it anyway)", file, err)
			}
		}
		for i := 0; i < count; i++ {
			out = append(out, b)
		}
		return out, nil
	}
	var types []renderer.Trigger
	if strings.EqualFold(sample, "all") {
		types = renderer.Triggers()
	} else {
		t, err := renderer.ParseTrigger(sample)
		if err != nil {
			return nil, userErrorf("--sample: %w", err)
		}
		types = []renderer.Trigger{t}
	}
	for i := 0; i < count; i++ {
		for _, t := range types {
			out = append(out, renderer.Sample(t, i))
		}
	}
	return out, nil
}

func eventTypeOf(payload []byte) string {
	var ev struct {
		EventType string `json:"event_type"`
	}
	if json.Unmarshal(payload, &ev) != nil || ev.EventType == "" || strings.ContainsAny(ev.EventType, ".*> \t") {
		return "unknown"
	}
	return ev.EventType
}

// connectNATS connects to the config's NATS server. For an embedded server
// on port 0 (a port it picked itself) the running daemon says where it is.
func connectNATS(ctx context.Context, cfg *config.Config) (*nats.Conn, error) {
	u := cfg.NATS.URL
	if u == "" {
		host, port, err := net.SplitHostPort(cfg.NATS.Embedded.Listen)
		if err != nil {
			return nil, userErrorf("nats.embedded.listen %q: %v", cfg.NATS.Embedded.Listen, err)
		}
		if port == "0" {
			var in daemonInfo
			if err := newAdminClient(cfg).do(ctx, "GET", "/api/v1/info", nil, nil, &in); err != nil {
				return nil, fmt.Errorf("finding the embedded NATS server (nats.embedded.listen %q picks its port): %w", cfg.NATS.Embedded.Listen, err)
			}
			if !in.NATS.Embedded {
				return nil, userErrorf("the daemon at admin.listen %s uses an external NATS server; set nats.url in this config", cfg.Admin.Listen)
			}
			pu, err := url.Parse(in.NATS.URL)
			if err != nil {
				return nil, depErrorf("the daemon's NATS URL %q: %w", in.NATS.URL, err)
			}
			_, port, _ = net.SplitHostPort(pu.Host)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		u = "nats://" + net.JoinHostPort(host, port)
	}
	opts := append([]nats.Option{nats.Name("hookrelay-publish"), nats.Timeout(5 * time.Second)}, natsAuthOptions(cfg)...)
	nc, err := nats.Connect(u, opts...)
	if err != nil {
		return nil, depErrorf("nats %s: %w", redactURL(u), err)
	}
	return nc, nil
}

func newTestCmd() *cobra.Command {
	var cfgPath, file string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test --config FILE WEBHOOK [--file EVENT.json]",
		Short: "Send a mock event to a webhook now and print the invocation data",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadClientConfig(cfgPath)
			if err != nil {
				return err
			}
			var body []byte
			if file != "" {
				if body, err = readBodyFile(file); err != nil {
					return err
				}
			}
			var res testResult
			err = newAdminClient(cfg).do(cmd.Context(), "POST", "/api/v1/webhooks/"+url.PathEscape(args[0])+"/test", nil, body, &res)
			if err != nil {
				return fileBodyError(file, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := printJSONLines(out, []testResult{res}); err != nil {
					return err
				}
			} else {
				printInvocation(out, res.Message, res.Invocation)
			}
			if !res.Success {
				return userErrorf("test of webhook %q failed", args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "event JSON file to send instead of a mock event")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printInvocation shows what the "View Invocation Data" panel shows.
func printInvocation(w io.Writer, title string, inv store.Invocation) {
	if title != "" {
		fmt.Fprintln(w, title)
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Invocation  %s\nWebhook     %s\nEvent       %s (%s)\nAttempt     %d\nStarted     %s\nLatency     %.1f ms\nOutcome     %s\n",
		inv.ID, inv.Webhook, inv.EventType, inv.EventID, inv.Attempt, inv.StartedAt.Format(time.RFC3339Nano), inv.DurationMS, inv.Outcome)
	if inv.Error != "" {
		fmt.Fprintf(w, "Error       %s\n", inv.Error)
	}
	fmt.Fprintf(w, "\nRequest\n  %s %s\n", inv.Request.Method, inv.Request.URL)
	printHeaders(w, inv.Request.Headers)
	fmt.Fprintf(w, "\n%s\n", indentBody(inv.Request.Body))
	if inv.Response != nil {
		fmt.Fprintf(w, "\nResponse\n  %d\n", inv.Response.Status)
		printHeaders(w, inv.Response.Headers)
		fmt.Fprintf(w, "\n%s\n", indentBody(inv.Response.Body))
	} else {
		fmt.Fprintf(w, "\nResponse\n  (none)\n")
	}
}

func printHeaders(w io.Writer, h map[string]string) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, h[k])
	}
}

func indentBody(body string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(body), "  ", "  ") == nil {
		return "  " + buf.String()
	}
	return "  " + strings.ReplaceAll(body, "\n", "\n  ")
}

// readBodyFile reads the --file a request sends as its body. An empty file
// is the user's mistake: to the daemon, no body means something else (a
// mock event, for test).
func readBodyFile(file string) ([]byte, error) {
	b, err := readFileOrStdin(file)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, userErrorf("--file %s is empty", file)
	}
	return b, nil
}

// fileBodyError puts the file's name before the admin API's complaint about
// a request body read from --file (a 400).
func fileBodyError(file string, err error) error {
	var ae *apiError
	if file == "" || !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		return err
	}
	return userErrorf("--file %s: %s", file, ae.Msg)
}

func newInvokeCmd() *cobra.Command {
	var cfgPath, file string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "invoke --config FILE WEBHOOK --file DATA.json",
		Short: "The Manual trigger: send one access request to one webhook, through the pipeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return userErrorf("--file is required (the access request's data as JSON)")
			}
			cfg, err := loadClientConfig(cfgPath)
			if err != nil {
				return err
			}
			body, err := readBodyFile(file)
			if err != nil {
				return err
			}
			var res map[string]json.RawMessage
			if err := newAdminClient(cfg).do(cmd.Context(), "POST", "/api/v1/webhooks/"+url.PathEscape(args[0])+"/invoke", nil, body, &res); err != nil {
				return fileBodyError(file, err)
			}
			if asJSON {
				return printJSONLines(cmd.OutOrStdout(), []map[string]json.RawMessage{res})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queued a Manual event for webhook %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "the access request's data (JSON object)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the daemon's answer as JSON")
	return cmd
}

func newInvocationsCmd() *cobra.Command {
	var cfgPath, webhook, status, before string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "invocations --config FILE [--webhook NAME] [--limit N] [--json]",
		Short: "List recorded invocations, newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadClientConfig(cfgPath)
			if err != nil {
				return err
			}
			c := newAdminClient(cfg)
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				var inv store.Invocation
				if err := c.do(cmd.Context(), "GET", "/api/v1/invocations/"+url.PathEscape(args[0]), nil, nil, &inv); err != nil {
					return err
				}
				if asJSON {
					return printJSONLines(out, []store.Invocation{inv})
				}
				printInvocation(out, "", inv)
				return nil
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			setIf(q, "webhook", webhook)
			setIf(q, "status", status)
			setIf(q, "before", before)
			var res struct {
				Invocations []store.Invocation `json:"invocations"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/invocations", q, nil, &res); err != nil {
				return err
			}
			if asJSON {
				return printJSONLines(out, res.Invocations)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTARTED\tWEBHOOK\tEVENT\tATTEMPT\tSTATUS\tMS\tOUTCOME")
			for _, inv := range res.Invocations {
				st := "-"
				if inv.Response != nil {
					st = strconv.Itoa(inv.Response.Status)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%.1f\t%s\n", inv.ID, inv.StartedAt.Format("2006-01-02T15:04:05.000Z07:00"),
					inv.Webhook, inv.EventType, inv.Attempt, st, inv.DurationMS, inv.Outcome)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")
	cmd.Flags().StringVar(&webhook, "webhook", "", "only this webhook")
	cmd.Flags().StringVar(&status, "status", "", "only this outcome (delivered, retrying, dead_lettered, failed)")
	cmd.Flags().StringVar(&before, "before", "", "only invocations older than this id (paging)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON document per line")
	return cmd
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func newDLQCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "dlq list|show ID|replay [ID|--webhook NAME|--all]|purge [ID|--webhook NAME|--all] --config FILE",
		Short: "Inspect, replay and purge dead letters",
	}
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")
	client := func() (*adminClient, error) {
		cfg, err := loadClientConfig(cfgPath)
		if err != nil {
			return nil, err
		}
		return newAdminClient(cfg), nil
	}

	var webhook string
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			setIf(q, "webhook", webhook)
			var res struct {
				DeadLetters []deadLetterView `json:"deadletters"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/deadletters", q, nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSONLines(out, res.DeadLetters)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tWEBHOOK\tEVENT\tATTEMPTS\tSTATUS\tREASON")
			for _, dl := range res.DeadLetters {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", dl.ID, dl.CreatedAt.Format(time.RFC3339), dl.Webhook, dl.EventType,
					dl.Attempts, dl.LastStatus, truncateRunes(oneLine(compactReason(dl.Reason)), 80))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&webhook, "webhook", "", "only this webhook")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many")
	list.Flags().BoolVar(&asJSON, "json", false, "one JSON document per line")

	var sJSON bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var dl deadLetterView
			if err := c.do(cmd.Context(), "GET", "/api/v1/deadletters/"+url.PathEscape(args[0]), nil, nil, &dl); err != nil {
				return err
			}
			if sJSON {
				return printJSONLines(cmd.OutOrStdout(), []deadLetterView{dl})
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			return enc.Encode(dl)
		},
	}
	show.Flags().BoolVar(&sJSON, "json", false, "one JSON document on one line")

	var rWebhook string
	var rAll, rJSON bool
	replay := &cobra.Command{
		Use:   "replay [ID | --webhook NAME | --all]",
		Short: "Send dead letters again, with their original Idempotency-Key",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return bulkDLQ(cmd, client, args, rWebhook, rAll, rJSON, "POST", "replayed")
		},
	}
	replay.Flags().StringVar(&rWebhook, "webhook", "", "replay every dead letter of this webhook")
	replay.Flags().BoolVar(&rAll, "all", false, "replay every dead letter")
	replay.Flags().BoolVar(&rJSON, "json", false, "print the daemon's answer as JSON")

	var pWebhook string
	var pAll, pJSON bool
	purge := &cobra.Command{
		Use:   "purge [ID | --webhook NAME | --all]",
		Short: "Delete dead letters",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return bulkDLQ(cmd, client, args, pWebhook, pAll, pJSON, "DELETE", "deleted")
		},
	}
	purge.Flags().StringVar(&pWebhook, "webhook", "", "delete every dead letter of this webhook, configured or not")
	purge.Flags().BoolVar(&pAll, "all", false, "delete every dead letter")
	purge.Flags().BoolVar(&pJSON, "json", false, "print the daemon's answer as JSON")

	addSubcommands(cmd, list, show, replay, purge)
	return cmd
}

// addSubcommands adds subs to a command that only groups them, and makes it
// refuse anything else: cobra would print the parent's help for an unknown
// (or misspelt) subcommand and exit 0. Without arguments it prints its help.
func addSubcommands(parent *cobra.Command, subs ...*cobra.Command) {
	parent.AddCommand(subs...)
	var names []string
	for _, c := range subs {
		names = append(names, c.Name())
	}
	if len(subs) == 0 {
		// Added before (cobra's own): in its order, by name.
		for _, c := range parent.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
	}
	parent.Args = cobra.ArbitraryArgs
	if parent.SuggestionsMinimumDistance <= 0 {
		parent.SuggestionsMinimumDistance = 2 // cobra's default for the root's own suggestions
	}
	parent.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown %s command %q (%s)", cmd.Name(), args[0], strings.Join(names, ", "))
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return userError{errors.New(msg)}
	}
}

// bulkDLQ runs replay (POST) or purge (DELETE) on one id, one webhook or all.
func bulkDLQ(cmd *cobra.Command, client func() (*adminClient, error), args []string, webhook string, all, asJSON bool, method, key string) error {
	n := 0
	if len(args) == 1 {
		n++
	}
	if webhook != "" {
		n++
	}
	if all {
		n++
	}
	if n != 1 {
		return userErrorf("give exactly one of ID, --webhook NAME or --all")
	}
	c, err := client()
	if err != nil {
		return err
	}
	var path string
	q := url.Values{}
	switch {
	case len(args) == 1 && method == "POST":
		path = "/api/v1/deadletters/" + url.PathEscape(args[0]) + "/replay"
	case len(args) == 1:
		path = "/api/v1/deadletters/" + url.PathEscape(args[0])
	case method == "POST":
		path = "/api/v1/deadletters/replay"
		setIf(q, "webhook", webhook)
	default:
		path = "/api/v1/deadletters"
		setIf(q, "webhook", webhook)
	}
	var res map[string]json.RawMessage
	if err := c.do(cmd.Context(), method, path, q, nil, &res); err != nil {
		return err
	}
	var ids []string
	_ = json.Unmarshal(res[key], &ids)
	var skipped []skippedDeadLetter
	_ = json.Unmarshal(res["skipped"], &skipped)
	out := cmd.OutOrStdout()
	if asJSON {
		if err := printJSONLines(out, []map[string]json.RawMessage{res}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "%s %d dead letter(s)\n", key, len(ids))
		for _, id := range ids {
			fmt.Fprintln(out, "  "+id)
		}
		if len(skipped) > 0 {
			fmt.Fprintf(out, "skipped %d dead letter(s), left in place\n", len(skipped))
			for _, s := range skipped {
				fmt.Fprintf(out, "  %s: %s\n", s.ID, s.Error)
			}
		}
	}
	if len(skipped) > 0 {
		return userErrorf("%d dead letter(s) could not be replayed; fix their webhooks and replay again", len(skipped))
	}
	return nil
}

// compactReason drops the "sender: " prefixes a delivery error's reason
// repeats (`sender: permanent (client_error): sender: unexpected status
// 400`), which would fill a table's narrow column; dlq show has it whole.
func compactReason(s string) string {
	return strings.ReplaceAll(s, "sender: ", "")
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
