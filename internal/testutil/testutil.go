// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"testing"
	"time"
)

// CheckFor polls f every interval until it returns nil, and fails the test
// with f's last error once total has passed. Tests wait with it instead of
// sleeping.
func CheckFor(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	tb.Fatalf("condition not met after %v: %v", total, err)
}
