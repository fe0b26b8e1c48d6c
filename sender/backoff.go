package sender

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backoff returns how long to wait before the next attempt. attempt is the
// 1-based number of the attempt that just failed and retryAfter the
// endpoint's Retry-After (0 when none). A positive retryAfter is honoured,
// capped at MaxBackoff. Otherwise the wait is InitialBackoff·2^(attempt-1),
// capped at MaxBackoff, with jitter: a value v becomes v/2 + rand·v/2.
func (s *Sender) Backoff(attempt int, retryAfter time.Duration) time.Duration {
	return backoff(s.retry, attempt, retryAfter, s.rand)
}

func backoff(p RetryPolicy, attempt int, retryAfter time.Duration, rnd func() float64) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, p.MaxBackoff)
	}
	if attempt < 1 {
		attempt = 1
	}
	v := p.InitialBackoff
	for i := 1; i < attempt && v < p.MaxBackoff; i++ {
		v *= 2
	}
	v = min(v, p.MaxBackoff)
	if v <= 0 {
		return 0
	}
	half := v / 2
	r := rnd()
	if r < 0 || r >= 1 {
		r = 0
	}
	return half + time.Duration(r*float64(v-half))
}

// parseRetryAfter reads a Retry-After value, either delay-seconds or an
// HTTP-date relative to now, and clamps it to [0, limit]. A missing or
// malformed value gives 0.
func parseRetryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(limit/time.Second) {
			return limit
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), limit)
}

// lockedRand is the default jitter source: a seeded math/rand/v2 generator
// safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand() *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Float64 returns a number in [0, 1).
func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}
