package correlator

import (
	"time"

	"github.com/corrd/corrd/rules"
)

// The service-management side of an incident: service, SLA clocks,
// functional escalation and major incidents. Every time here is checked by
// checkIncident, which the shard's timers call; arm schedules them.

// itil is an incident's service-management state.
type itil struct {
	service    *rules.Service
	cal        *rules.Calendar
	category   string
	assignment string

	respDue, respWarn, resDue, resWarn time.Time
	respWarned, respBreached           bool
	resWarned, resBreached             bool

	level    int
	levelDue time.Time

	major      bool
	nextStatus time.Time

	// Maintenance: while maint, changes are withheld and clocks paused.
	maint      bool
	maintBy    string
	pauseStart time.Time
	paused     time.Duration // business time spent in maintenance
	withheld   bool          // a change was recorded but not forwarded
	forwarded  bool          // some change reached the sinks
	// lastForwarded is the type of the last change the sinks saw.
	lastForwarded ChangeType
	// maintCheckAt is the pending maintenance-boundary hint, if any.
	maintCheckAt time.Time
	// pendingProblem is a problem change held until the incident is out.
	pendingProblem *Change

	// waiting names what the incident waits on (a vendor, the user);
	// the clocks pause meanwhile if the SLA says so.
	waiting string
}

// clocksPaused reports whether the SLA clocks stand still.
func (inc *incState) clocksPaused() bool {
	return inc.maint || (inc.waiting != "" && inc.g.set.SLA.PauseWhileWaiting)
}

// attachService finds the incident's service and sets category and
// assignment: the rule's own settings win over the service's.
func (inc *incState) attachService(set *rules.Set) {
	inc.service = set.ServiceFor(inc.common)
	if inc.service == nil && len(inc.g.labels) > 0 {
		inc.service = set.ServiceFor(inc.g.labels)
	}
	inc.cal = rules.AlwaysOpen
	inc.category, inc.assignment = inc.rule.Category, inc.rule.AssignmentGroup
	if svc := inc.service; svc != nil {
		inc.cal = svc.Calendar
		if inc.category == "" {
			inc.category = svc.Category
		}
		if inc.assignment == "" {
			inc.assignment = svc.AssignmentGroup
		}
	}
}

// armClocks (re)computes the SLA due times from the opening time and the
// current priority's targets, and schedules every time still ahead.
func (s *shard) armClocks(inc *incState, set *rules.Set) {
	resp, res := set.Target(inc.priority)
	warn := set.SLA.Warning()
	due := func(d time.Duration) time.Time {
		if d <= 0 {
			return time.Time{}
		}
		t, ok := inc.cal.Add(inc.openedAt, d+inc.paused)
		if !ok {
			return time.Time{}
		}
		return t
	}
	inc.respDue, inc.resDue = due(resp), due(res)
	inc.respWarn, inc.resWarn = time.Time{}, time.Time{}
	if warn > 0 {
		inc.respWarn = due(time.Duration(float64(resp) * warn))
		inc.resWarn = due(time.Duration(float64(res) * warn))
	}
	if inc.clocksPaused() {
		return // paused: rescheduled when the pause ends
	}
	for _, t := range []time.Time{inc.respWarn, inc.respDue, inc.resWarn, inc.resDue, inc.levelDue, inc.nextStatus} {
		if !t.IsZero() {
			s.schedule(t, nil, inc)
		}
	}
}

// startITIL runs when an incident opens: service, escalation level 0, SLA
// clocks, and major status if its priority says so.
func (s *shard) startITIL(inc *incState, set *rules.Set, now time.Time) {
	if svc := inc.service; svc != nil && len(svc.Escalation) > 0 {
		inc.level = 0
		if inc.rule.AssignmentGroup == "" {
			inc.assignment = svc.Escalation[0].Group
		}
		inc.levelDue = inc.levelDeadline(now)
	}
	if inc.priority <= set.MajorPriority {
		s.makeMajor(inc, set, now)
	}
	s.armClocks(inc, set)
}

func (inc *incState) levelDeadline(from time.Time) time.Time {
	svc := inc.service
	if svc == nil || inc.level >= len(svc.Escalation)-1 || svc.Escalation[inc.level].Within <= 0 {
		return time.Time{}
	}
	t, ok := inc.cal.Add(from, svc.Escalation[inc.level].Within)
	if !ok {
		return time.Time{}
	}
	return t
}

// makeMajor flags a major incident and starts its status updates.
func (s *shard) makeMajor(inc *incState, set *rules.Set, now time.Time) {
	if inc.major {
		return
	}
	inc.major = true
	s.e.m.major.WithLabelValues(inc.rule.Name).Inc()
	if set.StatusEvery > 0 {
		inc.nextStatus = now.Add(set.StatusEvery)
		s.schedule(inc.nextStatus, nil, inc)
	}
}

// checkITIL emits what is due on an open incident's clocks.
func (s *shard) checkITIL(inc *incState, now time.Time) {
	if inc.clocksPaused() {
		return
	}
	set := inc.g.set
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	prio := prioLabel(inc.priority)
	// Each clock: a warning at its warning time, a breach at its due time.
	// The response clock stops at acknowledgement.
	clock := func(name string, running bool, warn, due_ time.Time, warned, breached *bool) {
		if !running || *breached {
			return
		}
		if !*warned && due(warn) {
			*warned = true
			s.e.m.slaWarnings.WithLabelValues(name, prio).Inc()
			s.emitDetail(inc, ChangeSLAWarning, now, 0, name)
		}
		if due(due_) {
			*breached, *warned = true, true
			s.e.m.slaBreaches.WithLabelValues(name, prio).Inc()
			s.makeMajor(inc, set, now)
			s.emitDetail(inc, ChangeSLABreached, now, 0, name)
		}
	}
	clock("response", inc.ackedAt.IsZero(), inc.respWarn, inc.respDue, &inc.respWarned, &inc.respBreached)
	clock("resolution", true, inc.resWarn, inc.resDue, &inc.resWarned, &inc.resBreached)
	if inc.ackedAt.IsZero() && due(inc.levelDue) {
		svc := inc.service
		inc.level++
		inc.assignment = svc.Escalation[inc.level].Group
		inc.levelDue = inc.levelDeadline(now)
		if !inc.levelDue.IsZero() {
			s.schedule(inc.levelDue, nil, inc)
		}
		s.e.m.escalations.WithLabelValues(svc.Name).Inc()
		s.emitDetail(inc, ChangeEscalated, now, 0, inc.assignment)
	}
	if inc.major && due(inc.nextStatus) && set.StatusEvery > 0 {
		for !inc.nextStatus.After(now) {
			inc.nextStatus = inc.nextStatus.Add(set.StatusEvery)
		}
		s.schedule(inc.nextStatus, nil, inc)
		inc.dirty, inc.updateDue = false, time.Time{}
		s.emit(inc, ChangeStatusUpdate, now, 0)
	}
}

// slaSnapshot renders the clocks.
func (inc *incState) slaSnapshot() *SLA {
	if inc.respDue.IsZero() && inc.resDue.IsZero() {
		return nil
	}
	name := "24x7"
	if inc.cal != nil && inc.cal.Name != "" {
		name = inc.cal.Name
	}
	return &SLA{Calendar: name, ResponseDue: inc.respDue, ResolutionDue: inc.resDue,
		ResponseBreached: inc.respBreached, ResolutionBreached: inc.resBreached}
}

// observeEnd records the measures when an incident resolves or closes.
func (s *shard) observeEnd(inc *incState, until string, now time.Time) {
	cat := inc.category
	if cat == "" {
		cat = "none"
	}
	s.e.m.leadTime.WithLabelValues(prioLabel(inc.priority), cat, until).Observe(now.Sub(inc.openedAt).Seconds())
}

// observeAck records response and waiting time at acknowledgement.
func (s *shard) observeAck(inc *incState, now time.Time) {
	cat := inc.category
	if cat == "" {
		cat = "none"
	}
	p := prioLabel(inc.priority)
	s.e.m.responseTime.WithLabelValues(p, cat).Observe(now.Sub(inc.openedAt).Seconds())
	first := inc.firstArrive
	if first.IsZero() {
		first = inc.openedAt
	}
	s.e.m.waitingTime.WithLabelValues(p, cat).Observe(now.Sub(first).Seconds())
}

// setWaiting starts (reason set) or ends (reason empty) waiting on someone
// outside; it reports whether anything changed.
func (s *shard) setWaiting(inc *incState, reason string, now time.Time) bool {
	if inc.waiting == reason {
		return false
	}
	wasPaused := inc.clocksPaused()
	inc.waiting = reason
	switch paused := inc.clocksPaused(); {
	case paused && !wasPaused:
		inc.pauseStart = now
	case !paused && wasPaused:
		s.resumeClocks(inc, now)
	}
	return true
}
