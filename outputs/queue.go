package outputs

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
)

// queue is one sink's unbounded FIFO of changes and its worker's state. A
// change stays at the head while it is being delivered.
type queue struct {
	sink Sink
	log  zerolog.Logger
	m    sinkMetrics

	mu     sync.Mutex
	items  []correlator.Change
	head   int
	closed bool // no more pushes; the worker exits once the queue is empty

	wake    chan struct{} // capacity 1: a push or close happened
	stopped atomic.Bool   // the worker has exited
}

func newQueue(sink Sink, m sinkMetrics, log zerolog.Logger) *queue {
	return &queue{sink: sink, m: m, log: log, wake: make(chan struct{}, 1)}
}

// push appends ch; it reports false when the queue is closed.
func (q *queue) push(ch *correlator.Change) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, *ch)
	q.m.depth.Inc()
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close stops pushes; the worker delivers what is queued and exits.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// next waits for the head of the queue and returns a copy of it, leaving it
// queued. ok is false when the queue is closed and empty or ctx is done.
func (q *queue) next(ctx context.Context) (ch correlator.Change, ok bool) {
	for {
		q.mu.Lock()
		if q.head < len(q.items) {
			ch = q.items[q.head]
			q.mu.Unlock()
			return ch, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return ch, false
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			return ch, false
		}
	}
}

// pop removes the head.
func (q *queue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items[q.head] = correlator.Change{} // let the snapshot go
	q.head++
	q.m.depth.Dec()
	switch n := len(q.items) - q.head; {
	case n == 0:
		q.items, q.head = q.items[:0], 0
	case q.head >= 1024 && q.head >= n:
		// Slide the live part down so the array does not grow forever.
		copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// discard closes the queue and empties it; it returns how many changes it
// removed.
func (q *queue) discard() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	n := len(q.items) - q.head
	clear(q.items)
	q.items, q.head = nil, 0
	q.m.depth.Sub(float64(n))
	return n
}

// len returns the number of queued changes.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}
