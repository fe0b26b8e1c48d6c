package sender

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

// transitions records breaker state changes.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(_ string, from, to gobreaker.State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, from.String()+"->"+to.String())
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.got...)
}

// Ensure the breaker trips after MinRequests failures, refuses requests
// without contacting the server while open, lets a probe through once
// OpenFor has passed and closes again when the probe succeeds.
func TestSender_Breaker_TripAndRecover(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusBadGateway)
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(int(status.Load()))
	}}
	ts := newServer(t, rc)
	tr := &transitions{}
	s := newUnsafe(t, Endpoint{
		URL:     ts.URL,
		Breaker: BreakerPolicy{FailureRatio: 0.5, MinRequests: 4, OpenFor: 50 * time.Millisecond},
	}, Options{OnStateChange: tr.record})
	d := Delivery{ID: "d", Body: []byte("{}")}

	for i := 1; i <= 4; i++ {
		_, err := s.Send(t.Context(), d)
		var e *Error
		if !errors.As(err, &e) || e.Class != Retryable {
			t.Fatalf("send %d: error = %v, want retryable", i, err)
		}
		if want := "closed"; i < 4 && s.Breaker().State != want {
			t.Fatalf("send %d: breaker %s, want %s", i, s.Breaker().State, want)
		}
	}
	st := s.Breaker()
	if st.State != "open" || st.OpenRemaining <= 0 || st.OpenRemaining > 50*time.Millisecond {
		t.Fatalf("Breaker() = %+v, want open with up to 50ms remaining", st)
	}

	seen := rc.count.Load()
	att, err := s.Send(t.Context(), d)
	var e *Error
	if !errors.As(err, &e) || e.Class != BreakerOpen || e.Reason != ReasonBreakerOpen || !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("Send while open = %v, want BreakerOpen", err)
	}
	if !errors.Is(err, gobreaker.ErrOpenState) {
		t.Errorf("errors.Is(err, gobreaker.ErrOpenState) = false")
	}
	if att.Response != nil || !att.StartedAt.IsZero() {
		t.Errorf("Attempt = %+v, want zero", att)
	}
	if got := rc.count.Load(); got != seen {
		t.Fatalf("server saw %d requests while open, want %d", got, seen)
	}

	status.Store(http.StatusOK)
	checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if st := s.Breaker().State; st != "half-open" {
			return fmt.Errorf("breaker %s, want half-open", st)
		}
		return nil
	})
	if _, err := s.Send(t.Context(), d); err != nil {
		t.Fatalf("probe Send = %v, want delivered", err)
	}
	if got := rc.count.Load(); got != seen+1 {
		t.Errorf("server saw %d requests, want the probe (%d)", got, seen+1)
	}
	if st := s.Breaker().State; st != "closed" {
		t.Errorf("breaker %s after successful probe, want closed", st)
	}
	want := []string{"closed->open", "open->half-open", "half-open->closed"}
	if got := tr.list(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
}

// Ensure a failed half-open probe opens the breaker again and that a second
// concurrent probe is refused while the first is in flight.
func TestSender_Breaker_HalfOpenProbeFails(t *testing.T) {
	inProbe := make(chan struct{})
	release := make(chan struct{})
	var probing atomic.Bool
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		if probing.Load() {
			close(inProbe)
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Breaker: BreakerPolicy{MinRequests: 1, OpenFor: 50 * time.Millisecond}}, Options{})
	d := Delivery{ID: "d"}
	if _, err := s.Send(t.Context(), d); err == nil {
		t.Fatal("Send succeeded on 503")
	}
	if st := s.Breaker().State; st != "open" {
		t.Fatalf("breaker %s, want open", st)
	}
	checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if st := s.Breaker().State; st != "half-open" {
			return fmt.Errorf("breaker %s", st)
		}
		return nil
	})
	probing.Store(true)
	probeErr := make(chan error, 1)
	go func() {
		_, err := s.Send(t.Context(), d)
		probeErr <- err
	}()
	<-inProbe
	_, err := s.Send(t.Context(), d)
	if !errors.Is(err, ErrBreakerOpen) || !errors.Is(err, gobreaker.ErrTooManyRequests) {
		t.Errorf("second probe = %v, want BreakerOpen (too many requests)", err)
	}
	close(release)
	if err := <-probeErr; err == nil {
		t.Fatal("probe succeeded on 503")
	}
	if st := s.Breaker().State; st != "open" {
		t.Errorf("breaker %s after failed probe, want open", st)
	}
}

// Ensure 401 and 403 count as successes: the breaker stays closed and every
// request reaches the endpoint with its real cause.
func TestSender_Breaker_AuthErrorsDoNotTrip(t *testing.T) {
	var n atomic.Int64
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Breaker: BreakerPolicy{MinRequests: 2, FailureRatio: 0.1}}, Options{})
	for i := range 10 {
		_, err := s.Send(t.Context(), Delivery{ID: "d"})
		var e *Error
		if !errors.As(err, &e) || e.Class != Permanent || e.Reason != ReasonAuthError {
			t.Fatalf("send %d: error = %v, want permanent auth_error", i, err)
		}
	}
	st := s.Breaker()
	if st.State != "closed" || st.Counts.TotalSuccesses != 10 || st.Counts.TotalFailures != 0 {
		t.Errorf("Breaker() = %+v, want closed with 10 successes", st)
	}
	if got := rc.count.Load(); got != 10 {
		t.Errorf("server saw %d requests, want 10", got)
	}
}

// Ensure the breaker needs both MinRequests completed attempts and the
// failure ratio before it trips.
func TestSender_Breaker_Ratio(t *testing.T) {
	var fail atomic.Bool
	rc := &recorder{reply: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}}
	ts := newServer(t, rc)
	s := newUnsafe(t, Endpoint{URL: ts.URL, Breaker: BreakerPolicy{MinRequests: 6, FailureRatio: 0.5, OpenFor: time.Hour}}, Options{})
	send := func() { _, _ = s.Send(t.Context(), Delivery{ID: "d"}) }
	for range 4 {
		send() // 4 successes
	}
	fail.Store(true)
	for i := 1; i <= 3; i++ {
		send() // failures: 1/5, 2/6, 3/7 — below 0.5
		if st := s.Breaker().State; st != "closed" {
			t.Fatalf("after %d failures breaker %s, want closed", i, st)
		}
	}
	send() // 4/8 = 0.5 → trips
	if st := s.Breaker().State; st != "open" {
		t.Fatalf("breaker %s at ratio 0.5, want open", st)
	}
}
