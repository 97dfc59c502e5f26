package correlator

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// compileRules compiles one rules file.
func compileRules(t testing.TB, src string) *rules.Set {
	t.Helper()
	f, err := rules.ParseFile("r.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile([]rules.Named{{Name: "r.yml", File: f}}, rules.DefaultMatrix())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func types(cs []Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Type))
	}
	return strings.Join(out, ",")
}

// An update due after a priority change is still sent.
func TestUpdateAfterPriorityChangeIsSent(t *testing.T) {
	set := compileRules(t, `
rules:
  - name: regs
    match: ['alertname="RegisterDown"']
    group_by: [store]
    update_interval: 1m
    breadth: [register]
    impact_from: {label: register, levels: [{min: 1, impact: low}, {min: 3, impact: high}]}
`)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 1}, set)
		defer h.stop()
		reg := func(r int) ingest.Event {
			return event(map[string]string{"alertname": "RegisterDown", "store": "1", "register": fmt.Sprint(r)}, 0)
		}
		h.submit(reg(1))
		h.advance(10 * time.Second)
		h.submit(reg(2))
		h.advance(10 * time.Second)
		h.submit(reg(3)) // priority changes
		h.advance(100 * time.Second)
		h.submit(reg(4))
		h.advance(2 * time.Minute)
		cs := h.rec.all()
		if got := types(cs); got != "opened,priority_changed,updated" || cs[2].Incident.SignalCount != 4 {
			t.Errorf("got %s, want opened,priority_changed,updated with 4 signals", got)
		}
	})
}

// An incident that resolved inside a silence and reopens after it is
// forwarded as reopened, and its clocks run again.
func TestReopenAfterSilenceIsForwarded(t *testing.T) {
	set := compileRules(t, "rules:\n  - name: regs\n    match: ['alertname=\"RegisterDown\"']\n    group_by: [store]\n    reopen_within: 30m\n    flapping: {disabled: true}\n")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 1}, set)
		defer h.stop()
		ev := event(map[string]string{"alertname": "RegisterDown", "store": "1"}, 0)
		h.submit(ev)
		if _, err := h.e.AddSilence(Silence{Matchers: []string{`store="1"`}, EndsAt: time.Now().Add(10 * time.Minute), CreatedBy: "x"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.advance(time.Minute)
		ev.Status = ingest.StatusResolved
		h.submit(ev)
		h.advance(15 * time.Minute)
		ev.Status = ingest.StatusFiring
		h.submit(ev)
		if got := types(h.rec.all()); got != "opened,resolved,reopened" {
			t.Errorf("got %s, want opened,resolved,reopened", got)
		}
		if inc := h.e.Incidents(Filter{})[0]; inc.Maintenance != "" {
			t.Errorf("reopened incident still in maintenance %q", inc.Maintenance)
		}
	})
}

// resolve_after works again after a reopen.
func TestResolveAfterWorksAfterReopen(t *testing.T) {
	set := compileRules(t, "rules:\n  - name: pos\n    match: ['app=\"pos\"']\n    group_by: [host]\n    resolve_after: 10m\n    flapping: {disabled: true}\n")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 1}, set)
		defer h.stop()
		ev := event(map[string]string{"app": "pos", "host": "till1"}, 0)
		h.submit(ev)
		h.advance(time.Minute)
		ev.Status = ingest.StatusResolved
		h.submit(ev)
		h.advance(14 * time.Minute) // the quiet hint fires while resolved
		ev.Status = ingest.StatusFiring
		h.submit(ev)
		h.advance(11 * time.Minute)
		if inc := h.e.Incidents(Filter{})[0]; inc.Status != StatusResolved {
			t.Errorf("got %s 11m after the reopening, want resolved by resolve_after", inc.Status)
		}
	})
}

// A daily maintenance window does not grow the timer heap per update.
func TestMaintenanceHintsStayBounded(t *testing.T) {
	set := compileRules(t, `
rules:
  - name: disk
    match: ['alertname="Disk"']
    group_by: [host]
    update_interval: 10s
maintenance:
  - name: nightly
    match: ['alertname="Disk"']
    schedule: {timezone: UTC, hours: {mon-sun: "02:00-04:00"}}
`)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 1}, set)
		defer h.stop()
		for i := 0; i < 1000; i++ {
			h.submit(event(map[string]string{"alertname": "Disk", "host": "a", "n": fmt.Sprint(i)}, 0))
			h.advance(11 * time.Second)
		}
		n := h.timerEntries()
		if n > 20 {
			t.Errorf("got %d timer entries after 1000 updates, want a handful", n)
		}
	})
}

// A reopened child reopens its resolved parent; the parent does not
// resolve while a child that reopened while waiting is firing.
func TestRollupParentFollowsReopenedChildren(t *testing.T) {
	set := compileRules(t, `
rules:
  - name: host
    match: ['alertname="HostDown"']
    group_by: [host]
    flapping: {disabled: true}
  - name: site
    rollup: {rule: host, group_by: [site], min_children: 2, within: 10m}
    flapping: {disabled: true}
`)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, set)
		defer h.stop()
		hst := func(n string, st ingest.Status) ingest.Event {
			return event(map[string]string{"alertname": "HostDown", "site": "s1", "host": n}, st)
		}
		h.submit(hst("h1", 0), hst("h2", 0))
		h.advance(time.Minute)
		h.submit(hst("h1", ingest.StatusResolved), hst("h2", ingest.StatusResolved))
		h.advance(time.Minute)
		h.submit(hst("h1", 0))
		synctest.Wait()
		parents := h.e.Incidents(Filter{Rule: "site"})
		if len(parents) != 1 || parents[0].Status != StatusOpen || parents[0].Reopens != 1 {
			t.Fatalf("got parents %+v, want one reopened parent", parents)
		}
		h.submit(hst("h1", ingest.StatusResolved))
		synctest.Wait()
		if p := h.e.Incidents(Filter{Rule: "site"})[0]; p.Status != StatusResolved {
			t.Errorf("parent %s after its last child resolved again, want resolved", p.Status)
		}
	})
}

// A problem change is sent after the incident's own opening, never before.
func TestProblemChangeFollowsOpening(t *testing.T) {
	set := compileRules(t, `
problems:
  recurrence: {count: 2, within: 1h}
  daily: {days: 2, min_days: 2, tolerance: 1m}
rules:
  - name: regs
    match: ['alertname="RegisterDown"']
    group_by: [store]
    group_wait: 30s
    reopen_within: 0s
    close_after: 1m
`)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 1}, set)
		defer h.stop()
		ev := event(map[string]string{"alertname": "RegisterDown", "store": "1"}, 0)
		for i := 0; i < 2; i++ {
			ev.Status = ingest.StatusFiring
			h.submit(ev)
			h.advance(time.Minute)
			ev.Status = ingest.StatusResolved
			h.submit(ev)
			h.advance(5 * time.Minute)
		}
		cs := h.rec.all()
		seenOpen := map[string]bool{}
		for _, c := range cs {
			if c.Type == ChangeOpened {
				seenOpen[c.Incident.ID] = true
			}
			if c.Problem != nil && !seenOpen[c.Incident.ID] {
				t.Errorf("%s for %s before its opening: %s", c.Type, c.Incident.ID, types(cs))
			}
		}
		if !strings.Contains(types(cs), "problem_opened") {
			t.Errorf("no problem raised: %s", types(cs))
		}
	})
}
