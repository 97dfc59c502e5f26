package correlator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/ingest"
)

// Durability. With a Committer (the daemon's state store) the engine keeps
// every group (its incidents, threshold window, SLA and escalation
// deadlines) and every change it emits in the store:
//
//   - at the end of each processing step (a batch of events, a note from
//     another shard, a timer, an API call) a shard encodes the groups the
//     step changed (signals, timeline entries and breadth pairs are
//     records of their own, written when they change) and the changes it
//     emitted into one commit request; while the committer is writing,
//     shards hold their steps back and hand them in together;
//   - one committer goroutine writes the requests that queued up meanwhile
//     in one transaction (a group commit), then publishes the changes, each
//     with its outbox sequence number, and releases the callers waiting on
//     them (SubmitStored, Ack, Wait);
//   - the changes stay in the outbox bucket until every sink reported it
//     finished with them (Done), so a restarted daemon resumes delivery.
//
// Repeats of a signal inside the dedup window (counters only) are written
// with the group's next change, or at stop.

// Committer is a Persister that also applies batches of writes atomically.
type Committer interface {
	Persister
	Commit(ops []store.Op) error
}

// The buckets of the durable engine state.
const (
	bucketGroups     = "groups"
	bucketSignals    = "signals"
	bucketTimeline   = "timeline"
	bucketBreadth    = "breadth"
	bucketRecur      = "recurrence"
	bucketClosed     = "closed"
	bucketOutbox     = "outbox"
	bucketOutboxDone = "outbox_done"
	bucketEngine     = "engine"
	keyOutboxSeq     = "outbox_seq"
)

// maxCommitRequests bounds the requests one transaction takes.
const maxCommitRequests = 512

// waiter is released when every shard step holding part of a batch is
// committed.
type waiter struct {
	pending atomic.Int32
	done    chan struct{}
}

func newWaiter(n int) *waiter {
	w := &waiter{done: make(chan struct{})}
	w.pending.Store(int32(n))
	return w
}

func (w *waiter) release() {
	if w.pending.Add(-1) == 0 {
		close(w.done)
	}
}

// commitReq is what one shard step hands the committer.
type commitReq struct {
	ops        []store.Op
	changes    []Change
	changeData [][]byte
	waiters    []*waiter
	// sync, when set, is closed once the request is committed.
	sync chan struct{}
}

// stepBuf collects what a shard step changed.
type stepBuf struct {
	groups  map[uint64]struct{}
	sigs    map[*sigState]*incState
	recur   map[uint64]struct{}
	ops     []store.Op
	changes []Change
	waiters []*waiter
}

func (b *stepBuf) empty() bool {
	return len(b.groups) == 0 && len(b.sigs) == 0 && len(b.recur) == 0 && len(b.ops) == 0 && len(b.changes) == 0 && len(b.waiters) == 0
}

// durableState is the engine's side of durability.
type durableState struct {
	on      bool
	st      Committer
	commits chan *commitReq
	// seq is the last outbox sequence number given out; the committer
	// goroutine owns it.
	seq uint64
	// busy is set while the committer writes: shard steps then hold
	// their changes back, to hand them in together when it is done.
	busy atomic.Bool

	// Done reports from the sinks, written with the next commit.
	doneMu   sync.Mutex
	doneOps  []store.Op
	doneBy   map[uint64][]string
	doneWake chan struct{}

	// pending are the changes left in the outbox by the previous run, for
	// the daemon to hand back to the sinks.
	pending []PendingChange

	// failing holds the last commit error while the store refuses writes,
	// nil once a commit succeeds: new stored submissions are refused up
	// front meanwhile, and readiness reports it.
	failing atomic.Pointer[commitFailure]
	m       storeMetrics
}

// storeMetrics count the writes refused or timed out while the store
// refuses writes.
type storeMetrics struct {
	refused     prometheus.Counter
	waitTimeout prometheus.Counter
}

func newStoreMetrics(reg prometheus.Registerer) storeMetrics {
	m := storeMetrics{
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_store_writes_refused_total",
			Help: "Stored submissions and API writes refused up front (nothing applied) while the store refuses writes.",
		}),
		waitTimeout: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_store_commit_wait_timeouts_total",
			Help: "Stored submissions and API writes answered 'not stored' after commit_timeout; their held batch is committed once writes succeed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.refused, m.waitTimeout)
	}
	return m
}

// commitFailure is the error of the last refused commit.
type commitFailure struct{ err error }

// ErrStoreFailing is returned (wrapped in ErrNotPersisted and
// ingest.ErrBackpressure, so that webhooks answer 503 with Retry-After)
// for stored submissions and API writes refused up front while the store
// refuses writes: nothing of them was applied.
var ErrStoreFailing = errors.New("the state store refuses writes")

// StoreError returns why the store cannot commit (the last commit error),
// nil while commits succeed.
func (e *Engine) StoreError() error {
	if f := e.dur.failing.Load(); f != nil {
		return fmt.Errorf("%w: %w", ErrStoreFailing, f.err)
	}
	return nil
}

// refuseIfFailing returns the refusal of a stored write while the store
// refuses writes, counted, and nil otherwise.
func (e *Engine) refuseIfFailing() error {
	if !e.dur.on {
		return nil
	}
	f := e.dur.failing.Load()
	if f == nil {
		return nil
	}
	e.dur.m.refused.Inc()
	return fmt.Errorf("%w: %w: %w (%w)", ErrNotPersisted, ingest.ErrBackpressure, ErrStoreFailing, f.err)
}

// PendingChange is a change the previous run committed but not every sink
// finished.
type PendingChange struct {
	Change Change
	// Done lists the sinks that had finished it.
	Done []string
}

// Durable reports whether the engine keeps its state in a store.
func (e *Engine) Durable() bool { return e.dur.on }

// hashKey is the store key of a group hash: big-endian, so keys sort.
func hashKey(h uint64) string {
	return string(binary.BigEndian.AppendUint64(nil, h))
}

func seqKey(seq uint64) string { return hashKey(seq) }

// markGroup records that the step changed the group of hash h.
func (s *shard) markGroup(h uint64) {
	if !s.e.dur.on {
		return
	}
	if s.step.groups == nil {
		s.step.groups = map[uint64]struct{}{}
	}
	s.step.groups[h] = struct{}{}
}

// markSig records that the step changed (or added) signal sig of inc.
func (s *shard) markSig(inc *incState, sig *sigState) {
	if !s.e.dur.on {
		return
	}
	if s.step.sigs == nil {
		s.step.sigs = map[*sigState]*incState{}
	}
	s.step.sigs[sig] = inc
}

// keepClosed writes the snapshot of a closed incident the shard keeps for
// reading (API, reports), so that it can still be read after a restart.
func (s *shard) keepClosed(snap *Incident) {
	if !s.e.dur.on {
		return
	}
	data, err := json.Marshal(snap)
	if err != nil {
		s.e.m.persistErrors.Inc()
		return
	}
	s.step.ops = append(s.step.ops, store.Op{Bucket: bucketClosed, Key: snap.ID, Value: data})
}

// forgetClosed deletes a closed incident's snapshot the shard let go.
func (s *shard) forgetClosed(id string) {
	if s.e.dur.on {
		s.step.ops = append(s.step.ops, store.Op{Bucket: bucketClosed, Key: id})
	}
}

// putTimeline writes timeline entry i of inc (entries never change).
func (s *shard) putTimeline(inc *incState, i int) {
	if !s.e.dur.on {
		return
	}
	data, err := json.Marshal(&inc.timeline[i])
	if err != nil {
		s.e.m.persistErrors.Inc()
		return
	}
	s.step.ops = append(s.step.ops, store.Op{Bucket: bucketTimeline, Key: sigKey(inc.id, i), Value: data})
}

// breadthKey is the store key of one breadth pair of an incident: the
// incident id (fixed length), the label, a NUL and the value.
func breadthKey(incID, name, value string) string {
	return incID + name + "\x00" + value
}

// putBreadth writes breadth pairs new to inc (breadth only grows): a
// store with a hundred devices is not rewritten for each new one.
func (s *shard) putBreadth(inc *incState, fresh []ingest.Label) {
	if !s.e.dur.on {
		return
	}
	for _, l := range fresh {
		s.step.ops = append(s.step.ops, store.Op{Bucket: bucketBreadth, Key: breadthKey(inc.id, l.Name, l.Value), Value: []byte{}})
	}
}

// putAllBreadth writes every breadth pair of a new incident.
func (s *shard) putAllBreadth(inc *incState) {
	if !s.e.dur.on {
		return
	}
	for name, set := range inc.breadth {
		for v := range set {
			s.step.ops = append(s.step.ops, store.Op{Bucket: bucketBreadth, Key: breadthKey(inc.id, name, v), Value: []byte{}})
		}
	}
}

// dropSignals deletes the signal, timeline and breadth records of a closed
// incident.
func (s *shard) dropSignals(inc *incState) {
	if !s.e.dur.on {
		return
	}
	for name, set := range inc.breadth {
		for v := range set {
			s.step.ops = append(s.step.ops, store.Op{Bucket: bucketBreadth, Key: breadthKey(inc.id, name, v)})
		}
	}
	for i := range inc.timeline {
		s.step.ops = append(s.step.ops, store.Op{Bucket: bucketTimeline, Key: sigKey(inc.id, i)})
	}
	for _, sig := range inc.order {
		s.step.ops = append(s.step.ops, store.Op{Bucket: bucketSignals, Key: sigKey(inc.id, sig.idx)})
		delete(s.step.sigs, sig)
		delete(s.touchedSigs, sig)
	}
}

// markRecur records that the step changed the recurrence of hash h.
func (s *shard) markRecur(h uint64) {
	if !s.e.dur.on {
		return
	}
	if s.step.recur == nil {
		s.step.recur = map[uint64]struct{}{}
	}
	s.step.recur[h] = struct{}{}
}

// publish hands a change on: at once without a store, after the step's
// commit with one.
func (s *shard) publish(c Change) {
	if s.e.dur.on {
		s.step.changes = append(s.step.changes, c)
		return
	}
	if s.e.pub != nil {
		s.e.pub.Publish(c)
	}
}

// putRecord writes one record with the step (durable) or at once.
func (s *shard) putRecord(bucket, key string, v any) {
	if !s.e.dur.on {
		_ = s.e.persist(bucket, key, v)
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		s.e.m.persistErrors.Inc()
		s.e.log.Error().Err(err).Str("bucket", bucket).Str("key", key).Msg("encode record")
		return
	}
	s.step.ops = append(s.step.ops, store.Op{Bucket: bucket, Key: key, Value: data})
}

// endStep turns what the step changed into a commit request and queues it.
// The caller holds s.mu, so that requests of one shard queue in step order.
// It returns the request (nil when there was nothing to write).
func (s *shard) endStep(sync bool) *commitReq {
	if !s.e.dur.on {
		return nil
	}
	b := &s.step
	// A flush the committer asked for is always answered, if only with an
	// empty request: it waits for it.
	force := s.forceFlush
	s.forceFlush = false
	if b.empty() && !sync && !force {
		return nil
	}
	if !sync && !force {
		// While the committer writes, keep accumulating: a group changed
		// by several steps is then encoded once. The flag is set before
		// busy is read, and the committer clears busy before it reads the
		// flags, so a held-back step is always handed in.
		s.flushWanted.Store(true)
		if s.e.dur.busy.Load() {
			return nil
		}
	}
	s.flushWanted.Store(false)
	req := &commitReq{ops: b.ops, changes: b.changes, waiters: b.waiters}
	if sync {
		req.sync = make(chan struct{})
	}
	for h := range b.groups {
		key := hashKey(h)
		g := s.groups[h]
		if g == nil {
			req.ops = append(req.ops, store.Op{Bucket: bucketGroups, Key: key})
			continue
		}
		data, err := encodeGroupState(g)
		if err != nil {
			s.e.m.persistErrors.Inc()
			s.e.log.Error().Err(err).Str("group", g.key).Str("rule", g.rule.Name).Msg("encode group")
			continue
		}
		req.ops = append(req.ops, store.Op{Bucket: bucketGroups, Key: key, Value: data})
	}
	for sig, inc := range b.sigs {
		if inc.status == StatusClosed {
			continue // its records were deleted with it
		}
		data, err := encodeSig(sig)
		if err != nil {
			s.e.m.persistErrors.Inc()
			continue
		}
		req.ops = append(req.ops, store.Op{Bucket: bucketSignals, Key: sigKey(inc.id, sig.idx), Value: data})
	}
	for h := range b.recur {
		key := hashKey(h)
		r := s.recur[h]
		if r == nil {
			req.ops = append(req.ops, store.Op{Bucket: bucketRecur, Key: key})
			continue
		}
		data, err := encodeRecurrence(r)
		if err != nil {
			s.e.m.persistErrors.Inc()
			continue
		}
		req.ops = append(req.ops, store.Op{Bucket: bucketRecur, Key: key, Value: data})
	}
	req.changeData = make([][]byte, len(req.changes))
	for i := range req.changes {
		data, err := json.Marshal(&req.changes[i])
		if err != nil {
			// A change always encodes; should it not, it is still
			// delivered, only not kept across a restart.
			s.e.m.persistErrors.Inc()
			s.e.log.Error().Err(err).Str("incident", req.changes[i].Incident.ID).Msg("encode change")
		}
		req.changeData[i] = data
	}
	clear(b.groups)
	clear(b.sigs)
	clear(b.recur)
	b.ops, b.changes, b.waiters = nil, nil, nil
	s.e.dur.commits <- req
	return req
}

// Done implements outputs.Outbox: sink finished the change seq (delivered,
// dead-lettered or superseded); last when no other sink still holds it.
// The record is written with the next commit.
func (e *Engine) Done(seq uint64, sink string, last bool) {
	if !e.dur.on || seq == 0 {
		return
	}
	d := &e.dur
	d.doneMu.Lock()
	key := seqKey(seq)
	if last {
		delete(d.doneBy, seq)
		d.doneOps = append(d.doneOps,
			store.Op{Bucket: bucketOutbox, Key: key},
			store.Op{Bucket: bucketOutboxDone, Key: key})
	} else {
		if d.doneBy == nil {
			d.doneBy = map[uint64][]string{}
		}
		d.doneBy[seq] = append(d.doneBy[seq], sink)
		data, _ := json.Marshal(d.doneBy[seq])
		d.doneOps = append(d.doneOps, store.Op{Bucket: bucketOutboxDone, Key: key, Value: data})
	}
	d.doneMu.Unlock()
	select {
	case d.doneWake <- struct{}{}:
	default:
	}
}

// PendingChanges returns, in order, the changes the previous run committed
// that some sink had not finished. The daemon hands them back to the
// outputs before starting delivery.
func (e *Engine) PendingChanges() []PendingChange { return e.dur.pending }

// commitLoop writes commit requests until stop is closed and the queue is
// empty.
func (e *Engine) commitLoop(stop <-chan struct{}) {
	d := &e.dur
	var reqs []*commitReq
	// asked is how many shards were asked to hand in what they held back
	// during the last commit; the next commit waits (briefly) for them.
	asked := 0
	commit := func() {
		d.busy.Store(true)
		e.commit(reqs)
		d.busy.Store(false)
		// Shards that held their steps back while the store was busy
		// hand them in now: one encoding per changed group per commit.
		asked = 0
		for _, s := range e.shards {
			if s.flushWanted.Load() {
				s.post(note{kind: noteFlush})
				asked++
			}
		}
	}
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for {
		reqs = reqs[:0]
		if asked > 0 {
			// Wait for the shards asked to flush, so their requests go
			// into one transaction; a shard that is slow to answer does
			// not hold the others up for long.
			gather.Reset(2 * time.Millisecond)
		collect:
			for len(reqs) < asked {
				select {
				case r := <-d.commits:
					reqs = append(reqs, r)
				case <-gather.C:
					break collect
				}
			}
			gather.Stop()
			if len(reqs) > 0 {
				goto more
			}
		}
		select {
		case r := <-d.commits:
			reqs = append(reqs, r)
		case <-d.doneWake:
		case <-stop:
			for {
				select {
				case r := <-d.commits:
					reqs = append(reqs, r)
					continue
				default:
				}
				break
			}
			commit()
			return
		}
	more:
		for len(reqs) < maxCommitRequests {
			select {
			case r := <-d.commits:
				reqs = append(reqs, r)
			default:
				break more
			}
		}
		commit()
	}
}

// commit writes reqs and the pending Done reports in one transaction,
// retrying until the store takes it; then it publishes the changes and
// releases the waiters.
func (e *Engine) commit(reqs []*commitReq) {
	d := &e.dur
	var ops []store.Op
	nchanges := 0
	for _, r := range reqs {
		ops = append(ops, r.ops...)
		nchanges += len(r.changes)
	}
	changes := make([]Change, 0, nchanges)
	for _, r := range reqs {
		for i := range r.changes {
			d.seq++
			c := r.changes[i]
			c.Seq = d.seq
			changes = append(changes, c)
			if r.changeData[i] != nil {
				ops = append(ops, store.Op{Bucket: bucketOutbox, Key: seqKey(d.seq), Value: r.changeData[i]})
			}
		}
	}
	if nchanges > 0 {
		ops = append(ops, store.Op{Bucket: bucketEngine, Key: keyOutboxSeq, Value: binary.BigEndian.AppendUint64(nil, d.seq)})
	}
	d.doneMu.Lock()
	ops = append(ops, d.doneOps...)
	d.doneOps = nil
	d.doneMu.Unlock()
	if len(ops) > 0 {
		bytes := 0
		for i := range ops {
			bytes += len(ops[i].Key) + len(ops[i].Value)
		}
		for attempt := 1; ; attempt++ {
			start := time.Now()
			err := d.st.Commit(ops)
			e.m.commitSeconds.Observe(time.Since(start).Seconds())
			if err == nil {
				d.failing.Store(nil)
				e.m.commitOps.Observe(float64(len(ops)))
				e.m.commitBytes.Add(float64(bytes))
				break
			}
			e.m.commitErrors.Inc()
			d.failing.Store(&commitFailure{err: err})
			wait := min(100*time.Millisecond<<min(attempt-1, 6), 5*time.Second)
			e.log.Error().Err(err).Int("attempt", attempt).Dur("retry_in", wait).
				Msg("state commit failed; holding the batch and retrying (sources get 503 meanwhile)")
			time.Sleep(wait)
		}
	}
	if e.pub != nil {
		for i := range changes {
			e.pub.Publish(changes[i])
		}
	}
	for _, r := range reqs {
		for _, w := range r.waiters {
			w.release()
		}
		if r.sync != nil {
			close(r.sync)
		}
	}
}

// restoreState loads the groups, recurrences and outbox of the previous
// run into the shards.
func (e *Engine) restoreState(c Committer) error {
	start := time.Now()
	d := &e.dur
	d.on, d.st = true, c
	d.commits = make(chan *commitReq, 4096)
	d.doneWake = make(chan struct{}, 1)
	set := e.rules.Load().set
	now := time.Now()
	var errs []error
	// Signals first, by incident: keys are the incident id and the
	// signal's place, so they come in order.
	byIncident := func(bucket string) map[string][][]byte {
		out := map[string][][]byte{}
		errs = append(errs, c.Load(bucket, func(key string, data []byte) error {
			if len(key) < 5 {
				return nil
			}
			id := key[:len(key)-4]
			out[id] = append(out[id], append([]byte(nil), data...))
			return nil
		}))
		return out
	}
	sigs, timelines := byIncident(bucketSignals), byIncident(bucketTimeline)
	breadths := map[string]map[string]map[string]struct{}{}
	errs = append(errs, c.Load(bucketBreadth, func(key string, _ []byte) error {
		if len(key) <= incidentIDLen {
			return nil
		}
		id, rest := key[:incidentIDLen], key[incidentIDLen:]
		i := strings.IndexByte(rest, 0)
		if i < 0 {
			return nil
		}
		b := breadths[id]
		if b == nil {
			b = map[string]map[string]struct{}{}
			breadths[id] = b
		}
		name := rest[:i]
		if b[name] == nil {
			b[name] = map[string]struct{}{}
		}
		b[name][rest[i+1:]] = struct{}{}
		return nil
	}))
	// attach only reads the maps: shards restore in parallel.
	attach := func(g *group) error {
		each := func(inc *incState) error {
			if b, ok := breadths[inc.id]; ok && len(inc.breadth) == 0 {
				inc.breadth = b
			}
			if data, ok := timelines[inc.id]; ok && len(inc.timeline) == 0 {
				if err := attachTimeline(inc, data); err != nil {
					return err
				}
			}
			if data, ok := sigs[inc.id]; ok && len(inc.order) == 0 {
				return attachSignals(inc, data)
			}
			return nil
		}
		for _, inc := range g.open {
			if err := each(inc); err != nil {
				return err
			}
		}
		if g.lastResolved != nil {
			if err := each(g.lastResolved); err != nil {
				return err
			}
		}
		for _, inc := range g.closing {
			if err := each(inc); err != nil {
				return err
			}
		}
		return nil
	}
	// Group records by shard, then each shard decodes and installs its
	// own in parallel (decoding is most of a start's time).
	perShard := make([][][]byte, len(e.shards))
	errs = append(errs, c.Load(bucketGroups, func(key string, data []byte) error {
		if len(key) != 8 {
			return nil
		}
		si := e.shardOf(binary.BigEndian.Uint64([]byte(key)))
		perShard[si] = append(perShard[si], append([]byte(nil), data...))
		return nil
	}))
	// Restoring allocates a lot that lives on: collect less often meanwhile.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	var groups, skipped atomic.Int64
	var wg sync.WaitGroup
	for si, records := range perShard {
		s := e.shards[si]
		wg.Go(func() {
			for _, data := range records {
				g, err := s.decodeGroup(data, set)
				if err == nil {
					err = attach(g)
				}
				if err != nil {
					skipped.Add(1)
					if errors.Is(err, errRuleGone) {
						e.log.Warn().Err(err).Msg("stored group skipped: its rule is no longer configured")
					} else {
						e.m.persistErrors.Inc()
						e.log.Error().Err(err).Msg("stored group skipped: unreadable")
					}
					continue
				}
				s.install(g, now)
				groups.Add(1)
			}
		})
	}
	wg.Wait()
	perShard = nil
	for _, s := range e.shards {
		s.resyncParents()
	}
	errs = append(errs, c.Load(bucketRecur, func(key string, data []byte) error {
		if len(key) != 8 {
			return nil
		}
		h := binary.BigEndian.Uint64([]byte(key))
		r, err := decodeRecurrence(data)
		if err != nil {
			e.log.Error().Err(err).Msg("stored recurrence skipped")
			return nil
		}
		e.shards[e.shardOf(h)].recur[h] = r
		return nil
	}))
	// Closed incidents kept for reading: oldest first, spread over the
	// shards by id, at most maxClosedKept each (the rest are let go).
	var closed []Incident
	errs = append(errs, c.Load(bucketClosed, func(key string, data []byte) error {
		var inc Incident
		if err := json.Unmarshal(data, &inc); err != nil {
			e.log.Error().Err(err).Str("incident", key).Msg("stored closed incident skipped")
			return nil
		}
		closed = append(closed, inc)
		return nil
	}))
	sort.Slice(closed, func(i, j int) bool {
		a, b := closed[i].ClosedAt, closed[j].ClosedAt
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		return a.Before(*b)
	})
	var dropClosed []store.Op
	for _, inc := range closed {
		s := e.shards[int(hashString(offset64, inc.ID)%uint64(len(e.shards)))]
		if len(s.closed) >= maxClosedKept {
			old := s.closed[0]
			delete(s.closedByID, old.ID)
			s.closed = append(s.closed[:0], s.closed[1:]...)
			dropClosed = append(dropClosed, store.Op{Bucket: bucketClosed, Key: old.ID})
		}
		s.closed = append(s.closed, inc)
	}
	for _, s := range e.shards {
		for i := range s.closed {
			s.closedByID[s.closed[i].ID] = i
		}
	}
	if len(dropClosed) > 0 {
		errs = append(errs, c.Commit(dropClosed))
	}
	errs = append(errs, c.Load(bucketEngine, func(key string, data []byte) error {
		if key == keyOutboxSeq && len(data) == 8 {
			d.seq = max(d.seq, binary.BigEndian.Uint64(data))
		}
		return nil
	}))
	doneBy := map[uint64][]string{}
	errs = append(errs, c.Load(bucketOutboxDone, func(key string, data []byte) error {
		if len(key) != 8 {
			return nil
		}
		var sinks []string
		if err := json.Unmarshal(data, &sinks); err != nil {
			return nil
		}
		doneBy[binary.BigEndian.Uint64([]byte(key))] = sinks
		return nil
	}))
	// The outbox, in key (sequence) order, decoded in parallel: a backlog
	// of full incident snapshots is most of a start's time otherwise.
	type rawChange struct {
		seq  uint64
		data []byte
	}
	var raw []rawChange
	errs = append(errs, c.Load(bucketOutbox, func(key string, data []byte) error {
		if len(key) != 8 {
			return nil
		}
		seq := binary.BigEndian.Uint64([]byte(key))
		d.seq = max(d.seq, seq)
		raw = append(raw, rawChange{seq: seq, data: append([]byte(nil), data...)})
		return nil
	}))
	decoded := make([]PendingChange, len(raw))
	ok := make([]bool, len(raw))
	workers := min(len(e.shards), max(1, len(raw)/256))
	var dwg sync.WaitGroup
	for w := range workers {
		dwg.Go(func() {
			for i := w; i < len(raw); i += workers {
				var ch Change
				if err := json.Unmarshal(raw[i].data, &ch); err != nil {
					e.m.persistErrors.Inc()
					e.log.Error().Err(err).Uint64("seq", raw[i].seq).Msg("stored change unreadable; dropped from the outbox")
					continue
				}
				ch.Seq = raw[i].seq
				decoded[i], ok[i] = PendingChange{Change: ch, Done: doneBy[raw[i].seq]}, true
			}
		})
	}
	dwg.Wait()
	raw = nil
	for i := range decoded {
		if ok[i] {
			d.pending = append(d.pending, decoded[i])
		}
	}
	// Signal, timeline and breadth records of incidents no group holds
	// are left over (a close deletes them in the same transaction, so
	// only a bug or a hand-edited store leaves any): removed, unless a
	// group was skipped (its rule may come back with the next config).
	var orphans []store.Op
	held := func(id string) bool {
		for _, s := range e.shards {
			if _, ok := s.byID[id]; ok {
				return true
			}
		}
		return false
	}
	for id, data := range sigs {
		if !held(id) {
			for i := range data {
				orphans = append(orphans, store.Op{Bucket: bucketSignals, Key: sigKey(id, i)})
			}
		}
	}
	for id, b := range breadths {
		if !held(id) {
			for name, set := range b {
				for v := range set {
					orphans = append(orphans, store.Op{Bucket: bucketBreadth, Key: breadthKey(id, name, v)})
				}
			}
		}
	}
	for id, data := range timelines {
		if !held(id) {
			for i := range data {
				orphans = append(orphans, store.Op{Bucket: bucketTimeline, Key: sigKey(id, i)})
			}
		}
	}
	if len(orphans) > 0 && skipped.Load() == 0 {
		if err := c.Commit(orphans); err != nil {
			errs = append(errs, err)
		}
	}
	d.doneBy = doneBy
	took := time.Since(start)
	e.m.recoverySeconds.Set(took.Seconds())
	e.log.Info().Int64("groups", groups.Load()).Int64("skipped", skipped.Load()).Int("outbox", len(d.pending)).
		Dur("took", took).Msg("state restored")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	return nil
}

// persistTouched writes the groups whose only change since their last
// write was a repeat's counters: at stop.
func (s *shard) persistTouched() *commitReq {
	if !s.e.dur.on {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for h := range s.touched {
		s.markGroup(h)
	}
	for sig, inc := range s.touchedSigs {
		s.markSig(inc, sig)
	}
	clear(s.touched)
	clear(s.touchedSigs)
	return s.endStep(true)
}

// CommitDone writes the Done reports that came in after Run returned (the
// outputs flush their queues after the engine stopped). The daemon calls
// it after closing the outputs and before closing the store; reports it
// cannot write only cost a repeat delivery after the next start.
func (e *Engine) CommitDone() error {
	d := &e.dur
	if !d.on {
		return nil
	}
	d.doneMu.Lock()
	ops := d.doneOps
	d.doneOps = nil
	d.doneMu.Unlock()
	if len(ops) == 0 {
		return nil
	}
	if err := d.st.Commit(ops); err != nil {
		e.m.commitErrors.Inc()
		return fmt.Errorf("store delivery reports: %w", err)
	}
	return nil
}
