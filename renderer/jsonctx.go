package renderer

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Placeholders stand for mustaches in a template's literal text while its
// JSON contexts are scanned. They use private-use runes, which JSON string
// decoding leaves alone, so they survive being decoded level after level.
const (
	phOpen  = "\uE000"
	phClose = "\uE001"
)

// appendPlaceholder appends the placeholder of mustache i.
func appendPlaceholder(b *strings.Builder, i int) {
	b.WriteString(phOpen)
	b.WriteString(strconv.Itoa(i))
	b.WriteString(phClose)
}

// readPlaceholder parses a placeholder at the start of s, returning the
// mustache index and the placeholder's length.
func readPlaceholder(s string) (idx, n int, ok bool) {
	if !strings.HasPrefix(s, phOpen) {
		return 0, 0, false
	}
	end := strings.Index(s[len(phOpen):], phClose)
	if end <= 0 {
		return 0, 0, false
	}
	idx, err := strconv.Atoi(s[len(phOpen) : len(phOpen)+end])
	if err != nil {
		return 0, 0, false
	}
	return idx, len(phOpen) + end + len(phClose), true
}

// maxContextDepth bounds the recursion of scanContexts.
const maxContextDepth = 64

// scanContexts records in depths the JSON string depth of every placeholder
// found in s, which is JSON text at the given level (0 = the template
// itself). The scan is tolerant: it only tracks string literals, so block
// tags removed, adjacent branches and trailing commas do not disturb it.
func scanContexts(s string, level int, depths []int) {
	for i := 0; i < len(s); {
		switch {
		case s[i] == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			body := s[i+1 : min(j, len(s))]
			if strings.Contains(body, phOpen) {
				markPlaceholders(body, level+1, depths)
				if level+1 < maxContextDepth {
					inner := decodeStringBody(body)
					if t := strings.TrimSpace(inner); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
						scanContexts(inner, level+1, depths)
					}
				}
			}
			i = j + 1
		case s[i] == phOpen[0]:
			if idx, n, ok := readPlaceholder(s[i:]); ok {
				if idx >= 0 && idx < len(depths) {
					depths[idx] = level
				}
				i += n
				continue
			}
			i++
		default:
			i++
		}
	}
}

// markPlaceholders sets the depth of every placeholder in s.
func markPlaceholders(s string, depth int, depths []int) {
	for {
		k := strings.Index(s, phOpen)
		if k < 0 {
			return
		}
		s = s[k:]
		idx, n, ok := readPlaceholder(s)
		if !ok {
			s = s[len(phOpen):]
			continue
		}
		if idx >= 0 && idx < len(depths) {
			depths[idx] = depth
		}
		s = s[n:]
	}
}

// decodeStringBody decodes the inside of a JSON string literal, tolerating
// bad escapes (kept as written).
func decodeStringBody(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		if c := unescaped[s[i]]; c != 0 {
			b.WriteByte(c)
			continue
		}
		r := hex4(s, i-1)
		if r < 0 {
			// Not an escape JSON knows: kept as written.
			b.WriteByte('\\')
			b.WriteByte(s[i])
			continue
		}
		i += 4
		if utf16.IsSurrogate(r) {
			if r2 := hex4(s, i+1); r2 >= 0 {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					b.WriteRune(dec)
					i += 6
					continue
				}
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}
