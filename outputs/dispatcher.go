package outputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
)

// Dispatcher routes the correlator's changes to sinks and delivers them:
// one in-memory FIFO queue and one worker goroutine per sink, so each sink
// receives the changes it gets in the order they were published.
//
// Lifecycle: build with New, start Run on a goroutine, hand the Dispatcher
// to the correlator as its Publisher, and call Close to stop. Close flushes
// what is queued; cancelling Run's context abandons it.
//
// With a durable outbox the order at start is: New (WithStore), SetOutbox,
// LoadDeadLetters, Resume for every pending change in Seq order, then Run
// and Publish.
//
// While a sink is slow or down, a ChangeUpdated queued for it and not yet
// in delivery is replaced by a newer ChangeUpdated of the same incident
// that arrives right behind it (no other change of the incident between
// them): the newer snapshot supersedes it, and its Detail says how many
// updates it stands for ("(3 updates coalesced)").
type Dispatcher struct {
	queues []*queue
	router *router
	retry  retryPolicy
	m      *metrics
	log    zerolog.Logger
	// dropLog is sampled: a stream of changes published after Close must
	// not flood the log.
	dropLog zerolog.Logger
	// jitter draws the wait for a backoff of d; tests replace it.
	jitter func(d time.Duration) time.Duration

	mu      sync.Mutex
	started bool
	closing bool

	abort     chan struct{} // closed when Close's deadline passes
	abortOnce sync.Once
	done      chan struct{} // closed when the workers have exited

	closeSinksOnce sync.Once
	closeSinksErr  error

	dead  deadLetters
	store Store // of the dead letters; nil keeps them in memory only

	track tracker
}

var _ correlator.Publisher = (*Dispatcher)(nil)

// stopGrace is how long Close waits, after its deadline, for deliveries in
// flight to return from their cancellation.
const stopGrace = 5 * time.Second

// New validates cfg and builds its sinks and routes. Metrics go to reg (none
// when nil).
func New(cfg Config, reg prometheus.Registerer, log zerolog.Logger, opts ...Option) (*Dispatcher, error) {
	if err := cfg.Validate("outputs"); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	sinks := make([]Sink, 0, len(cfg.Sinks))
	for i := range cfg.Sinks {
		s, err := cfg.Sinks[i].build(o.store)
		if err != nil {
			_ = closeSinks(sinks)
			return nil, fmt.Errorf("outputs: sink %q: %w", cfg.Sinks[i].Name, err)
		}
		sinks = append(sinks, s)
	}
	d, err := NewWithSinks(sinks, cfg.Routes, cfg.Retry, reg, log, opts...)
	if err != nil {
		_ = closeSinks(sinks)
		return nil, err
	}
	return d, nil
}

// NewWithSinks builds a Dispatcher over sinks already built, with routes
// naming them and the retry settings. The Dispatcher closes the sinks that
// implement io.Closer when it is closed.
func NewWithSinks(sinks []Sink, routes []Route, retry RetryConfig, reg prometheus.Registerer, log zerolog.Logger, opts ...Option) (*Dispatcher, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	index := make(map[string]int, len(sinks))
	for i, s := range sinks {
		switch {
		case s == nil:
			errs = append(errs, fmt.Errorf("outputs: sinks[%d] is nil", i))
			continue
		case s.Name() == "":
			errs = append(errs, fmt.Errorf("outputs: sinks[%d] has no name", i))
		}
		if j, dup := index[s.Name()]; dup {
			errs = append(errs, fmt.Errorf("outputs: sinks[%d] %q: duplicate name, also sinks[%d]", i, s.Name(), j))
			continue
		}
		index[s.Name()] = i
	}
	r, rerrs := compileRoutes("outputs", routes, index)
	errs = append(errs, rerrs...)
	errs = append(errs, retry.Validate("outputs.retry"))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("outputs: register metrics: %w", err)
	}
	log = log.With().Str("component", "outputs").Logger()
	d := &Dispatcher{
		router:  r,
		retry:   retry.policy(),
		m:       m,
		log:     log,
		dropLog: log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute}),
		jitter:  equalJitter,
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
		store:   o.store,
	}
	r.all = make([]int, len(sinks))
	for i, s := range sinks {
		r.all[i] = i
		d.queues = append(d.queues, newQueue(s, m.forSink(s.Name()), log.With().Str("sink", s.Name()).Logger()))
	}
	m.queueAge.set(d.queues)
	return d, nil
}

// Publish routes change and queues it for each chosen sink. It never blocks
// on delivery. A change that matches no route is counted and logged at
// debug level (and reported done to the Outbox); one published after Close
// is counted as dropped.
func (d *Dispatcher) Publish(change correlator.Change) {
	var buf [16]int
	targets, matched := d.router.route(&change, buf[:0])
	if !matched {
		d.m.unrouted.Inc()
		d.log.Debug().Str("incident", change.Incident.ID).Str("change", string(change.Type)).
			Msg("change matched no route")
		if change.Seq != 0 {
			d.track.finish(change.Seq, "")
		}
		return
	}
	d.enqueue(&change, targets)
}

// enqueue queues change for the sinks of targets.
func (d *Dispatcher) enqueue(change *correlator.Change, targets []int) {
	// A sink that does not carry out the change's operation is not
	// given it.
	targets = slices.DeleteFunc(targets, func(i int) bool {
		q := d.queues[i]
		if q.supports(change.Type) {
			return false
		}
		q.m.unsupported.Inc()
		return true
	})
	if len(targets) == 0 {
		if change.Seq != 0 {
			d.track.finish(change.Seq, "")
		}
		return
	}
	if change.Seq != 0 {
		d.track.hold(change.Seq, len(targets))
	}
	for _, i := range targets {
		q := d.queues[i]
		if !d.push(q, change) {
			// Not finished for this sink: the outbox keeps it for the
			// next start.
			q.m.dropped.Inc()
			d.dropLog.Warn().Str("sink", q.sink.Name()).Str("incident", change.Incident.ID).
				Str("change", string(change.Type)).Msg("dropping change published after shutdown")
			continue
		}
		q.m.routed.Inc()
	}
}

// push queues change for q; it reports false when q is closed. A queued
// update that change supersedes is counted and reported done.
func (d *Dispatcher) push(q *queue, change *correlator.Change) bool {
	res := q.push(change)
	if res.coalesced {
		q.m.coalesced.Inc()
		if res.superseded != 0 {
			d.track.finish(res.superseded, q.sink.Name())
		}
	}
	return res.ok
}

// Run delivers queued changes, one worker goroutine per sink, until Close
// has flushed the queues or ctx is done, then returns nil.
//
// Cancelling ctx stops delivery at once and discards what is queued; for a
// graceful stop, call Close and cancel ctx only after it returned. When
// Close came first (it then delivers the queues itself), Run returns nil at
// once. Run returns an error when called twice.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	switch {
	case d.closing:
		d.mu.Unlock()
		return nil
	case d.started:
		d.mu.Unlock()
		return errors.New("outputs: Run called twice")
	}
	d.started = true
	d.mu.Unlock()
	d.runWorkers(ctx)
	return nil
}

// runWorkers runs one worker per queue until all have exited: when their
// queue is closed and empty, or ctx is done, or Close aborts them.
func (d *Dispatcher) runWorkers(ctx context.Context) {
	defer close(d.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var watcher, workers sync.WaitGroup
	watcher.Go(func() {
		select {
		case <-d.abort:
			cancel()
		case <-ctx.Done():
		}
	})
	for _, q := range d.queues {
		workers.Go(func() { d.work(ctx, q) })
	}
	workers.Wait()
	cancel()
	watcher.Wait()
}

// Close stops accepting changes and waits until the queued ones are
// delivered (or dropped by the retry limits), or until ctx is done; then it
// cancels the deliveries in flight, discards what is left, counting it as
// dropped, and returns ctx's error. Last it closes the sinks that implement
// io.Closer. When Run has not started, Close delivers the queues itself,
// within the same deadline. A sink that does not return within stopGrace of
// the cancellation is left behind, and the sinks are not closed.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closing {
		d.closing = true
		for _, q := range d.queues {
			q.close()
		}
	}
	flushHere := !d.started
	d.started = true
	d.mu.Unlock()

	if flushHere {
		// Close owns the workers; d.abort stops them at the deadline.
		go d.runWorkers(context.WithoutCancel(ctx))
	}
	var err error
	select {
	case <-d.done:
	case <-ctx.Done():
		d.abortOnce.Do(func() { close(d.abort) })
		err = fmt.Errorf("outputs: flush on close: %w", context.Cause(ctx))
		select {
		case <-d.done:
		case <-time.After(stopGrace):
			// A sink ignores cancellation (a write blocked on a stalled
			// pipe): do not hold up shutdown, and leave the sinks open
			// since a delivery may still be using them.
			var stuck []string
			for _, q := range d.queues {
				if !q.stopped.Load() {
					stuck = append(stuck, q.sink.Name())
				}
			}
			return fmt.Errorf("%w; sinks %q still delivering %s after cancellation, left open", err, stuck, stopGrace)
		}
	}
	d.closeSinksOnce.Do(func() {
		sinks := make([]Sink, len(d.queues))
		for i, q := range d.queues {
			sinks[i] = q.sink
		}
		d.closeSinksErr = closeSinks(sinks)
	})
	return errors.Join(err, d.closeSinksErr)
}

// discard empties q, counting and logging what it held.
func (d *Dispatcher) discard(q *queue) {
	if n := q.discard(); n > 0 {
		q.m.dropped.Add(float64(n))
		q.log.Error().Int("changes", n).Msg("discarding undelivered changes on shutdown")
	}
}

func closeSinks(sinks []Sink) error {
	var errs []error
	for _, s := range sinks {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("outputs: close sink %q: %w", s.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}
