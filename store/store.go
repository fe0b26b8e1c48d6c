package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
)

// Store keeps invocation records, dead letters and rejected events in one
// bbolt file. All writes go through one group-commit writer goroutine that
// Open starts; reads run in their own read-only transactions and never wait
// for the writer. A Store is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	path   string
	opts   Options
	logger *zap.Logger
	now    func() time.Time

	// queue feeds the writer. It is never closed: Close stops new senders,
	// waits for the ones already sending (senders), then closes sendersDone.
	queue       chan *writeReq
	mu          sync.RWMutex // guards closed and the senders.Add that follows the check
	closed      bool
	senders     sync.WaitGroup
	sendersDone chan struct{}
	abort       chan struct{} // closed when Close's context ends: queued writes fail with ErrClosed
	writerDone  chan struct{}
	closing     chan struct{} // closed when Close starts; stops the pruner

	startOnce sync.Once
	loops     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	commits   atomic.Uint64
	abandoned atomic.Int64 // writes failed with ErrClosed because Close's context ended
	counts    [numKinds]atomic.Int64
	pruneMu   sync.Mutex // one Prune at a time
	scratch   sync.Pool  // *[]byte buffers for compressing invocation bodies
	// testHook, when set by a test, runs inside every group-commit
	// transaction with the batch size; an error fails the commit.
	testHook func(batch int) error
}

// Open opens (creating it and its parent directory if needed) the bbolt file
// at path and starts the group-commit writer, so writes work before Start.
// If another process holds the file, Open fails after Options.LockTimeout
// with an error wrapping ErrLocked.
func Open(path string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s: gave up after %v", ErrLocked, path, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{
		db:          db,
		path:        path,
		opts:        opts,
		logger:      opts.Logger,
		now:         opts.Now,
		queue:       make(chan *writeReq, opts.MaxBatch),
		sendersDone: make(chan struct{}),
		abort:       make(chan struct{}),
		writerDone:  make(chan struct{}),
		closing:     make(chan struct{}),
	}
	s.scratch.New = func() any { return new([]byte) }
	if err := s.init(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	go s.runWriter()
	s.logger.Info("store opened", zap.String("path", path),
		zap.Int64("invocations", s.counts[kindInvocation].Load()),
		zap.Int64("dead_letters", s.counts[kindDeadLetter].Load()),
		zap.Int64("rejected", s.counts[kindRejected].Load()))
	return s, nil
}

// init creates the buckets and loads the record counts.
func (s *Store) init() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketInvocations, bucketInvocationsWebhook,
			bucketDeadLetters, bucketDeadLettersWebhook, bucketRejected} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		for k := range numKinds {
			s.counts[k].Store(int64(tx.Bucket(kinds[k].bucket).Stats().KeyN))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: initialize: %w", err)
	}
	return nil
}

// Start starts the background pruner when both Options.Retention and
// Options.PruneInterval are set. The writer is already running (Open starts
// it). The pruner stops when ctx ends or Close is called. Calls after the
// first do nothing.
func (s *Store) Start(ctx context.Context) {
	s.startOnce.Do(func() {
		if s.opts.Retention <= 0 || s.opts.PruneInterval <= 0 {
			return
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.closed {
			return
		}
		s.loops.Add(1)
		go s.runPruner(ctx)
	})
}

// runPruner calls Prune every PruneInterval until ctx ends or Close starts.
func (s *Store) runPruner(ctx context.Context) {
	defer s.loops.Done()
	t := time.NewTicker(s.opts.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-t.C:
			n, err := s.Prune(s.now())
			switch {
			case errors.Is(err, ErrClosed):
				return
			case err != nil:
				s.logger.Error("prune failed", zap.Error(err))
			case n > 0:
				s.logger.Debug("pruned records", zap.Int("records", n))
			}
		}
	}
}

// Close stops taking writes, commits every write already queued (running
// its callback), stops the pruner and closes the file. If ctx ends first,
// the writes still queued fail with ErrClosed, the commit in progress
// finishes, the file is closed anyway, and Close returns an error wrapping
// ctx's error if any write was abandoned. Close keeps the first error; calls
// after the first return the same result.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Store) close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.closing)
	go func() {
		s.senders.Wait()
		close(s.sendersDone)
	}()

	var err error
	select {
	case <-s.writerDone:
	case <-ctx.Done():
		close(s.abort)
		<-s.writerDone
		if n := s.abandoned.Load(); n > 0 {
			err = fmt.Errorf("store: close: abandoned %d queued writes: %w", n, context.Cause(ctx))
		}
	}
	s.loops.Wait()
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("store: close: %w", cerr)
	}
	s.logger.Info("store closed", zap.Uint64("commits", s.commits.Load()), zap.Error(err))
	return err
}

// Stats returns record counts, the data file's size and writer figures. The
// counts are kept in memory (loaded at Open), so Stats is cheap.
func (s *Store) Stats() Stats {
	st := Stats{
		Invocations: s.counts[kindInvocation].Load(),
		DeadLetters: s.counts[kindDeadLetter].Load(),
		Rejected:    s.counts[kindRejected].Load(),
		Commits:     s.commits.Load(),
		Queued:      len(s.queue),
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileSize = fi.Size()
	}
	return st
}

// view runs fn in a read-only transaction, mapping a closed database to ErrClosed.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return mapClosed(s.db.View(fn))
}

// update runs fn in a read-write transaction, mapping a closed database to ErrClosed.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	return mapClosed(s.db.Update(fn))
}

func mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
