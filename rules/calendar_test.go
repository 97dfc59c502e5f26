package rules

import (
	"strings"
	"testing"
	"time"
)

func office(t *testing.T) *Calendar {
	t.Helper()
	c, err := CompileCalendar("calendars.office", "office", CalendarConfig{
		Timezone: "Europe/Stockholm",
		Hours:    map[string]string{"mon-fri": "08:00-17:00"},
		Holidays: []string{"2026-12-24", "2026-12-25"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCalendarAdd(t *testing.T) {
	sto, _ := time.LoadLocation("Europe/Stockholm")
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, sto)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := office(t)
	cases := []struct {
		name, start string
		d           time.Duration
		want        string
	}{
		// Friday 16:30 + 8h: 30 minutes on Friday, 7h30 on Monday.
		{"friday afternoon breaches monday", "2026-11-20 16:30", 8 * time.Hour, "2026-11-23 15:30"},
		{"inside one day", "2026-11-23 09:00", 4 * time.Hour, "2026-11-23 13:00"},
		{"before opening", "2026-11-23 06:00", time.Hour, "2026-11-23 09:00"},
		{"saturday start waits for monday", "2026-11-21 12:00", 30 * time.Minute, "2026-11-23 08:30"},
		// Wednesday 23 Dec 16:00 + 4h: 1h Wed, holidays Thu 24 and Fri 25,
		// weekend, 3h on Monday 28.
		{"holidays skipped", "2026-12-23 16:00", 4 * time.Hour, "2026-12-28 11:00"},
		// 40h of 9h days: Monday to Thursday is 36h, 4h more on Friday.
		{"forty hours", "2026-11-23 08:00", 40 * time.Hour, "2026-11-27 12:00"},
		// DST ends Sunday 25 Oct 2026 in Stockholm: business hours are wall time.
		{"across DST", "2026-10-23 16:00", 2 * time.Hour, "2026-10-26 09:00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := c.Add(at(tc.start), tc.d)
			if !ok || !got.Equal(at(tc.want)) {
				t.Errorf("Add(%s, %v) = %v (ok %v), want %s", tc.start, tc.d, got.In(sto), ok, tc.want)
			}
			// Elapsed is the inverse of Add.
			if e := c.Elapsed(at(tc.start), got); e != tc.d {
				t.Errorf("Elapsed(%s, %v) = %v, want %v", tc.start, got.In(sto), e, tc.d)
			}
		})
	}
	if got, _ := AlwaysOpen.Add(at("2026-11-20 16:30"), 8*time.Hour); !got.Equal(at("2026-11-21 00:30")) {
		t.Errorf("24x7 Add = %v, want Saturday 00:30", got)
	}
}

func TestCalendarElapsedPartial(t *testing.T) {
	c := office(t)
	sto, _ := time.LoadLocation("Europe/Stockholm")
	from := time.Date(2026, 11, 20, 16, 0, 0, 0, sto) // Friday 16:00
	to := time.Date(2026, 11, 23, 10, 0, 0, 0, sto)   // Monday 10:00
	if got := c.Elapsed(from, to); got != 3*time.Hour {
		t.Errorf("got %v, want 3h (1h Friday, 2h Monday)", got)
	}
	if got := c.Elapsed(to, from); got != 0 {
		t.Errorf("got %v for a reversed span, want 0", got)
	}
}

func TestCalendarErrors(t *testing.T) {
	_, err := CompileCalendar("calendars.x", "x", CalendarConfig{
		Timezone: "Mars/Olympus",
		Hours:    map[string]string{"mon-fri": "08:00-17:00", "fri": "09:00-10:00", "funday": "08:00-09:00", "sat": "17:00-08:00"},
		Holidays: []string{"24/12"},
	})
	for _, want := range []string{
		`calendars.x: timezone: unknown time zone "Mars/Olympus"`,
		"fri is already given",
		`hours.funday: "funday" is not a day`,
		`hours.sat: "17:00-08:00" is not a time range`,
		`holidays[0]: "24/12" is not a date`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to contain %q", err, want)
		}
	}
}

func TestMaintenanceWindowActive(t *testing.T) {
	w, err := compileMaintenance("maintenance[0]", &MaintenanceConfig{
		Name: "pos-night", Match: []string{`app="pos"`},
		Schedule: &CalendarConfig{Timezone: "UTC", Hours: map[string]string{"mon-fri": "02:00-04:00"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { v, _ := time.Parse("2006-01-02 15:04", s); return v }
	cases := []struct {
		t      string
		active bool
		next   string
	}{
		{"2026-11-23 01:00", false, "2026-11-23 02:00"}, // Monday before
		{"2026-11-23 03:00", true, "2026-11-23 04:00"},
		{"2026-11-23 04:00", false, "2026-11-24 02:00"},
		{"2026-11-21 12:00", false, "2026-11-23 02:00"}, // Saturday
	}
	for _, c := range cases {
		a, n := w.Active(at(c.t))
		if a != c.active || !n.Equal(at(c.next)) {
			t.Errorf("Active(%s) = %v, %v; want %v, %s", c.t, a, n, c.active, c.next)
		}
	}
	_, err = compileMaintenance("maintenance[1]", &MaintenanceConfig{Name: "x", Start: "2026-11-23T04:00:00Z", End: "2026-11-23T02:00:00Z"})
	for _, want := range []string{"match: at least one matcher", "end must be after start"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}
