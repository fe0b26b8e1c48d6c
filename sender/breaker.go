package sender

import (
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
)

// errBreakerFailure and errBreakerExcluded are the outcomes Send reports to
// the breaker besides nil (success).
var (
	errBreakerFailure  = errors.New("sender: attempt failed")
	errBreakerExcluded = errors.New("sender: attempt not counted")
)

// BreakerCounts are the breaker's counters for the current window (closed),
// or since it became half-open. They are cleared on every state change.
type BreakerCounts struct {
	// Requests is the number of requests let through, in flight included.
	Requests uint32 `json:"requests"`
	// TotalSuccesses counts 2xx and permanent (endpoint is up) outcomes.
	TotalSuccesses uint32 `json:"total_successes"`
	// TotalFailures counts retryable outcomes.
	TotalFailures uint32 `json:"total_failures"`
	// TotalExclusions counts attempts that said nothing about the endpoint,
	// such as a canceled context.
	TotalExclusions uint32 `json:"total_exclusions"`
	// ConsecutiveSuccesses is the current run of successes.
	ConsecutiveSuccesses uint32 `json:"consecutive_successes"`
	// ConsecutiveFailures is the current run of failures.
	ConsecutiveFailures uint32 `json:"consecutive_failures"`
}

// BreakerStatus is a snapshot of a webhook's circuit breaker.
type BreakerStatus struct {
	// State is "closed", "open" or "half-open".
	State string `json:"state"`
	// Counts are the breaker's current counters.
	Counts BreakerCounts `json:"counts"`
	// OpenRemaining is how long the breaker stays open; 0 unless open.
	OpenRemaining time.Duration `json:"open_remaining"`
}

// breaker wraps a gobreaker TwoStepCircuitBreaker and remembers when it
// opened, which gobreaker does not expose.
type breaker struct {
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	openFor time.Duration
	now     func() time.Time

	mu       sync.Mutex
	openedAt time.Time
}

// newBreaker builds the breaker for one webhook. It trips when, in the
// closed state's rolling window, at least MinRequests attempts have
// completed (successes + failures) and failures/completed ≥ FailureRatio.
// The state-change hook runs with gobreaker's lock held, so it must not call
// back into the breaker.
func newBreaker(name string, p BreakerPolicy, now func() time.Time, log *zap.Logger,
	onChange func(string, gobreaker.State, gobreaker.State)) *breaker {
	b := &breaker{openFor: p.OpenFor, now: now}
	window := p.Window
	st := gobreaker.Settings{
		Name:         name,
		MaxRequests:  p.HalfOpenRequests,
		Interval:     window,
		BucketPeriod: max(window/breakerBuckets, time.Millisecond),
		Timeout:      p.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			done := uint64(c.TotalSuccesses) + uint64(c.TotalFailures)
			return done >= uint64(p.MinRequests) && done > 0 &&
				float64(c.TotalFailures)/float64(done) >= p.FailureRatio
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errBreakerExcluded) },
		OnStateChange: func(n string, from, to gobreaker.State) {
			b.mu.Lock()
			if to == gobreaker.StateOpen {
				b.openedAt = b.now()
			} else {
				b.openedAt = time.Time{}
			}
			b.mu.Unlock()
			log.Info("circuit breaker state changed",
				zap.Stringer("from", from), zap.Stringer("to", to))
			if onChange != nil {
				onChange(n, from, to)
			}
		},
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
	return b
}

// breakerBuckets is the number of buckets of the closed state's rolling
// window.
const breakerBuckets = 6

// status returns a snapshot of the breaker.
func (b *breaker) status() BreakerStatus {
	state := b.cb.State()
	c := b.cb.Counts()
	s := BreakerStatus{
		State: state.String(),
		Counts: BreakerCounts{
			Requests:             c.Requests,
			TotalSuccesses:       c.TotalSuccesses,
			TotalFailures:        c.TotalFailures,
			TotalExclusions:      c.TotalExclusions,
			ConsecutiveSuccesses: c.ConsecutiveSuccesses,
			ConsecutiveFailures:  c.ConsecutiveFailures,
		},
	}
	if state == gobreaker.StateOpen {
		b.mu.Lock()
		opened := b.openedAt
		b.mu.Unlock()
		if !opened.IsZero() {
			s.OpenRemaining = max(b.openFor-b.now().Sub(opened), 0)
		}
	}
	return s
}
