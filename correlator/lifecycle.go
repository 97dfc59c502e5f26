package correlator

import (
	"fmt"
	"time"

	"github.com/corrd/corrd/ingest"
)

// openIncident opens an incident of g with the given signals.
func (s *shard) openIncident(g *group, sigs []pendingSig, now time.Time) *incState {
	previous := g.supersede()
	inc := &incState{
		previous:   previous,
		id:         incidentID(g.hash, now.UnixNano()),
		rule:       g.rule,
		matrix:     &g.set.Matrix,
		g:          g,
		shard:      s.idx,
		status:     StatusOpen,
		openedAt:   now,
		lastArrive: now,
		signals:    map[uint64]*sigState{},
		breadth:    map[string]map[string]struct{}{},
	}
	for i := range sigs {
		s.addSignalQuiet(inc, newSig(&sigs[i].ev, sigs[i].absorbed))
		if sigs[i].absorbed {
			s.e.m.absorbed.WithLabelValues(inc.rule.Name).Inc()
		}
	}
	s.opened(g, inc, now)
	s.notifyParentsOpened(inc, now)
	return inc
}

// opened registers a new incident and schedules its announcement.
func (s *shard) opened(g *group, inc *incState, now time.Time) {
	inc.attachService(g.set)
	s.evalKnownErrors(inc)
	s.evalSuspects(inc)
	inc.recomputePriority()
	s.evalMaintenance(inc, now)
	s.startITIL(inc, g.set, now)
	g.open = append(g.open, inc)
	s.byID[inc.id] = inc
	s.setOpen(g.hash, true)
	s.e.m.opened.WithLabelValues(inc.rule.Name, prioLabel(inc.priority)).Inc()
	s.e.m.open.WithLabelValues(inc.rule.Name).Inc()
	if inc.rule.GroupWait > 0 {
		inc.announceAt = now.Add(inc.rule.GroupWait)
		s.schedule(inc.announceAt, nil, inc)
	} else {
		s.announce(inc, now)
	}
	// After the opening is out: a problem change refers to it.
	if s.recordOpening(inc, now); inc.problem != "" {
		s.markDirty(inc, now)
	}
	s.scheduleQuiet(inc)
}

func (s *shard) announce(inc *incState, now time.Time) {
	inc.announced = true
	inc.dirty = false
	s.emit(inc, ChangeOpened, now, 0)
}

// addSignalQuiet adds a signal without emitting anything.
func (s *shard) addSignalQuiet(inc *incState, sig *sigState) (fresh []ingest.Label) {
	inc.events += sig.count
	if inc.firstArrive.IsZero() || sig.lastSeen.Before(inc.firstArrive) {
		inc.firstArrive = sig.lastSeen
	}
	if inc.firstSeen.IsZero() || sig.startsAt.Before(inc.firstSeen) {
		inc.firstSeen = sig.startsAt
	}
	if sig.startsAt.After(inc.lastSeen) {
		inc.lastSeen = sig.startsAt
	}
	if len(inc.order) >= maxTrackedSignals {
		inc.untracked++
	} else {
		sig.idx = len(inc.order)
		inc.signals[sig.fp] = sig
		inc.order = append(inc.order, sig)
		s.markSig(inc, sig)
		if sig.status == ingest.StatusFiring {
			inc.firing++
		}
	}
	// Common labels describe the incident's own signals: absorbed ones
	// (hosts behind a switch) do not narrow them.
	if !sig.absorbed {
		if inc.ownSignals == 0 {
			inc.common = sig.labels
			inc.commonAnn = sig.annotations
		} else {
			inc.common = intersect(inc.common, sig.labels)
			inc.commonAnn = intersect(inc.commonAnn, sig.annotations)
		}
		inc.ownSignals++
	}
	if sig.status == ingest.StatusFiring && sig.severity > inc.severity {
		inc.severity = sig.severity
	}
	fresh = addBreadth(inc.breadth, breadthLabels(inc.rule), sig.labels, nil)
	s.putBreadth(inc, fresh)
	return fresh
}

// addSignal adds a new signal to an open incident and reports it.
func (s *shard) addSignal(inc *incState, sig *sigState, now time.Time) {
	fresh := s.addSignalQuiet(inc, sig)
	inc.lastArrive = now
	ke := s.evalKnownErrors(inc)
	s.notifyParentsBreadth(inc, fresh)
	s.afterChange(inc, now)
	if ke {
		s.knownErrorFound(inc, now)
	}
	s.scheduleQuiet(inc)
}

// updateSignal folds a new event of a known signal into its incident.
func (s *shard) updateSignal(inc *incState, sig *sigState, ev *ingest.Event, now time.Time) {
	sig.count++
	sig.lastSeen = ev.ArrivalTime
	inc.events++
	inc.lastArrive = now
	s.markSig(inc, sig)
	if ev.Status == sig.status {
		s.scheduleQuiet(inc)
		return
	}
	sig.status = ev.Status
	if ev.Status == ingest.StatusResolved {
		sig.resolvedAt = ev.EventTime
		inc.firing--
		if inc.firing <= 0 && inc.openKids == 0 {
			if inc.flapping {
				// Held open until it has been stable for a while.
				inc.stableAt = now.Add(inc.rule.FlapStableFor)
				s.schedule(inc.stableAt, nil, inc)
				s.markDirty(inc, now)
				return
			}
			s.resolve(inc, now)
			return
		}
	} else {
		sig.resolvedAt = time.Time{}
		inc.firing++
		inc.stableAt = time.Time{}
		if sig.severity = ev.Severity; sig.severity > inc.severity {
			inc.severity = sig.severity
		}
	}
	s.afterChange(inc, now)
	s.scheduleQuiet(inc)
}

// afterChange emits a priority change at once, or marks the incident for a
// coalesced update.
func (s *shard) afterChange(inc *incState, now time.Time) {
	if prev, changed := inc.recomputePriority(); changed {
		s.armClocks(inc, inc.g.set)
		if inc.priority <= inc.g.set.MajorPriority {
			s.makeMajor(inc, inc.g.set, now)
		}
		if inc.announced {
			s.emit(inc, ChangePriorityChanged, now, prev)
			inc.dirty, inc.updateDue = false, time.Time{}
			return
		}
	}
	s.markDirty(inc, now)
}

func (s *shard) markDirty(inc *incState, now time.Time) {
	s.markGroup(inc.g.hash)
	if inc.status != StatusOpen {
		return
	}
	inc.dirty = true
	if !inc.announced || !inc.updateDue.IsZero() {
		return
	}
	due := inc.lastEmit.Add(inc.rule.UpdateInterval)
	if due.Before(now) {
		due = now
	}
	inc.updateDue = due
	s.schedule(due, nil, inc)
}

// scheduleQuiet arms the resolve_after check. One hint is pending at a
// time: when it fires early (signals kept coming), the check re-arms it,
// so a storm of repeats costs no timer entries.
func (s *shard) scheduleQuiet(inc *incState) {
	if inc.rule.ResolveAfter > 0 && inc.status == StatusOpen && !inc.isParent && inc.quietAt.IsZero() {
		inc.quietAt = inc.lastArrive.Add(inc.rule.ResolveAfter)
		s.schedule(inc.quietAt, nil, inc)
	}
}

// checkIncident does whatever is due for an incident.
func (s *shard) checkIncident(inc *incState, now time.Time) {
	if s.byID[inc.id] != inc {
		return
	}
	switch inc.status {
	case StatusOpen:
		if !inc.announced && !now.Before(inc.announceAt) {
			s.announce(inc, now)
		}
		s.evalMaintenance(inc, now)
		if inc.announced {
			s.checkITIL(inc, now)
		}
		if !inc.updateDue.IsZero() && !now.Before(inc.updateDue) {
			inc.updateDue = time.Time{}
			if inc.announced && inc.dirty {
				inc.dirty = false
				s.emit(inc, ChangeUpdated, now, 0)
			}
		}
		if inc.flapping && inc.firing <= 0 && !inc.stableAt.IsZero() && !now.Before(inc.stableAt) {
			s.resolve(inc, now)
			return
		}
		if !inc.quietAt.IsZero() && !now.Before(inc.quietAt) {
			inc.quietAt = time.Time{}
			defer s.scheduleQuiet(inc) // re-arm unless resolved below
		}
		if inc.rule.ResolveAfter > 0 && !inc.isParent && now.Sub(inc.lastArrive) >= inc.rule.ResolveAfter {
			for _, sig := range inc.order {
				if sig.status == ingest.StatusFiring {
					sig.status = ingest.StatusResolved
					sig.resolvedAt = now
					s.markSig(inc, sig)
				}
			}
			inc.firing = 0
			s.resolve(inc, now)
		}
	case StatusResolved:
		if !inc.closeAt.IsZero() && !now.Before(inc.closeAt) {
			s.close(inc, now)
		}
	}
}

// resolve ends an open incident.
func (s *shard) resolve(inc *incState, now time.Time) {
	if inc.status != StatusOpen {
		return
	}
	if !inc.announced {
		s.announce(inc, now)
	}
	inc.status = StatusResolved
	inc.resolvedAt = now
	inc.dirty = false
	inc.updateDue = time.Time{}
	inc.stableAt, inc.quietAt = time.Time{}, time.Time{}
	g := inc.g
	g.removeOpen(inc)
	if g.lastResolved != inc {
		g.supersede()
	}
	g.lastResolved = inc
	if g.accepting(now) == nil {
		s.setOpen(g.hash, false)
	}
	s.e.m.resolved.WithLabelValues(inc.rule.Name, prioLabel(inc.priority)).Inc()
	s.e.m.open.WithLabelValues(inc.rule.Name).Dec()
	s.e.m.signals.WithLabelValues(inc.rule.Name).Observe(float64(len(inc.order) + inc.untracked))
	s.emit(inc, ChangeResolved, now, 0)
	s.observeEnd(inc, "resolved", now)
	inc.closeAt = now.Add(inc.rule.CloseAfter)
	s.schedule(inc.closeAt, nil, inc)
	s.notifyParentsResolved(inc)
	s.forgetIfIdle(g)
}

// close forgets a resolved incident.
func (s *shard) close(inc *incState, now time.Time) {
	inc.status = StatusClosed
	inc.closedAt = now
	s.emit(inc, ChangeClosed, now, 0)
	s.observeEnd(inc, "closed", now)
	delete(s.byID, inc.id)
	s.dropSignals(inc)
	s.retainClosed(inc)
	s.e.m.closed.WithLabelValues(inc.rule.Name).Inc()
	if inc.g.lastResolved == inc {
		inc.g.lastResolved = nil
	}
	inc.g.unclose(inc)
	s.forgetIfIdle(inc.g)
}

// reopen makes a recently resolved incident open again with a new signal.
func (s *shard) reopen(inc *incState, ev *ingest.Event, absorbed bool, now time.Time) {
	g := inc.g
	g.lastResolved = nil
	inc.status = StatusOpen
	inc.resolvedAt, inc.closeAt = time.Time{}, time.Time{}
	inc.lastArrive = now
	inc.reopens++
	keep := inc.reopenTimes[:0]
	for _, t := range inc.reopenTimes {
		if now.Sub(t) <= inc.rule.FlapWithin {
			keep = append(keep, t)
		}
	}
	inc.reopenTimes = append(keep, now)
	if inc.rule.FlapCount > 0 && len(inc.reopenTimes) >= inc.rule.FlapCount && !inc.flapping {
		inc.flapping = true
		s.e.m.flapping.WithLabelValues(inc.rule.Name).Inc()
	}
	g.open = append(g.open, inc)
	s.setOpen(g.hash, true)
	s.e.m.reopened.WithLabelValues(inc.rule.Name).Inc()
	s.e.m.open.WithLabelValues(inc.rule.Name).Inc()
	if sig, ok := inc.signals[ev.Fingerprint]; ok {
		sig.count++
		sig.lastSeen = ev.ArrivalTime
		sig.status = ingest.StatusFiring
		sig.resolvedAt = time.Time{}
		sig.severity = ev.Severity
		s.markSig(inc, sig)
		inc.events++
		inc.firing++
	} else {
		fresh := s.addSignalQuiet(inc, newSig(ev, absorbed))
		s.notifyParentsBreadth(inc, fresh)
	}
	inc.recomputePriority()
	inc.dirty, inc.updateDue, inc.quietAt = false, time.Time{}, time.Time{}
	// Maintenance may have begun or ended while the incident was resolved;
	// whatever it withheld is superseded by this reopening.
	inc.withheld = false
	s.evalMaintenance(inc, now)
	s.emit(inc, ChangeReopened, now, 0)
	s.notifyParentsReopened(inc)
	s.scheduleQuiet(inc)
}

// ack records an acknowledgement.
func (s *shard) ack(id, by string, now time.Time) (Incident, error) {
	inc := s.byID[id]
	if inc == nil {
		return Incident{}, ErrUnknownIncident
	}
	if inc.status != StatusOpen {
		return Incident{}, ErrNotOpen
	}
	if inc.ackedAt.IsZero() {
		inc.ackedAt, inc.ackedBy = now, by
		s.e.m.acked.WithLabelValues(inc.rule.Name).Inc()
		s.observeAck(inc, now)
		s.emit(inc, ChangeAcknowledged, now, 0)
	}
	return inc.snapshot(true), nil
}

// maxTimeline bounds an incident's timeline; the first entries are kept.
const maxTimeline = 500

func (s *shard) emit(inc *incState, t ChangeType, now time.Time, prev int) {
	s.emitDetail(inc, t, now, prev, "")
}

func (s *shard) emitDetail(inc *incState, t ChangeType, now time.Time, prev int, detail string) {
	inc.revision++
	inc.lastEmit = now
	s.markGroup(inc.g.hash)
	if len(inc.timeline) < maxTimeline {
		e := TimelineEntry{At: now, Type: t, Priority: inc.priority, Signals: len(inc.order) + inc.untracked, Firing: inc.firing}
		switch {
		case prev != 0:
			e.Detail = fmt.Sprintf("priority %d -> %d", prev, inc.priority)
		case t == ChangeAcknowledged:
			e.Detail = "by " + inc.ackedBy
		case detail != "":
			e.Detail = detail
		case t == ChangeReopened && inc.flapping:
			e.Detail = "flapping"
		case inc.isParent:
			e.Detail = fmt.Sprintf("%d children, %d open", len(inc.children), inc.openKids)
		}
		inc.timeline = append(inc.timeline, e)
		s.putTimeline(inc, len(inc.timeline)-1)
	}
	// In maintenance, or before anything was forwarded, a change is only
	// recorded; a ticket already out still learns of its resolution.
	ending := t == ChangeResolved || t == ChangeClosed
	if (inc.maint && !(inc.forwarded && ending)) || (!inc.forwarded && t != ChangeOpened) {
		inc.withheld = true
		s.e.m.withheld.WithLabelValues(inc.rule.Name, string(t)).Inc()
		return
	}
	inc.forwarded, inc.lastForwarded = true, t
	s.e.m.changes.WithLabelValues(inc.rule.Name, string(t)).Inc()
	if s.e.pub == nil {
		return
	}
	s.publish(Change{Type: t, At: now, Incident: inc.snapshot(true), PreviousPriority: prev, Detail: detail})
	// A problem change about this incident waits until the incident itself
	// has reached the sinks.
	if pc := inc.pendingProblem; pc != nil {
		inc.pendingProblem = nil
		pc.Incident = inc.snapshot(false)
		s.publish(*pc)
	}
}

// knownErrorFound reports a newly attached known error at once: its
// workaround is what first line needs.
func (s *shard) knownErrorFound(inc *incState, now time.Time) {
	if !inc.announced || inc.status != StatusOpen {
		return
	}
	inc.dirty, inc.updateDue = false, time.Time{}
	s.emitDetail(inc, ChangeUpdated, now, 0, "known error "+inc.knownErrors[len(inc.knownErrors)-1].ID)
}
