package outputs

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
)

// work delivers q's changes in order until q is closed and empty or ctx is
// done. A change the sink is finished with is reported to the Outbox.
func (d *Dispatcher) work(ctx context.Context, q *queue) {
	for {
		ch, ok := q.next(ctx)
		if !ok {
			break
		}
		handled, finished := d.deliver(ctx, q, &ch)
		if !handled {
			break
		}
		q.pop()
		if finished && ch.Seq != 0 {
			d.track.finish(ch.Seq, q.sink.Name())
		}
	}
	d.discard(q)
	q.stopped.Store(true)
}

// deliver delivers ch to q's sink, retrying retryable failures within the
// retry policy. handled is false when ctx ended it first, with ch still
// undelivered; a change given up on counts as handled. finished is true
// when the sink is done with ch for good: delivered, or kept as a dead
// letter that is stored (or that there is no store for).
func (d *Dispatcher) deliver(ctx context.Context, q *queue, ch *correlator.Change) (handled, finished bool) {
	var first time.Time
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return false, false
		}
		start := time.Now()
		if attempt == 1 {
			first = start
		}
		q.m.attempts.Inc()
		retryable, err := q.sink.Deliver(ctx, *ch)
		q.m.duration.Observe(time.Since(start).Seconds())
		if err == nil {
			q.m.success.Inc()
			return true, true
		}
		if ctx.Err() != nil {
			return false, false // interrupted by shutdown, not the sink's fault
		}
		logCtx := func(e *zerolog.Event) *zerolog.Event {
			return e.Err(err).Str("incident", ch.Incident.ID).Uint64("revision", ch.Incident.Revision).
				Str("change", string(ch.Type)).Int("attempt", attempt)
		}
		if !retryable {
			q.m.failed.Inc()
			logCtx(q.log.Error()).Msg("dead letter: permanent delivery error")
			return true, d.deadLetter(q, ch, err, attempt, "permanent")
		}
		if attempt >= d.retry.attempts {
			q.m.failed.Inc()
			logCtx(q.log.Error()).Msg("dead letter: max_attempts reached")
			return true, d.deadLetter(q, ch, err, attempt, "max_attempts")
		}
		wait := d.jitter(d.retry.backoff(attempt))
		if ra, ok := retryAfter(err); ok && ra > wait {
			wait = ra
		}
		if time.Since(first)+wait > d.retry.maxDuration {
			q.m.failed.Inc()
			logCtx(q.log.Error()).Dur("wait", wait).Msg("dead letter: next attempt would exceed max_retry_duration")
			return true, d.deadLetter(q, ch, err, attempt, "max_retry_duration")
		}
		q.m.retry.Inc()
		logCtx(q.log.Warn()).Dur("wait", wait).Msg("delivery failed, will retry")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false, false
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
