// Package ingest defines the normalised Event that every source (Alertmanager
// webhooks, syslog, SNMP traps) produces, and the interfaces between sources
// and the correlator that consumes their events.
package ingest

import (
	"context"
	"errors"
	"time"
)

// MaxRaw bounds the raw input a source keeps on an Event.
const MaxRaw = 2048

// Event is one monitoring signal, normalised. The zero value is not useful;
// sources fill every field they know.
type Event struct {
	// Kind is the protocol the event came in by: "alertmanager", "syslog",
	// "snmptrap".
	Kind string `json:"kind"`
	// Source is the configured name of the listener or endpoint.
	Source string `json:"source"`
	// EventTime is the sender's timestamp (an alert's startsAt, or endsAt
	// once resolved; a syslog header time; a trap's arrival when the
	// protocol carries none).
	EventTime time.Time `json:"event_time"`
	// ArrivalTime is when corrd received the event.
	ArrivalTime time.Time `json:"arrival_time"`
	// Fingerprint identifies the signal across repeats: the same alert
	// (label set) re-sent has the same fingerprint. Alertmanager's own
	// fingerprint where there is one, else FingerprintOf(Labels).
	Fingerprint uint64 `json:"fingerprint"`
	// Labels identify and describe the signal; sorted by name, names unique.
	Labels Labels `json:"labels"`
	// Annotations carry text that does not identify the signal (summary,
	// description, runbook URL); sorted by name.
	Annotations Labels `json:"annotations,omitempty"`
	// Severity is normalised across protocols.
	Severity Severity `json:"severity"`
	// Status is firing or resolved.
	Status Status `json:"status"`
	// Raw is at most MaxRaw bytes of the input the event came from, for
	// display and debugging. Sources must not retain or reuse the slice.
	Raw []byte `json:"raw,omitempty"`
}

// TruncateRaw returns a copy of b bounded to MaxRaw bytes.
func TruncateRaw(b []byte) []byte {
	if len(b) > MaxRaw {
		b = b[:MaxRaw]
	}
	return append([]byte(nil), b...)
}

// ErrBackpressure is returned by Submitter.Submit when the correlator cannot
// take the batch now. Nothing of the batch was accepted; the sender should
// retry later (HTTP sources answer 503).
var ErrBackpressure = errors.New("correlator queue full")

// ErrBatchTooLarge is returned by Submitter.Submit for a batch larger than
// the correlator's whole queue: it can never be taken, so a retry is
// pointless (HTTP sources answer 413). Nothing of the batch was accepted.
var ErrBatchTooLarge = errors.New("batch larger than the correlator queue")

// Submitter accepts batches of events for correlation. Submit returns nil
// only once every event of the batch has been accepted; on error none was.
// It is safe for concurrent use.
type Submitter interface {
	Submit(ctx context.Context, events []Event) error
}

// DurableSubmitter is a Submitter that can also wait until a batch is in
// durable storage. Sources whose senders retry until acknowledged (HTTP
// webhooks, SNMP INFORMs) use SubmitStored and acknowledge only after it
// returned nil; fire-and-forget sources (UDP syslog, traps) use Submit.
type DurableSubmitter interface {
	Submitter
	// SubmitStored returns nil once the batch's effect is stored. On an
	// error the batch may or may not have been taken: the sender retries.
	SubmitStored(ctx context.Context, events []Event) error
}

// Source is a listener that produces events (syslog, SNMP traps). HTTP
// sources such as the Alertmanager webhook are http.Handlers instead and are
// mounted on corrd's web server.
type Source interface {
	Name() string
	// Run blocks until ctx is done or a fatal error occurs.
	Run(ctx context.Context, sub Submitter) error
}
