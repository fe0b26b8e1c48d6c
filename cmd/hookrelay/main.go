// Command hookrelay turns Apono access-request events on NATS JetStream into
// outgoing webhooks. See the README for the commands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK         = 0
	exitUser       = 1 // bad input: the message says what and where
	exitDependency = 2 // NATS, the daemon or the store could not be reached
)

// userError marks an error caused by the user's input (exit 1).
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }
func (e userError) Unwrap() error { return e.err }

// depError marks a failure of something hookrelay depends on (exit 2).
type depError struct{ err error }

func (e depError) Error() string { return e.err.Error() }
func (e depError) Unwrap() error { return e.err }

func userErrorf(format string, a ...any) error { return userError{fmt.Errorf(format, a...)} }
func depErrorf(format string, a ...any) error  { return depError{fmt.Errorf(format, a...)} }

func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "hookrelay:", err)
	var de depError
	if errors.As(err, &de) {
		return exitDependency
	}
	return exitUser
}
