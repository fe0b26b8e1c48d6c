package store

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Defaults for Options fields left at their zero value.
const (
	// DefaultLockTimeout is how long Open waits for the data file's lock.
	DefaultLockTimeout = time.Second
	// DefaultMaxBatch is the largest number of writes committed in one bbolt
	// transaction. It is also the capacity of the write queue.
	DefaultMaxBatch = 4096
	// DefaultListLimit is the number of records a List method returns when no
	// limit is given.
	DefaultListLimit = 50
	// MaxListLimit is the largest number of records a List method returns.
	MaxListLimit = 1000
	// MaxScan is the largest number of records one List call examines while
	// filtering. A filter that matches nothing in the newest MaxScan records
	// returns what it found so far.
	MaxScan = 100_000
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Retention is the age after which invocations and rejected events are
	// pruned. 0 keeps them forever. Dead letters are never pruned.
	Retention time.Duration
	// PruneInterval is how often the background pruner started by Start runs.
	// 0 disables the background loop (tests call Prune).
	PruneInterval time.Duration
	// LockTimeout is how long Open waits for the data file's lock; 0 means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxBatch is the group-commit batch size; 0 means DefaultMaxBatch.
	MaxBatch int
	// Logger receives the store's logs; nil means zap.NewNop().
	Logger *zap.Logger
	// Now is the clock used for default timestamps and by the background
	// pruner; nil means time.Now.
	Now func() time.Time
}

// withDefaults validates o and fills zero fields with their defaults.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Retention < 0:
		return o, fmt.Errorf("%w: Retention %v is negative", ErrInvalidOption, o.Retention)
	case o.PruneInterval < 0:
		return o, fmt.Errorf("%w: PruneInterval %v is negative", ErrInvalidOption, o.PruneInterval)
	case o.LockTimeout < 0:
		return o, fmt.Errorf("%w: LockTimeout %v is negative", ErrInvalidOption, o.LockTimeout)
	case o.MaxBatch < 0:
		return o, fmt.Errorf("%w: MaxBatch %d is negative", ErrInvalidOption, o.MaxBatch)
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
