package rules

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/corrd/corrd/ingest"
)

// MaintenanceConfig is a maintenance window: recurring (a schedule of
// weekday hours in a time zone, as Alertmanager's time intervals) or one
// fixed span.
type MaintenanceConfig struct {
	Name string `yaml:"name"`
	// Match: the incidents in scope (matchers over their group and common
	// labels).
	Match []string `yaml:"match"`
	// Schedule is a recurring window, e.g.
	// {timezone: Europe/Stockholm, hours: {mon-sun: "02:00-04:00"}}.
	Schedule *CalendarConfig `yaml:"schedule,omitempty"`
	// Start and End give one fixed window (RFC 3339).
	Start   string `yaml:"start,omitempty"`
	End     string `yaml:"end,omitempty"`
	Comment string `yaml:"comment,omitempty"`
}

// Window is a compiled maintenance window or silence.
type Window struct {
	Name     string
	Matchers []*labels.Matcher
	schedule *Calendar
	start    time.Time
	end      time.Time
}

// NewFixedWindow builds a window over one span (silences).
func NewFixedWindow(name string, ms []*labels.Matcher, start, end time.Time) *Window {
	return &Window{Name: name, Matchers: ms, start: start, end: end}
}

// Matches reports whether labels are in the window's scope.
func (w *Window) Matches(ls ingest.Labels) bool { return MatchAll(w.Matchers, ls) }

// Active reports whether the window is on at t, and when it next turns on
// or off after t (zero when never).
func (w *Window) Active(t time.Time) (active bool, next time.Time) {
	if w.schedule == nil {
		switch {
		case t.Before(w.start):
			return false, w.start
		case t.Before(w.end):
			return true, w.end
		}
		return false, time.Time{}
	}
	c := w.schedule
	day := startOfDay(t.In(c.loc))
	for i := 0; i < 8; i++ {
		for _, s := range c.working(day) {
			if !t.Before(s[0]) && t.Before(s[1]) {
				return true, s[1]
			}
			if t.Before(s[0]) {
				return false, s[0]
			}
		}
		day = nextDay(day)
	}
	return false, time.Time{}
}

// compileMaintenance validates one window.
func compileMaintenance(path string, c *MaintenanceConfig) (*Window, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(path+": "+format, a...)) }
	w := &Window{Name: c.Name}
	if c.Name == "" {
		add("name is required")
	}
	if len(c.Match) == 0 {
		add("match: at least one matcher is required (a window over everything is an outage of corrd)")
	}
	w.Matchers = compileMatchers(path+": match", c.Match, &errs)
	fixed := c.Start != "" || c.End != ""
	switch {
	case c.Schedule != nil && fixed:
		add("set schedule or start/end, not both")
	case c.Schedule != nil:
		if len(c.Schedule.Hours) == 0 {
			add("schedule.hours: a recurring window needs hours")
		}
		if len(c.Schedule.Holidays) > 0 {
			add("schedule.holidays: not used by maintenance windows")
		}
		cal, err := CompileCalendar(path+": schedule", c.Name, *c.Schedule)
		if err != nil {
			errs = append(errs, err)
		}
		w.schedule = cal
	case fixed:
		var err error
		if w.start, err = time.Parse(time.RFC3339, c.Start); err != nil {
			add("start: %q is not an RFC 3339 time", c.Start)
		}
		if w.end, err = time.Parse(time.RFC3339, c.End); err != nil {
			add("end: %q is not an RFC 3339 time", c.End)
		}
		if !w.end.After(w.start) {
			add("end must be after start")
		}
	default:
		add("set a schedule or start and end")
	}
	return w, errors.Join(errs...)
}
