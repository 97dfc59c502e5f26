package outputs

import (
	"errors"
	"fmt"
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

type deadLetters struct {
	mu   sync.Mutex
	list []*DeadLetter
	seq  uint64
}

// deadLetter keeps a change q's sink could not take.
func (d *Dispatcher) deadLetter(q *queue, ch *correlator.Change, err error, attempts int, reason string) {
	d.dead.mu.Lock()
	defer d.dead.mu.Unlock()
	d.dead.seq++
	if len(d.dead.list) >= MaxDeadLetters {
		old := d.dead.list[0]
		d.dead.list = append(d.dead.list[:0], d.dead.list[1:]...)
		d.m.deadDiscarded.WithLabelValues(old.Sink).Inc()
		d.m.deadLetters.WithLabelValues(old.Sink).Dec()
		d.log.Error().Str("sink", old.Sink).Str("dead_letter", old.ID).Str("incident", old.Change.Incident.ID).
			Msg("dead-letter list full: letting the oldest go")
	}
	d.dead.list = append(d.dead.list, &DeadLetter{
		ID: fmt.Sprintf("dl-%d", d.dead.seq), Sink: q.sink.Name(), Change: *ch,
		Reason: reason, Error: err.Error(), Attempts: attempts, At: time.Now(),
	})
	d.m.deadLetters.WithLabelValues(q.sink.Name()).Inc()
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
// queue and removes it from the list.
func (d *Dispatcher) RetryDeadLetter(id string) error {
	l, err := d.takeDeadLetter(id)
	if err != nil {
		return err
	}
	for _, q := range d.queues {
		if q.sink.Name() == l.Sink {
			if !q.push(&l.Change) {
				d.dead.mu.Lock()
				d.dead.list = append(d.dead.list, l)
				d.dead.mu.Unlock()
				d.m.deadLetters.WithLabelValues(l.Sink).Inc()
				return ErrClosing
			}
			return nil
		}
	}
	return fmt.Errorf("dead letter %s: sink %q no longer exists", id, l.Sink)
}

// DeleteDeadLetter forgets a dead letter.
func (d *Dispatcher) DeleteDeadLetter(id string) error {
	_, err := d.takeDeadLetter(id)
	return err
}

func (d *Dispatcher) takeDeadLetter(id string) (*DeadLetter, error) {
	d.dead.mu.Lock()
	defer d.dead.mu.Unlock()
	for i, l := range d.dead.list {
		if l.ID == id {
			d.dead.list = append(d.dead.list[:i], d.dead.list[i+1:]...)
			d.m.deadLetters.WithLabelValues(l.Sink).Dec()
			return l, nil
		}
	}
	return nil, ErrUnknownDeadLetter
}
