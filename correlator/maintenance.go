package correlator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/corrd/corrd/rules"
)

// Silence is an ad hoc maintenance window created through the API.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment,omitempty"`
	// Status is pending, active or expired, as of the read.
	Status string `json:"status"`
}

// Errors of the silence API.
var (
	ErrUnknownSilence = errors.New("silence not found")
	ErrInvalidSilence = errors.New("invalid silence")
	// ErrTooManySilences: max_silences silences are active or pending.
	ErrTooManySilences = errors.New("too many silences")
)

// silences is the engine's set of silences. Expired ones are kept for a day
// for reading.
type silences struct {
	// addMu serialises additions, so that the limit holds while a new
	// silence is written to the store without holding mu.
	addMu sync.Mutex
	mu    sync.RWMutex
	list  []*silenceEntry
}

// unexpired counts the silences active or pending at now.
func (ss *silences) unexpired(now time.Time) int {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	n := 0
	for _, se := range ss.list {
		if se.s.EndsAt.After(now) {
			n++
		}
	}
	return n
}

type silenceEntry struct {
	s Silence
	w *rules.Window
}

const keepExpiredSilences = 24 * time.Hour

// AddSilence validates and adds a silence and re-evaluates every open
// incident against it. With max_silences silences active or pending it
// fails with ErrTooManySilences.
func (e *Engine) AddSilence(s Silence) (Silence, error) {
	now := time.Now()
	var errs []error
	var ms []*labels.Matcher
	if len(s.Matchers) == 0 {
		errs = append(errs, errors.New("matchers: at least one is required"))
	}
	for i, m := range s.Matchers {
		pm, err := labels.ParseMatcher(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("matchers[%d]: %q: %w", i, m, err))
			continue
		}
		ms = append(ms, pm)
	}
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	switch {
	case s.EndsAt.IsZero():
		errs = append(errs, errors.New("ends_at is required"))
	case !s.EndsAt.After(s.StartsAt):
		errs = append(errs, errors.New("ends_at must be after starts_at"))
	case !s.EndsAt.After(now):
		errs = append(errs, errors.New("ends_at is in the past"))
	}
	if s.CreatedBy == "" {
		errs = append(errs, errors.New("created_by is required"))
	}
	if len(errs) > 0 {
		return Silence{}, fmt.Errorf("%w: %w", ErrInvalidSilence, errors.Join(errs...))
	}
	e.sil.addMu.Lock()
	defer e.sil.addMu.Unlock()
	if n := e.sil.unexpired(now); n >= e.opts.MaxSilences {
		e.m.silencesRefused.Inc()
		return Silence{}, fmt.Errorf("%w: %d silences are active or pending (max_silences %d); expire one first", ErrTooManySilences, n, e.opts.MaxSilences)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.ID = "sil-" + hex.EncodeToString(id[:])
	if err := e.persist(bucketSilences, s.ID, s); err != nil {
		return Silence{}, err
	}
	e.sil.mu.Lock()
	e.sil.list = append(e.sil.list, &silenceEntry{s: s, w: rules.NewFixedWindow("silence "+s.ID, ms, s.StartsAt, s.EndsAt)})
	e.sil.mu.Unlock()
	e.maintenanceChanged()
	return e.silenceView(s, now), nil
}

// ExpireSilence ends a silence now.
func (e *Engine) ExpireSilence(id string) (Silence, error) {
	now := time.Now()
	e.sil.mu.Lock()
	var found *silenceEntry
	for _, se := range e.sil.list {
		if se.s.ID == id {
			found = se
		}
	}
	if found == nil {
		e.sil.mu.Unlock()
		return Silence{}, ErrUnknownSilence
	}
	if found.s.EndsAt.After(now) {
		found.s.EndsAt = now
		if found.s.StartsAt.After(now) {
			found.s.StartsAt = now
		}
		found.w = rules.NewFixedWindow("silence "+id, found.w.Matchers, found.s.StartsAt, now)
	}
	s := found.s
	e.sil.mu.Unlock()
	// Expiring is best effort on the store: a silence stored with its old
	// end expires there by itself.
	_ = e.persist(bucketSilences, s.ID, s)
	e.maintenanceChanged()
	return e.silenceView(s, now), nil
}

// Silences lists the silences, newest first; expired ones for a day.
func (e *Engine) Silences() []Silence {
	now := time.Now()
	e.sil.mu.Lock()
	kept := e.sil.list[:0]
	for _, se := range e.sil.list {
		if now.Sub(se.s.EndsAt) < keepExpiredSilences {
			kept = append(kept, se)
		} else {
			e.unpersist(bucketSilences, se.s.ID)
		}
	}
	e.sil.list = kept
	out := make([]Silence, 0, len(kept))
	for _, se := range kept {
		out = append(out, e.silenceView(se.s, now))
	}
	e.sil.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].StartsAt.After(out[j].StartsAt) })
	return out
}

func (e *Engine) silenceView(s Silence, now time.Time) Silence {
	switch {
	case now.Before(s.StartsAt):
		s.Status = "pending"
	case now.Before(s.EndsAt):
		s.Status = "active"
	default:
		s.Status = "expired"
	}
	return s
}

// maintenanceChanged makes every shard re-evaluate its open incidents.
func (e *Engine) maintenanceChanged() {
	for _, s := range e.shards {
		s.post(note{kind: noteMaintenance})
	}
}

// maintenanceOf tells whether an incident is in a maintenance window or
// silence now, which one, and when that may next change.
func (e *Engine) maintenanceOf(inc *incState, now time.Time) (active bool, by string, next time.Time) {
	consider := func(w *rules.Window) {
		if !w.Matches(inc.common) {
			return
		}
		on, n := w.Active(now)
		if on && !active {
			active, by = true, w.Name
		}
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	// The current rule set's windows: a window added by a reload covers
	// incidents already open.
	for _, w := range e.Rules().Maintenance {
		consider(w)
	}
	e.sil.mu.RLock()
	for _, se := range e.sil.list {
		consider(se.w)
	}
	e.sil.mu.RUnlock()
	return active, by, next
}

// maintFields are the stored fields evalMaintenance may change.
type maintFields struct {
	maint, withheld, dirty          bool
	by                              string
	checkAt, pauseStart, nextStatus time.Time
}

func (inc *incState) maintFields() maintFields {
	return maintFields{maint: inc.maint, withheld: inc.withheld, dirty: inc.dirty, by: inc.maintBy,
		checkAt: inc.maintCheckAt, pauseStart: inc.pauseStart, nextStatus: inc.nextStatus}
}

// reevalMaintenance is evalMaintenance after the silences or windows
// changed; it reports whether the incident's state changed, so that only
// the groups a change touches are written to the store.
func (s *shard) reevalMaintenance(inc *incState, now time.Time) bool {
	if inc.status != StatusOpen {
		return false
	}
	before := inc.maintFields()
	s.evalMaintenance(inc, now)
	return inc.maintFields() != before
}

// evalMaintenance moves an open incident into or out of maintenance. In
// maintenance its changes are recorded but not forwarded and its clocks
// pause; when maintenance ends with the incident still open, what was
// withheld is forwarded as one change.
func (s *shard) evalMaintenance(inc *incState, now time.Time) {
	if inc.status != StatusOpen {
		return
	}
	active, by, next := s.e.maintenanceOf(inc, now)
	// One pending boundary hint per incident.
	if !inc.maintCheckAt.IsZero() && !now.Before(inc.maintCheckAt) {
		inc.maintCheckAt = time.Time{}
	}
	if !next.IsZero() && (inc.maintCheckAt.IsZero() || next.Before(inc.maintCheckAt)) {
		inc.maintCheckAt = next
		s.schedule(next, nil, inc)
	}
	switch {
	case active && !inc.maint:
		if !inc.clocksPaused() {
			inc.pauseStart = now
		}
		inc.maint, inc.maintBy = true, by
	case active:
		inc.maintBy = by
	case inc.maint:
		inc.maint, inc.maintBy = false, ""
		if !inc.clocksPaused() {
			s.resumeClocks(inc, now)
		}
		if inc.withheld && inc.announced {
			inc.withheld = false
			inc.dirty, inc.updateDue = false, time.Time{}
			t := ChangeUpdated
			switch {
			case !inc.forwarded:
				t = ChangeOpened
			case inc.lastForwarded == ChangeResolved:
				t = ChangeReopened // the sinks last saw it resolved
			}
			s.emitDetail(inc, t, now, 0, "maintenance ended")
		}
	}
}

// resumeClocks adds the paused business time to the SLA clocks and shifts
// the escalation and status-update deadlines by the pause.
func (s *shard) resumeClocks(inc *incState, now time.Time) {
	pausedBusiness := inc.cal.Elapsed(inc.pauseStart, now)
	inc.paused += pausedBusiness
	if !inc.levelDue.IsZero() && inc.levelDue.After(inc.pauseStart) {
		left := inc.cal.Elapsed(inc.pauseStart, inc.levelDue)
		if t, ok := inc.cal.Add(now, left); ok {
			inc.levelDue = t
		}
	}
	if !inc.nextStatus.IsZero() && inc.nextStatus.After(inc.pauseStart) {
		inc.nextStatus = now.Add(inc.nextStatus.Sub(inc.pauseStart))
	}
	inc.pauseStart = time.Time{}
	s.armClocks(inc, inc.g.set)
}
