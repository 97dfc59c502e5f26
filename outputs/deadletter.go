package outputs

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/corrd/corrd/correlator"
)

// DeadLetter is a change a sink refused for good or gave up on. It is kept
// for inspection and can be sent again.
type DeadLetter struct {
	ID     string            `json:"id"`
	Sink   string            `json:"sink"`
	Change correlator.Change `json:"change"`
	// Reason: permanent (the sink refused it), max_attempts or
	// max_retry_duration.
	Reason   string    `json:"reason"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

// Errors of the dead-letter API.
var (
	ErrUnknownDeadLetter = errors.New("dead letter not found")
	ErrClosing           = errors.New("outputs are shutting down")
)

// MaxDeadLetters bounds the dead letters kept in memory; beyond it the
// oldest are let go, counted and logged.
const MaxDeadLetters = 10000

// DeadLetterBucket is the Store bucket of the dead letters (see
// WithStore), keyed by their ID.
const DeadLetterBucket = "deadletters"

// deadLetterPrefix starts every dead letter ID; a sequence number follows.
const deadLetterPrefix = "dl-"

type deadLetters struct {
	mu   sync.Mutex
	list []*DeadLetter
	seq  uint64
}

// deadLetter keeps a change q's sink could not take: in the Store first,
// when there is one, then in the list. It reports whether the dead letter
// is durable (or there is no store): only then may the Outbox forget the
// change. When the Store refuses it, it is kept in memory anyway, and the
// change stays in the Outbox for the next start.
func (d *Dispatcher) deadLetter(q *queue, ch *correlator.Change, err error, attempts int, reason string) (stored bool) {
	d.dead.mu.Lock()
	d.dead.seq++
	l := &DeadLetter{
		ID: deadLetterPrefix + strconv.FormatUint(d.dead.seq, 10), Sink: q.sink.Name(), Change: *ch,
		Reason: reason, Error: err.Error(), Attempts: attempts, At: time.Now(),
	}
	d.dead.mu.Unlock()

	// Stored before it is listed, so the API cannot delete it before the
	// Put lands.
	stored = true
	if d.store != nil {
		if perr := d.store.Put(DeadLetterBucket, l.ID, l); perr != nil {
			stored = false
			d.m.deadStoreErrors.WithLabelValues("put").Inc()
			q.log.Error().Err(perr).Str("dead_letter", l.ID).Str("incident", ch.Incident.ID).
				Msg("cannot store dead letter: kept in memory only; the change stays pending in the outbox")
		}
	}

	d.dead.mu.Lock()
	evicted := d.dead.add(l)
	d.dead.mu.Unlock()
	d.m.deadLetters.WithLabelValues(l.Sink).Inc()
	d.evicted(evicted)
	return stored
}

// add appends l and returns the oldest ones let go to stay within
// MaxDeadLetters. d.mu is held.
func (d *deadLetters) add(ls ...*DeadLetter) (evicted []*DeadLetter) {
	d.list = append(d.list, ls...)
	if n := len(d.list) - MaxDeadLetters; n > 0 {
		evicted = slices.Clone(d.list[:n])
		d.list = slices.Delete(d.list, 0, n)
	}
	return evicted
}

// evicted counts, logs and unstores the dead letters let go.
func (d *Dispatcher) evicted(ls []*DeadLetter) {
	for _, old := range ls {
		d.m.deadDiscarded.WithLabelValues(old.Sink).Inc()
		d.m.deadLetters.WithLabelValues(old.Sink).Dec()
		d.log.Error().Str("sink", old.Sink).Str("dead_letter", old.ID).Str("incident", old.Change.Incident.ID).
			Msg("dead-letter list full: letting the oldest go")
		_ = d.unstoreDeadLetter(old)
	}
}

// unstoreDeadLetter deletes l from the Store, logging and counting a
// failure.
func (d *Dispatcher) unstoreDeadLetter(l *DeadLetter) error {
	if d.store == nil {
		return nil
	}
	err := d.store.Delete(DeadLetterBucket, l.ID)
	if err != nil {
		d.m.deadStoreErrors.WithLabelValues("delete").Inc()
		d.log.Error().Err(err).Str("sink", l.Sink).Str("dead_letter", l.ID).Msg("cannot delete stored dead letter")
	}
	return err
}

// LoadDeadLetters adds the dead letters kept in the Store (see WithStore)
// to the list, oldest first, and continues their ID sequence so that new
// IDs stay unique. Without a Store it does nothing. Call it before Run; a
// second call adds only what the list does not hold yet. Records that do
// not decode are logged and skipped.
func (d *Dispatcher) LoadDeadLetters() error {
	if d.store == nil {
		return nil
	}
	var loaded []*DeadLetter
	err := d.store.Load(DeadLetterBucket, func(key string, data []byte) error {
		l := new(DeadLetter)
		if err := json.Unmarshal(data, l); err != nil {
			d.log.Error().Err(err).Str("dead_letter", key).Msg("skipping unreadable stored dead letter")
			return nil
		}
		l.ID = key
		loaded = append(loaded, l)
		return nil
	})
	if err != nil {
		return fmt.Errorf("outputs: load dead letters: %w", err)
	}
	// Keys sort as text ("dl-10" before "dl-9"): order by number.
	slices.SortStableFunc(loaded, func(a, b *DeadLetter) int {
		na, _ := deadLetterSeq(a.ID)
		nb, _ := deadLetterSeq(b.ID)
		return cmp.Compare(na, nb)
	})

	d.dead.mu.Lock()
	have := make(map[string]bool, len(d.dead.list))
	for _, l := range d.dead.list {
		have[l.ID] = true
	}
	loaded = slices.DeleteFunc(loaded, func(l *DeadLetter) bool { return have[l.ID] })
	for _, l := range loaded {
		if n, ok := deadLetterSeq(l.ID); ok && n > d.dead.seq {
			d.dead.seq = n
		}
	}
	// The loaded ones are older than any made since New.
	rest := d.dead.list
	d.dead.list = nil
	evicted := d.dead.add(append(loaded, rest...)...)
	d.dead.mu.Unlock()
	for _, l := range loaded {
		d.m.deadLetters.WithLabelValues(l.Sink).Inc()
	}
	d.evicted(evicted)
	return nil
}

// deadLetterSeq returns the sequence number of a dead letter ID.
func deadLetterSeq(id string) (uint64, bool) {
	n, err := strconv.ParseUint(strings.TrimPrefix(id, deadLetterPrefix), 10, 64)
	return n, err == nil && strings.HasPrefix(id, deadLetterPrefix)
}

// DeadLetters lists the dead letters, oldest first.
func (d *Dispatcher) DeadLetters() []DeadLetter {
	d.dead.mu.Lock()
	defer d.dead.mu.Unlock()
	out := make([]DeadLetter, 0, len(d.dead.list))
	for _, l := range d.dead.list {
		out = append(out, *l)
	}
	return out
}

// RetryDeadLetter queues a dead letter again at the end of its sink's
// queue and removes it from the list (and the Store). The change goes
// without its Seq: the outbox is done with it.
func (d *Dispatcher) RetryDeadLetter(id string) error {
	d.dead.mu.Lock()
	i := slices.IndexFunc(d.dead.list, func(l *DeadLetter) bool { return l.ID == id })
	if i < 0 {
		d.dead.mu.Unlock()
		return ErrUnknownDeadLetter
	}
	l := d.dead.list[i]
	q := d.queueOf(l.Sink)
	if q == nil {
		d.dead.mu.Unlock()
		return fmt.Errorf("dead letter %s: sink %q no longer exists", id, l.Sink)
	}
	d.dead.list = slices.Delete(d.dead.list, i, i+1)
	d.dead.mu.Unlock()
	d.m.deadLetters.WithLabelValues(l.Sink).Dec()

	ch := l.Change
	ch.Seq = 0
	if !d.push(q, &ch) {
		d.restoreDeadLetter(l)
		return ErrClosing
	}
	// Unstored only once queued again: a crash in between leaves the dead
	// letter, never loses the change. A failure is logged: the change is
	// queued, the stale record comes back at the next start.
	_ = d.unstoreDeadLetter(l)
	return nil
}

// DeleteDeadLetter forgets a dead letter, in the Store too.
func (d *Dispatcher) DeleteDeadLetter(id string) error {
	d.dead.mu.Lock()
	i := slices.IndexFunc(d.dead.list, func(l *DeadLetter) bool { return l.ID == id })
	if i < 0 {
		d.dead.mu.Unlock()
		return ErrUnknownDeadLetter
	}
	l := d.dead.list[i]
	d.dead.list = slices.Delete(d.dead.list, i, i+1)
	d.dead.mu.Unlock()
	d.m.deadLetters.WithLabelValues(l.Sink).Dec()
	if err := d.unstoreDeadLetter(l); err != nil {
		d.restoreDeadLetter(l)
		return fmt.Errorf("dead letter %s: %w", id, err)
	}
	return nil
}

// restoreDeadLetter puts l back in the list, in ID order.
func (d *Dispatcher) restoreDeadLetter(l *DeadLetter) {
	n, _ := deadLetterSeq(l.ID)
	d.dead.mu.Lock()
	i := slices.IndexFunc(d.dead.list, func(o *DeadLetter) bool {
		m, _ := deadLetterSeq(o.ID)
		return m > n
	})
	if i < 0 {
		i = len(d.dead.list)
	}
	d.dead.list = slices.Insert(d.dead.list, i, l)
	d.dead.mu.Unlock()
	d.m.deadLetters.WithLabelValues(l.Sink).Inc()
}

// queueOf returns the queue of the named sink, nil when there is none.
func (d *Dispatcher) queueOf(sink string) *queue {
	for _, q := range d.queues {
		if q.sink.Name() == sink {
			return q
		}
	}
	return nil
}
