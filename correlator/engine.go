// Package correlator turns events into incidents according to a compiled
// rule set. The Engine is sharded by group key: every (rule, group key)
// lives on exactly one shard goroutine, which owns its incidents and timers,
// so the hot path takes no global lock.
package correlator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/fastcache"
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
	// DedupPath, when set, is the directory the dedup set is saved to
	// every DedupSaveInterval and on stop, and loaded from at start. Losing
	// it only costs re-correlating a duplicate. Set by the daemon to a
	// directory under --storage.path.
	DedupPath string `yaml:"-"`
	// DedupSaveInterval is how often the dedup set is saved. Default 5m.
	DedupSaveInterval rules.Duration `yaml:"dedup_save_interval,omitempty"`
	// DedupSaveTimeout bounds a save of the dedup set: past it the save
	// is abandoned with a logged error (a stop proceeds), and no other
	// save starts while it is still running. Default 10s.
	DedupSaveTimeout rules.Duration `yaml:"dedup_save_timeout,omitempty"`
	// CommitTimeout bounds how long SubmitStored and the API's stored
	// writes wait for the state store to commit; past it they fail with
	// ErrNotPersisted and the caller answers 503. Default 10s.
	CommitTimeout rules.Duration `yaml:"commit_timeout,omitempty"`
	// MaxOpenIncidents bounds the groups with an open or resolved
	// incident over all shards. Default DefaultMaxOpenIncidents.
	MaxOpenIncidents int `yaml:"max_open_incidents,omitempty"`
	// MaxSilences bounds the active silences. Default 1000.
	MaxSilences int `yaml:"max_silences,omitempty"`
}

// The option defaults.
const (
	DefaultQueueSize       = 100000
	DefaultDedupWindow     = 5 * time.Minute
	DefaultDedupCacheBytes = 32 << 20
	DefaultCommitTimeout   = 10 * time.Second
	// DefaultDedupSaveTimeout bounds a save of the dedup set.
	DefaultDedupSaveTimeout = 10 * time.Second
	// DefaultMaxOpenIncidents is sized for a 2-core machine with a few
	// GiB for corrd (about 10 KB per open single-signal incident).
	DefaultMaxOpenIncidents = 200000
	DefaultMaxSilences      = 1000
)

func (o Options) withDefaults() Options {
	if o.Shards <= 0 {
		o.Shards = runtime.GOMAXPROCS(0)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = rules.Duration(DefaultDedupWindow)
	}
	if o.DedupCacheBytes <= 0 {
		o.DedupCacheBytes = DefaultDedupCacheBytes
	}
	if o.DedupSaveInterval <= 0 {
		o.DedupSaveInterval = rules.Duration(5 * time.Minute)
	}
	if o.DedupSaveTimeout <= 0 {
		o.DedupSaveTimeout = rules.Duration(DefaultDedupSaveTimeout)
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = rules.Duration(DefaultCommitTimeout)
	}
	if o.MaxOpenIncidents <= 0 {
		o.MaxOpenIncidents = DefaultMaxOpenIncidents
	}
	if o.MaxSilences <= 0 {
		o.MaxSilences = DefaultMaxSilences
	}
	return o
}

// Validate reports problems of the options, prefixed with path.
func (o Options) Validate(path string) error {
	var errs []error
	if o.Shards < 0 {
		errs = append(errs, errors.New(path+".shards must be >= 0"))
	}
	if o.QueueSize < 0 {
		errs = append(errs, errors.New(path+".queue_size must be >= 0"))
	}
	if o.DedupWindow < 0 {
		errs = append(errs, errors.New(path+".dedup_window must be >= 0"))
	}
	if o.DedupCacheBytes < 0 {
		errs = append(errs, errors.New(path+".dedup_cache_bytes must be >= 0"))
	}
	if o.DedupSaveInterval < 0 {
		errs = append(errs, errors.New(path+".dedup_save_interval must be >= 0"))
	}
	return errors.Join(errs...)
}

// ErrNotRunning is returned by Submit before Run starts or after it stops.
var ErrNotRunning = errors.New("correlator is not running")

// ruleState is a rule set with the generation it was installed as.
type ruleState struct {
	set *rules.Set
	gen uint32
}

// Engine correlates events into incidents.
type Engine struct {
	opts   Options
	pub    Publisher
	log    zerolog.Logger
	m      *metrics
	rules  atomic.Pointer[ruleState]
	shards []*shard
	dedup  *fastcache.Cache
	// dedupSaving is set while a save of the dedup set runs.
	dedupSaving atomic.Bool
	queued      atomic.Int64
	window      time.Duration
	runMu       sync.RWMutex
	running     bool
	sil         silences
	know        knowledge
	prob        problems
	store       Persister
	dur         durableState
}

var _ ingest.Submitter = (*Engine)(nil)

// New builds an engine over the rule set. Changes go to pub.
func New(opts Options, set *rules.Set, pub Publisher, reg prometheus.Registerer, log zerolog.Logger) *Engine {
	opts = opts.withDefaults()
	e := &Engine{
		opts:   opts,
		pub:    pub,
		log:    log.With().Str("component", "correlator").Logger(),
		dedup:  loadDedup(opts, log),
		window: time.Duration(opts.DedupWindow),
	}
	e.prob.byID, e.prob.byGroup = map[string]*Problem{}, map[uint64]*Problem{}
	e.m = newMetrics(reg, func() float64 { return float64(e.queued.Load()) }, opts.QueueSize)
	e.dur.m = newStoreMetrics(reg)
	e.rules.Store(&ruleState{set: set, gen: 1})
	for i := 0; i < opts.Shards; i++ {
		e.shards = append(e.shards, newShard(e, i))
	}
	return e
}

// SetRules swaps in a new rule set. Incidents already open keep the rule
// (and service, SLA targets) they were opened by until they end; new events
// are matched against the new set, and its maintenance windows and known
// errors apply to every open incident.
func (e *Engine) SetRules(set *rules.Set) {
	old := e.rules.Load()
	e.rules.Store(&ruleState{set: set, gen: old.gen + 1})
	// Maintenance windows and known errors of the new set apply to open
	// incidents too.
	e.maintenanceChanged()
	e.knowledgeChanged()
}

// Rules returns the rule set in use.
func (e *Engine) Rules() *rules.Set { return e.rules.Load().set }

// Run runs the shards until ctx is done. Then it correlates what is already
// queued, emits the changes that group_wait or update coalescing were holding
// back, and returns.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, s := range e.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(stop)
		}()
	}
	commitStop := make(chan struct{})
	commitDone := make(chan struct{})
	if e.dur.on {
		go func() {
			defer close(commitDone)
			e.commitLoop(commitStop)
		}()
	} else {
		close(commitDone)
	}
	e.runMu.Lock()
	e.running = true
	e.runMu.Unlock()
	if e.opts.DedupPath != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Duration(e.opts.DedupSaveInterval))
			defer t.Stop()
			for {
				select {
				case <-t.C:
					e.saveDedup()
				case <-stop:
					return
				}
			}
		}()
	}
	<-ctx.Done()
	e.runMu.Lock()
	e.running = false
	e.runMu.Unlock()
	close(stop)
	wg.Wait()
	// Correlate what is still queued, including notes shards send each
	// other while doing so, then flush what timers were holding back.
	for more := true; more; {
		more = false
		for _, s := range e.shards {
			if s.drainOnce() {
				more = true
			}
		}
	}
	now := time.Now()
	for _, s := range e.shards {
		s.flushHeld(now)
	}
	for _, s := range e.shards {
		if req := s.persistTouched(); req != nil {
			<-req.sync
		}
	}
	close(commitStop)
	<-commitDone
	if e.opts.DedupPath != "" {
		e.saveDedup()
	}
	return nil
}

// loadDedup loads the saved dedup set, or starts an empty one.
func loadDedup(opts Options, log zerolog.Logger) *fastcache.Cache {
	if opts.DedupPath == "" {
		return fastcache.New(opts.DedupCacheBytes)
	}
	if _, err := os.Stat(opts.DedupPath); errors.Is(err, os.ErrNotExist) {
		return fastcache.New(opts.DedupCacheBytes)
	}
	c, err := fastcache.LoadFromFileMaxBytes(opts.DedupPath, opts.DedupCacheBytes)
	if err != nil {
		log.Warn().Err(err).Str("path", opts.DedupPath).Msg("dedup set not loaded; repeats of known signals are correlated afresh once")
		return fastcache.New(opts.DedupCacheBytes)
	}
	return c
}

// saveDedup writes the dedup set to its directory, giving up after
// DedupSaveTimeout.
//
// fastcache (v1.13.0) saves with worker goroutines fed through a channel
// as wide as the workers; a worker that hits a write error (disk full)
// returns, and the feeder then blocks for ever: SaveToFile is the same
// call with one worker. So the save runs in a goroutine of its own, the
// caller waits at most DedupSaveTimeout for it, and while a save is still
// running no other starts: a save stuck that way costs one goroutine,
// never a stop.
func (e *Engine) saveDedup() {
	if !e.dedupSaving.CompareAndSwap(false, true) {
		e.m.dedupSaveErrors.Inc()
		e.log.Error().Str("path", e.opts.DedupPath).Msg("save dedup set: the previous save has not returned; skipped")
		return
	}
	done := make(chan error, 1)
	go func() {
		err := e.dedup.SaveToFileConcurrent(e.opts.DedupPath, 1)
		e.dedupSaving.Store(false)
		done <- err
	}()
	t := time.NewTimer(time.Duration(e.opts.DedupSaveTimeout))
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			e.log.Warn().Err(err).Str("path", e.opts.DedupPath).Msg("save dedup set")
			e.m.dedupSaveErrors.Inc()
		}
	case <-t.C:
		e.m.dedupSaveErrors.Inc()
		e.log.Error().Str("path", e.opts.DedupPath).Dur("timeout", time.Duration(e.opts.DedupSaveTimeout)).
			Msg("save dedup set: gave up waiting (a write error can leave fastcache's save blocked); repeats of known signals are correlated afresh once after a restart")
	}
}

// route is where one event goes.
type route struct {
	rule     *rules.Compiled
	hash     uint64
	absorbed bool
}

// Submit queues a batch of events; see ingest.Submitter. The batch is
// accepted whole or not at all. It does not wait for correlation or for
// the store: see SubmitStored.
func (e *Engine) Submit(ctx context.Context, events []ingest.Event) error {
	_, err := e.submit(ctx, events, false)
	return err
}

// SubmitStored is Submit that returns once the batch's effect on the
// incidents is committed to the store (see ingest.DurableSubmitter).
// Without a store it is Submit. On an error after the batch was taken
// (ctx ended while waiting) the events may still be committed; the sender
// retries and a repeat is folded in as a duplicate.
//
// While the store refuses writes the batch is refused up front, nothing of
// it applied (ErrStoreFailing, wrapped in ErrNotPersisted and
// ingest.ErrBackpressure). A batch taken before the store began refusing
// is held whole and committed once writes succeed again; its caller gives
// up after CommitTimeout with ErrNotPersisted, and the sender's retry is
// folded in as a duplicate.
func (e *Engine) SubmitStored(ctx context.Context, events []ingest.Event) error {
	if len(events) > 0 {
		if err := e.refuseIfFailing(); err != nil {
			return err
		}
	}
	w, err := e.submit(ctx, events, e.dur.on)
	if err != nil || w == nil {
		return err
	}
	t := time.NewTimer(time.Duration(e.opts.CommitTimeout))
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		e.dur.m.waitTimeout.Inc()
		return e.notCommitted()
	case <-ctx.Done():
		e.m.storedWaitAborted.Inc()
		return fmt.Errorf("waiting for the store: %w", ctx.Err())
	}
}

// notCommitted is the error of a write whose commit did not come within
// CommitTimeout.
func (e *Engine) notCommitted() error {
	why := "the store did not commit"
	if err := e.StoreError(); err != nil {
		why = err.Error()
	}
	return fmt.Errorf("%w: %w: %s within %s", ErrNotPersisted, ingest.ErrBackpressure, why, time.Duration(e.opts.CommitTimeout))
}

var _ ingest.DurableSubmitter = (*Engine)(nil)

func (e *Engine) submit(ctx context.Context, events []ingest.Event, wait bool) (*waiter, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.runMu.RLock()
	defer e.runMu.RUnlock()
	if !e.running {
		return nil, ErrNotRunning
	}
	n := int64(len(events))
	if n > int64(e.opts.QueueSize) {
		// Never takeable: refused once, not counted as backpressure on
		// every retry.
		e.m.batchTooLarge.WithLabelValues(events[0].Source).Inc()
		return nil, fmt.Errorf("%w: %d events, queue_size %d", ingest.ErrBatchTooLarge, n, e.opts.QueueSize)
	}
	if e.queued.Add(n) > int64(e.opts.QueueSize) {
		e.queued.Add(-n)
		for i := range events {
			e.m.backpressure.WithLabelValues(events[i].Source).Inc()
		}
		return nil, ingest.ErrBackpressure
	}
	rs := e.rules.Load()
	now := time.Now()
	perShard := make([][]msg, len(e.shards))
	per := len(events)/len(e.shards) + 4
	for i := range perShard {
		perShard[i] = make([]msg, 0, per)
	}
	var dupSource string
	var dupCounter prometheus.Counter
	var key [8]byte
	var val [dedupValueLen]byte
	for i := range events {
		ev := &events[i]
		if ev.ArrivalTime.IsZero() {
			ev.ArrivalTime = now
		}
		if ev.EventTime.IsZero() {
			ev.EventTime = ev.ArrivalTime
		}
		binary.LittleEndian.PutUint64(key[:], ev.Fingerprint)
		if v := e.dedup.Get(val[:0], key[:]); len(v) == dedupValueLen {
			d := decodeDedup(v)
			if d.gen == rs.gen && d.status == ev.Status && ev.ArrivalTime.Sub(d.seen) < e.window && ev.ArrivalTime.Sub(d.seen) >= 0 {
				if dupCounter == nil || ev.Source != dupSource {
					dupSource, dupCounter = ev.Source, e.m.deduplicated.WithLabelValues(ev.Source)
				}
				dupCounter.Inc()
				si := e.shardOf(d.hash)
				perShard[si] = append(perShard[si], msg{kind: msgTouch, ev: *ev, rs: rs, hash: d.hash})
				continue
			}
		}
		r := e.route(rs.set, ev)
		e.dedup.Set(key[:], encodeDedup(val[:0], dedupEntry{seen: ev.ArrivalTime, hash: r.hash, gen: rs.gen, status: ev.Status}))
		kind := msgEvent
		if r.absorbed {
			kind = msgAbsorbed
		}
		si := e.shardOf(r.hash)
		perShard[si] = append(perShard[si], msg{kind: kind, ev: *ev, rs: rs, rule: r.rule, hash: r.hash})
	}
	var w *waiter
	if wait {
		parts := 0
		for _, batch := range perShard {
			if len(batch) > 0 {
				parts++
			}
		}
		w = newWaiter(parts)
	}
	for i, batch := range perShard {
		if len(batch) > 0 {
			e.shards[i].events <- shardBatch{msgs: batch, w: w}
		}
	}
	return w, nil
}

// route finds the incident group an event belongs to: an open incident of
// an absorbing rule, else the first matching rule (or the default rule).
func (e *Engine) route(set *rules.Set, ev *ingest.Event) route {
	for _, ar := range set.Absorbers {
		for ai := range ar.Absorb {
			a := &ar.Absorb[ai]
			if !rules.MatchAll(a.Matchers, ev.Labels) {
				continue
			}
			h, ok := absorbHash(ar, a, ev.Labels)
			if !ok {
				continue
			}
			if e.shards[e.shardOf(h)].isOpen(h) {
				return route{rule: ar, hash: h, absorbed: true}
			}
		}
	}
	return e.ownRoute(set, ev)
}

// ownRoute is the event's own rule, ignoring absorbers.
func (e *Engine) ownRoute(set *rules.Set, ev *ingest.Event) route {
	r := set.Match(ev.Labels)
	return route{rule: r, hash: groupHash(r, ev.Labels, ev.Fingerprint)}
}

func (e *Engine) shardOf(h uint64) int {
	return int((h >> 32) % uint64(len(e.shards)))
}

// Incidents returns snapshots of the incidents the filter selects (open and
// resolved ones until they close), ordered by opening time, without their
// signal lists.
func (e *Engine) Incidents(f Filter) []Incident {
	var out []Incident
	for _, s := range e.shards {
		out = s.list(f, out)
	}
	sortIncidents(out)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// Incident returns the snapshot of one incident with its signals.
func (e *Engine) Incident(id string) (Incident, bool) {
	for _, s := range e.shards {
		if inc, ok := s.get(id); ok {
			return inc, true
		}
	}
	return Incident{}, false
}

// Errors of Ack.
var (
	ErrUnknownIncident = errors.New("incident not found")
	ErrNotOpen         = errors.New("incident is not open")
)

// Ack records that by acknowledged the open incident id; the response time
// runs from opening to the first acknowledgement. A second Ack changes
// nothing and returns the incident.
func (e *Engine) Ack(id, by string) (Incident, error) {
	if err := e.refuseIfFailing(); err != nil {
		return Incident{}, err
	}
	for _, s := range e.shards {
		s.mu.Lock()
		if _, ok := s.byID[id]; ok {
			inc, err := s.ack(id, by, time.Now())
			req := s.endStep(true)
			s.mu.Unlock()
			return inc, e.waitStored(req, err)
		}
		s.mu.Unlock()
	}
	return Incident{}, ErrUnknownIncident
}

// Wait records that an open incident waits on someone outside (a vendor,
// the user): reason names whom; an empty reason ends the wait. With the
// SLA's pause_while_waiting the clocks stand still meanwhile.
func (e *Engine) Wait(id, reason string) (Incident, error) {
	if err := e.refuseIfFailing(); err != nil {
		return Incident{}, err
	}
	for _, s := range e.shards {
		s.mu.Lock()
		inc, ok := s.byID[id]
		if !ok {
			s.mu.Unlock()
			continue
		}
		if inc.status != StatusOpen {
			s.mu.Unlock()
			return Incident{}, ErrNotOpen
		}
		now := time.Now()
		s.markGroup(inc.g.hash)
		if s.setWaiting(inc, reason, now) {
			detail := "waiting on " + reason
			if reason == "" {
				detail = "no longer waiting"
			}
			inc.dirty, inc.updateDue = false, time.Time{}
			s.emitDetail(inc, ChangeUpdated, now, 0, detail)
		}
		out := inc.snapshot(true)
		req := s.endStep(true)
		s.mu.Unlock()
		return out, e.waitStored(req, nil)
	}
	return Incident{}, ErrUnknownIncident
}

// waitStored waits for an API step's commit request, if any, and turns a
// store that does not take it within CommitTimeout into ErrNotPersisted
// (the step stays held and is committed once writes succeed).
func (e *Engine) waitStored(req *commitReq, err error) error {
	if err != nil || req == nil {
		return err
	}
	t := time.NewTimer(time.Duration(e.opts.CommitTimeout))
	defer t.Stop()
	select {
	case <-req.sync:
		return nil
	case <-t.C:
		e.dur.m.waitTimeout.Inc()
		return e.notCommitted()
	}
}

// QueueDepth returns the number of events waiting for correlation.
func (e *Engine) QueueDepth() int { return int(e.queued.Load()) }

// dedupEntry is what the dedup set remembers of a fingerprint.
type dedupEntry struct {
	seen   time.Time
	hash   uint64
	gen    uint32
	status ingest.Status
}

const dedupValueLen = 8 + 8 + 4 + 1

func encodeDedup(b []byte, d dedupEntry) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(d.seen.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, d.hash)
	b = binary.LittleEndian.AppendUint32(b, d.gen)
	return append(b, byte(d.status))
}

func decodeDedup(b []byte) dedupEntry {
	return dedupEntry{
		seen:   time.Unix(0, int64(binary.LittleEndian.Uint64(b))),
		hash:   binary.LittleEndian.Uint64(b[8:]),
		gen:    binary.LittleEndian.Uint32(b[16:]),
		status: ingest.Status(b[20]),
	}
}

func (e *Engine) isRunning() bool {
	e.runMu.RLock()
	defer e.runMu.RUnlock()
	return e.running
}
