package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// eventsSubjectPrefix is where events are published; the config's stream
// subject is this prefix plus ">".
const eventsSubjectPrefix = "apono.events."

// relayProc is the relay running as a subprocess.
type relayProc struct {
	cmd       *exec.Cmd
	natsURL   string
	adminURL  string
	logPath   string
	exited    chan struct{}
	exitErr   error
	logCloser io.Closer
}

// freePort returns a loopback port nobody listened on a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeConfig writes the relay's config into dir: embedded NATS and the admin
// API on free loopback ports, data under dir, and the mode's one webhook.
func writeConfig(dir string, m *mode, sinkURL string, concurrency int) (path, natsURL, adminURL string, err error) {
	np, err := freePort()
	if err != nil {
		return "", "", "", err
	}
	ap, err := freePort()
	if err != nil {
		return "", "", "", err
	}
	cfg := map[string]any{
		"nats": map[string]any{
			"embedded": map[string]any{
				"listen":    fmt.Sprintf("127.0.0.1:%d", np),
				"store_dir": filepath.Join(dir, "nats"),
			},
		},
		"events": map[string]any{
			"stream":          "APONO_EVENTS",
			"subjects":        []string{eventsSubjectPrefix + ">"},
			"max_age":         "1h",
			"max_event_bytes": 1 << 20,
		},
		"store": map[string]any{
			"path":                 filepath.Join(dir, "hookrelay.db"),
			"invocation_retention": "1h",
		},
		"admin":    map[string]any{"listen": fmt.Sprintf("127.0.0.1:%d", ap)},
		"delivery": map[string]any{"allow_unsafe_urls": true},
		"webhooks": []any{m.webhook(sinkURL, concurrency)},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", "", "", err
	}
	path = filepath.Join(dir, "hookrelay.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", "", "", err
	}
	return path, fmt.Sprintf("nats://127.0.0.1:%d", np), fmt.Sprintf("http://127.0.0.1:%d", ap), nil
}

// startRelay runs `<bin> run --config <path>` with its output in dir/relay.log.
func startRelay(bin, cfgPath, dir, natsURL, adminURL string) (*relayProc, error) {
	logPath := filepath.Join(dir, "relay.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = lf, lf
	// Keep the relay out of the terminal's process group: Ctrl-C reaches the
	// bench, which stops the relay itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start relay %s: %w", bin, err)
	}
	p := &relayProc{cmd: cmd, natsURL: natsURL, adminURL: adminURL, logPath: logPath,
		exited: make(chan struct{}), logCloser: lf}
	go func() {
		p.exitErr = cmd.Wait()
		lf.Close()
		close(p.exited)
	}()
	return p, nil
}

// pid is the relay's process id.
func (p *relayProc) pid() int { return p.cmd.Process.Pid }

// running reports whether the relay has not exited yet.
func (p *relayProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitReady polls GET /readyz until it answers 200, the relay exits or ctx ends.
func (p *relayProc) waitReady(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.adminURL+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrRelayNotReady, context.Cause(ctx))
		case <-p.exited:
			return fmt.Errorf("%w: relay exited: %v", ErrRelayNotReady, p.exitErr)
		case <-t.C:
		}
	}
}

// stop sends SIGTERM and waits up to within for the exit; then SIGKILL.
// It returns the exit code (-1 when killed by a signal).
func (p *relayProc) stop(within time.Duration) (code int, took time.Duration, err error) {
	start := time.Now()
	if p.running() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return -1, 0, err
		}
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return -1, time.Since(start), fmt.Errorf("relay did not exit within %s after SIGTERM; killed", within)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start), nil
}

// logTail returns the last n bytes of the relay's log.
func (p *relayProc) logTail(n int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
