// Package outputs delivers the correlator's incident changes to sinks
// (webhook, jsonl). A Dispatcher routes each change to sinks by
// Alertmanager-style matchers over the incident, queues it per sink and
// delivers every sink's queue in order on its own goroutine, retrying
// retryable failures with capped, jittered exponential backoff.
package outputs

import (
	"context"
	"errors"
	"time"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/outputs/jsonl"
	"github.com/corrd/corrd/outputs/webhook"
)

// Sink delivers changes to one destination.
type Sink interface {
	// Name is the sink's name from the config; a metric label value.
	Name() string
	// Deliver reports whether a failed call may succeed if retried. A
	// failure may ask for a delay before the next attempt with an error
	// that has a RetryAfter() time.Duration method (see errors.As).
	Deliver(ctx context.Context, change correlator.Change) (retryable bool, err error)
}

// The backends satisfy Sink structurally: they do not import this package.
var (
	_ Sink = (*webhook.Sink)(nil)
	_ Sink = (*jsonl.Sink)(nil)
)

// retryAfterer is an error that carries the delay its sender asked for.
type retryAfterer interface {
	RetryAfter() time.Duration
}

// retryAfter returns the delay err asks for before the next attempt. ok is
// false when err asks for none.
func retryAfter(err error) (time.Duration, bool) {
	var ra retryAfterer
	if !errors.As(err, &ra) {
		return 0, false
	}
	d := ra.RetryAfter()
	return d, d > 0
}
