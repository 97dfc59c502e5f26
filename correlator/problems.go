package correlator

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// Problem is a recurring cause behind several incidents: raised when the
// same rule and group keep opening incidents, or open them around the same
// time of day on several days.
type Problem struct {
	ID          string        `json:"id"`
	Rule        string        `json:"rule"`
	GroupKey    string        `json:"group_key"`
	GroupLabels ingest.Labels `json:"group_labels"`
	// Kind is "daily" (same time of day) or "recurring" (count in a period).
	Kind string `json:"kind"`
	// Pattern says what was found: "daily around 02:00 UTC, 5 of the last
	// 7 days".
	Pattern string `json:"pattern"`
	// Status: open, known_error (a known error was recorded from it),
	// resolved.
	Status     string    `json:"status"`
	KnownError string    `json:"known_error,omitempty"`
	Incidents  []string  `json:"incidents"`
	Count      int       `json:"count"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	Revision   uint64    `json:"revision"`
}

// The problem change types; their Change carries the problem and the
// incident that triggered the change.
const (
	ChangeProblemOpened  ChangeType = "problem_opened"
	ChangeProblemUpdated ChangeType = "problem_updated"
)

// Errors of the problem API.
var ErrUnknownProblem = errors.New("problem not found")

const (
	maxProblemIncidents = 200
	maxProblems         = 10000
)

// problems is the engine's problem store.
type problems struct {
	mu      sync.RWMutex
	byID    map[string]*Problem
	byGroup map[uint64]*Problem // the group's problem while not resolved
	order   []string
}

// recurrence is a group's history of openings.
type recurrence struct {
	opens []opening
}

type opening struct {
	at time.Time
	id string
}

// recordOpening notes an incident's opening and raises or extends its
// group's problem when the opening makes a pattern.
func (s *shard) recordOpening(inc *incState, now time.Time) {
	p := inc.g.set.Problems
	if p.Disabled || inc.isParent {
		return
	}
	h := inc.g.hash
	r := s.recur[h]
	if r == nil {
		r = &recurrence{}
		s.recur[h] = r
	}
	cutoff := now.Add(-p.History())
	kept := r.opens[:0]
	for _, o := range r.opens {
		if o.at.After(cutoff) {
			kept = append(kept, o)
		}
	}
	r.opens = append(kept, opening{at: now, id: inc.id})
	s.markRecur(h)
	s.pruneRecurrence(now, p.History())

	e := s.e
	e.prob.mu.Lock()
	defer e.prob.mu.Unlock()
	if pr := e.prob.byGroup[h]; pr != nil && pr.Status != "resolved" {
		pr.Incidents = appendBounded(pr.Incidents, inc.id)
		pr.Count++
		if kind, pattern := detect(r.opens, p, now); kind != "" {
			pr.Kind, pr.Pattern = kind, pattern
		}
		pr.UpdatedAt = now
		pr.Revision++
		inc.problem = pr.ID
		s.putRecord(bucketProblems, pr.ID, problemRecord{Problem: *pr, Group: h})
		s.publishProblem(ChangeProblemUpdated, pr, inc, now)
		return
	}
	kind, pattern := detect(r.opens, p, now)
	if kind == "" {
		return
	}
	if len(e.prob.byID) >= maxProblems && !e.evictResolvedProblemLocked() {
		e.m.problemsDropped.Inc()
		return
	}
	pr := &Problem{
		ID:   "prb-" + fingerprintString(hashUint64(hashUint64(offset64, h), uint64(now.UnixNano()))),
		Rule: inc.rule.Name, GroupKey: inc.g.key, GroupLabels: inc.g.labels,
		Kind: kind, Pattern: pattern, Status: "open", CreatedAt: now, UpdatedAt: now, Revision: 1,
	}
	for _, o := range r.opens {
		pr.Incidents = appendBounded(pr.Incidents, o.id)
	}
	pr.Count = len(r.opens)
	e.prob.byID[pr.ID] = pr
	e.prob.byGroup[h] = pr
	e.prob.order = append(e.prob.order, pr.ID)
	inc.problem = pr.ID
	s.putRecord(bucketProblems, pr.ID, problemRecord{Problem: *pr, Group: h})
	e.m.problems.WithLabelValues(inc.rule.Name, kind).Inc()
	s.publishProblem(ChangeProblemOpened, pr, inc, now)
}

// pruneRecurrence forgets groups with no opening in the history window,
// at most once per history/8 of time.
func (s *shard) pruneRecurrence(now time.Time, history time.Duration) {
	if now.Sub(s.recurPruned) < history/8 {
		return
	}
	s.recurPruned = now
	for h, r := range s.recur {
		if n := len(r.opens); n == 0 || now.Sub(r.opens[n-1].at) > history {
			delete(s.recur, h)
			s.markRecur(h)
		}
	}
}

func appendBounded(ids []string, id string) []string {
	if len(ids) >= maxProblemIncidents {
		ids = append(ids[:0], ids[1:]...)
	}
	return append(ids, id)
}

// publishProblem sends a problem change with the incident that caused it.
// The caller holds the problem lock.
func (s *shard) publishProblem(t ChangeType, pr *Problem, inc *incState, now time.Time) {
	if s.e.pub == nil {
		return
	}
	cp := *pr
	cp.Incidents = append([]string(nil), pr.Incidents...)
	c := Change{Type: t, At: now, Incident: inc.snapshot(false), Problem: &cp}
	if !inc.forwarded {
		// Not out yet (group_wait, maintenance): sent after the incident.
		inc.pendingProblem = &c
		return
	}
	s.publish(c)
}

// detect looks for a pattern in a group's openings: the daily one first,
// then the count within a period.
func detect(opens []opening, p rules.Problems, now time.Time) (kind, pattern string) {
	if p.MinDays > 0 {
		if around, days := daily(opens, p, now); days >= p.MinDays {
			return "daily", fmt.Sprintf("daily around %s %s, %d of the last %d days", around, p.Loc, days, p.Days)
		}
	}
	n := 0
	for _, o := range opens {
		if now.Sub(o.at) <= p.Within {
			n++
		}
	}
	if p.Count > 0 && n >= p.Count {
		return "recurring", fmt.Sprintf("%d incidents in the last %s", n, p.Within)
	}
	return "", ""
}

// daily finds the time of day around which openings happened on the most
// distinct days of the last p.Days, within p.Tolerance of it.
func daily(opens []opening, p rules.Problems, now time.Time) (around string, days int) {
	type tod struct {
		min  int
		date string
	}
	var ts []tod
	for _, o := range opens {
		if now.Sub(o.at) > time.Duration(p.Days)*24*time.Hour {
			continue
		}
		l := o.at.In(p.Loc)
		ts = append(ts, tod{min: l.Hour()*60 + l.Minute(), date: l.Format("2006-01-02")})
	}
	tol := int(p.Tolerance / time.Minute)
	best, bestMin := 0, 0
	for _, c := range ts {
		seen := map[string]bool{}
		var mins []int
		for _, o := range ts {
			d := abs(o.min - c.min)
			if d > 720 {
				d = 1440 - d // around midnight
			}
			if d <= tol && !seen[o.date] {
				seen[o.date] = true
				mins = append(mins, o.min)
			}
		}
		if len(seen) > best {
			sort.Ints(mins)
			best, bestMin = len(seen), mins[len(mins)/2]
		}
	}
	return fmt.Sprintf("%02d:%02d", bestMin/60, bestMin%60), best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Problems lists the problems, oldest first.
func (e *Engine) Problems() []Problem {
	e.prob.mu.RLock()
	defer e.prob.mu.RUnlock()
	out := make([]Problem, 0, len(e.prob.order))
	for _, id := range e.prob.order {
		p := *e.prob.byID[id]
		p.Incidents = append([]string(nil), p.Incidents...)
		out = append(out, p)
	}
	return out
}

// Problem returns one problem.
func (e *Engine) Problem(id string) (Problem, bool) {
	e.prob.mu.RLock()
	defer e.prob.mu.RUnlock()
	p, ok := e.prob.byID[id]
	if !ok {
		return Problem{}, false
	}
	cp := *p
	cp.Incidents = append([]string(nil), p.Incidents...)
	return cp, true
}

// ResolveProblem marks a problem resolved (its root cause removed); the
// group's next recurrence raises a new one.
func (e *Engine) ResolveProblem(id string) (Problem, error) {
	e.prob.mu.Lock()
	p, ok := e.prob.byID[id]
	if !ok {
		e.prob.mu.Unlock()
		return Problem{}, ErrUnknownProblem
	}
	p.Status, p.UpdatedAt = "resolved", time.Now()
	p.Revision++
	e.persistProblemLocked(p)
	e.prob.mu.Unlock()
	out, _ := e.Problem(id)
	return out, nil
}

// KnownErrorFromProblem records a known error whose signature is the
// problem's rule and group, and marks the problem a known error.
func (e *Engine) KnownErrorFromProblem(id string, c rules.KnownErrorConfig) (KnownErrorInfo, error) {
	p, ok := e.Problem(id)
	if !ok {
		return KnownErrorInfo{}, ErrUnknownProblem
	}
	if c.ID == "" {
		c.ID = "KE-" + p.ID
	}
	if len(c.Match) == 0 {
		c.Match = []string{fmt.Sprintf("rule=%q", p.Rule)}
		for _, l := range p.GroupLabels {
			c.Match = append(c.Match, fmt.Sprintf("%s=%q", l.Name, l.Value))
		}
	}
	if c.Title == "" {
		c.Title = p.Pattern
	}
	k, err := e.AddKnownError(c)
	if err != nil {
		return KnownErrorInfo{}, err
	}
	e.prob.mu.Lock()
	if pp := e.prob.byID[id]; pp != nil {
		pp.Status, pp.KnownError, pp.UpdatedAt = "known_error", c.ID, time.Now()
		pp.Revision++
		e.persistProblemLocked(pp)
	}
	e.prob.mu.Unlock()
	return k, nil
}

// persistProblemLocked stores a problem with its group; the caller holds
// the problem lock.
func (e *Engine) persistProblemLocked(p *Problem) {
	var group uint64
	for h, gp := range e.prob.byGroup {
		if gp == p {
			group = h
		}
	}
	_ = e.persist(bucketProblems, p.ID, problemRecord{Problem: *p, Group: group})
}

// evictResolvedProblemLocked forgets the oldest resolved problem to make
// room; it reports whether there was one. The caller holds the lock.
func (e *Engine) evictResolvedProblemLocked() bool {
	for i, id := range e.prob.order {
		if p := e.prob.byID[id]; p.Status == "resolved" {
			delete(e.prob.byID, id)
			e.prob.order = append(e.prob.order[:i], e.prob.order[i+1:]...)
			for h, gp := range e.prob.byGroup {
				if gp == p {
					delete(e.prob.byGroup, h)
				}
			}
			e.unpersist(bucketProblems, id)
			return true
		}
	}
	return false
}
