package rules

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CalendarConfig is a business-hours calendar as written in YAML:
//
//	timezone: Europe/Stockholm
//	hours: {mon-fri: "08:00-17:00", sat: "10:00-14:00"}
//	holidays: [2026-12-24, 2026-12-25]
//
// A calendar with no hours is around the clock.
type CalendarConfig struct {
	Timezone string            `yaml:"timezone,omitempty"`
	Hours    map[string]string `yaml:"hours,omitempty"`
	Holidays []string          `yaml:"holidays,omitempty"`
}

// Calendar counts time within business hours. The zero value (and nil) is
// around the clock.
type Calendar struct {
	Name     string
	loc      *time.Location
	week     [7][]span // by time.Weekday
	holidays map[civilDate]bool
	always   bool
}

type span struct{ from, to int } // minutes after midnight, to > from

type civilDate struct {
	y int
	m time.Month
	d int
}

// AlwaysOpen is the around-the-clock calendar.
var AlwaysOpen = &Calendar{Name: "24x7", always: true}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// CompileCalendar validates and compiles a calendar; errors carry path.
func CompileCalendar(path, name string, c CalendarConfig) (*Calendar, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(path+": "+format, a...)) }
	cal := &Calendar{Name: name, loc: time.UTC, holidays: map[civilDate]bool{}}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			add("timezone: unknown time zone %q", c.Timezone)
		} else {
			cal.loc = loc
		}
	}
	if len(c.Hours) == 0 {
		cal.always = true
	}
	keys := make([]string, 0, len(c.Hours))
	for k := range c.Hours {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		days, err := parseDays(k)
		if err != nil {
			add("hours.%s: %v", k, err)
			continue
		}
		spans, err := parseSpans(c.Hours[k])
		if err != nil {
			add("hours.%s: %v", k, err)
			continue
		}
		for _, d := range days {
			if len(cal.week[d]) > 0 {
				add("hours.%s: %s is already given by another entry", k, strings.ToLower(d.String()[:3]))
			}
			cal.week[d] = spans
		}
	}
	for i, h := range c.Holidays {
		t, err := time.Parse("2006-01-02", h)
		if err != nil {
			add("holidays[%d]: %q is not a date (YYYY-MM-DD)", i, h)
			continue
		}
		cal.holidays[civilDate{t.Year(), t.Month(), t.Day()}] = true
	}
	return cal, errors.Join(errs...)
}

func parseDays(s string) ([]time.Weekday, error) {
	var out []time.Weekday
	for _, part := range strings.Split(s, ",") {
		part = strings.ToLower(strings.TrimSpace(part))
		if a, b, ok := strings.Cut(part, "-"); ok {
			from, ok1 := dayNames[a]
			to, ok2 := dayNames[b]
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%q is not a day range like mon-fri", part)
			}
			for d := from; ; d = (d + 1) % 7 {
				out = append(out, d)
				if d == to {
					break
				}
			}
			continue
		}
		d, ok := dayNames[part]
		if !ok {
			return nil, fmt.Errorf("%q is not a day (mon, tue, ... sun)", part)
		}
		out = append(out, d)
	}
	return out, nil
}

func parseSpans(s string) ([]span, error) {
	var out []span
	for _, part := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("%q is not a time range like 08:00-17:00", part)
		}
		from, err1 := parseClock(a)
		to, err2 := parseClock(b)
		if err1 != nil || err2 != nil || to <= from {
			return nil, fmt.Errorf("%q is not a time range like 08:00-17:00 (end after start; 24:00 for midnight)", part)
		}
		out = append(out, span{from, to})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].from < out[j].from })
	for i := 1; i < len(out); i++ {
		if out[i].from < out[i-1].to {
			return nil, fmt.Errorf("ranges overlap in %q", s)
		}
	}
	return out, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, errors.New("want HH:MM")
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, errors.New("want HH:MM")
	}
	return hh*60 + mm, nil
}

// maxCalendarDays bounds the day-by-day walks: a target further out than
// this in business time is treated as never reached.
const maxCalendarDays = 3660

// working returns the business spans of the day containing t, as absolute
// times.
func (c *Calendar) working(day time.Time) [][2]time.Time {
	y, m, d := day.Date()
	if c.holidays[civilDate{y, m, d}] {
		return nil
	}
	spans := c.week[day.Weekday()]
	out := make([][2]time.Time, 0, len(spans))
	for _, s := range spans {
		out = append(out, [2]time.Time{
			time.Date(y, m, d, s.from/60, s.from%60, 0, 0, c.loc),
			time.Date(y, m, d, s.to/60, s.to%60, 0, 0, c.loc),
		})
	}
	return out
}

// Elapsed is the business time between from and to (0 if to is before from).
func (c *Calendar) Elapsed(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	if c == nil || c.always {
		return to.Sub(from)
	}
	var total time.Duration
	day := startOfDay(from.In(c.loc))
	for i := 0; i < maxCalendarDays && day.Before(to); i++ {
		for _, s := range c.working(day) {
			a, b := s[0], s[1]
			if a.Before(from) {
				a = from
			}
			if b.After(to) {
				b = to
			}
			if b.After(a) {
				total += b.Sub(a)
			}
		}
		day = nextDay(day)
	}
	return total
}

// Add returns the instant at which d of business time has passed since
// start. ok is false when the calendar never accumulates d (no working
// hours within maxCalendarDays).
func (c *Calendar) Add(start time.Time, d time.Duration) (time.Time, bool) {
	if c == nil || c.always {
		return start.Add(d), true
	}
	if d <= 0 {
		return start, true
	}
	left := d
	day := startOfDay(start.In(c.loc))
	for i := 0; i < maxCalendarDays; i++ {
		for _, s := range c.working(day) {
			a, b := s[0], s[1]
			if a.Before(start) {
				a = start
			}
			if !b.After(a) {
				continue
			}
			if avail := b.Sub(a); avail >= left {
				return a.Add(left), true
			} else {
				left -= avail
			}
		}
		day = nextDay(day)
	}
	return time.Time{}, false
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

func nextDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location())
}
