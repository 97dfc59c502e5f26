package outputs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
)

// queue is one sink's unbounded FIFO of changes and its worker's state. A
// change stays at the head while it is being delivered.
type queue struct {
	sink Sink
	log  zerolog.Logger
	m    sinkMetrics
	// ops are the operations the sink carries out; nil: all.
	ops map[string]bool

	mu       sync.Mutex
	items    []item
	head     int
	inflight bool   // the head is being delivered: it must not be replaced
	popped   uint64 // changes removed so far: the position of items[head]
	// last maps an incident id to the position of its last queued
	// change, for coalescing.
	last   map[string]uint64
	closed bool // no more pushes; the worker exits once the queue is empty

	wake    chan struct{} // capacity 1: a push or close happened
	stopped atomic.Bool   // the worker has exited
}

// item is one queued change. A ChangeUpdated may stand for several: the
// newest snapshot replaced the older ones while they waited.
type item struct {
	ch correlator.Change
	// updates is the number of updates the item stands for, 1 when it
	// replaced none.
	updates int
	// details are the distinct non-empty details of those updates, oldest
	// first; ch.Detail combines them.
	details []string
}

// maxCoalescedDetails bounds the details one coalesced update keeps; the
// oldest go first.
const maxCoalescedDetails = 5

func newQueue(sink Sink, m sinkMetrics, log zerolog.Logger) *queue {
	q := &queue{sink: sink, m: m, log: log, wake: make(chan struct{}, 1), last: make(map[string]uint64)}
	if o, ok := sink.(Operator); ok {
		q.ops = map[string]bool{}
		for _, op := range o.Operations() {
			q.ops[op] = true
		}
	}
	return q
}

// supports reports whether the sink carries out change's operation.
func (q *queue) supports(t correlator.ChangeType) bool {
	return q.ops == nil || q.ops[Operation(t)]
}

// pushResult is what push did with a change.
type pushResult struct {
	ok bool // false: the queue is closed
	// coalesced: the change replaced a queued update of its incident,
	// whose Seq is superseded.
	coalesced  bool
	superseded uint64
}

// push appends ch, or, when ch is a ChangeUpdated and the last queued
// change of its incident is a ChangeUpdated not yet in delivery and not
// newer, puts ch in that one's place.
func (q *queue) push(ch *correlator.Change) pushResult {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushResult{}
	}
	if res, ok := q.coalesce(ch); ok {
		q.mu.Unlock()
		return res
	}
	it := item{ch: *ch, updates: 1}
	if ch.Detail != "" {
		it.details = []string{ch.Detail}
	}
	if id := ch.Incident.ID; id != "" {
		q.last[id] = q.popped + uint64(len(q.items)-q.head)
	}
	q.items = append(q.items, it)
	q.m.depth.Inc()
	q.mu.Unlock()
	q.signal()
	return pushResult{ok: true}
}

// coalesce replaces the last queued change of ch's incident by ch when
// both are updates and the queued one is not being delivered. q.mu is
// held.
func (q *queue) coalesce(ch *correlator.Change) (pushResult, bool) {
	if ch.Type != correlator.ChangeUpdated || ch.Incident.ID == "" {
		return pushResult{}, false
	}
	pos, ok := q.last[ch.Incident.ID]
	if !ok {
		return pushResult{}, false
	}
	i := q.head + int(pos-q.popped)
	it := &q.items[i]
	if it.ch.Type != correlator.ChangeUpdated || (i == q.head && q.inflight) ||
		it.ch.Incident.Revision > ch.Incident.Revision {
		// A retried dead letter is older than what is queued: it must
		// not replace the newer snapshot.
		return pushResult{}, false
	}
	superseded := it.ch.Seq
	details := it.details
	if ch.Detail != "" && !slices.Contains(details, ch.Detail) {
		if len(details) >= maxCoalescedDetails {
			details = slices.Delete(details, 0, 1)
		}
		details = append(details, ch.Detail)
	}
	*it = item{ch: *ch, updates: it.updates + 1, details: details}
	it.ch.Detail = coalescedDetail(it.details, it.updates)
	return pushResult{ok: true, coalesced: true, superseded: superseded}, true
}

// coalescedDetail is the Detail of an update standing for n: its details
// and "(n updates coalesced)".
func coalescedDetail(details []string, n int) string {
	note := fmt.Sprintf("%d updates coalesced", n)
	if len(details) == 0 {
		return note
	}
	return strings.Join(details, "; ") + " (" + note + ")"
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
// queued and marked as in delivery. ok is false when the queue is closed
// and empty or ctx is done.
func (q *queue) next(ctx context.Context) (ch correlator.Change, ok bool) {
	for {
		q.mu.Lock()
		if q.head < len(q.items) {
			ch = q.items[q.head].ch
			q.inflight = true
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
	if id := q.items[q.head].ch.Incident.ID; id != "" {
		if pos, ok := q.last[id]; ok && pos == q.popped {
			delete(q.last, id)
		}
	}
	q.items[q.head] = item{} // let the snapshot go
	q.head++
	q.popped++
	q.inflight = false
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
	q.popped += uint64(n)
	q.inflight = false
	clear(q.last)
	q.m.depth.Sub(float64(n))
	return n
}

// len returns the number of queued changes.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// oldest returns the earliest At of the queued changes; ok is false when
// none has one.
func (q *queue) oldest() (at time.Time, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := q.head; i < len(q.items); i++ {
		t := q.items[i].ch.At
		if !t.IsZero() && (!ok || t.Before(at)) {
			at, ok = t, true
		}
	}
	return at, ok
}
