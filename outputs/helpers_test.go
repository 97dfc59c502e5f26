package outputs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/ingest"
)

// call is one Deliver call a fakeSink saw.
type call struct {
	at     time.Time
	change correlator.Change
}

// fakeSink records its calls. result answers the n-th call (0-based); nil
// means success. delay makes each call take that long (or until ctx ends).
type fakeSink struct {
	name   string
	delay  time.Duration
	result func(n int, ch correlator.Change) (bool, error)

	mu        sync.Mutex
	calls     []call
	delivered []correlator.Change
	closed    bool
}

func (f *fakeSink) Name() string { return f.name }

func (f *fakeSink) Deliver(ctx context.Context, ch correlator.Change) (bool, error) {
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, call{at: time.Now(), change: ch})
	f.mu.Unlock()
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return true, ctx.Err()
		}
	}
	retryable, err := false, error(nil)
	if f.result != nil {
		retryable, err = f.result(n, ch)
	}
	if err == nil {
		f.mu.Lock()
		f.delivered = append(f.delivered, ch)
		f.mu.Unlock()
	}
	return retryable, err
}

func (f *fakeSink) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeSink) getCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// deliveredIDs returns "<incident id>/<change type>" of each delivered
// change in order.
func (f *fakeSink) deliveredIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.delivered))
	for i, ch := range f.delivered {
		out[i] = ch.Incident.ID + "/" + string(ch.Type)
	}
	return out
}

// failN fails the first n calls retryably, then succeeds.
func failN(n int) func(int, correlator.Change) (bool, error) {
	return func(i int, _ correlator.Change) (bool, error) {
		if i < n {
			return true, errors.New("unavailable")
		}
		return false, nil
	}
}

// retryAfterError asks for a delay.
type retryAfterError struct{ d time.Duration }

func (e retryAfterError) Error() string             { return "slow down" }
func (e retryAfterError) RetryAfter() time.Duration { return e.d }

func change(id string, typ correlator.ChangeType) correlator.Change {
	return correlator.Change{
		Type: typ,
		At:   time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Incident: correlator.Incident{
			ID:              id,
			Rule:            "fleet",
			GroupLabels:     ingest.Labels{{Name: "site", Value: "s042"}},
			CommonLabels:    ingest.Labels{{Name: "env", Value: "prod"}, {Name: "site", Value: "s042"}, {Name: "team", Value: "net"}},
			Status:          correlator.StatusOpen,
			Priority:        2,
			PriorityName:    "high",
			Severity:        ingest.SeverityMajor,
			Category:        "network",
			AssignmentGroup: "noc",
			Revision:        1,
		},
	}
}

// testDispatcher builds a dispatcher without jitter on a fresh registry.
func testDispatcher(t testing.TB, sinks []Sink, routes []Route, retry RetryConfig, opts ...Option) (*Dispatcher, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	d, err := NewWithSinks(sinks, routes, retry, reg, zerolog.Nop(), opts...)
	if err != nil {
		t.Fatalf("NewWithSinks: %v", err)
	}
	d.jitter = func(d time.Duration) time.Duration { return d }
	return d, reg
}

// start runs d.Run on a goroutine and, inside a synctest bubble, waits
// until its workers are idle; the returned channel yields Run's result.
func start(ctx context.Context, d *Dispatcher) <-chan error {
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	synctest.Wait()
	return done
}

// closeWithin closes d with a timeout and returns Close's error.
func closeWithin(t testing.TB, d *Dispatcher, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.Close(ctx)
}
