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

// The operations a change asks of a ticketing backend (see Operation).
const (
	OpCreate   = "create"
	OpComment  = "comment"
	OpPriority = "priority"
	OpResolve  = "resolve"
	OpReopen   = "reopen"
	OpClose    = "close"
)

// Operator is a Sink that declares the operations it carries out. The
// Dispatcher does not hand it changes whose operation it does not list
// (they count in corrd_outputs_changes_unsupported_total and leave the
// outbox for it); a Sink that is no Operator takes every change.
type Operator interface {
	Operations() []string
}

// Operation is what a change asks of a ticket: opened creates it,
// priority_changed, resolved, reopened and closed set its priority or
// status, and every other change (updates, acknowledgement, SLA warnings
// and breaches, escalations, status updates, problem changes) comments
// on it.
func Operation(t correlator.ChangeType) string {
	switch t {
	case correlator.ChangeOpened:
		return OpCreate
	case correlator.ChangePriorityChanged:
		return OpPriority
	case correlator.ChangeResolved:
		return OpResolve
	case correlator.ChangeReopened:
		return OpReopen
	case correlator.ChangeClosed:
		return OpClose
	}
	return OpComment
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
