package rules

import (
	"errors"
	"fmt"
	"time"
)

// ProblemsConfig tunes recurrence detection: which recurring incidents
// raise a problem record.
type ProblemsConfig struct {
	// Recurrence: the same rule and group opening Count incidents within
	// Within. Default 10 within 7d.
	Recurrence *RecurrenceConfig `yaml:"recurrence,omitempty"`
	// Daily: incidents of the same rule and group opening around the same
	// time of day on MinDays of the last Days days, within Tolerance of
	// each other. Default 4 of 7 days within 15m, in UTC.
	Daily *DailyConfig `yaml:"daily,omitempty"`
	// Disabled turns recurrence detection off.
	Disabled bool `yaml:"disabled,omitempty"`
}

// RecurrenceConfig is the count-based trigger.
type RecurrenceConfig struct {
	Count  int      `yaml:"count"`
	Within Duration `yaml:"within"`
}

// DailyConfig is the time-of-day trigger.
type DailyConfig struct {
	Days      int      `yaml:"days"`
	MinDays   int      `yaml:"min_days"`
	Tolerance Duration `yaml:"tolerance"`
	Timezone  string   `yaml:"timezone,omitempty"`
}

// Problems is the compiled recurrence detection.
type Problems struct {
	Disabled  bool
	Count     int
	Within    time.Duration
	Days      int
	MinDays   int
	Tolerance time.Duration
	Loc       *time.Location
}

// DefaultProblems returns the default detection.
func DefaultProblems() Problems {
	return Problems{Count: 10, Within: 7 * 24 * time.Hour, Days: 7, MinDays: 4, Tolerance: 15 * time.Minute, Loc: time.UTC}
}

// History is how long opening times must be remembered.
func (p Problems) History() time.Duration {
	return max(p.Within, time.Duration(p.Days)*24*time.Hour)
}

func compileProblems(path string, c *ProblemsConfig) (Problems, error) {
	p := DefaultProblems()
	p.Disabled = c.Disabled
	var errs []error
	if r := c.Recurrence; r != nil {
		if r.Count < 2 {
			errs = append(errs, fmt.Errorf("%s.recurrence.count must be >= 2", path))
		}
		if r.Within <= 0 {
			errs = append(errs, fmt.Errorf("%s.recurrence.within must be > 0", path))
		}
		p.Count, p.Within = r.Count, time.Duration(r.Within)
	}
	if d := c.Daily; d != nil {
		if d.Days < 2 || d.Days > 62 {
			errs = append(errs, fmt.Errorf("%s.daily.days must be in 2..62", path))
		}
		if d.MinDays < 2 || d.MinDays > d.Days {
			errs = append(errs, fmt.Errorf("%s.daily.min_days must be in 2..days", path))
		}
		if d.Tolerance <= 0 || time.Duration(d.Tolerance) > 6*time.Hour {
			errs = append(errs, fmt.Errorf("%s.daily.tolerance must be in (0, 6h]", path))
		}
		p.Days, p.MinDays, p.Tolerance = d.Days, d.MinDays, time.Duration(d.Tolerance)
		if d.Timezone != "" {
			loc, err := time.LoadLocation(d.Timezone)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.daily.timezone: unknown time zone %q", path, d.Timezone))
			} else {
				p.Loc = loc
			}
		}
	}
	return p, errors.Join(errs...)
}
