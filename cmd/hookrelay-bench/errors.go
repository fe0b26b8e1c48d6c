package main

import "errors"

var (
	// ErrLost means some published events never reached the sink.
	ErrLost = errors.New("events lost")

	// ErrUnknownMode means -mode names no known mode.
	ErrUnknownMode = errors.New("unknown mode")

	// ErrRelayNotReady means the relay did not answer GET /readyz with 200 in time.
	ErrRelayNotReady = errors.New("relay not ready")

	// ErrNoMarker means a sample event has no data.id to put the marker in.
	ErrNoMarker = errors.New("sample event has no data.id")
)
