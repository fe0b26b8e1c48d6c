package sink

import (
	"bytes"
	"fmt"
	"strings"
)

// maxLocalKeys is how many distinct application or subsystem names one
// request tallies in a slice before it falls back to a map.
const maxLocalKeys = 32

// kv counts the entries of one request that carry one (raw, still escaped)
// name.
type kv struct {
	key []byte
	esc bool
	n   int64
}

// span is the byte range of one log entry in the body.
type span struct{ start, end int }

// parsed is what validating one body found. Its slices point into the body
// and are only valid until the body's buffer is released.
type parsed struct {
	entries  int64
	apps     []kv
	subs     []kv
	overflow [2]map[string]int64 // apps, subs beyond maxLocalKeys
	sev      [7]int64
	spans    []span

	// For bulk and legacy bodies: the top-level names shared by all entries.
	app, sub       []byte
	appEsc, subEsc bool

	// For /api/v1/logs: the body's privateKey.
	privateKey    []byte
	privateKeyEsc bool
	hasPrivateKey bool
}

func (p *parsed) reset() {
	p.entries = 0
	p.apps = p.apps[:0]
	p.subs = p.subs[:0]
	p.overflow = [2]map[string]int64{}
	p.sev = [7]int64{}
	p.spans = p.spans[:0]
	p.app, p.sub, p.appEsc, p.subEsc = nil, nil, false, false
	p.privateKey, p.privateKeyEsc, p.hasPrivateKey = nil, false, false
}

// addName adds n entries for name to list (which is apps or subs; which
// selects the matching overflow map).
func (p *parsed) addName(which int, name []byte, esc bool, n int64) {
	list := &p.apps
	if which == 1 {
		list = &p.subs
	}
	l := *list
	for k := len(l) - 1; k >= 0; k-- {
		if l[k].esc == esc && bytes.Equal(l[k].key, name) {
			l[k].n += n
			return
		}
	}
	if len(l) < maxLocalKeys {
		*list = append(l, kv{key: name, esc: esc, n: n})
		return
	}
	key := string(name)
	if esc {
		key = string(appendUnescaped(nil, name))
	}
	if p.overflow[which] == nil {
		p.overflow[which] = make(map[string]int64)
	}
	p.overflow[which][key] += n
}

// checker validates bodies. It is reused across requests; strict selects
// full schema validation and wantSpans records the range of every entry.
type checker struct {
	strict    bool
	wantSpans bool
	p         parsed
	scratch   []byte
}

func schemaError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSchema}, args...)...)
}

// notA explains why a body of the wrong JSON type is rejected: a malformed
// body is reported as such, a well-formed one as a schema violation.
func notA(b []byte, what string) error {
	if err := validJSON(b); err != nil {
		return err
	}
	return schemaError("body must be %s", what)
}

// endOfBody checks that only whitespace follows the top-level value.
func endOfBody(b []byte, i int) error {
	if i = skipWS(b, i); i != len(b) {
		return syntaxError(b, i, "trailing data")
	}
	return nil
}

// keyName returns a member's key, decoding escapes when there are any.
func keyName(key []byte, esc bool) []byte {
	if !esc {
		return key
	}
	return appendUnescaped(nil, key)
}

// strField scans the value at b[vs]; isStr reports whether it is a string,
// and raw/esc describe its content when it is.
func strField(b []byte, vs int) (end int, raw []byte, esc, isStr bool, err error) {
	if at(b, vs) != '"' {
		end, err = scanValue(b, vs, 2)
		return end, nil, false, false, err
	}
	end, esc, err = scanString(b, vs)
	if err != nil {
		return 0, nil, false, false, err
	}
	return end, b[vs+1 : end-1], esc, true, nil
}

// entryInfo is what logEntry learned about one log entry.
type entryInfo struct {
	app, sub               []byte
	appEsc, subEsc         bool
	hasApp, hasSub, hasTxt bool
	sev                    int
}

// logEntry scans the log entry object at b[vs]. single selects the fields of
// a /logs/v1/singles entry (which names its application and subsystem);
// otherwise the fields of a bulk logEntries element. where and n name the
// entry in error messages.
func (c *checker) logEntry(b []byte, vs int, where string, n int, single bool) (int, entryInfo, error) {
	var info entryInfo
	if at(b, vs) != '{' {
		end, err := scanValue(b, vs, 1)
		if err == nil && c.strict {
			err = schemaError("%s[%d] must be an object", where, n)
		}
		return end, info, err
	}
	var unknown []string
	var typeErr error
	bad := func(field, want string) {
		if typeErr == nil && c.strict {
			typeErr = schemaError("%s[%d].%s must be %s", where, n, field, want)
		}
	}
	end, err := scanObject(b, vs, 1, func(key []byte, esc bool, vs int) (int, error) {
		name := keyName(key, esc)
		switch string(name) {
		case "applicationName", "subsystemName", "computerName":
			if !single {
				break
			}
			end, raw, sesc, isStr, err := strField(b, vs)
			if err != nil {
				return 0, err
			}
			switch {
			case !isStr:
				bad(string(name), "a string")
			case name[0] == 'a':
				info.app, info.appEsc, info.hasApp = raw, sesc, true
			case name[0] == 's':
				info.sub, info.subEsc, info.hasSub = raw, sesc, true
			}
			return end, nil
		case "category", "className", "methodName", "threadId":
			end, _, _, isStr, err := strField(b, vs)
			if err == nil && !isStr {
				bad(string(name), "a string")
			}
			return end, err
		case "hiResTimestamp":
			end, raw, _, isStr, err := strField(b, vs)
			if err == nil && (!isStr || !allDigits(raw)) {
				bad("hiResTimestamp", "a string of digits (nanoseconds since the epoch)")
			}
			return end, err
		case "timestamp":
			if c := at(b, vs); c == '-' || isDigit(c) {
				end, err := scanNumber(b, vs)
				if err == nil && b[vs] == '-' {
					bad("timestamp", "a non-negative number of milliseconds since the epoch")
				}
				return end, err
			}
			bad("timestamp", "a number of milliseconds since the epoch")
			return scanValue(b, vs, 2)
		case "severity":
			if c := at(b, vs); c == '-' || isDigit(c) {
				end, err := scanNumber(b, vs)
				if err == nil {
					if end-vs == 1 && b[vs] >= '1' && b[vs] <= '6' {
						info.sev = int(b[vs] - '0')
					} else {
						bad("severity", "an integer from 1 to 6")
					}
				}
				return end, err
			}
			bad("severity", "an integer from 1 to 6")
			return scanValue(b, vs, 2)
		case "text":
			end, err := scanValue(b, vs, 2)
			if err == nil {
				if c := b[vs]; c == '"' || c == '{' {
					info.hasTxt = true
				} else {
					bad("text", "a string or an object")
				}
			}
			return end, err
		}
		if c.strict {
			unknown = append(unknown, string(name))
		}
		return scanValue(b, vs, 2)
	})
	if err != nil {
		return 0, info, err
	}
	if !c.strict {
		return end, info, nil
	}
	if len(unknown) > 0 {
		return 0, info, schemaError("%s[%d]: unknown field%s %s", where, n, plural(len(unknown)), quoteList(unknown))
	}
	if typeErr != nil {
		return 0, info, typeErr
	}
	var missing []string
	if single && (!info.hasApp || blank(info.app)) {
		missing = append(missing, "applicationName")
	}
	if single && (!info.hasSub || blank(info.sub)) {
		missing = append(missing, "subsystemName")
	}
	if !single && info.sev == 0 {
		missing = append(missing, "severity")
	}
	if !info.hasTxt {
		missing = append(missing, "text")
	}
	if len(missing) > 0 {
		return 0, info, schemaError("%s[%d]: missing required field%s %s", where, n, plural(len(missing)), quoteList(missing))
	}
	return end, info, nil
}

// singles validates a /logs/v1/singles body: an array of log entries.
func (c *checker) singles(b []byte) error {
	p := &c.p
	i := skipWS(b, 0)
	if at(b, i) != '[' {
		return notA(b, "a JSON array of log entries")
	}
	end, err := scanArray(b, i, 0, func(n, vs int) (int, error) {
		end, info, err := c.logEntry(b, vs, "logs", n, true)
		if err != nil {
			return 0, err
		}
		p.entries++
		p.sev[info.sev]++
		if info.hasApp {
			p.addName(0, info.app, info.appEsc, 1)
		}
		if info.hasSub {
			p.addName(1, info.sub, info.subEsc, 1)
		}
		if c.wantSpans {
			p.spans = append(p.spans, span{vs, end})
		}
		return end, nil
	})
	if err != nil {
		return err
	}
	return endOfBody(b, end)
}

// bulk validates a /logs/v1/bulk body, or with legacy an /api/v1/logs body
// in the legacy form (which may carry privateKey).
func (c *checker) bulk(b []byte, legacy bool) error {
	p := &c.p
	i := skipWS(b, 0)
	if at(b, i) != '{' {
		return notA(b, "a JSON object with logEntries")
	}
	var unknown []string
	var typeErr error
	var hasApp, hasSub, hasEntries bool
	bad := func(field, want string) {
		if typeErr == nil && c.strict {
			typeErr = schemaError("%s must be %s", field, want)
		}
	}
	end, err := scanObject(b, i, 0, func(key []byte, esc bool, vs int) (int, error) {
		name := keyName(key, esc)
		switch string(name) {
		case "applicationName", "subsystemName", "computerName", "privateKey":
			if name[0] == 'p' && !legacy {
				break
			}
			end, raw, sesc, isStr, err := strField(b, vs)
			if err != nil {
				return 0, err
			}
			switch {
			case !isStr:
				bad(string(name), "a string")
			case name[0] == 'a':
				p.app, p.appEsc, hasApp = raw, sesc, true
			case name[0] == 's':
				p.sub, p.subEsc, hasSub = raw, sesc, true
			case name[0] == 'p':
				p.privateKey, p.privateKeyEsc, p.hasPrivateKey = raw, sesc, true
			}
			return end, nil
		case "logEntries":
			hasEntries = true
			if at(b, vs) != '[' {
				bad("logEntries", "an array")
				return scanValue(b, vs, 1)
			}
			return scanArray(b, vs, 1, func(n, evs int) (int, error) {
				end, info, err := c.logEntry(b, evs, "logEntries", n, false)
				if err != nil {
					return 0, err
				}
				p.entries++
				p.sev[info.sev]++
				if c.wantSpans {
					p.spans = append(p.spans, span{evs, end})
				}
				return end, nil
			})
		}
		if c.strict {
			unknown = append(unknown, string(name))
		}
		return scanValue(b, vs, 1)
	})
	if err != nil {
		return err
	}
	if err := endOfBody(b, end); err != nil {
		return err
	}
	if hasApp && p.entries > 0 {
		p.addName(0, p.app, p.appEsc, p.entries)
	}
	if hasSub && p.entries > 0 {
		p.addName(1, p.sub, p.subEsc, p.entries)
	}
	if !c.strict {
		return nil
	}
	if len(unknown) > 0 {
		return schemaError("unknown field%s %s", plural(len(unknown)), quoteList(unknown))
	}
	if typeErr != nil {
		return typeErr
	}
	var missing []string
	if !hasApp || blank(p.app) {
		missing = append(missing, "applicationName")
	}
	if !hasSub || blank(p.sub) {
		missing = append(missing, "subsystemName")
	}
	if !hasEntries {
		missing = append(missing, "logEntries")
	}
	if len(missing) > 0 {
		return schemaError("missing required field%s %s", plural(len(missing)), quoteList(missing))
	}
	return nil
}

// legacy validates an /api/v1/logs body: the legacy object (recognised by
// its logEntries member) or any JSON object, the generic-webhook form, whose
// integration_type_fields, when it is a string, must hold JSON itself.
func (c *checker) legacy(b []byte) error {
	p := &c.p
	i := skipWS(b, 0)
	if at(b, i) != '{' {
		return notA(b, "a JSON object")
	}
	var itf []byte
	var itfEsc, hasITF, hasEntries bool
	end, err := scanObject(b, i, 0, func(key []byte, esc bool, vs int) (int, error) {
		switch string(keyName(key, esc)) {
		case "logEntries":
			hasEntries = true
		case "privateKey":
			end, raw, sesc, isStr, err := strField(b, vs)
			if isStr {
				p.privateKey, p.privateKeyEsc, p.hasPrivateKey = raw, sesc, true
			}
			return end, err
		case "integration_type_fields":
			end, raw, sesc, isStr, err := strField(b, vs)
			if isStr {
				itf, itfEsc, hasITF = raw, sesc, true
			}
			return end, err
		}
		return scanValue(b, vs, 1)
	})
	if err != nil {
		return err
	}
	if err := endOfBody(b, end); err != nil {
		return err
	}
	if hasEntries {
		p.reset()
		return c.bulk(b, true)
	}
	p.entries = 1
	if c.wantSpans {
		p.spans = append(p.spans, span{i, end})
	}
	if !c.strict || !hasITF {
		return nil
	}
	if itfEsc {
		c.scratch = appendUnescaped(c.scratch[:0], itf)
		itf = c.scratch
	}
	if err := validJSON(itf); err != nil {
		return schemaError("integration_type_fields is a string but not JSON (%v)", err)
	}
	return nil
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func quoteList(names []string) string {
	var sb strings.Builder
	for k, name := range names {
		if k > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%q", name)
	}
	return sb.String()
}

// blank reports whether a name is empty or only spaces: Coralogix needs a
// name to file the entry under.
func blank(raw []byte) bool { return len(bytes.TrimSpace(raw)) == 0 }
