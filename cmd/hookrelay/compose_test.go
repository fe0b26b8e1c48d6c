package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/sender"
)

// There is no Docker engine in CI, so the container files are checked by
// construction: docker-compose.yml against the parts of the Compose
// specification it uses, the Dockerfile against the image it must produce,
// and every config that compose mounts against hookrelay's own loader and
// NewDaemon, with the environment compose gives the container.

// Problems reported by the checks below; each case matches one with errors.Is.
var (
	errComposeKey       = errors.New("compose: unknown key")
	errComposeValue     = errors.New("compose: invalid value")
	errComposeNoImage   = errors.New("compose: service has neither image nor build")
	errComposeDepends   = errors.New("compose: invalid depends_on")
	errComposeVolume    = errors.New("compose: invalid volume")
	errComposeUndecl    = errors.New("compose: named volume not declared under top-level volumes")
	errComposePort      = errors.New("compose: invalid port")
	errComposeInterp    = errors.New("compose: malformed ${...}")
	errMountSource      = errors.New("wiring: bind mount source is missing")
	errConfigNotMounted = errors.New("wiring: the --config file is not mounted")
	errMountedConfig    = errors.New("wiring: mounted config does not load")
	errMountedDaemon    = errors.New("wiring: NewDaemon rejects the mounted config")
	errWiring           = errors.New("wiring: config and compose disagree")
	errDockerfile       = errors.New("dockerfile: invalid")
	errDockerRootUser   = errors.New("dockerfile: final stage runs as root")
)

// The files under test, relative to the repository root.
const (
	composeFileName    = "docker-compose.yml"
	dockerfileName     = "Dockerfile"
	dockerignoreName   = ".dockerignore"
	composeConfigName  = "configs/compose.yaml"
	nativeConfigName   = "configs/coralogix-native.yaml"
	defaultNATSPort    = 4222
	composeProjectRoot = "."
)

// Keys of the Compose specification (compose-spec.json) this file may use.
var (
	composeTopKeys = []string{"name", "services", "volumes", "networks", "configs", "secrets", "include", "models", "version"}
	composeSvcKeys = []string{
		"annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
		"command", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
		"cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on",
		"deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname",
		"entrypoint", "env_file", "environment", "expose", "extends", "external_links", "extra_hosts", "gpus",
		"group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "label_file", "labels",
		"links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
		"models", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
		"platform", "ports", "post_start", "pre_stop", "privileged", "profiles", "provider", "pull_policy",
		"pull_refresh_after", "read_only", "restart", "runtime", "scale", "secrets", "security_opt",
		"shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs",
		"tty", "ulimits", "use_api_socket", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
	}
	composeBuildKeys = []string{
		"context", "dockerfile", "dockerfile_inline", "entitlements", "args", "ssh", "labels", "cache_from",
		"cache_to", "no_cache", "additional_contexts", "network", "pull", "target", "shm_size", "extra_hosts",
		"isolation", "privileged", "secrets", "tags", "ulimits", "platforms",
	}
	composeHealthKeys  = []string{"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
	composeDependsKeys = []string{"condition", "restart", "required"}
	composeConditions  = []string{"service_started", "service_healthy", "service_completed_successfully"}
	composeVolumeKeys  = []string{"driver", "driver_opts", "external", "labels", "name"}
	composeMountModes  = []string{"ro", "rw", "z", "Z", "cached", "delegated", "consistent", "nocopy"}
	composeRestartRE   = regexp.MustCompile(`^(no|always|unless-stopped|on-failure(:[0-9]+)?)$`)
	composeNameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	composeEnvNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)
)

// ---- Compose: parsing and structure ---------------------------------------

// composeProject is a parsed docker-compose.yml.
type composeProject struct {
	dir      string                    // the file's directory; relative paths start here
	doc      map[string]any            // the whole file (aliases resolved)
	services map[string]map[string]any // services by name
}

func parseCompose(dir string, data []byte) (*composeProject, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", errComposeValue, err)
	}
	p := &composeProject{dir: dir, doc: doc, services: map[string]map[string]any{}}
	svcs, _ := doc["services"].(map[string]any)
	for name, v := range svcs {
		m, _ := v.(map[string]any)
		p.services[name] = m
	}
	return p, nil
}

func (p *composeProject) serviceNames() []string {
	names := make([]string, 0, len(p.services))
	for n := range p.services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// problems collects errors of one class at a time.
type problems []error

func (ps *problems) add(class error, format string, args ...any) {
	*ps = append(*ps, fmt.Errorf("%w: "+format, append([]any{class}, args...)...))
}

// check applies the Compose specification's rules to the keys the file uses.
func (p *composeProject) check() []error {
	var ps problems
	for _, k := range sortedKeys(p.doc) {
		if !strings.HasPrefix(k, "x-") && !slices.Contains(composeTopKeys, k) {
			ps.add(errComposeKey, "top-level key %q", k)
		}
	}
	if n, ok := p.doc["name"]; ok {
		if s, _ := n.(string); !composeNameRE.MatchString(s) {
			ps.add(errComposeValue, "name %v must be lower case letters, digits, '-' and '_'", n)
		}
	}
	walkStrings(p.doc, "", func(path, s string) {
		if _, err := interpolate(s, noEnv); err != nil {
			ps.add(errComposeInterp, "%s: %v", path, err)
		}
	})
	if len(p.services) == 0 {
		ps.add(errComposeValue, "no services")
	}
	declared, _ := p.doc["volumes"].(map[string]any)
	for _, name := range sortedKeys(declared) {
		if v, ok := declared[name].(map[string]any); ok {
			for _, k := range sortedKeys(v) {
				if !strings.HasPrefix(k, "x-") && !slices.Contains(composeVolumeKeys, k) {
					ps.add(errComposeKey, "volumes.%s.%s", name, k)
				}
			}
		} else if declared[name] != nil {
			ps.add(errComposeValue, "volumes.%s must be a mapping or empty", name)
		}
	}
	for _, name := range p.serviceNames() {
		p.checkService(&ps, name, declared)
	}
	return ps
}

func (p *composeProject) checkService(ps *problems, name string, declared map[string]any) {
	svc := p.services[name]
	at := "services." + name
	if svc == nil {
		ps.add(errComposeValue, "%s must be a mapping", at)
		return
	}
	for _, k := range sortedKeys(svc) {
		if !strings.HasPrefix(k, "x-") && !slices.Contains(composeSvcKeys, k) {
			ps.add(errComposeKey, "%s.%s", at, k)
		}
	}
	_, hasImage := svc["image"]
	_, hasBuild := svc["build"]
	if !hasImage && !hasBuild {
		ps.add(errComposeNoImage, "%s", at)
	}
	if hasBuild {
		p.checkBuild(ps, at, svc["build"])
	}
	for _, k := range []string{"command", "entrypoint"} {
		if v, ok := svc[k]; ok {
			if _, err := stringList(v); err != nil {
				ps.add(errComposeValue, "%s.%s: %v", at, k, err)
			}
		}
	}
	if r, ok := svc["restart"]; ok {
		if s, _ := r.(string); !composeRestartRE.MatchString(s) {
			ps.add(errComposeValue, "%s.restart %v is not no, always, on-failure[:N] or unless-stopped", at, r)
		}
	}
	if v, ok := svc["stop_grace_period"]; ok {
		checkDuration(ps, at+".stop_grace_period", v)
	}
	if _, err := composeEnvironment(svc, noEnv); err != nil {
		ps.add(errComposeValue, "%s.environment: %v", at, err)
	}
	if hc, ok := svc["healthcheck"]; ok {
		p.checkHealthcheck(ps, at+".healthcheck", hc)
	}
	p.checkDependsOn(ps, at, svc["depends_on"])
	vols, _ := svc["volumes"].([]any)
	if v, ok := svc["volumes"]; ok && vols == nil {
		ps.add(errComposeVolume, "%s.volumes must be a list, got %T", at, v)
	}
	for i, v := range vols {
		m, err := parseMount(v)
		if err != nil {
			ps.add(errComposeVolume, "%s.volumes[%d]: %v", at, i, err)
			continue
		}
		if m.kind == "volume" && m.source != "" {
			if _, ok := declared[m.source]; !ok {
				ps.add(errComposeUndecl, "%s.volumes[%d]: %q", at, i, m.source)
			}
		}
	}
	ports, _ := svc["ports"].([]any)
	if v, ok := svc["ports"]; ok && ports == nil {
		ps.add(errComposePort, "%s.ports must be a list, got %T", at, v)
	}
	for i, v := range ports {
		if _, err := parsePort(v); err != nil {
			ps.add(errComposePort, "%s.ports[%d]: %v", at, i, err)
		}
	}
}

func (p *composeProject) checkBuild(ps *problems, at string, v any) {
	ctx, dockerfile, err := buildOf(v)
	if err != nil {
		ps.add(errComposeValue, "%s.build: %v", at, err)
		return
	}
	if m, ok := v.(map[string]any); ok {
		for _, k := range sortedKeys(m) {
			if !strings.HasPrefix(k, "x-") && !slices.Contains(composeBuildKeys, k) {
				ps.add(errComposeKey, "%s.build.%s", at, k)
			}
		}
	}
	if st, err := os.Stat(filepath.Join(p.dir, ctx)); err != nil || !st.IsDir() {
		ps.add(errComposeValue, "%s.build.context %q is not a directory", at, ctx)
	} else if _, err := os.Stat(filepath.Join(p.dir, ctx, dockerfile)); err != nil {
		ps.add(errComposeValue, "%s.build.dockerfile %q: %v", at, dockerfile, err)
	}
}

func (p *composeProject) checkHealthcheck(ps *problems, at string, v any) {
	hc, ok := v.(map[string]any)
	if !ok {
		ps.add(errComposeValue, "%s must be a mapping", at)
		return
	}
	for _, k := range sortedKeys(hc) {
		if !strings.HasPrefix(k, "x-") && !slices.Contains(composeHealthKeys, k) {
			ps.add(errComposeKey, "%s.%s", at, k)
		}
	}
	switch t := hc["test"].(type) {
	case string:
		if strings.TrimSpace(t) == "" {
			ps.add(errComposeValue, "%s.test is empty", at)
		}
	case []any:
		args, err := stringList(t)
		if err != nil || len(args) == 0 || !slices.Contains([]string{"CMD", "CMD-SHELL", "NONE"}, args[0]) ||
			(args[0] != "NONE" && len(args) < 2) {
			ps.add(errComposeValue, "%s.test must be [\"CMD\", ...], [\"CMD-SHELL\", \"...\"] or [\"NONE\"]", at)
		}
	default:
		if d, _ := hc["disable"].(bool); !d {
			ps.add(errComposeValue, "%s.test is required", at)
		}
	}
	for _, k := range []string{"interval", "timeout", "start_period", "start_interval"} {
		if d, ok := hc[k]; ok {
			checkDuration(ps, at+"."+k, d)
		}
	}
	if r, ok := hc["retries"]; ok {
		if n, ok := r.(int); !ok || n < 1 {
			ps.add(errComposeValue, "%s.retries must be a positive integer, got %v", at, r)
		}
	}
}

func (p *composeProject) checkDependsOn(ps *problems, at string, v any) {
	if v == nil {
		return
	}
	at += ".depends_on"
	deps := map[string]string{}
	switch d := v.(type) {
	case []any:
		names, err := stringList(d)
		if err != nil {
			ps.add(errComposeDepends, "%s: %v", at, err)
			return
		}
		for _, n := range names {
			deps[n] = "service_started"
		}
	case map[string]any:
		for _, n := range sortedKeys(d) {
			m, ok := d[n].(map[string]any)
			if !ok {
				ps.add(errComposeDepends, "%s.%s must be a mapping with a condition", at, n)
				continue
			}
			for _, k := range sortedKeys(m) {
				if !strings.HasPrefix(k, "x-") && !slices.Contains(composeDependsKeys, k) {
					ps.add(errComposeKey, "%s.%s.%s", at, n, k)
				}
			}
			c, _ := m["condition"].(string)
			if !slices.Contains(composeConditions, c) {
				ps.add(errComposeDepends, "%s.%s.condition %q is not one of %s", at, n, c, strings.Join(composeConditions, ", "))
				continue
			}
			deps[n] = c
		}
	default:
		ps.add(errComposeDepends, "%s must be a list or a mapping", at)
	}
	for _, n := range sortedKeys(deps) {
		target, ok := p.services[n]
		if !ok {
			ps.add(errComposeDepends, "%s: no service %q", at, n)
			continue
		}
		if deps[n] == "service_healthy" {
			hc, _ := target["healthcheck"].(map[string]any)
			if disabled, _ := hc["disable"].(bool); hc == nil || disabled {
				ps.add(errComposeDepends, "%s.%s: service_healthy needs a healthcheck on %q", at, n, n)
			}
		}
	}
}

func checkDuration(ps *problems, at string, v any) {
	s, ok := v.(string)
	if !ok {
		ps.add(errComposeValue, "%s must be a duration string, got %v", at, v)
		return
	}
	if d, err := time.ParseDuration(s); err != nil || d < 0 {
		ps.add(errComposeValue, "%s %q is not a duration like 5s or 1m30s", at, s)
	}
}

// buildOf returns a build's context and Dockerfile name.
func buildOf(v any) (context, dockerfile string, err error) {
	switch b := v.(type) {
	case string:
		return b, dockerfileName, nil
	case map[string]any:
		context, _ = b["context"].(string)
		if context == "" {
			context = composeProjectRoot
		}
		dockerfile, _ = b["dockerfile"].(string)
		if dockerfile == "" {
			dockerfile = dockerfileName
		}
		return context, dockerfile, nil
	}
	return "", "", fmt.Errorf("must be a path or a mapping, got %T", v)
}

// stringList accepts a string or a list of strings (command, entrypoint).
func stringList(v any) ([]string, error) {
	switch l := v.(type) {
	case string:
		return strings.Fields(l), nil
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %v is not a string (quote it)", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("must be a string or a list of strings, got %T", v)
}

// composeMount is one entry of a service's volumes.
type composeMount struct {
	kind     string // bind, volume or tmpfs
	source   string // host path (bind) or volume name; empty for an anonymous volume
	target   string
	readOnly bool
}

func parseMount(v any) (composeMount, error) {
	switch m := v.(type) {
	case string:
		parts := strings.Split(m, ":")
		var mt composeMount
		switch len(parts) {
		case 1:
			mt = composeMount{kind: "volume", target: parts[0]}
		case 2, 3:
			mt = composeMount{kind: "volume", source: parts[0], target: parts[1]}
			if strings.HasPrefix(mt.source, ".") || strings.HasPrefix(mt.source, "/") || strings.HasPrefix(mt.source, "~") {
				mt.kind = "bind"
			}
			if len(parts) == 3 {
				for opt := range strings.SplitSeq(parts[2], ",") {
					if !slices.Contains(composeMountModes, opt) {
						return mt, fmt.Errorf("%q: unknown mode %q", m, opt)
					}
					mt.readOnly = mt.readOnly || opt == "ro"
				}
			}
		default:
			return composeMount{}, fmt.Errorf("%q is not [SOURCE:]TARGET[:MODE]", m)
		}
		if mt.kind == "volume" && mt.source != "" && !regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`).MatchString(mt.source) {
			return mt, fmt.Errorf("%q: bad volume name %q", m, mt.source)
		}
		if !strings.HasPrefix(mt.target, "/") {
			return mt, fmt.Errorf("%q: target %q is not an absolute path", m, mt.target)
		}
		return mt, nil
	case map[string]any:
		mt := composeMount{}
		mt.kind, _ = m["type"].(string)
		mt.source, _ = m["source"].(string)
		mt.target, _ = m["target"].(string)
		mt.readOnly, _ = m["read_only"].(bool)
		if !slices.Contains([]string{"bind", "volume", "tmpfs"}, mt.kind) || !strings.HasPrefix(mt.target, "/") {
			return mt, fmt.Errorf("long syntax needs type bind|volume|tmpfs and an absolute target")
		}
		return mt, nil
	}
	return composeMount{}, fmt.Errorf("must be a string or a mapping, got %T", v)
}

// composePort is one published port.
type composePort struct {
	hostIP, published, target, proto string
}

// parsePort parses [[HOST_IP:][HOST_PORT]:]CONTAINER_PORT[/PROTO] or the long syntax.
func parsePort(v any) (composePort, error) {
	switch p := v.(type) {
	case int:
		return composePort{target: strconv.Itoa(p), proto: "tcp"}, checkPortRange(strconv.Itoa(p))
	case map[string]any:
		cp := composePort{proto: "tcp"}
		cp.target = fmt.Sprint(p["target"])
		if pub, ok := p["published"]; ok {
			cp.published = fmt.Sprint(pub)
		}
		cp.hostIP, _ = p["host_ip"].(string)
		if err := checkPortRange(cp.target); err != nil {
			return cp, err
		}
		if cp.published != "" {
			return cp, checkPortRange(cp.published)
		}
		return cp, nil
	case string:
		cp := composePort{proto: "tcp"}
		s := p
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			cp.proto = s[i+1:]
			s = s[:i]
			if !slices.Contains([]string{"tcp", "udp", "sctp"}, cp.proto) {
				return cp, fmt.Errorf("%q: protocol %q", p, cp.proto)
			}
		}
		if strings.HasPrefix(s, "[") { // [IPv6]:HOST:CONTAINER
			end := strings.Index(s, "]:")
			if end < 0 {
				return cp, fmt.Errorf("%q: unterminated IPv6 address", p)
			}
			cp.hostIP, s = s[1:end], s[end+2:]
			if _, err := parseHostIP(cp.hostIP); err != nil {
				return cp, fmt.Errorf("%q: %v", p, err)
			}
		}
		parts := strings.Split(s, ":")
		switch {
		case len(parts) == 1:
			cp.target = parts[0]
		case len(parts) == 2:
			cp.published, cp.target = parts[0], parts[1]
		case len(parts) == 3 && cp.hostIP == "":
			cp.hostIP, cp.published, cp.target = parts[0], parts[1], parts[2]
			if _, err := parseHostIP(cp.hostIP); err != nil {
				return cp, fmt.Errorf("%q: %v", p, err)
			}
		default:
			return cp, fmt.Errorf("%q is not [[HOST_IP:][HOST_PORT]:]CONTAINER_PORT[/PROTO]", p)
		}
		if err := checkPortRange(cp.target); err != nil {
			return cp, fmt.Errorf("%q: %v", p, err)
		}
		if cp.published != "" {
			if err := checkPortRange(cp.published); err != nil {
				return cp, fmt.Errorf("%q: %v", p, err)
			}
		}
		return cp, nil
	}
	return composePort{}, fmt.Errorf("must be a string, a number or a mapping, got %T", v)
}

func parseHostIP(s string) (net.IP, error) {
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("%q is not an IP address", s)
	}
	return ip, nil
}

// checkPortRange accepts N or N-M with 1 ≤ N ≤ M ≤ 65535.
func checkPortRange(s string) error {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return fmt.Errorf("port %q is not in 1-65535", s)
	}
	return nil
}

// ---- Compose: interpolation -----------------------------------------------

// noEnv is an empty host environment: every ${VAR:-default} takes its default.
func noEnv(string) (string, bool) { return "", false }

// interpolate expands $$, $VAR, ${VAR} and ${VAR<op>arg} (op one of :- - :? ?
// :+ +) the way Compose does, and refuses anything else after a '$'.
func interpolate(s string, getenv func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("a lone '$' at the end (write $$ for a literal $)")
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '{':
			depth, j := 1, i+2
			for ; j < len(s) && depth > 0; j++ {
				switch {
				case s[j] == '{' && s[j-1] == '$':
					depth++
				case s[j] == '}':
					depth--
				}
			}
			if depth != 0 {
				return "", fmt.Errorf("unterminated \"${\" in %q", s)
			}
			v, err := expandBraced(s[i+2:j-1], getenv)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = j - 1
		default:
			name := composeEnvNameRE.FindString(s[i+1:])
			if name == "" {
				return "", fmt.Errorf("invalid character after '$' in %q (write $$ for a literal $)", s)
			}
			v, _ := getenv(name)
			b.WriteString(v)
			i += len(name)
		}
	}
	return b.String(), nil
}

func expandBraced(body string, getenv func(string) (string, bool)) (string, error) {
	name := composeEnvNameRE.FindString(body)
	if name == "" {
		return "", fmt.Errorf("invalid variable name in \"${%s}\"", body)
	}
	rest := body[len(name):]
	val, set := getenv(name)
	if rest == "" {
		return val, nil
	}
	var op string
	for _, o := range []string{":-", ":?", ":+", "-", "?", "+"} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" {
		return "", fmt.Errorf("\"${%s}\": expected one of :- - :? ? :+ + after %s", body, name)
	}
	arg, err := interpolate(rest[len(op):], getenv)
	if err != nil {
		return "", err
	}
	empty := !set || (strings.HasPrefix(op, ":") && val == "")
	switch strings.TrimPrefix(op, ":") {
	case "-":
		if empty {
			return arg, nil
		}
	case "?":
		if empty {
			return "", fmt.Errorf("required variable %s is not set: %s", name, arg)
		}
	case "+":
		if empty {
			return "", nil
		}
		return arg, nil
	}
	return val, nil
}

// composeEnvironment is a service's environment after interpolation; a
// variable listed without a value is set only when the host has it.
func composeEnvironment(svc map[string]any, host func(string) (string, bool)) (map[string]string, error) {
	env := map[string]string{}
	put := func(k string, v any, hasValue bool) error {
		if !composeEnvNameRE.MatchString(k) || composeEnvNameRE.FindString(k) != k {
			return fmt.Errorf("bad variable name %q", k)
		}
		if !hasValue || v == nil {
			if hv, ok := host(k); ok {
				env[k] = hv
			}
			return nil
		}
		s, err := interpolate(fmt.Sprint(v), host)
		if err != nil {
			return err
		}
		env[k] = s
		return nil
	}
	switch e := svc["environment"].(type) {
	case nil:
	case map[string]any:
		for _, k := range sortedKeys(e) {
			if err := put(k, e[k], true); err != nil {
				return nil, err
			}
		}
	case []any:
		items, err := stringList(e)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			k, v, ok := strings.Cut(it, "=")
			if err := put(k, v, ok); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("must be a mapping or a list of KEY=VALUE, got %T", e)
	}
	return env, nil
}

// walkStrings calls f for every string value below v.
func walkStrings(v any, path string, f func(path, s string)) {
	switch t := v.(type) {
	case string:
		f(path, t)
	case map[string]any:
		for _, k := range sortedKeys(t) {
			walkStrings(t[k], strings.TrimPrefix(path+"."+k, "."), f)
		}
	case []any:
		for i, e := range t {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- Dockerfile -----------------------------------------------------------

// dockerInstr is one instruction, continuation lines joined.
type dockerInstr struct {
	cmd   string   // upper case: FROM, RUN, COPY, ...
	flags []string // leading --flags
	args  string   // the rest
	line  int
}

// dockerStage is one FROM and the instructions after it.
type dockerStage struct {
	base, name string
	instrs     []dockerInstr
}

// dockerImage is what the Dockerfile's final stage runs.
type dockerImage struct {
	syntax     string
	stages     []dockerStage
	entrypoint []string
	cmd        []string
	user       string
	exposed    []int
}

func parseDockerfile(data []byte) (*dockerImage, error) {
	img := &dockerImage{}
	lines := strings.Split(string(data), "\n")
	directives := true
	var cur *dockerInstr
	var text strings.Builder
	flush := func() error {
		if cur == nil {
			return nil
		}
		fields := strings.Fields(text.String())
		text.Reset()
		in := *cur
		cur = nil
		if len(fields) == 0 {
			return nil
		}
		in.cmd = strings.ToUpper(fields[0])
		rest := fields[1:]
		for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
			in.flags = append(in.flags, rest[0])
			rest = rest[1:]
		}
		in.args = strings.Join(rest, " ")
		if in.cmd == "FROM" {
			st := dockerStage{}
			if len(rest) == 0 {
				return fmt.Errorf("line %d: FROM without an image", in.line)
			}
			st.base = rest[0]
			if len(rest) == 3 && strings.EqualFold(rest[1], "AS") {
				st.name = rest[2]
			}
			img.stages = append(img.stages, st)
			return nil
		}
		if len(img.stages) == 0 {
			if in.cmd == "ARG" {
				return nil
			}
			return fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
		}
		st := &img.stages[len(img.stages)-1]
		st.instrs = append(st.instrs, in)
		return nil
	}
	for i, raw := range lines {
		line := strings.TrimSpace(raw)
		if directives {
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "#"), "="); ok && strings.HasPrefix(line, "#") &&
				strings.EqualFold(strings.TrimSpace(k), "syntax") {
				img.syntax = strings.TrimSpace(v)
				continue
			}
			directives = false
		}
		if strings.HasPrefix(line, "#") || (line == "" && cur == nil) {
			continue
		}
		if cur == nil {
			cur = &dockerInstr{line: i + 1}
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			text.WriteString(cont + " ")
			continue
		}
		text.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: continuation at the end of the file", cur.line)
	}
	if len(img.stages) == 0 {
		return nil, errors.New("no FROM")
	}
	final := img.stages[len(img.stages)-1]
	for _, in := range final.instrs {
		var err error
		switch in.cmd {
		case "ENTRYPOINT":
			err = json.Unmarshal([]byte(in.args), &img.entrypoint)
		case "CMD":
			err = json.Unmarshal([]byte(in.args), &img.cmd)
		case "USER":
			img.user = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				n, perr := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if perr != nil {
					return nil, fmt.Errorf("line %d: EXPOSE %q", in.line, p)
				}
				img.exposed = append(img.exposed, n)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %s must be in exec form (a JSON array): %v", in.line, in.cmd, err)
		}
	}
	return img, nil
}

// goRelease returns go.mod's go line: "1.26" or "1.26.8".
func goRelease(gomod []byte) (string, error) {
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(gomod)
	if m == nil {
		return "", errors.New("go.mod has no go line")
	}
	return string(m[1]), nil
}

// check verifies the image hookrelay needs: a static, trimmed binary built
// with cached modules in a golang stage of go.mod's Go release, run as a
// non-root user from a minimal final stage with a /data it owns.
func (img *dockerImage) check(goVersion string) []error {
	var ps problems
	if !strings.HasPrefix(img.syntax, "docker/dockerfile:1") {
		ps.add(errDockerfile, "the first line must be \"# syntax=docker/dockerfile:1\" (RUN --mount needs it), got %q", img.syntax)
	}
	if len(img.stages) < 2 {
		ps.add(errDockerfile, "want a multi-stage build, got %d stage(s)", len(img.stages))
		return ps
	}
	builds := img.stages[:len(img.stages)-1]
	final := img.stages[len(img.stages)-1]

	var goStage *dockerStage
	for i := range builds {
		if strings.HasPrefix(builds[i].base, "golang:") {
			goStage = &builds[i]
		}
	}
	if goStage == nil {
		ps.add(errDockerfile, "no golang build stage")
		return ps
	}
	// The golang images build with their own toolchain only: a tag older
	// than go.mod's go line fails, and a minor-only tag may be older.
	if m := regexp.MustCompile(`^golang:(\d+\.\d+(?:\.\d+)?)(-|$)`).FindStringSubmatch(goStage.base); m == nil || m[1] != goVersion {
		ps.add(errDockerfile, "build stage %s is not go.mod's go %s", goStage.base, goVersion)
	}
	var built bool
	for _, in := range goStage.instrs {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		built = true
		if !strings.Contains(in.args, "CGO_ENABLED=0") {
			ps.add(errDockerfile, "line %d: go build without CGO_ENABLED=0 (the final image has no libc)", in.line)
		}
		for _, f := range []string{"-trimpath", "-s -w", "-X main.version=", "./cmd/hookrelay"} {
			if !strings.Contains(in.args, f) {
				ps.add(errDockerfile, "line %d: go build lacks %q", in.line, f)
			}
		}
		if !slices.ContainsFunc(in.flags, func(f string) bool {
			return strings.HasPrefix(f, "--mount=type=cache") && strings.Contains(f, "/go/pkg/mod")
		}) {
			ps.add(errDockerfile, "line %d: go build without a module cache mount", in.line)
		}
	}
	if !built {
		ps.add(errDockerfile, "stage %s never runs go build", goStage.base)
	}

	if final.base == goStage.base || strings.HasPrefix(final.base, "golang:") {
		ps.add(errDockerfile, "the final stage %s is not a minimal runtime image", final.base)
	}
	switch u := strings.SplitN(img.user, ":", 2)[0]; u {
	case "", "root", "0":
		ps.add(errDockerRootUser, "USER %q", img.user)
	}
	if len(img.entrypoint) == 0 {
		ps.add(errDockerfile, "no ENTRYPOINT")
	}
	var binCopied, dataOwned bool
	for _, in := range final.instrs {
		if in.cmd != "COPY" {
			continue
		}
		f := strings.Fields(in.args)
		if len(f) < 2 {
			continue
		}
		dst := f[len(f)-1]
		fromBuild := slices.ContainsFunc(in.flags, func(s string) bool { return strings.HasPrefix(s, "--from=") })
		if fromBuild && len(img.entrypoint) > 0 && dst == img.entrypoint[0] {
			binCopied = true
		}
		if dst == "/data" || dst == "/data/" {
			for _, fl := range in.flags {
				if owner, ok := strings.CutPrefix(fl, "--chown="); ok {
					u := strings.SplitN(owner, ":", 2)[0]
					dataOwned = u != "root" && u != "0"
				}
			}
		}
	}
	if len(img.entrypoint) > 0 && !binCopied {
		ps.add(errDockerfile, "ENTRYPOINT %s is not a binary copied from the build stage", img.entrypoint[0])
	}
	if !dataOwned {
		ps.add(errDockerfile, "/data is not copied with --chown to the non-root user (distroless has no shell to chown it)")
	}
	return ps
}

// commandOf is what a container of an image built here runs: the service's
// command (interpolated with every default), or the image's CMD.
func (img *dockerImage) commandOf(svc map[string]any) []string {
	c, ok := svc["command"]
	if !ok {
		return img.cmd
	}
	args, _ := stringList(c)
	out := make([]string, 0, len(args))
	for _, a := range args {
		v, err := interpolate(a, noEnv)
		if err != nil {
			v = a // reported by the compose check
		}
		out = append(out, v)
	}
	return out
}

// ---- Wiring: compose × Dockerfile × configs -------------------------------

// project is everything the wiring check reads, loaded from one directory.
type project struct {
	dir     string
	compose *composeProject
	image   *dockerImage
}

func loadProject(tb testing.TB, dir string) *project {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dir, composeFileName))
	if err != nil {
		tb.Fatal(err)
	}
	cp, err := parseCompose(dir, data)
	if err != nil {
		tb.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(dir, dockerfileName))
	if err != nil {
		tb.Fatal(err)
	}
	img, err := parseDockerfile(df)
	if err != nil {
		tb.Fatalf("%s: %v", dockerfileName, err)
	}
	return &project{dir: dir, compose: cp, image: img}
}

// buildsHere reports whether a service runs hookrelay from the image of
// this Dockerfile (with the image's ENTRYPOINT).
func (p *project) buildsHere(svc map[string]any) bool {
	b, ok := svc["build"]
	if _, overridden := svc["entrypoint"]; !ok || overridden {
		return false
	}
	ctx, df, err := buildOf(b)
	return err == nil && filepath.Clean(ctx) == composeProjectRoot && df == dockerfileName
}

// listenPorts are the ports each service listens on inside the compose
// network, from its command line (none when they cannot be known).
func (p *project) listenPorts() map[string][]int {
	out := map[string][]int{}
	for _, name := range p.compose.serviceNames() {
		svc := p.compose.services[name]
		img, _ := svc["image"].(string)
		out[name] = nil // a service whose ports are unknown
		switch {
		case strings.HasPrefix(img, "nats:"):
			args, _ := stringList(svc["command"])
			port := defaultNATSPort
			for i, a := range args {
				if (a == "-p" || a == "--port") && i+1 < len(args) {
					port, _ = strconv.Atoi(args[i+1])
				}
			}
			out[name] = append(out[name], port)
		case p.buildsHere(svc):
			args := p.image.commandOf(svc)
			if c, rest, err := newRootCmd().Find(args); err == nil && c.ParseFlags(rest) == nil {
				if l := c.Flags().Lookup("listen"); l != nil {
					if _, port, err := net.SplitHostPort(l.Value.String()); err == nil {
						n, _ := strconv.Atoi(port)
						out[name] = append(out[name], n)
					}
				}
			}
		}
	}
	return out
}

// check follows every service into the things it relies on: hookrelay
// commands and flags, the config file that `run` reads, the variables and
// volumes that config needs, and the hosts and ports it dials.
func (p *project) check() []error {
	var ps problems
	ports := p.listenPorts()
	for _, name := range p.compose.serviceNames() {
		svc := p.compose.services[name]
		at := "services." + name
		var mounts []composeMount
		vols, _ := svc["volumes"].([]any)
		for _, v := range vols {
			if m, err := parseMount(v); err == nil {
				mounts = append(mounts, m)
			}
		}
		env, err := composeEnvironment(svc, noEnv)
		if err != nil {
			ps.add(errWiring, "%s.environment: %v", at, err)
			continue
		}
		for _, k := range sortedKeys(env) {
			if env[k] == "" {
				ps.add(errWiring, "%s.environment.%s is empty unless the host sets it; give it a ${%s:-default}", at, k, k)
			}
		}
		if img, _ := svc["image"].(string); strings.HasPrefix(img, "nats:") {
			p.checkNATS(&ps, at, svc, mounts)
		}
		for _, m := range mounts {
			if m.kind != "bind" {
				continue
			}
			if _, err := os.Stat(filepath.Join(p.dir, m.source)); err != nil {
				ps.add(errMountSource, "%s.volumes: %s: %v", at, m.source, err)
			}
		}
		if !p.buildsHere(svc) {
			continue
		}
		args := p.image.commandOf(svc)
		c, rest, err := newRootCmd().Find(args)
		if err == nil && c.Name() == "hookrelay" {
			err = fmt.Errorf("no subcommand")
		}
		if err == nil {
			err = c.ParseFlags(rest)
		}
		if err != nil {
			ps.add(errWiring, "%s: hookrelay %s: %v", at, strings.Join(args, " "), err)
			continue
		}
		f := c.Flags().Lookup("config")
		if f == nil {
			continue
		}
		cfgPath := f.Value.String()
		var mounted *composeMount
		for i := range mounts {
			if mounts[i].target == cfgPath && mounts[i].kind == "bind" {
				mounted = &mounts[i]
			}
		}
		if mounted == nil {
			ps.add(errConfigNotMounted, "%s runs hookrelay %s but mounts no file at %s", at, strings.Join(args, " "), cfgPath)
			continue
		}
		if !mounted.readOnly {
			ps.add(errWiring, "%s: mount %s read-only (:ro)", at, mounted.source)
		}
		src := filepath.Join(p.dir, mounted.source)
		if _, err := os.Stat(src); err != nil {
			continue // reported above
		}
		p.checkConfig(&ps, at, src, env, mounts, ports, svc)
	}
	return ps
}

func (p *project) checkNATS(ps *problems, at string, svc map[string]any, mounts []composeMount) {
	args, _ := stringList(svc["command"])
	flag := func(names ...string) (string, bool) {
		for i, a := range args {
			if slices.Contains(names, a) {
				if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
					return args[i+1], true
				}
				return "", true
			}
		}
		return "", false
	}
	if _, ok := flag("-js", "--jetstream"); !ok {
		ps.add(errWiring, "%s: hookrelay needs JetStream (-js)", at)
	}
	if dir, ok := flag("-sd", "--store_dir"); !ok || !onVolume(dir, mounts) {
		ps.add(errWiring, "%s: the JetStream store (-sd %q) is not on a named volume", at, dir)
	}
	mon, ok := flag("-m", "--http_port")
	hc, _ := p.compose.services[strings.TrimPrefix(at, "services.")]["healthcheck"].(map[string]any)
	test, _ := stringList(hc["test"])
	if !ok || !strings.Contains(strings.Join(test, " "), ":"+mon+"/healthz") {
		ps.add(errWiring, "%s: the healthcheck %q does not query the monitoring port (-m %s)", at, test, mon)
	}
}

// containerEnv makes NewDaemon's senders resolve header variables from the
// container's environment instead of the test process's.
func containerEnv(getenv func(string) (string, bool)) DaemonOptions {
	return DaemonOptions{SenderOptions: func(o *sender.Options) { o.Getenv = getenv }}
}

// onVolume reports whether path is at or below a named volume's target.
func onVolume(path string, mounts []composeMount) bool {
	for _, m := range mounts {
		if m.kind == "volume" && m.source != "" && (path == m.target || strings.HasPrefix(path, strings.TrimSuffix(m.target, "/")+"/")) {
			return true
		}
	}
	return false
}

// checkConfig loads a mounted config the way `hookrelay run` in the
// container would (minus DNS), builds the daemon, and matches the config's
// addresses against the compose network.
func (p *project) checkConfig(ps *problems, at, path string, env map[string]string, mounts []composeMount, ports map[string][]int, svc map[string]any) {
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Load(path, config.LoadOptions{Getenv: getenv})
	if err != nil {
		ps.add(errMountedConfig, "%s: %v", at, err)
		return
	}
	if _, err := NewDaemon(cfg, containerEnv(getenv)); err != nil {
		ps.add(errMountedDaemon, "%s: %s: %v", at, path, err)
	}
	if !onVolume(filepath.Dir(cfg.Store.Path), mounts) {
		ps.add(errWiring, "%s: store.path %s is not on a named volume (it would be lost with the container)", at, cfg.Store.Path)
	}
	if cfg.NATS.URL == "" {
		ps.add(errWiring, "%s: nats.url is empty: the container would start an embedded server instead of using compose's", at)
	}
	dial := map[string]string{"nats.url": cfg.NATS.URL}
	for i, w := range cfg.Webhooks {
		dial[fmt.Sprintf("webhooks[%d].url", i)] = w.URL
		if w.Coralogix != nil {
			dial[fmt.Sprintf("webhooks[%d].coralogix.endpoint", i)] = w.Coralogix.Endpoint
		}
	}
	for _, key := range sortedKeys(dial) {
		if dial[key] == "" {
			continue
		}
		u, err := url.Parse(dial[key])
		if err != nil || strings.Contains(u.Hostname(), ".") {
			continue // an address outside the compose network
		}
		want, ok := ports[u.Hostname()]
		if !ok {
			ps.add(errWiring, "%s: %s host %q is not a compose service", at, key, u.Hostname())
			continue
		}
		port, _ := strconv.Atoi(u.Port())
		if port == 0 && u.Scheme == "nats" {
			port = defaultNATSPort
		}
		if len(want) > 0 && !slices.Contains(want, port) {
			ps.add(errWiring, "%s: %s dials %s:%d but %s listens on %v", at, key, u.Hostname(), port, u.Hostname(), want)
		}
	}
	_, adminPort, _ := net.SplitHostPort(cfg.Admin.Listen)
	n, _ := strconv.Atoi(adminPort)
	if !slices.Contains(p.image.exposed, n) {
		ps.add(errWiring, "%s: admin.listen port %d is not EXPOSEd by the Dockerfile (%v)", at, n, p.image.exposed)
	}
	published := false
	pl, _ := svc["ports"].([]any)
	for _, v := range pl {
		if cp, err := parsePort(v); err == nil && cp.target == adminPort && cp.published != "" {
			published = true
		}
	}
	if !published {
		ps.add(errWiring, "%s: admin.listen port %s is not published", at, adminPort)
	}
}

// ---- Tests ----------------------------------------------------------------

// repoRoot is the directory holding go.mod.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// mutation replaces old with new in one file of a copy of the project; old
// must occur, so a case cannot pass by no longer matching the files.
type mutation struct {
	file, old, new string
}

// projectCopy copies the files the checks read (the root files and
// configs/) into a temporary directory and applies the mutations there.
func projectCopy(tb testing.TB, muts ...mutation) string {
	tb.Helper()
	src, dst := repoRoot(tb), tb.TempDir()
	files := []string{"go.mod", dockerfileName, dockerignoreName, composeFileName}
	configs, err := filepath.Glob(filepath.Join(src, "configs", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range configs {
		files = append(files, filepath.Join("configs", filepath.Base(c)))
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range muts {
			if m.file != f {
				continue
			}
			if !strings.Contains(string(data), m.old) {
				tb.Fatalf("%s no longer contains %q: update this case", f, m.old)
			}
			data = []byte(strings.Replace(string(data), m.old, m.new, 1))
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// checkErrs reports got against one wanted class (nil: no problem at all).
func checkErrs(t *testing.T, got []error, wantErr error) {
	t.Helper()
	joined := errors.Join(got...)
	switch {
	case wantErr == nil && joined != nil:
		t.Fatalf("want no problems, got:\n%v", joined)
	case wantErr != nil && !errors.Is(joined, wantErr):
		t.Fatalf("want %q, got:\n%v", wantErr, joined)
	case wantErr != nil:
		t.Logf("found, as wanted:\n%v", joined)
	}
}

// Ensure docker-compose.yml is a Compose file docker compose accepts, and
// that each rule the check applies rejects a file that breaks it.
func TestComposeFile_Check(t *testing.T) {
	tests := []struct {
		name    string
		given   []mutation
		wantErr error
	}{
		// The repository's file.
		{name: "Repository"},
		{name: "UnknownServiceKey", given: []mutation{{composeFileName, "stop_grace_period:", "stop_grace:"}}, wantErr: errComposeKey},
		{name: "UnknownTopLevelKey", given: []mutation{{composeFileName, "\nvolumes:\n", "\nvolume:\n"}}, wantErr: errComposeKey},
		{name: "NoImageNorBuild", given: []mutation{{composeFileName, "    image: nats:", "    x-image: nats:"}}, wantErr: errComposeNoImage},
		{name: "BadBuildContext", given: []mutation{{composeFileName, "  context: .\n", "  context: ./nowhere\n"}}, wantErr: errComposeValue},
		{name: "BadCondition", given: []mutation{{composeFileName, "condition: service_healthy", "condition: healthy"}}, wantErr: errComposeDepends},
		// service_healthy on a service without a healthcheck never starts.
		{name: "HealthyWithoutHealthcheck", given: []mutation{{composeFileName, "condition: service_started", "condition: service_healthy"}}, wantErr: errComposeDepends},
		{name: "DependsOnUnknownService", given: []mutation{{composeFileName, "      sink:\n        condition:", "      sinc:\n        condition:"}}, wantErr: errComposeDepends},
		{name: "UndeclaredVolume", given: []mutation{{composeFileName, "\n  hookrelay-data:\n", "\n"}}, wantErr: errComposeUndecl},
		{name: "RelativeMountTarget", given: []mutation{{composeFileName, "hookrelay-data:/data", "hookrelay-data:data"}}, wantErr: errComposeVolume},
		{name: "BadMountMode", given: []mutation{{composeFileName, "hookrelay.yaml:ro", "hookrelay.yaml:readonly"}}, wantErr: errComposeVolume},
		{name: "PortOutOfRange", given: []mutation{{composeFileName, "127.0.0.1:8080:8080", "127.0.0.1:8080:80800"}}, wantErr: errComposePort},
		{name: "PortBadHostIP", given: []mutation{{composeFileName, "127.0.0.1:8080:8080", "localhost:8080:8080"}}, wantErr: errComposePort},
		{name: "UnterminatedVariable", given: []mutation{{composeFileName, "${CORALOGIX_API_KEY:-local-dev-key}\"]", "${CORALOGIX_API_KEY:-local-dev-key\"]"}}, wantErr: errComposeInterp},
		{name: "BadVariableOperator", given: []mutation{{composeFileName, "${HOOKRELAY_ADMIN_TOKEN:-change-me}", "${HOOKRELAY_ADMIN_TOKEN:=change-me}"}}, wantErr: errComposeInterp},
		{name: "LoneDollar", given: []mutation{{composeFileName, "${VERSION:-dev}", "$-dev"}}, wantErr: errComposeInterp},
		{name: "BadRestart", given: []mutation{{composeFileName, "restart: unless-stopped", "restart: sometimes"}}, wantErr: errComposeValue},
		{name: "BadDuration", given: []mutation{{composeFileName, "interval: 5s", "interval: 5 seconds"}}, wantErr: errComposeValue},
		{name: "BadHealthcheckTest", given: []mutation{{composeFileName, `test: ["CMD", "wget"`, `test: ["RUN", "wget"`}}, wantErr: errComposeValue},
		{name: "UnquotedCommandNumber", given: []mutation{{composeFileName, `"-m", "8222"`, `"-m", 8222`}}, wantErr: errComposeValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := projectCopy(t, tt.given...)
			data, err := os.ReadFile(filepath.Join(dir, composeFileName))
			if err != nil {
				t.Fatal(err)
			}
			cp, err := parseCompose(dir, data)
			if err != nil {
				t.Fatal(err)
			}
			checkErrs(t, cp.check(), tt.wantErr)
		})
	}
}

// Ensure every config docker-compose.yml mounts loads with the environment
// compose gives the container, passes NewDaemon, and agrees with the compose
// network, volumes and ports; and that a broken mount or config fails.
func TestComposeFile_Wiring(t *testing.T) {
	tests := []struct {
		name    string
		given   []mutation
		wantErr error
	}{
		{name: "Repository"},
		{name: "MissingMountSource", given: []mutation{{composeFileName, "./configs/compose.yaml:", "./configs/composer.yaml:"}}, wantErr: errMountSource},
		{name: "MountElsewhere", given: []mutation{{composeFileName, ":/etc/hookrelay/hookrelay.yaml:ro", ":/etc/hookrelay/config.yaml:ro"}}, wantErr: errConfigNotMounted},
		{name: "CMDElsewhere", given: []mutation{{dockerfileName, `"--config", "/etc/hookrelay/hookrelay.yaml"`, `"--config", "/hookrelay.yaml"`}}, wantErr: errConfigNotMounted},
		{name: "MountWritable", given: []mutation{{composeFileName, "hookrelay.yaml:ro", "hookrelay.yaml:rw"}}, wantErr: errWiring},
		// Without its default the token is empty, which a non-loopback admin.listen refuses.
		{name: "AdminTokenWithoutDefault", given: []mutation{{composeFileName, "${HOOKRELAY_ADMIN_TOKEN:-change-me}", "${HOOKRELAY_ADMIN_TOKEN}"}}, wantErr: errMountedConfig},
		{name: "APIKeyNotPassed", given: []mutation{{composeFileName, "      CORALOGIX_API_KEY: ${CORALOGIX_API_KEY:-local-dev-key}\n", ""}}, wantErr: errMountedConfig},
		{name: "UnsafeURLsNotAllowed", given: []mutation{{composeConfigName, "  allow_unsafe_urls: true\n", ""}}, wantErr: errMountedConfig},
		{name: "StoreOffVolume", given: []mutation{{composeFileName, "hookrelay-data:/data", "hookrelay-data:/var/lib/hookrelay"}}, wantErr: errWiring},
		{name: "SinkPortMismatch", given: []mutation{{composeFileName, `"0.0.0.0:8443"`, `"0.0.0.0:9443"`}}, wantErr: errWiring},
		{name: "UnknownSinkFlag", given: []mutation{{composeFileName, `"--api-key"`, `"--apikey"`}}, wantErr: errWiring},
		{name: "UnknownNATSHost", given: []mutation{{composeConfigName, "nats://nats:4222", "nats://natsd:4222"}}, wantErr: errWiring},
		{name: "NoJetStream", given: []mutation{{composeFileName, `["-js", `, `[`}}, wantErr: errWiring},
		{name: "HealthcheckWrongPort", given: []mutation{{composeFileName, "127.0.0.1:8222/healthz", "127.0.0.1:8223/healthz"}}, wantErr: errWiring},
		{name: "AdminNotPublished", given: []mutation{{composeFileName, "127.0.0.1:8080:8080", "127.0.0.1:8080:9090"}}, wantErr: errWiring},
		{name: "AdminNotExposed", given: []mutation{{dockerfileName, "EXPOSE 8080", "EXPOSE 9090"}}, wantErr: errWiring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadProject(t, projectCopy(t, tt.given...))
			checkErrs(t, p.check(), tt.wantErr)
		})
	}
}

// Ensure the Dockerfile builds a static binary of go.mod's Go version with
// cached modules and runs it as non-root from a minimal image.
func TestDockerfile_Check(t *testing.T) {
	tests := []struct {
		name    string
		given   []mutation
		wantErr error
	}{
		{name: "Repository"},
		{name: "NoSyntaxLine", given: []mutation{{dockerfileName, "# syntax=docker/dockerfile:1\n", ""}}, wantErr: errDockerfile},
		{name: "OtherGoVersion", given: []mutation{{dockerfileName, "golang:1.26.8 AS", "golang:1.25.8 AS"}}, wantErr: errDockerfile},
		{name: "MinorOnlyTag", given: []mutation{{dockerfileName, "golang:1.26.8 AS", "golang:1.26 AS"}}, wantErr: errDockerfile},
		{name: "WithCgo", given: []mutation{{dockerfileName, "CGO_ENABLED=0 ", ""}}, wantErr: errDockerfile},
		{name: "NoCacheMount", given: []mutation{{dockerfileName, "--mount=type=cache,target=/go/pkg/mod \\\n    --mount", "--mount"}}, wantErr: errDockerfile},
		{name: "RootUser", given: []mutation{{dockerfileName, "USER nonroot:nonroot", "USER root"}}, wantErr: errDockerRootUser},
		{name: "NoUser", given: []mutation{{dockerfileName, "USER nonroot:nonroot\n", ""}}, wantErr: errDockerRootUser},
		{name: "EntrypointNotCopied", given: []mutation{{dockerfileName, `ENTRYPOINT ["/hookrelay"]`, `ENTRYPOINT ["/bin/hookrelay"]`}}, wantErr: errDockerfile},
		{name: "ShellFormCMD", given: []mutation{{dockerfileName, `CMD ["run", "--config", "/etc/hookrelay/hookrelay.yaml"]`, `CMD run --config /etc/hookrelay/hookrelay.yaml`}}, wantErr: errDockerfile},
		{name: "DataOwnedByRoot", given: []mutation{{dockerfileName, "--chown=65532:65532 /out/data", "/out/data"}}, wantErr: errDockerfile},
		{name: "SingleStage", given: []mutation{{dockerfileName, "FROM gcr.io/distroless/static-debian12:nonroot\n", ""}}, wantErr: errDockerfile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := projectCopy(t, tt.given...)
			gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			goVersion, err := goRelease(gomod)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, dockerfileName))
			if err != nil {
				t.Fatal(err)
			}
			img, err := parseDockerfile(data)
			if err != nil {
				checkErrs(t, []error{fmt.Errorf("%w: %v", errDockerfile, err)}, tt.wantErr)
				return
			}
			checkErrs(t, img.check(goVersion), tt.wantErr)
		})
	}
}

// Ensure .dockerignore keeps local state and build output out of the context
// without hiding what the build needs.
func TestDockerignore_Entries(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), dockerignoreName))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for l := range strings.SplitSeq(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, l)
		}
	}
	for _, want := range []string{".git", "bin/", "data/", "*.test"} {
		if !slices.Contains(got, want) {
			t.Errorf("%s lacks %q (has %q)", dockerignoreName, want, got)
		}
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "internal", "configs", dockerfileName} {
		for _, pat := range got {
			if ok, _ := filepath.Match(strings.TrimSuffix(pat, "/"), needed); ok {
				t.Errorf("%s pattern %q excludes %s, which the build needs", dockerignoreName, pat, needed)
			}
		}
	}
}

// Ensure the production example of the native Coralogix mode loads, keeps
// the strict URL policy, says what it promises, and builds a daemon.
func TestCoralogixNativeConfig_Load(t *testing.T) {
	tests := []struct {
		name     string
		givenEnv map[string]string
		wantErr  error
	}{
		{name: "WithAPIKey", givenEnv: map[string]string{"CORALOGIX_API_KEY": "cx-test-key"}},
		// The Authorization header has no default: the key must be set.
		{name: "WithoutAPIKey", givenEnv: map[string]string{}, wantErr: config.ErrEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) (string, bool) { v, ok := tt.givenEnv[k]; return v, ok }
			cfg, err := config.Load(filepath.Join(repoRoot(t), nativeConfigName), config.LoadOptions{Getenv: getenv})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("want %v, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Delivery.AllowUnsafeURLs {
				t.Error("delivery.allow_unsafe_urls is true in a production example")
			}
			w, ok := cfg.Webhook("coralogix-native")
			if !ok || w.Coralogix == nil {
				t.Fatalf("no webhook coralogix-native with a coralogix block")
			}
			cx := w.Coralogix
			if got, want := cx.BaseURL(), "https://ingress.eu2.coralogix.com"; got != want {
				t.Errorf("BaseURL() = %q, want %q", got, want)
			}
			if got, want := w.Headers["Authorization"], "Bearer ${CORALOGIX_API_KEY}"; got != want {
				t.Errorf("Authorization = %q, want %q (resolved at send time)", got, want)
			}
			if cx.ApplicationName == "" || cx.SubsystemName == "" {
				t.Errorf("application_name %q / subsystem_name %q", cx.ApplicationName, cx.SubsystemName)
			}
			if got := len(cx.Severity); got != len(w.Triggers) {
				t.Errorf("severity overrides for %d triggers, want one per trigger (%d)", got, len(w.Triggers))
			}
			if cx.Batch.MaxEvents < 1 || cx.Batch.MaxBytes > config.MaxBatchBytes || cx.Batch.MaxWait <= 0 {
				t.Errorf("batch = %+v", cx.Batch)
			}
			if _, err := NewDaemon(cfg, containerEnv(getenv)); err != nil {
				t.Fatalf("NewDaemon: %v", err)
			}
		})
	}
}
