package outputs

import (
	"slices"
	"sync"

	"github.com/corrd/corrd/correlator"
)

// Outbox is the durable record of the changes sinks still have to take.
type Outbox interface {
	// Done records that sink is finished with change seq: delivered,
	// dead-lettered or superseded. last is true when no other sink still
	// holds it. Done must not block for long: the Dispatcher calls it from
	// its workers and from Publish.
	Done(seq uint64, sink string, last bool)
}

// Store is the durable key-value store the Dispatcher keeps its dead
// letters in (and the rt sinks their ticket ids, see WithStore).
// correlator/store.Store implements it.
type Store interface {
	// Put JSON-encodes v and stores it under key in bucket.
	Put(bucket, key string, v any) error
	// Delete removes key from bucket; a missing key is no error.
	Delete(bucket, key string) error
	// Load calls fn for every record of bucket.
	Load(bucket string, fn func(key string, data []byte) error) error
}

// Option configures a Dispatcher built by New or NewWithSinks.
type Option func(*options)

type options struct {
	store Store
}

// WithStore keeps the dead letters in st (bucket "deadletters"; the daemon
// loads them with LoadDeadLetters before Run). With New it also gives every
// rt sink durable ticket ids in st (bucket "rt_tickets/<sink name>"); with
// NewWithSinks the sinks are the caller's to configure.
func WithStore(st Store) Option {
	return func(o *options) { o.store = st }
}

// tracker counts, for every change with a Seq, the sinks that still hold
// it, and reports each sink's finish to the Outbox. Its lock also orders
// the Done calls of one seq: the one with last set comes after every
// other.
type tracker struct {
	mu      sync.Mutex
	outbox  Outbox
	pending map[uint64]int // seq -> sinks still holding it
}

// hold records that n more sinks hold seq.
func (t *tracker) hold(seq uint64, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = make(map[uint64]int)
	}
	t.pending[seq] += n
}

// finish records that sink is done with seq and tells the Outbox. A sink
// of "" finishes seq for every sink at once.
func (t *tracker) finish(seq uint64, sink string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	last := true
	if n, ok := t.pending[seq]; ok {
		if n--; n > 0 && sink != "" {
			t.pending[seq] = n
			last = false
		} else {
			delete(t.pending, seq)
		}
	}
	if t.outbox != nil {
		t.outbox.Done(seq, sink, last)
	}
}

// SetOutbox makes the Dispatcher report to o which sink is done with which
// change (by its Seq; changes with Seq 0 are not reported). Call it before
// Run, Publish and Resume: a change finished before it is not reported.
//
// A change is reported once per sink that got it: when the sink took it,
// when it became a dead letter (after it was stored, see WithStore), or
// when a newer update of the same incident superseded it in the sink's
// queue. A change that matches no route, or whose sinks are all done
// (Resume), is reported at once with sink "" and last set. A change
// dropped at shutdown is not reported: it stays in the outbox, for Resume
// after the restart.
func (d *Dispatcher) SetOutbox(o Outbox) {
	d.track.mu.Lock()
	defer d.track.mu.Unlock()
	d.track.outbox = o
}

// Resume queues a change that the outbox still held at start-up for the
// sinks its routes choose now, except the sinks in done, which finished it
// before the restart. When no sink remains, the change is reported done at
// once. Call it before Run, with the stored changes in Seq order.
func (d *Dispatcher) Resume(change correlator.Change, done []string) {
	// The previous run may have delivered it without recording so.
	change.Resumed = true
	var buf [16]int
	targets, matched := d.router.route(&change, buf[:0])
	if !matched {
		d.m.unrouted.Inc()
	}
	targets = slices.DeleteFunc(targets, func(i int) bool {
		return slices.Contains(done, d.queues[i].sink.Name())
	})
	if len(targets) == 0 {
		if change.Seq != 0 {
			d.track.finish(change.Seq, "")
		}
		return
	}
	d.enqueue(&change, targets)
}
