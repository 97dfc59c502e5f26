package rules

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/corrd/corrd/ingest"
)

// ServiceConfig is one entry of the service catalogue.
type ServiceConfig struct {
	Name string `yaml:"name"`
	// Match selects the signals of the service (Alertmanager matchers; all
	// must hold). An incident belongs to the first service matching its
	// group and common labels.
	Match           []string `yaml:"match"`
	Category        string   `yaml:"category,omitempty"`
	AssignmentGroup string   `yaml:"assignment_group,omitempty"`
	// Criticality is the impact of the service's incidents unless the rule
	// sets one (an impact of the priority matrix).
	Criticality string `yaml:"criticality,omitempty"`
	// Calendar names the business hours SLA clocks count in; default
	// around the clock.
	Calendar string `yaml:"calendar,omitempty"`
	// Escalation is the functional escalation ladder: 1st line, 2nd line,
	// 3rd line. Each level has Within to acknowledge or resolve before the
	// incident moves to the next one; the last level has no budget.
	Escalation []EscalationLevel `yaml:"escalation,omitempty"`
}

// EscalationLevel is one step of a service's ladder.
type EscalationLevel struct {
	Group  string   `yaml:"group"`
	Within Duration `yaml:"within,omitempty"`
}

// SLAConfig sets the response and resolution targets per priority.
type SLAConfig struct {
	// WarningAt is the fraction of a target at which a warning change is
	// emitted. Default 0.75.
	WarningAt *float64 `yaml:"warning_at,omitempty"`
	// Targets per priority 1..4.
	Targets map[int]SLATarget `yaml:"targets,omitempty"`
	// PauseWhileWaiting pauses the clocks while an incident waits on a
	// vendor or the user (POST /api/v1/incidents/{id}/wait). Default false:
	// waiting is recorded and the clocks run on.
	PauseWhileWaiting bool `yaml:"pause_while_waiting,omitempty"`
}

// SLATarget is one priority's targets, in the service's business time.
type SLATarget struct {
	Response   Duration `yaml:"response"`
	Resolution Duration `yaml:"resolution"`
}

// MajorConfig tunes major incidents: priority 1 incidents and SLA breaches.
type MajorConfig struct {
	// StatusEvery is the cadence of status_update changes while a major
	// incident is open. Default 30m; 0 turns them off only if Disabled.
	StatusEvery Duration `yaml:"status_every,omitempty"`
	// Priority: incidents at this priority or more urgent are major.
	// Default 1.
	Priority int `yaml:"priority,omitempty"`
}

// DefaultSLA is the seed service desk's resolution targets (40h, 16h, 8h,
// 4h for low to critical) with response targets of a quarter hour to a
// working day.
func DefaultSLA() SLAConfig {
	return SLAConfig{
		WarningAt: ptr(0.75),
		Targets: map[int]SLATarget{
			1: {Response: Duration(15 * time.Minute), Resolution: Duration(4 * time.Hour)},
			2: {Response: Duration(time.Hour), Resolution: Duration(8 * time.Hour)},
			3: {Response: Duration(4 * time.Hour), Resolution: Duration(16 * time.Hour)},
			4: {Response: Duration(8 * time.Hour), Resolution: Duration(40 * time.Hour)},
		},
	}
}

// Service is a compiled catalogue entry.
type Service struct {
	Name            string
	Matchers        []*labels.Matcher
	Category        string
	AssignmentGroup string
	Criticality     string
	Calendar        *Calendar
	Escalation      []Level
}

// Level is a compiled escalation level.
type Level struct {
	Group  string
	Within time.Duration
}

// Matches reports whether the labels belong to the service.
func (s *Service) Matches(ls ingest.Labels) bool { return MatchAll(s.Matchers, ls) }

// ServiceFor returns the first service matching ls, or nil.
func (s *Set) ServiceFor(ls ingest.Labels) *Service {
	for _, svc := range s.Services {
		if svc.Matches(ls) {
			return svc
		}
	}
	return nil
}

// Service returns the named service of the catalogue, or nil.
func (s *Set) Service(name string) *Service {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc
		}
	}
	return nil
}

// Target returns the SLA targets of a priority.
func (s *Set) Target(priority int) (response, resolution time.Duration) {
	t := s.SLA.Targets[priority]
	return time.Duration(t.Response), time.Duration(t.Resolution)
}

// compileService validates one catalogue entry.
func compileService(path string, c *ServiceConfig, m *Matrix, cals map[string]*Calendar) (*Service, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(path+": "+format, a...)) }
	s := &Service{Name: c.Name, Category: c.Category, AssignmentGroup: c.AssignmentGroup, Criticality: c.Criticality, Calendar: AlwaysOpen}
	if c.Name == "" {
		add("name is required")
	} else if !nameRE.MatchString(c.Name) {
		add("name may hold only letters, digits, '_', '.' and '-'")
	}
	if len(c.Match) == 0 {
		add("match: at least one matcher is required")
	}
	s.Matchers = compileMatchers(path+": match", c.Match, &errs)
	if c.Criticality != "" && m.impactIndex(c.Criticality) < 0 {
		add("criticality: %q is not an impact of the priority matrix", c.Criticality)
	}
	if c.Calendar != "" {
		cal, ok := cals[c.Calendar]
		if !ok {
			add("calendar: no calendar named %q", c.Calendar)
		} else {
			s.Calendar = cal
		}
	}
	for i, l := range c.Escalation {
		if l.Group == "" {
			add("escalation[%d].group is required", i)
		}
		if i < len(c.Escalation)-1 && l.Within <= 0 {
			add("escalation[%d].within must be > 0 (only the last level has no budget)", i)
		}
		s.Escalation = append(s.Escalation, Level{Group: l.Group, Within: time.Duration(l.Within)})
	}
	if s.AssignmentGroup == "" && len(s.Escalation) > 0 {
		s.AssignmentGroup = s.Escalation[0].Group
	}
	return s, errors.Join(errs...)
}

func validateSLA(path string, c SLAConfig) error {
	var errs []error
	if w := c.Warning(); w < 0 || w >= 1 {
		errs = append(errs, fmt.Errorf("%s.warning_at: %v must be in [0, 1) (0 turns warnings off)", path, w))
	}
	ps := make([]int, 0, len(c.Targets))
	for p := range c.Targets {
		ps = append(ps, p)
	}
	sort.Ints(ps)
	for _, p := range ps {
		t := c.Targets[p]
		if p < 1 || p > 4 {
			errs = append(errs, fmt.Errorf("%s.targets.%d: priority out of range 1..4", path, p))
		}
		if t.Response <= 0 || t.Resolution <= 0 {
			errs = append(errs, fmt.Errorf("%s.targets.%d: response and resolution must be > 0", path, p))
		}
		if t.Response > t.Resolution {
			errs = append(errs, fmt.Errorf("%s.targets.%d: response (%v) must not exceed resolution (%v)", path, p, time.Duration(t.Response), time.Duration(t.Resolution)))
		}
	}
	return errors.Join(errs...)
}

// Warning is the warning fraction: warning_at, 0.75 when unset, 0 for no
// warnings.
func (c SLAConfig) Warning() float64 {
	if c.WarningAt == nil {
		return 0.75
	}
	return *c.WarningAt
}

func ptr[T any](v T) *T { return &v }
