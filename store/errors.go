package store

import "errors"

// These errors can be returned by the Store. Callers check them with errors.Is.
var (
	// ErrNotFound is returned when a record with the given ID does not exist.
	ErrNotFound = errors.New("store: not found")

	// ErrLocked is returned by Open when another process holds the data file's
	// lock for longer than Options.LockTimeout.
	ErrLocked = errors.New("store: data file is locked by another process")

	// ErrClosed is returned by every method called after Close, and is passed to
	// the callbacks of writes that Close had to abandon.
	ErrClosed = errors.New("store: closed")

	// ErrInvalidOption is returned by Open when an Options field is out of range.
	ErrInvalidOption = errors.New("store: invalid option")

	// ErrInvalidRecord is returned when a record cannot be stored as given
	// (for example a missing webhook name). It is returned before the record is
	// queued, so it never fails a group commit shared with other records.
	ErrInvalidRecord = errors.New("store: invalid record")

	// ErrInvalidFilter is returned by the List methods for a malformed cursor
	// or an unknown outcome.
	ErrInvalidFilter = errors.New("store: invalid filter")
)
