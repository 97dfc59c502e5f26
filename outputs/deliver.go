package outputs

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
)

// work delivers q's changes in order until q is closed and empty or ctx is
// done.
func (d *Dispatcher) work(ctx context.Context, q *queue) {
	for {
		ch, ok := q.next(ctx)
		if !ok || !d.deliver(ctx, q, &ch) {
			break
		}
		q.pop()
	}
	d.discard(q)
	q.stopped.Store(true)
}

// deliver delivers ch to q's sink, retrying retryable failures within the
// retry policy. It returns false when ctx ended it first, with ch still
// undelivered; a change given up on counts as handled.
func (d *Dispatcher) deliver(ctx context.Context, q *queue, ch *correlator.Change) bool {
	var first time.Time
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return false
		}
		start := time.Now()
		if attempt == 1 {
			first = start
		}
		retryable, err := q.sink.Deliver(ctx, *ch)
		q.m.duration.Observe(time.Since(start).Seconds())
		if err == nil {
			q.m.success.Inc()
			return true
		}
		if ctx.Err() != nil {
			return false // interrupted by shutdown, not the sink's fault
		}
		logCtx := func(e *zerolog.Event) *zerolog.Event {
			return e.Err(err).Str("incident", ch.Incident.ID).Uint64("revision", ch.Incident.Revision).
				Str("change", string(ch.Type)).Int("attempt", attempt)
		}
		if !retryable {
			q.m.failed.Inc()
			logCtx(q.log.Error()).Msg("dead letter: permanent delivery error")
			d.deadLetter(q, ch, err, attempt, "permanent")
			return true
		}
		if attempt >= d.retry.attempts {
			q.m.failed.Inc()
			logCtx(q.log.Error()).Msg("dead letter: max_attempts reached")
			d.deadLetter(q, ch, err, attempt, "max_attempts")
			return true
		}
		wait := d.jitter(d.retry.backoff(attempt))
		if ra, ok := retryAfter(err); ok && ra > wait {
			wait = ra
		}
		if time.Since(first)+wait > d.retry.maxDuration {
			q.m.failed.Inc()
			logCtx(q.log.Error()).Dur("wait", wait).Msg("dead letter: next attempt would exceed max_retry_duration")
			d.deadLetter(q, ch, err, attempt, "max_retry_duration")
			return true
		}
		q.m.retry.Inc()
		logCtx(q.log.Warn()).Dur("wait", wait).Msg("delivery failed, will retry")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// backoff returns the wait after the given failed attempt (1-based) before
// jitter: initial doubled per further attempt, capped at max.
func (p retryPolicy) backoff(attempt int) time.Duration {
	d := p.initial
	for i := 1; i < attempt && d < p.max; i++ {
		if d > p.max/2 {
			return p.max
		}
		d *= 2
	}
	return min(d, p.max)
}

// equalJitter draws a wait from [d/2, d].
func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
