package consumer

import "sync"

// byteBudget bounds the bytes held between two points of a pipeline: take
// blocks until n bytes are free, give returns them. A request larger than
// the whole budget waits until all of it is free and then takes all of it,
// so one large item is never refused, only held back until it is alone.
type byteBudget struct {
	mu   sync.Mutex
	cond sync.Cond
	free int
	size int
}

func newByteBudget(size int) *byteBudget {
	b := &byteBudget{free: size, size: size}
	b.cond.L = &b.mu
	return b
}

// cost is what an item of n bytes takes from the budget.
func (b *byteBudget) cost(n int) int { return max(min(n, b.size), 0) }

func (b *byteBudget) take(n int) {
	n = b.cost(n)
	b.mu.Lock()
	for b.free < n {
		b.cond.Wait()
	}
	b.free -= n
	b.mu.Unlock()
}

func (b *byteBudget) give(n int) {
	n = b.cost(n)
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
	b.cond.Broadcast()
}
