package correlator

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

type msgKind uint8

const (
	// msgEvent is an event for its own rule's group.
	msgEvent msgKind = iota
	// msgAbsorbed is an event for an absorbing rule's open incident.
	msgAbsorbed
	// msgTouch is a duplicate inside the dedup window.
	msgTouch
)

// msg is one event routed to a shard.
type msg struct {
	kind msgKind
	ev   ingest.Event
	rs   *ruleState
	rule *rules.Compiled
	hash uint64
}

type noteKind uint8

const (
	noteReroute noteKind = iota
	noteChildOpened
	noteChildResolved
	noteChildBreadth
	noteLinkParent
	noteChildReopened
	noteMaintenance
	noteKnowledge
	// noteFlush asks the shard to hand in the state changes it held back
	// while the store was busy.
	noteFlush
)

// note is a message between shards: rerouted events and rollup
// bookkeeping. Notes go through an unbounded inbox so that shards never
// block on each other.
type note struct {
	kind     noteKind
	m        msg
	parent   *rules.Compiled
	set      *rules.Set
	hash     uint64
	labels   ingest.Labels
	child    childRef
	breadth  []ingest.Label
	parentID string
	// w is a rerouted event's batch waiter.
	w *waiter
}

// shardBatch is a Submit's share for one shard.
type shardBatch struct {
	msgs []msg
	// w, when set, waits for the batch to be committed.
	w *waiter
}

type shard struct {
	e      *Engine
	idx    int
	events chan shardBatch

	inboxMu sync.Mutex
	inbox   []note
	wake    chan struct{}

	// mu guards the state below against the API's readers; the shard
	// goroutine is the only writer.
	mu     sync.RWMutex
	groups map[uint64]*group
	byID   map[string]*incState

	// groupCount is len(groups), for the open-incident cap.
	groupCount atomic.Int64
	// refusedLog logs refused rule groups, sampled.
	refusedLog zerolog.Logger

	openMu sync.RWMutex
	open   map[uint64]struct{}

	// recur remembers groups' openings for problem detection.
	recur       map[uint64]*recurrence
	recurPruned time.Time

	// closed keeps the latest closed incidents, oldest first.
	closed     []Incident
	closedByID map[string]int

	timers timerHeap
	timer  *time.Timer

	// step collects what the current step changed, for the store.
	step stepBuf
	// touched are groups whose signal counters changed since their last
	// write (repeats are written lazily).
	touched     map[uint64]struct{}
	touchedSigs map[*sigState]*incState
	// current is the waiter of the batch or rerouted event being handled.
	current *waiter
	// flushWanted: the shard holds back a step's changes until the
	// committer is free (see endStep).
	flushWanted atomic.Bool
	// forceFlush: the committer asked for the held-back changes and waits
	// for them.
	forceFlush bool
}

func newShard(e *Engine, idx int) *shard {
	return &shard{
		e:      e,
		idx:    idx,
		events: make(chan shardBatch, e.opts.QueueSize),

		refusedLog: e.log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute}),
		wake:       make(chan struct{}, 1),
		groups:     map[uint64]*group{},
		byID:       map[string]*incState{},
		open:       map[uint64]struct{}{},

		closedByID:  map[string]int{},
		recur:       map[uint64]*recurrence{},
		touched:     map[uint64]struct{}{},
		touchedSigs: map[*sigState]*incState{},
	}
}

func (s *shard) post(n note) {
	s.inboxMu.Lock()
	s.inbox = append(s.inbox, n)
	s.inboxMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *shard) isOpen(h uint64) bool {
	s.openMu.RLock()
	_, ok := s.open[h]
	s.openMu.RUnlock()
	return ok
}

func (s *shard) setOpen(h uint64, open bool) {
	s.openMu.Lock()
	if open {
		s.open[h] = struct{}{}
	} else {
		delete(s.open, h)
	}
	s.openMu.Unlock()
}

func (s *shard) run(stop <-chan struct{}) {
	s.e.m.openIncidentsCap.Set(float64(s.e.opts.MaxOpenIncidents))
	s.mu.Lock()
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	// Deadlines restored from the store are already in the heap.
	s.resetTimer(time.Now())
	s.mu.Unlock()
	defer s.timer.Stop()
	for {
		select {
		case batch := <-s.events:
			s.handleBatch(batch)
		case <-s.wake:
			s.handleInbox()
		case <-s.timer.C:
			s.mu.Lock()
			s.fireTimers(time.Now())
			s.endStep(false)
			s.mu.Unlock()
		case <-stop:
			return
		}
	}
}

// drainOnce correlates what is queued for the shard and reports whether
// there was anything. The engine calls it after the shard goroutines have
// stopped.
func (s *shard) drainOnce() bool {
	did := false
	for {
		select {
		case batch := <-s.events:
			s.handleBatch(batch)
			did = true
			continue
		default:
		}
		s.inboxMu.Lock()
		empty := len(s.inbox) == 0
		s.inboxMu.Unlock()
		if empty {
			return did
		}
		s.handleInbox()
		did = true
	}
}

// flushHeld emits what timers were holding back when the engine stops:
// openings inside their group_wait and coalesced updates, so that sinks
// learn every transition that happened.
func (s *shard) flushHeld(now time.Time) {
	s.mu.Lock()
	for _, inc := range s.byID {
		if inc.status != StatusOpen {
			continue
		}
		if !inc.announced {
			s.announce(inc, now)
		} else if inc.dirty {
			inc.dirty, inc.updateDue = false, time.Time{}
			s.emit(inc, ChangeUpdated, now, 0)
		}
	}
	req := s.endStep(true)
	s.mu.Unlock()
	if req != nil {
		<-req.sync
	}
}

func (s *shard) handleBatch(sb shardBatch) {
	now := time.Now()
	batch := sb.msgs
	s.mu.Lock()
	s.current = sb.w
	for i := range batch {
		s.handle(&batch[i], now)
	}
	s.current = nil
	s.fireTimers(now)
	if sb.w != nil {
		s.step.waiters = append(s.step.waiters, sb.w)
	}
	s.endStep(false)
	s.mu.Unlock()
	for i := range batch {
		s.e.m.latency.Observe(now.Sub(batch[i].ev.ArrivalTime).Seconds())
	}
	s.e.queued.Add(-int64(len(batch)))
}

func (s *shard) handleInbox() {
	s.inboxMu.Lock()
	notes := s.inbox
	s.inbox = nil
	s.inboxMu.Unlock()
	now := time.Now()
	s.mu.Lock()
	for i := range notes {
		s.handleNote(&notes[i], now)
	}
	s.fireTimers(now)
	s.endStep(false)
	s.mu.Unlock()
}

func (s *shard) handleNote(n *note, now time.Time) {
	switch n.kind {
	case noteReroute:
		s.current = n.w
		s.handle(&n.m, now)
		s.current = nil
		if n.w != nil {
			s.step.waiters = append(s.step.waiters, n.w)
		}
	case noteChildOpened:
		s.markGroup(n.hash)
		s.childOpened(n, now)
	case noteChildResolved:
		s.markGroup(n.hash)
		s.childResolved(n, now)
	case noteChildBreadth:
		s.markGroup(n.hash)
		s.childBreadth(n, now)
	case noteChildReopened:
		s.markGroup(n.hash)
		s.childReopened(n, now)
	case noteKnowledge:
		for _, inc := range s.byID {
			if inc.status != StatusOpen {
				continue
			}
			ke, sus := s.evalKnownErrors(inc), s.evalSuspects(inc)
			if ke || sus {
				// Only the groups whose incident changed are written.
				s.markGroup(inc.g.hash)
			}
			switch {
			case ke:
				s.knownErrorFound(inc, now)
			case sus:
				s.markDirty(inc, now)
			}
		}
	case noteMaintenance:
		for _, inc := range s.byID {
			if s.reevalMaintenance(inc, now) {
				s.markGroup(inc.g.hash)
			}
		}
	case noteFlush:
		s.forceFlush = true
	case noteLinkParent:
		if inc := s.byID[n.child.id]; inc != nil && inc.parent == "" {
			s.markGroup(inc.g.hash)
			inc.parent = n.parentID
			s.markDirty(inc, now)
		}
	}
}

// dispatch hands m to the shard that owns its group. When the event's
// batch waits for its commit, the waiter goes along.
func (s *shard) dispatch(m msg, now time.Time) {
	si := s.e.shardOf(m.hash)
	if si == s.idx {
		s.handle(&m, now)
		return
	}
	// The waiter of the batch being handled is released only after the
	// other shard has committed the event too.
	w := s.current
	if w != nil {
		w.pending.Add(1)
	}
	s.e.shards[si].post(note{kind: noteReroute, m: m, w: w})
}

// handle correlates one event.
func (s *shard) handle(m *msg, now time.Time) {
	ev := &m.ev
	g := s.groups[m.hash]
	switch m.kind {
	case msgTouch:
		if g != nil {
			if inc, sig := g.find(ev.Fingerprint); sig != nil {
				sig.count++
				sig.lastSeen = ev.ArrivalTime
				inc.events++
				inc.lastArrive = now
				s.scheduleQuiet(inc)
				if s.e.dur.on {
					s.touched[m.hash] = struct{}{}
					s.touchedSigs[sig] = inc
				}
				return
			}
			if g.pending != nil && g.pending.touch(ev.Fingerprint, g.rule, now) {
				if s.e.dur.on {
					s.touched[m.hash] = struct{}{}
				}
				s.scheduleGroup(g, now.Add(g.rule.Window+g.rule.MaxLateness))
				return
			}
		}
		// What the duplicate belonged to is gone: correlate it afresh.
		r := s.e.route(m.rs.set, ev)
		s.dispatch(msg{kind: kindOf(r), ev: *ev, rs: m.rs, rule: r.rule, hash: r.hash}, now)
		return
	case msgAbsorbed:
		if g == nil || g.accepting(now) == nil {
			if g != nil {
				if inc, sig := g.find(ev.Fingerprint); sig != nil {
					s.updateSignal(inc, sig, ev, now)
					return
				}
			}
			// The absorbing incident ended meanwhile: the event goes to its own rule.
			r := s.e.ownRoute(m.rs.set, ev)
			s.dispatch(msg{kind: msgEvent, ev: *ev, rs: m.rs, rule: r.rule, hash: r.hash}, now)
			return
		}
	}
	if m.rule != nil && m.rule.Change != nil {
		s.e.changeFromSignal(s, m.rule, ev)
		return
	}
	s.markGroup(m.hash)
	if g == nil {
		if ev.Status == ingest.StatusResolved {
			s.e.m.orphans.WithLabelValues(m.rule.Name).Inc()
			return
		}
		if !s.admitGroup(m.rule, m.rs.set) {
			return
		}
		g = &group{hash: m.hash, rule: m.rule, set: m.rs.set, labels: groupLabels(m.rule, ev.Labels)}
		g.key = groupKey(g.labels)
		s.addGroup(g)
	}
	if inc, sig := g.find(ev.Fingerprint); sig != nil {
		s.updateSignal(inc, sig, ev, now)
		return
	}
	if ev.Status == ingest.StatusResolved {
		if r := g.lastResolved; r != nil {
			if sig, ok := r.signals[ev.Fingerprint]; ok {
				// A resolve repeated after its incident resolved.
				sig.count++
				r.events++
				if s.e.dur.on {
					s.touched[m.hash] = struct{}{}
					s.touchedSigs[sig] = r
				}
				return
			}
		}
		if g.pending == nil || !g.pending.remove(ev.Fingerprint) {
			s.e.m.orphans.WithLabelValues(g.rule.Name).Inc()
		}
		s.forgetIfIdle(g)
		return
	}
	absorbed := m.kind == msgAbsorbed
	if inc := g.accepting(now); inc != nil {
		s.addSignal(inc, newSig(ev, absorbed), now)
		if absorbed {
			s.e.m.absorbed.WithLabelValues(inc.rule.Name).Inc()
		}
		return
	}
	if inc := g.reopenable(now); inc != nil {
		s.reopen(inc, ev, absorbed, now)
		return
	}
	if g.rule.ThresholdCount == 1 && g.rule.DistinctLabel == "" {
		s.openIncident(g, []pendingSig{{ev: *ev, absorbed: absorbed}}, now)
		return
	}
	if g.pending == nil {
		g.pending = &pendingWindow{}
	}
	if dropped := g.pending.add(ev, absorbed, g.rule, now); dropped > 0 {
		s.e.m.expired.WithLabelValues(g.rule.Name).Add(float64(dropped))
	}
	if g.pending.met(g.rule) {
		sigs := g.pending.sigs
		g.pending = nil
		s.openIncident(g, sigs, now)
		return
	}
	s.scheduleGroup(g, now.Add(g.rule.Window+g.rule.MaxLateness))
}

// scheduleGroup arms a group's expiry check at at, unless one is pending
// at or before it (that one re-arms when it fires).
func (s *shard) scheduleGroup(g *group, at time.Time) {
	if !g.checkAt.IsZero() && !g.checkAt.After(at) {
		return
	}
	g.checkAt = at
	s.schedule(at, g, nil)
}

func kindOf(r route) msgKind {
	if r.absorbed {
		return msgAbsorbed
	}
	return msgEvent
}

// forgetIfIdle drops a group that holds nothing.
func (s *shard) forgetIfIdle(g *group) {
	if g.idle() && s.groups[g.hash] == g {
		s.dropGroup(g)
	}
}

// list appends snapshots of the selected incidents.
func (s *shard) list(f Filter, out []Incident) []Incident {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// The page is chosen on positions first, so that only what it holds
	// is copied.
	page := listPage{limit: f.Limit}
	for _, inc := range s.byID {
		if (f.Status == "" || inc.status == f.Status) && (f.Rule == "" || inc.rule.Name == f.Rule) {
			page.offer(Cursor{OpenedAt: inc.openedAt, ID: inc.id}, f.After, inc, -1)
		}
	}
	if f.Status == StatusClosed {
		for i := range s.closed {
			if c := &s.closed[i]; f.Rule == "" || c.Rule == f.Rule {
				page.offer(CursorOf(*c), f.After, nil, i)
			}
		}
	}
	for _, it := range page.items {
		if it.inc != nil {
			out = append(out, it.inc.snapshot(false))
			continue
		}
		c := s.closed[it.closed]
		c.Signals, c.Timeline = nil, nil
		out = append(out, c)
	}
	return out
}

func (s *shard) get(id string) (Incident, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	inc, ok := s.byID[id]
	if !ok {
		if i, ok := s.closedByID[id]; ok {
			return s.closed[i], true
		}
		return Incident{}, false
	}
	out := inc.snapshot(true)
	out.Timeline = append([]TimelineEntry(nil), inc.timeline...)
	return out, true
}

// Timers: a heap of hints. When one fires, the group or incident it names
// re-checks everything that may be due; stale hints do nothing.

type timerEntry struct {
	at  time.Time
	g   *group
	inc *incState
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = timerEntry{}
	*h = old[:n-1]
	return x
}

func (s *shard) schedule(at time.Time, g *group, inc *incState) {
	heap.Push(&s.timers, timerEntry{at: at, g: g, inc: inc})
	if s.timers[0].at.Equal(at) && s.timer != nil {
		s.resetTimer(time.Now())
	}
}

func (s *shard) resetTimer(now time.Time) {
	if len(s.timers) == 0 {
		s.timer.Stop()
		return
	}
	d := s.timers[0].at.Sub(now)
	if d < 0 {
		d = 0
	}
	s.timer.Reset(d)
}

func (s *shard) fireTimers(now time.Time) {
	for len(s.timers) > 0 && !s.timers[0].at.After(now) {
		t := heap.Pop(&s.timers).(timerEntry)
		if t.inc != nil {
			s.markGroup(t.inc.g.hash)
			s.checkIncident(t.inc, now)
		} else if t.g != nil {
			s.markGroup(t.g.hash)
			s.checkGroup(t.g, now)
		}
	}
	if s.timer != nil {
		s.resetTimer(now)
	}
}

// checkGroup expires pending signals and waiting rollup children.
func (s *shard) checkGroup(g *group, now time.Time) {
	if s.groups[g.hash] != g {
		return
	}
	if !g.checkAt.IsZero() && !now.Before(g.checkAt) {
		g.checkAt = time.Time{}
	}
	if g.pending != nil {
		if n := g.pending.expire(now); n > 0 {
			s.e.m.expired.WithLabelValues(g.rule.Name).Add(float64(n))
		}
		if len(g.pending.sigs) == 0 {
			g.pending = nil
		} else {
			s.scheduleGroup(g, g.pending.nextExpiry())
		}
	}
	if len(g.waitingChildren) > 0 {
		s.expireChildren(g, now)
	}
	s.forgetIfIdle(g)
}

// maxClosedKept bounds the closed incidents a shard keeps for reading
// (API, reports) after they left the live state.
const maxClosedKept = 512

func (s *shard) retainClosed(inc *incState) {
	snap := inc.snapshot(true)
	snap.Timeline = append([]TimelineEntry(nil), inc.timeline...)
	if len(s.closed) >= maxClosedKept {
		delete(s.closedByID, s.closed[0].ID)
		s.forgetClosed(s.closed[0].ID)
		s.closed = append(s.closed[:0], s.closed[1:]...)
	}
	s.closed = append(s.closed, snap)
	s.keepClosed(&snap)
	// Indexes shift when the oldest is dropped.
	for i := range s.closed {
		s.closedByID[s.closed[i].ID] = i
	}
}
