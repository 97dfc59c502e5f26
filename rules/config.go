// Package rules loads, validates and compiles corrd's YAML correlation rules
// into an immutable Set the correlator matches events against.
package rules

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// File is one rules file.
type File struct {
	// Rules are tried in order; an event belongs to the first rule whose
	// matchers it satisfies (absorb rules are tried before that, see Absorb).
	Rules []Rule `yaml:"rules"`
	// Default replaces the built-in default rule for events no rule
	// matches. At most one file of a set may define it.
	Default *Rule `yaml:"default,omitempty"`
	// Calendars are business-hours calendars by name.
	Calendars map[string]CalendarConfig `yaml:"calendars,omitempty"`
	// Services is the service catalogue; entries of all files are tried in
	// file order.
	Services []ServiceConfig `yaml:"services,omitempty"`
	// SLA replaces the default targets; at most one file may set it.
	SLA *SLAConfig `yaml:"sla,omitempty"`
	// Major tunes major incidents; at most one file may set it.
	Major *MajorConfig `yaml:"major,omitempty"`
	// Maintenance lists maintenance windows: incidents in scope are
	// recorded but not forwarded, and their SLA clocks pause.
	Maintenance []MaintenanceConfig `yaml:"maintenance,omitempty"`
	// KnownErrors are known errors with their signatures and workarounds.
	KnownErrors []KnownErrorConfig `yaml:"known_errors,omitempty"`
	// Changes tunes change correlation; at most one file may set it.
	Changes *ChangesConfig `yaml:"changes,omitempty"`
	// Problems tunes recurrence detection; at most one file may set it.
	Problems *ProblemsConfig `yaml:"problems,omitempty"`
}

// Rule is one correlation rule as written in YAML.
type Rule struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Match lists Alertmanager-style matchers (`name="v"`, `name=~"re"`,
	// `name!="v"`, `name!~"re"`); all must hold. A rule with a rollup
	// has no matchers.
	Match []string `yaml:"match,omitempty"`
	// GroupBy lists the labels whose values make one incident. Empty means
	// one incident for all matching events; ["..."] means one incident per
	// distinct label set (per fingerprint).
	GroupBy []string `yaml:"group_by,omitempty"`
	// Window: signals whose event times lie within Window of each other
	// count together towards the threshold. Default 1m.
	Window Duration `yaml:"window,omitempty"`
	// MaxLateness: how long after a window's last signal arrived the window
	// still takes signals that arrive late (out of event-time order).
	// Default 30s.
	MaxLateness Duration `yaml:"max_lateness,omitempty"`
	// Threshold: the incident opens once this many signals (or distinct
	// label values) fall within one window. Default: one signal.
	Threshold *Threshold `yaml:"threshold,omitempty"`
	// GroupWait delays the "opened" change after the incident opens, so
	// that a burst is reported in one change. Default 0.
	GroupWait Duration `yaml:"group_wait,omitempty"`
	// UpdateInterval: new signals in an open incident are reported in at
	// most one "updated" change per interval. Default 5m.
	UpdateInterval Duration `yaml:"update_interval,omitempty"`
	// ResolveAfter resolves an incident when none of its signals has been
	// seen for this long; for signals that never send a resolve (syslog,
	// traps). 0 (default) waits for resolves.
	ResolveAfter Duration `yaml:"resolve_after,omitempty"`
	// MaxLifetime: after this long an open incident takes no new signals;
	// they open a new incident. Default 24h.
	MaxLifetime Duration `yaml:"max_lifetime,omitempty"`
	// CloseAfter: a resolved incident is closed (and forgotten) after this
	// long: the verification period of the seed process. Default 48h.
	CloseAfter Duration `yaml:"close_after,omitempty"`
	// ReopenWithin: a new signal for an incident of the group resolved at
	// most this long ago reopens it (same id, same ticket); later ones open
	// a new incident linked to it. Default 30m; at most close_after.
	ReopenWithin *Duration `yaml:"reopen_within,omitempty"`
	// Flapping holds an incident that keeps reopening open until stable.
	Flapping *Flapping `yaml:"flapping,omitempty"`
	// Change makes the rule's signals change records (deployment markers)
	// instead of incidents.
	Change *ChangeMarker `yaml:"change,omitempty"`
	// Rollup makes this a parent rule over another rule's incidents.
	Rollup *Rollup `yaml:"rollup,omitempty"`
	// Absorb attaches other signals to this rule's open incidents.
	Absorb []Absorb `yaml:"absorb,omitempty"`
	// Breadth names labels whose distinct values are counted over the
	// incident's signals (and children): number of stores, devices.
	Breadth []string `yaml:"breadth,omitempty"`
	// Title and Description are Go text/templates over the incident.
	Title           string `yaml:"title,omitempty"`
	DescriptionTmpl string `yaml:"description_template,omitempty"`
	Category        string `yaml:"category,omitempty"`
	AssignmentGroup string `yaml:"assignment_group,omitempty"`
	// Impact is fixed, or ImpactFrom derives it from breadth.
	Impact     string      `yaml:"impact,omitempty"`
	ImpactFrom *ImpactFrom `yaml:"impact_from,omitempty"`
	Urgency    string      `yaml:"urgency,omitempty"`
	// MaxSignals bounds the signals listed on the incident. Default 100.
	MaxSignals int `yaml:"max_signals,omitempty"`
}

// ChangeMarker turns a signal into a change record: a firing signal starts
// the change at its event time, a resolved one ends it.
type ChangeMarker struct {
	// Scope lists the labels copied into the change's scope when present.
	Scope []string `yaml:"scope"`
	// IDLabel names the label holding the change id; default: the
	// signal's fingerprint.
	IDLabel string `yaml:"id_label,omitempty"`
	// TitleAnnotation names the annotation (or label) holding the title;
	// default summary, then alertname.
	TitleAnnotation string `yaml:"title_annotation,omitempty"`
	// LinkAnnotation names the annotation holding a link.
	LinkAnnotation string `yaml:"link_annotation,omitempty"`
}

// Flapping: an incident reopened Count times within Within is marked
// flapping; it then resolves only after StableFor without a firing signal.
type Flapping struct {
	Count     int      `yaml:"count"`
	Within    Duration `yaml:"within"`
	StableFor Duration `yaml:"stable_for"`
	// Disabled turns detection off for the rule.
	Disabled bool `yaml:"disabled,omitempty"`
}

// Threshold is the opening condition of an incident.
type Threshold struct {
	// Count signals (distinct fingerprints) within one window.
	Count int `yaml:"count,omitempty"`
	// Distinct values of Label within one window, at least Count of them.
	Distinct *Distinct `yaml:"distinct,omitempty"`
}

// Distinct counts distinct values of one label.
type Distinct struct {
	Label string `yaml:"label"`
	Count int    `yaml:"count"`
}

// Rollup opens a parent incident over child incidents of another rule.
type Rollup struct {
	// Rule is the child rule.
	Rule string `yaml:"rule"`
	// GroupBy: labels every child shares with the parent (from the child's
	// common labels); one parent per value.
	GroupBy []string `yaml:"group_by"`
	// MinChildren child incidents opened within Within open the parent.
	MinChildren int      `yaml:"min_children"`
	Within      Duration `yaml:"within"`
}

// Absorb attaches matching signals to an open incident of the rule that
// declares it, instead of letting them open incidents of their own.
type Absorb struct {
	Match []string `yaml:"match"`
	// On maps a label of the incoming signal to a group label of this rule:
	// {uplink_switch: switch}. A list form [switch] means the same name on
	// both sides.
	On LabelMap `yaml:"on"`
}

// ImpactFrom derives impact from the count of distinct values of a breadth
// label.
type ImpactFrom struct {
	Label string `yaml:"label"`
	// Levels in increasing Min; the last whose Min is reached applies.
	Levels []ImpactLevel `yaml:"levels"`
}

// ImpactLevel is one step of ImpactFrom.
type ImpactLevel struct {
	Min    int    `yaml:"min"`
	Impact string `yaml:"impact"`
}

// LabelMap maps signal label names to group label names. YAML may give a
// list (identity) or a map.
type LabelMap map[string]string

// UnmarshalYAML accepts a sequence of names or a mapping.
func (m *LabelMap) UnmarshalYAML(n *yaml.Node) error {
	out := LabelMap{}
	switch n.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, s := range names {
			out[s] = s
		}
	case yaml.MappingNode:
		var mm map[string]string
		if err := n.Decode(&mm); err != nil {
			return err
		}
		for k, v := range mm {
			out[k] = v
		}
	default:
		return fmt.Errorf("line %d: want a list of label names or a map of signal label to group label", n.Line)
	}
	*m = out
	return nil
}

// Duration is a time.Duration that reads Prometheus-style strings ("30s",
// "5m", "1h30m", "2d").
type Duration time.Duration

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML renders the duration.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseDuration reads Go durations and adds the units d (day) and w (week).
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	// Peel off leading w and d components, then hand the rest to Go.
	for _, u := range []struct {
		suffix byte
		unit   time.Duration
	}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}} {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i > 0 && i < len(rest) && rest[i] == u.suffix {
			var n int64
			for _, c := range rest[:i] {
				n = n*10 + int64(c-'0')
			}
			total += time.Duration(n) * u.unit
			rest = rest[i+1:]
		}
	}
	if rest != "" {
		v, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += v
	}
	if total < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return total, nil
}
