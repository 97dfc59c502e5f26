package rules

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/corrd/corrd/ingest"
)

// KnownErrorConfig is a known error: a problem with a known root cause and
// a workaround, and the signature that recognises its incidents.
type KnownErrorConfig struct {
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title" json:"title"`
	// Match: matchers over the incident: its group and common labels, and
	// `rule`. All must hold.
	Match []string `yaml:"match,omitempty" json:"match,omitempty"`
	// SignalMatch: matchers over one signal's labels and annotations
	// (message, summary...); some signal of the incident must satisfy all.
	SignalMatch []string `yaml:"signal_match,omitempty" json:"signal_match,omitempty"`
	RootCause   string   `yaml:"root_cause,omitempty" json:"root_cause,omitempty"`
	Workaround  string   `yaml:"workaround" json:"workaround"`
	Link        string   `yaml:"link,omitempty" json:"link,omitempty"`
}

// KnownError is a compiled known error.
type KnownError struct {
	KnownErrorConfig
	matchers       []*labels.Matcher
	signalMatchers []*labels.Matcher
}

// CompileKnownError validates a known error; errors carry path.
func CompileKnownError(path string, c KnownErrorConfig) (*KnownError, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(path+": "+format, a...)) }
	k := &KnownError{KnownErrorConfig: c}
	if c.ID == "" {
		add("id is required")
	} else if !nameRE.MatchString(c.ID) {
		add("id may hold only letters, digits, '_', '.' and '-'")
	}
	if c.Title == "" {
		add("title is required")
	}
	if c.Workaround == "" {
		add("workaround is required: a known error is a root cause with a workaround")
	}
	if len(c.Match)+len(c.SignalMatch) == 0 {
		add("match or signal_match is required")
	}
	k.matchers = compileMatchers(path+": match", c.Match, &errs)
	k.signalMatchers = compileMatchers(path+": signal_match", c.SignalMatch, &errs)
	return k, errors.Join(errs...)
}

// MatchesIncident reports whether the incident-level matchers hold; rule
// is the incident's rule name.
func (k *KnownError) MatchesIncident(rule string, ls ingest.Labels) bool {
	for _, m := range k.matchers {
		v := ls.Get(m.Name)
		if m.Name == "rule" {
			v = rule
		}
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// NeedsSignal reports whether the known error has signal matchers.
func (k *KnownError) NeedsSignal() bool { return len(k.signalMatchers) > 0 }

// MatchesSignal reports whether one signal satisfies the signal matchers;
// a name is looked up in the labels, then the annotations.
func (k *KnownError) MatchesSignal(ls, annotations ingest.Labels) bool {
	for _, m := range k.signalMatchers {
		v := ls.Get(m.Name)
		if v == "" {
			v = annotations.Get(m.Name)
		}
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// ChangesConfig tunes change correlation.
type ChangesConfig struct {
	// SuspectWithin: an incident whose first signal came within this long
	// after a change started (or while it ran) may have been caused by it.
	// Default 2h.
	SuspectWithin Duration `yaml:"suspect_within,omitempty"`
}

// DefaultSuspectWithin is the default of ChangesConfig.SuspectWithin.
const DefaultSuspectWithin = 2 * time.Hour
