package outputs

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/rules"
)

// offsets returns the times of calls relative to t0.
func offsets(calls []call, t0 time.Time) []time.Duration {
	out := make([]time.Duration, len(calls))
	for i, c := range calls {
		out[i] = c.at.Sub(t0)
	}
	return out
}

func TestRetryTiming(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name        string
		retry       RetryConfig
		result      func(int, correlator.Change) (bool, error)
		wantOffsets []time.Duration
		wantResult  map[string]float64
	}{
		{
			name:        "exponential capped",
			retry:       RetryConfig{InitialBackoff: rules.Duration(500 * ms), MaxBackoff: rules.Duration(1500 * ms)},
			result:      failN(4),
			wantOffsets: []time.Duration{0, 500 * ms, 1500 * ms, 3000 * ms, 4500 * ms},
			wantResult:  map[string]float64{"success": 1, "retry": 4, "failed": 0},
		},
		{
			name:        "defaults",
			result:      failN(8),
			wantOffsets: []time.Duration{0, 500 * ms, 1500 * ms, 3500 * ms, 7500 * ms, 15500 * ms, 31500 * ms, 61500 * ms, 91500 * ms},
			wantResult:  map[string]float64{"success": 1, "retry": 8, "failed": 0},
		},
		{
			name: "retry-after longer than backoff wins",
			result: func(n int, _ correlator.Change) (bool, error) {
				switch n {
				case 0:
					return true, retryAfterError{7 * time.Second}
				case 1:
					return true, retryAfterError{100 * ms} // shorter than the 1s backoff
				}
				return false, nil
			},
			wantOffsets: []time.Duration{0, 7 * time.Second, 8 * time.Second},
			wantResult:  map[string]float64{"success": 1, "retry": 2, "failed": 0},
		},
		{
			name: "wrapped retry-after",
			result: func(n int, _ correlator.Change) (bool, error) {
				if n == 0 {
					return true, errors.Join(errors.New("webhook x"), retryAfterError{time.Minute})
				}
				return false, nil
			},
			wantOffsets: []time.Duration{0, time.Minute},
			wantResult:  map[string]float64{"success": 1, "retry": 1, "failed": 0},
		},
		{
			name:        "max attempts",
			retry:       RetryConfig{MaxAttempts: 3},
			result:      failN(100),
			wantOffsets: []time.Duration{0, 500 * ms, 1500 * ms},
			wantResult:  map[string]float64{"success": 0, "retry": 2, "failed": 1},
		},
		{
			name:        "max retry duration",
			retry:       RetryConfig{InitialBackoff: rules.Duration(time.Second), MaxBackoff: rules.Duration(time.Minute), MaxAttempts: 100, MaxRetryDuration: rules.Duration(5 * time.Second)},
			result:      failN(100),
			wantOffsets: []time.Duration{0, time.Second, 3 * time.Second}, // the next would start at 7s
			wantResult:  map[string]float64{"success": 0, "retry": 2, "failed": 1},
		},
		{
			name:        "retry-after beyond max retry duration",
			retry:       RetryConfig{MaxRetryDuration: rules.Duration(time.Minute)},
			result:      func(int, correlator.Change) (bool, error) { return true, retryAfterError{time.Hour} },
			wantOffsets: []time.Duration{0},
			wantResult:  map[string]float64{"success": 0, "retry": 0, "failed": 1},
		},
		{
			name:        "permanent",
			result:      func(int, correlator.Change) (bool, error) { return false, errors.New("bad request") },
			wantOffsets: []time.Duration{0},
			wantResult:  map[string]float64{"success": 0, "retry": 0, "failed": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeSink{name: "s", result: tt.result}
				d, _ := testDispatcher(t, []Sink{s}, nil, tt.retry)
				ran := start(context.Background(), d)
				t0 := time.Now()
				d.Publish(change("inc-1", correlator.ChangeOpened))
				if err := closeWithin(t, d, 24*time.Hour); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if err := <-ran; err != nil {
					t.Errorf("Run: %v", err)
				}
				if got := offsets(s.getCalls(), t0); !reflect.DeepEqual(got, tt.wantOffsets) {
					t.Errorf("attempts at %v, want %v", got, tt.wantOffsets)
				}
				for result, want := range tt.wantResult {
					if got := testutil.ToFloat64(d.m.deliveries.WithLabelValues("s", result)); got != want {
						t.Errorf("deliveries_total{result=%q} = %v, want %v", result, got, want)
					}
				}
				if got := testutil.ToFloat64(d.m.depth.WithLabelValues("s")); got != 0 {
					t.Errorf("queue_depth = %v, want 0", got)
				}
				// Every change given up on is kept as a dead letter.
				dead := d.DeadLetters()
				if want := int(tt.wantResult["failed"]); len(dead) != want {
					t.Fatalf("got %d dead letters, want %d", len(dead), want)
				}
				if len(dead) == 1 && (dead[0].Sink != "s" || dead[0].Change.Incident.ID != "inc-1" || dead[0].Attempts != len(tt.wantOffsets)) {
					t.Errorf("dead letter %+v, want sink s, inc-1, %d attempts", dead[0], len(tt.wantOffsets))
				}
			})
		})
	}
}

// A dead letter can be sent again once the sink takes it, or deleted.
func TestDeadLetterRetryAndDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refuse := true
		s := &fakeSink{name: "s", result: func(int, correlator.Change) (bool, error) {
			if refuse {
				return false, errors.New("400 bad request")
			}
			return false, nil
		}}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{})
		ran := start(context.Background(), d)
		d.Publish(change("inc-1", correlator.ChangeOpened))
		d.Publish(change("inc-2", correlator.ChangeOpened))
		synctest.Wait()
		dead := d.DeadLetters()
		if len(dead) != 2 || dead[0].Reason != "permanent" || dead[0].Error != "400 bad request" {
			t.Fatalf("got dead letters %+v, want two permanent ones", dead)
		}
		if got := testutil.ToFloat64(d.m.deadLetters.WithLabelValues("s")); got != 2 {
			t.Errorf("dead_letters gauge = %v, want 2", got)
		}
		refuse = false
		if err := d.RetryDeadLetter(dead[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := d.DeleteDeadLetter(dead[1].ID); err != nil {
			t.Fatal(err)
		}
		if err := d.RetryDeadLetter("dl-nope"); !errors.Is(err, ErrUnknownDeadLetter) {
			t.Errorf("retry unknown: got %v", err)
		}
		synctest.Wait()
		if got := d.DeadLetters(); len(got) != 0 {
			t.Errorf("got %d dead letters after retry and delete, want 0", len(got))
		}
		if got := testutil.ToFloat64(d.m.deliveries.WithLabelValues("s", "success")); got != 1 {
			t.Errorf("successful deliveries = %v, want the retried one", got)
		}
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
	})
}

func TestJitteredBackoffBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSink{name: "s", result: failN(9)}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{MaxBackoff: rules.Duration(4 * time.Second)})
		d.jitter = equalJitter
		ran := start(context.Background(), d)
		d.Publish(change("inc-1", correlator.ChangeOpened))
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
		calls := s.getCalls()
		if len(calls) != 10 {
			t.Fatalf("got %d calls, want 10", len(calls))
		}
		for i := 1; i < len(calls); i++ {
			wait := calls[i].at.Sub(calls[i-1].at)
			full := d.retry.backoff(i)
			if wait < full/2 || wait > full {
				t.Errorf("wait before attempt %d = %v, want in [%v, %v]", i+1, wait, full/2, full)
			}
		}
	})
}

func TestEqualJitter(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 2, 3, time.Millisecond, 500 * time.Millisecond, 30 * time.Second} {
		for range 1000 {
			if got := equalJitter(d); got < d/2 || got > d {
				t.Fatalf("equalJitter(%v) = %v, want in [%v, %v]", d, got, d/2, d)
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	p := RetryConfig{}.policy()
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := p.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	huge := retryPolicy{initial: time.Hour, max: 1<<63 - 1}
	if got := huge.backoff(100); got != huge.max {
		t.Errorf("backoff(100) = %v, want the cap", got)
	}
}

// A resolve never overtakes its create, however often the create is
// retried; and a failing sink does not hold up the others.
func TestOrderingDespiteRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flaky := &fakeSink{name: "flaky", result: failN(2)}
		healthy := &fakeSink{name: "healthy"}
		d, _ := testDispatcher(t, []Sink{flaky, healthy}, nil, RetryConfig{})
		ran := start(context.Background(), d)
		d.Publish(change("inc-1", correlator.ChangeOpened))
		d.Publish(change("inc-1", correlator.ChangeResolved))
		d.Publish(change("inc-2", correlator.ChangeOpened))
		synctest.Wait()

		want := []string{"inc-1/opened", "inc-1/resolved", "inc-2/opened"}
		if got := healthy.deliveredIDs(); !reflect.DeepEqual(got, want) {
			t.Errorf("healthy sink got %v while the other retried, want %v", got, want)
		}
		if got := len(flaky.getCalls()); got != 1 {
			t.Errorf("flaky sink has %d calls before its first backoff, want 1", got)
		}
		if got := testutil.ToFloat64(d.m.depth.WithLabelValues("flaky")); got != 3 {
			t.Errorf("queue_depth{flaky} = %v, want 3", got)
		}

		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
		if got := flaky.deliveredIDs(); !reflect.DeepEqual(got, want) {
			t.Errorf("flaky sink delivered %v, want %v", got, want)
		}
		var attempted []string
		for _, c := range flaky.getCalls() {
			attempted = append(attempted, c.change.Incident.ID+"/"+string(c.change.Type))
		}
		wantAttempts := []string{"inc-1/opened", "inc-1/opened", "inc-1/opened", "inc-1/resolved", "inc-2/opened"}
		if !reflect.DeepEqual(attempted, wantAttempts) {
			t.Errorf("attempts %v, want %v", attempted, wantAttempts)
		}
	})
}

func TestCloseFlushesQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSink{name: "slow", delay: time.Second}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{})
		ran := start(context.Background(), d)
		t0 := time.Now()
		for _, id := range []string{"inc-1", "inc-2", "inc-3", "inc-4", "inc-5"} {
			d.Publish(change(id, correlator.ChangeOpened))
		}
		if err := closeWithin(t, d, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := time.Since(t0); got != 5*time.Second {
			t.Errorf("Close returned after %v, want 5s", got)
		}
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		if got := len(s.deliveredIDs()); got != 5 {
			t.Errorf("delivered %d, want 5", got)
		}
		if !s.closed {
			t.Error("sink not closed")
		}
		if got := testutil.ToFloat64(d.m.dropped.WithLabelValues("slow")); got != 0 {
			t.Errorf("dropped = %v, want 0", got)
		}
	})
}

func TestCloseDeadlineDropsRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSink{name: "slow", delay: time.Second}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{})
		ran := start(context.Background(), d)
		for _, id := range []string{"inc-1", "inc-2", "inc-3", "inc-4", "inc-5"} {
			d.Publish(change(id, correlator.ChangeOpened))
		}
		err := closeWithin(t, d, 2500*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want a deadline error", err)
		}
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		if got, want := s.deliveredIDs(), []string{"inc-1/opened", "inc-2/opened"}; !reflect.DeepEqual(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
		if got := len(s.getCalls()); got != 3 {
			t.Errorf("got %d calls, want 3 (the third cancelled)", got)
		}
		// The cancelled attempt is neither a retry nor a failure.
		for result, want := range map[string]float64{"success": 2, "retry": 0, "failed": 0} {
			if got := testutil.ToFloat64(d.m.deliveries.WithLabelValues("slow", result)); got != want {
				t.Errorf("deliveries_total{result=%q} = %v, want %v", result, got, want)
			}
		}
		if got := testutil.ToFloat64(d.m.dropped.WithLabelValues("slow")); got != 3 {
			t.Errorf("dropped = %v, want 3", got)
		}
		if got := testutil.ToFloat64(d.m.depth.WithLabelValues("slow")); got != 0 {
			t.Errorf("queue_depth = %v, want 0", got)
		}

		d.Publish(change("inc-6", correlator.ChangeOpened))
		if got := testutil.ToFloat64(d.m.dropped.WithLabelValues("slow")); got != 4 {
			t.Errorf("dropped after a late Publish = %v, want 4", got)
		}
		if got := testutil.ToFloat64(d.m.routed.WithLabelValues("slow")); got != 5 {
			t.Errorf("routed = %v, want 5", got)
		}
	})
}

func TestCloseDeadlineDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSink{name: "down", result: failN(1000)}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{MaxAttempts: 1000, MaxRetryDuration: rules.Duration(time.Hour)})
		ran := start(context.Background(), d)
		t0 := time.Now()
		d.Publish(change("inc-1", correlator.ChangeOpened))
		d.Publish(change("inc-1", correlator.ChangeResolved))
		if err := closeWithin(t, d, 10*time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want a deadline error", err)
		}
		<-ran
		if got := time.Since(t0); got != 10*time.Second {
			t.Errorf("Close returned after %v, want 10s", got)
		}
		// Retries went on while draining: 0, .5, 1.5, 3.5, 7.5.
		if got := len(s.getCalls()); got != 5 {
			t.Errorf("got %d attempts, want 5", got)
		}
		if got := testutil.ToFloat64(d.m.dropped.WithLabelValues("down")); got != 2 {
			t.Errorf("dropped = %v, want 2", got)
		}
	})
}

func TestCloseBeforeRunFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSink{name: "s", delay: time.Second}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{})
		d.Publish(change("inc-1", correlator.ChangeOpened))
		d.Publish(change("inc-2", correlator.ChangeOpened))
		d.Publish(change("inc-3", correlator.ChangeOpened))
		if err := closeWithin(t, d, 2500*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want a deadline error", err)
		}
		if err := d.Run(context.Background()); err != nil {
			t.Errorf("Run after Close = %v, want nil", err)
		}
		if got, want := s.deliveredIDs(), []string{"inc-1/opened", "inc-2/opened"}; !reflect.DeepEqual(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
		if got := testutil.ToFloat64(d.m.dropped.WithLabelValues("s")); got != 1 {
			t.Errorf("dropped = %v, want 1", got)
		}
		if !s.closed {
			t.Error("sink not closed")
		}
		// Closing twice is harmless.
		if err := closeWithin(t, d, time.Second); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, _ := testDispatcher(t, []Sink{&fakeSink{name: "s"}}, nil, RetryConfig{})
		ran := start(context.Background(), d)
		synctest.Wait()
		if err := d.Run(context.Background()); err == nil {
			t.Errorf("second Run = %v, want an error", err)
		}
		if err := closeWithin(t, d, time.Second); err != nil {
			t.Fatal(err)
		}
		<-ran
	})
}

func TestRunContextCancelAbandonsQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSink{name: "slow", delay: time.Minute}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		ran := start(ctx, d)
		for _, id := range []string{"inc-1", "inc-2", "inc-3"} {
			d.Publish(change(id, correlator.ChangeOpened))
		}
		synctest.Wait()
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		if got := testutil.ToFloat64(d.m.dropped.WithLabelValues("slow")); got != 3 {
			t.Errorf("dropped = %v, want 3", got)
		}
		// Workers are gone: later changes are dropped, not queued forever.
		d.Publish(change("inc-4", correlator.ChangeOpened))
		if got := d.queues[0].len(); got != 0 {
			t.Errorf("queue holds %d after Run ended, want 0", got)
		}
		if err := closeWithin(t, d, time.Second); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func TestMetricsExposition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tickets := &fakeSink{name: "tickets", result: failN(1)}
		archive := &fakeSink{name: "archive", result: func(int, correlator.Change) (bool, error) {
			return false, errors.New("rejected")
		}}
		routes := []Route{
			{Match: []string{`priority=~"1|2"`}, Sinks: []string{"tickets"}, Continue: true},
			{Match: []string{`change="resolved"`}, Sinks: []string{"archive"}},
		}
		d, reg := testDispatcher(t, []Sink{tickets, archive}, routes, RetryConfig{})
		ran := start(context.Background(), d)
		d.Publish(change("inc-1", correlator.ChangeOpened))
		d.Publish(change("inc-1", correlator.ChangeResolved))
		low := change("inc-2", correlator.ChangeOpened)
		low.Incident.Priority = 4
		d.Publish(low)
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
		const want = `
# HELP corrd_outputs_changes_dropped_total Changes discarded without a finished delivery: published after shutdown began, or still queued when the shutdown deadline passed.
# TYPE corrd_outputs_changes_dropped_total counter
corrd_outputs_changes_dropped_total{sink="archive"} 0
corrd_outputs_changes_dropped_total{sink="tickets"} 0
# HELP corrd_outputs_changes_routed_total Changes queued for a sink.
# TYPE corrd_outputs_changes_routed_total counter
corrd_outputs_changes_routed_total{sink="archive"} 1
corrd_outputs_changes_routed_total{sink="tickets"} 2
# HELP corrd_outputs_changes_unrouted_total Changes that matched no route.
# TYPE corrd_outputs_changes_unrouted_total counter
corrd_outputs_changes_unrouted_total 1
# HELP corrd_outputs_deliveries_total Delivery outcomes by sink: success; retry (an attempt failed and will be retried); failed (after a permanent error or the last retry the change became a dead letter).
# TYPE corrd_outputs_deliveries_total counter
corrd_outputs_deliveries_total{result="failed",sink="archive"} 1
corrd_outputs_deliveries_total{result="failed",sink="tickets"} 0
corrd_outputs_deliveries_total{result="retry",sink="archive"} 0
corrd_outputs_deliveries_total{result="retry",sink="tickets"} 1
corrd_outputs_deliveries_total{result="success",sink="archive"} 0
corrd_outputs_deliveries_total{result="success",sink="tickets"} 2
# HELP corrd_outputs_queue_depth Changes waiting for delivery, the one in delivery included, by sink.
# TYPE corrd_outputs_queue_depth gauge
corrd_outputs_queue_depth{sink="archive"} 0
corrd_outputs_queue_depth{sink="tickets"} 0
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
			"corrd_outputs_changes_dropped_total", "corrd_outputs_changes_routed_total",
			"corrd_outputs_changes_unrouted_total", "corrd_outputs_deliveries_total",
			"corrd_outputs_queue_depth"); err != nil {
			t.Error(err)
		}
		if got := testutil.CollectAndCount(d.m.duration, "corrd_outputs_delivery_duration_seconds"); got != 2 {
			t.Errorf("duration series = %d, want 2", got)
		}
		if got := histogramCount(t, reg, "tickets"); got != 3 {
			t.Errorf("delivery_duration_seconds_count{sink=tickets} = %d, want 3", got)
		}
	})
}

func histogramCount(t *testing.T, reg *prometheus.Registry, sink string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "corrd_outputs_delivery_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == sink {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// A second Dispatcher on the same registry (a config reload) shares the
// collectors instead of failing.
func TestReRegister(t *testing.T) {
	d1, reg := testDispatcher(t, []Sink{&fakeSink{name: "s"}}, nil, RetryConfig{})
	d2, err := NewWithSinks([]Sink{&fakeSink{name: "s"}}, nil, RetryConfig{}, reg, d1.log)
	if err != nil {
		t.Fatalf("second NewWithSinks: %v", err)
	}
	d1.Publish(change("inc-1", correlator.ChangeOpened))
	d2.Publish(change("inc-1", correlator.ChangeOpened))
	if got := testutil.ToFloat64(d2.m.routed.WithLabelValues("s")); got != 2 {
		t.Errorf("routed = %v, want 2 (shared)", got)
	}
}

// stuckSink ignores cancellation until released.
type stuckSink struct {
	release chan struct{}
	closed  bool
}

func (s *stuckSink) Name() string { return "stuck" }
func (s *stuckSink) Deliver(context.Context, correlator.Change) (bool, error) {
	<-s.release
	return false, nil
}
func (s *stuckSink) Close() error { s.closed = true; return nil }

func TestCloseDoesNotWaitForeverForAStuckSink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stuck := &stuckSink{release: make(chan struct{})}
		ok := &fakeSink{name: "ok"}
		d, _ := testDispatcher(t, []Sink{stuck, ok}, nil, RetryConfig{})
		ran := start(context.Background(), d)
		t0 := time.Now()
		d.Publish(change("inc-1", correlator.ChangeOpened))
		err := closeWithin(t, d, time.Second)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `sinks ["stuck"] still delivering 5s after cancellation`) {
			t.Errorf("Close = %v", err)
		}
		if got := time.Since(t0); got != time.Second+stopGrace {
			t.Errorf("Close returned after %v, want %v", got, time.Second+stopGrace)
		}
		if stuck.closed || ok.closed {
			t.Error("sinks closed while a delivery may still use them")
		}
		close(stuck.release)
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
