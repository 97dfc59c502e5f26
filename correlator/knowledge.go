package correlator

import (
	"errors"

	"fmt"
	"github.com/corrd/corrd/ingest"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/corrd/corrd/rules"
)

// KnownErrorMatch is a known error attached to an incident.
type KnownErrorMatch struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	RootCause  string `json:"root_cause,omitempty"`
	Workaround string `json:"workaround"`
	Link       string `json:"link,omitempty"`
}

// KnownErrorInfo is a known error as the API lists it.
type KnownErrorInfo struct {
	rules.KnownErrorConfig
	// Origin is "config" (rules files; change them there) or "api".
	Origin string `json:"origin"`
}

// ChangeRecord is a change (deployment, upgrade, maintenance work) that
// may cause incidents in its scope.
type ChangeRecord struct {
	ID    string    `json:"id"`
	Title string    `json:"title"`
	Start time.Time `json:"start"`
	// End is when the change finished; zero while it runs or for a
	// point-in-time change.
	End time.Time `json:"end,omitzero"`
	// Scope names what the change touched as labels: chain, store,
	// firmware, host, service...
	Scope map[string]string `json:"scope"`
	Link  string            `json:"link,omitempty"`
}

// Suspect is a change that may have caused an incident, ranked.
type Suspect struct {
	ChangeID string    `json:"change_id"`
	Title    string    `json:"title"`
	Link     string    `json:"link,omitempty"`
	Start    time.Time `json:"start"`
	// Matched lists the scope labels the incident shares with the change;
	// Overlap is their share of the change's scope (0..1).
	Matched []string `json:"matched"`
	Overlap float64  `json:"overlap"`
	// After is the time from the change's start to the incident's first
	// signal.
	After string `json:"after"`
	Rank  int    `json:"rank"`
}

// Errors of the knowledge API.
var (
	ErrInvalid      = errors.New("invalid input")
	ErrUnknownKE    = errors.New("known error not found")
	ErrConfiguredKE = errors.New("known error is defined in a rules file; change it there")
	ErrDuplicateKE  = errors.New("known error id already exists")
)

// apiKnownError is the known_error label value of the hits of every known
// error added through the API.
const apiKnownError = "api"

const (
	maxChanges     = 10000
	keepChanges    = 30 * 24 * time.Hour
	maxSuspects    = 5
	maxKnownErrors = 10000
)

var labelNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// knowledge holds what the API adds: known errors and change records.
type knowledge struct {
	mu      sync.RWMutex
	kes     []*rules.KnownError
	changes []ChangeRecord
}

// AddKnownError compiles and adds a known error; open incidents are
// matched against it.
func (e *Engine) AddKnownError(c rules.KnownErrorConfig) (KnownErrorInfo, error) {
	k, err := rules.CompileKnownError("known error", c)
	if err != nil {
		return KnownErrorInfo{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for _, ck := range e.Rules().KnownErrors {
		if ck.ID == c.ID {
			return KnownErrorInfo{}, ErrDuplicateKE
		}
	}
	e.know.mu.Lock()
	for _, ak := range e.know.kes {
		if ak.ID == c.ID {
			e.know.mu.Unlock()
			return KnownErrorInfo{}, ErrDuplicateKE
		}
	}
	if len(e.know.kes) >= maxKnownErrors {
		e.know.mu.Unlock()
		return KnownErrorInfo{}, fmt.Errorf("%w: at most %d known errors through the API", ErrInvalid, maxKnownErrors)
	}
	if err := e.persist(bucketKnownErrors, c.ID, c); err != nil {
		e.know.mu.Unlock()
		return KnownErrorInfo{}, err
	}
	e.know.kes = append(e.know.kes, k)
	e.know.mu.Unlock()
	e.knowledgeChanged()
	return KnownErrorInfo{KnownErrorConfig: c, Origin: "api"}, nil
}

// DeleteKnownError removes a known error added through the API.
func (e *Engine) DeleteKnownError(id string) error {
	for _, ck := range e.Rules().KnownErrors {
		if ck.ID == id {
			return ErrConfiguredKE
		}
	}
	e.know.mu.Lock()
	defer e.know.mu.Unlock()
	for i, k := range e.know.kes {
		if k.ID == id {
			e.know.kes = append(e.know.kes[:i], e.know.kes[i+1:]...)
			e.unpersist(bucketKnownErrors, id)
			return nil
		}
	}
	return ErrUnknownKE
}

// KnownErrors lists the known errors of the rules files and the API.
func (e *Engine) KnownErrors() []KnownErrorInfo {
	var out []KnownErrorInfo
	for _, k := range e.Rules().KnownErrors {
		out = append(out, KnownErrorInfo{KnownErrorConfig: k.KnownErrorConfig, Origin: "config"})
	}
	e.know.mu.RLock()
	for _, k := range e.know.kes {
		out = append(out, KnownErrorInfo{KnownErrorConfig: k.KnownErrorConfig, Origin: "api"})
	}
	e.know.mu.RUnlock()
	return out
}

// AddChanges records change records (a record with a known id replaces
// it) and re-ranks the suspects of open incidents.
func (e *Engine) AddChanges(recs []ChangeRecord) error {
	return e.addChanges(recs, e.persist)
}

// addChanges is AddChanges writing the records with put.
func (e *Engine) addChanges(recs []ChangeRecord, put func(bucket, key string, v any) error) error {
	var errs []error
	for i, c := range recs {
		p := fmt.Sprintf("changes[%d]", i)
		if c.ID == "" {
			errs = append(errs, fmt.Errorf("%s: id is required", p))
		}
		if c.Start.IsZero() {
			errs = append(errs, fmt.Errorf("%s: start is required", p))
		}
		if !c.End.IsZero() && c.End.Before(c.Start) {
			errs = append(errs, fmt.Errorf("%s: end is before start", p))
		}
		if len(c.Scope) == 0 {
			errs = append(errs, fmt.Errorf("%s: scope needs at least one label", p))
		}
		for k, v := range c.Scope {
			if !labelNameRE.MatchString(k) || v == "" {
				errs = append(errs, fmt.Errorf("%s: scope: %q=%q is not a label name with a value", p, k, v))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	for _, c := range recs {
		if err := put(bucketChanges, c.ID, c); err != nil {
			return err
		}
	}
	now := time.Now()
	e.know.mu.Lock()
	for _, c := range recs {
		replaced := false
		for i := range e.know.changes {
			if e.know.changes[i].ID == c.ID {
				e.know.changes[i], replaced = c, true
			}
		}
		if !replaced {
			e.know.changes = append(e.know.changes, c)
		}
	}
	kept := e.know.changes[:0]
	for _, c := range e.know.changes {
		if now.Sub(c.Start) < keepChanges {
			kept = append(kept, c)
		} else {
			e.unpersist(bucketChanges, c.ID)
		}
	}
	if len(kept) > maxChanges {
		for _, c := range kept[:len(kept)-maxChanges] {
			e.unpersist(bucketChanges, c.ID)
		}
		kept = kept[len(kept)-maxChanges:]
	}
	e.know.changes = kept
	e.know.mu.Unlock()
	e.knowledgeChanged()
	return nil
}

// Changes lists the change records kept (30 days, at most 10000).
func (e *Engine) Changes() []ChangeRecord {
	e.know.mu.RLock()
	defer e.know.mu.RUnlock()
	return append([]ChangeRecord(nil), e.know.changes...)
}

func (e *Engine) knowledgeChanged() {
	for _, s := range e.shards {
		s.post(note{kind: noteKnowledge})
	}
}

// evalKnownErrors attaches the known errors that match inc and reports
// whether any was new. It runs when the incident opens, when new signals
// join it and when known errors change.
func (s *shard) evalKnownErrors(inc *incState) bool {
	changed := false
	// The hit counter's label is the known error's id for those of the
	// rules files, and apiKnownError for those added through the API: a
	// label value comes only from the configuration.
	attach := func(k *rules.KnownError, label string) {
		for _, m := range inc.knownErrors {
			if m.ID == k.ID {
				return
			}
		}
		if !k.MatchesIncident(inc.rule.Name, inc.common) {
			return
		}
		if k.NeedsSignal() {
			hit := false
			for _, sig := range inc.order {
				if k.MatchesSignal(sig.labels, sig.annotations) {
					hit = true
					break
				}
			}
			if !hit {
				return
			}
		}
		inc.knownErrors = append(inc.knownErrors, KnownErrorMatch{ID: k.ID, Title: k.Title, RootCause: k.RootCause, Workaround: k.Workaround, Link: k.Link})
		if label == "" {
			label = k.ID
		}
		s.e.m.knownErrorHits.WithLabelValues(label).Inc()
		changed = true
	}
	for _, k := range s.e.Rules().KnownErrors {
		attach(k, "")
	}
	s.e.know.mu.RLock()
	for _, k := range s.e.know.kes {
		attach(k, apiKnownError)
	}
	s.e.know.mu.RUnlock()
	return changed
}

// evalSuspects re-ranks the change suspects of inc; it runs when the
// incident opens and when change records arrive.
func (s *shard) evalSuspects(inc *incState) bool {
	s.e.know.mu.RLock()
	sus := suspectsFor(inc, s.e.know.changes, inc.g.set.SuspectWithin)
	s.e.know.mu.RUnlock()
	if sameSuspects(sus, inc.suspects) {
		return false
	}
	inc.suspects = sus
	return true
}

// suspectsFor ranks the changes that may have caused inc: every scope label
// the incident also has must have the same value, at least one must, and
// the incident's first signal must come after the change started and no
// later than suspectWithin after it ended. Ranked by scope overlap, then
// by the time from change to incident (sooner first), then by id.
func suspectsFor(inc *incState, changes []ChangeRecord, within time.Duration) []Suspect {
	first := inc.firstSeen
	if first.IsZero() {
		first = inc.openedAt
	}
	var out []Suspect
	for _, c := range changes {
		end := c.End
		if end.Before(c.Start) {
			end = c.Start
		}
		if first.Before(c.Start) || first.After(end.Add(within)) {
			continue
		}
		var matched []string
		conflict := false
		for k, v := range c.Scope {
			switch iv := inc.common.Get(k); {
			case iv == v:
				matched = append(matched, k)
			case iv != "":
				conflict = true
			}
		}
		if conflict || len(matched) == 0 {
			continue
		}
		sort.Strings(matched)
		out = append(out, Suspect{ChangeID: c.ID, Title: c.Title, Link: c.Link, Start: c.Start,
			Matched: matched, Overlap: float64(len(matched)) / float64(len(c.Scope)), After: first.Sub(c.Start).String()})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Overlap != b.Overlap {
			return a.Overlap > b.Overlap
		}
		if !a.Start.Equal(b.Start) {
			return a.Start.After(b.Start) // the more recent change is closer to the incident
		}
		return a.ChangeID < b.ChangeID
	})
	if len(out) > maxSuspects {
		out = out[:maxSuspects]
	}
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

func sameSuspects(a, b []Suspect) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ChangeID != b[i].ChangeID || a[i].Overlap != b[i].Overlap {
			return false
		}
	}
	return true
}

// knowledgeText is what known errors and suspects add to a description.
func (inc *incState) knowledgeText() string {
	var b []byte
	for _, k := range inc.knownErrors {
		b = fmt.Appendf(b, "\n\nKnown error %s: %s.", k.ID, k.Title)
		if k.RootCause != "" {
			b = fmt.Appendf(b, "\nRoot cause: %s", k.RootCause)
		}
		b = fmt.Appendf(b, "\nWorkaround: %s", k.Workaround)
		if k.Link != "" {
			b = fmt.Appendf(b, "\nSee %s", k.Link)
		}
	}
	if len(inc.suspects) > 0 {
		c := inc.suspects[0]
		b = fmt.Appendf(b, "\n\nSuspected change %s: %s (started %s before the first signal; scope %v).", c.ChangeID, c.Title, c.After, c.Matched)
	}
	return string(b)
}

// changeFromSignal records or ends the change a marker signal announces.
func (e *Engine) changeFromSignal(s *shard, r *rules.Compiled, ev *ingest.Event) {
	m := r.Change
	get := func(name string) string {
		if v := ev.Annotations.Get(name); v != "" {
			return v
		}
		return ev.Labels.Get(name)
	}
	id := fingerprintString(ev.Fingerprint)
	if m.IDLabel != "" {
		if v := get(m.IDLabel); v != "" {
			id = v
		}
	}
	title := ""
	if m.TitleAnnotation != "" {
		title = get(m.TitleAnnotation)
	}
	if title == "" {
		title = get("summary")
	}
	if title == "" {
		title = ev.Labels.Get("alertname")
	}
	rec := ChangeRecord{ID: id, Title: title, Start: ev.EventTime, Scope: map[string]string{}}
	if m.LinkAnnotation != "" {
		rec.Link = get(m.LinkAnnotation)
	}
	for _, l := range m.Scope {
		if v := ev.Labels.Get(l); v != "" {
			rec.Scope[l] = v
		}
	}
	if ev.Status == ingest.StatusResolved {
		e.know.mu.RLock()
		for _, c := range e.know.changes {
			if c.ID == id {
				rec.Start, rec.End = c.Start, ev.EventTime
			}
		}
		e.know.mu.RUnlock()
		if rec.End.IsZero() {
			return // the end of a change never seen starting
		}
	}
	if len(rec.Scope) == 0 {
		e.m.orphans.WithLabelValues(r.Name).Inc()
		return
	}
	// The record is written with the shard's step (durable engine): in
	// the same commit as the event, without a write of its own.
	put := e.persist
	if e.dur.on {
		put = func(bucket, key string, v any) error {
			s.putRecord(bucket, key, v)
			return nil
		}
	}
	if err := e.addChanges([]ChangeRecord{rec}, put); err != nil {
		e.log.Warn().Err(err).Str("rule", r.Name).Msg("change marker signal not recorded")
		return
	}
	e.m.changeMarkers.WithLabelValues(r.Name).Inc()
}
