package correlator

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// recorder is a Publisher that keeps every change.
type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) Publish(c Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

func (r *recorder) all() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.changes...)
}

// inputLine is one line of events.jsonl. at is the arrival offset from the
// start of the case; event_time (default: at) the sender's timestamp as an
// offset. A line with no labels only advances the clock to at.
type inputLine struct {
	At          string            `json:"at"`
	EventTime   string            `json:"event_time"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      string            `json:"status"`
	Severity    string            `json:"severity"`
	Source      string            `json:"source"`
	// Change records a change: {"id", "title", "start" and "end" as
	// offsets, "scope"}.
	Change *struct {
		ID    string            `json:"id"`
		Title string            `json:"title"`
		Start string            `json:"start"`
		End   string            `json:"end"`
		Scope map[string]string `json:"scope"`
	} `json:"change"`
	// Wait sets what the open incident of a rule waits on ("" ends it).
	Wait *struct {
		Rule   string `json:"rule"`
		Reason string `json:"reason"`
	} `json:"wait"`
	// Ack acknowledges the open incident of a rule: {"rule": ..., "by": ...}.
	Ack *struct {
		Rule string `json:"rule"`
		By   string `json:"by"`
	} `json:"ack"`
}

// goldenChange is the part of a change a golden file pins.
type goldenChange struct {
	At          string         `json:"at"`
	Type        ChangeType     `json:"type"`
	ID          string         `json:"id"`
	Rule        string         `json:"rule"`
	GroupKey    string         `json:"group_key"`
	Title       string         `json:"title"`
	Status      Status         `json:"status"`
	Priority    int            `json:"priority"`
	Signals     int            `json:"signals"`
	Firing      int            `json:"firing"`
	Events      int64          `json:"events"`
	Absorbed    int            `json:"absorbed,omitempty"`
	Breadth     map[string]int `json:"breadth,omitempty"`
	Parent      string         `json:"parent,omitempty"`
	Children    int            `json:"children,omitempty"`
	Revision    uint64         `json:"revision"`
	PrevPrio    int            `json:"previous_priority,omitempty"`
	FirstSeen   string         `json:"first_seen"`
	Previous    string         `json:"previous,omitempty"`
	Reopens     int            `json:"reopens,omitempty"`
	Flapping    bool           `json:"flapping,omitempty"`
	Detail      string         `json:"detail,omitempty"`
	Service     string         `json:"service,omitempty"`
	Assignment  string         `json:"assignment_group,omitempty"`
	Level       int            `json:"escalation_level,omitempty"`
	Major       bool           `json:"major,omitempty"`
	SLA         *goldenSLA     `json:"sla,omitempty"`
	AckedBy     string         `json:"acked_by,omitempty"`
	Maintenance string         `json:"maintenance,omitempty"`
	Waiting     string         `json:"waiting,omitempty"`
	KnownErrors []string       `json:"known_errors,omitempty"`
	Suspects    []string       `json:"suspects,omitempty"`
	Problem     string         `json:"problem,omitempty"`
	Description string         `json:"description,omitempty"`
	ProbPattern string         `json:"problem_pattern,omitempty"`
	ProbStatus  string         `json:"problem_status,omitempty"`
	ProbCount   int            `json:"problem_incidents,omitempty"`
	CommonLabel ingest.Labels  `json:"common_labels,omitempty"`
}

type goldenSLA struct {
	ResponseDue        string `json:"response_due"`
	ResolutionDue      string `json:"resolution_due"`
	ResponseBreached   bool   `json:"response_breached,omitempty"`
	ResolutionBreached bool   `json:"resolution_breached,omitempty"`
}

type goldenFile struct {
	Changes   []goldenChange `json:"changes"`
	Incidents []goldenChange `json:"incidents_at_end"`
}

var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/rules.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, rf := range dirs {
		dir := filepath.Dir(rf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runCase(t, dir)
			gotJSON, _ := json.MarshalIndent(got, "", "  ")
			gotJSON = append(gotJSON, '\n')
			path := filepath.Join(dir, "incidents.golden.json")
			if *update {
				if err := os.WriteFile(path, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(gotJSON) != string(want) {
				t.Errorf("golden mismatch for %s; got:\n%s\nwant:\n%s", dir, gotJSON, want)
			}
		})
	}
}

func readLines(t *testing.T, path string) []inputLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []inputLine
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "//") {
			continue
		}
		var l inputLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, l)
	}
	return out
}

func mustDur(t *testing.T, s string) time.Duration {
	t.Helper()
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

func runCase(t *testing.T, dir string) goldenFile {
	set, err := rules.Load([]string{filepath.Join(dir, "rules.yaml")}, rules.DefaultMatrix())
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	lines := readLines(t, filepath.Join(dir, "events.jsonl"))
	var out goldenFile
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		rec := &recorder{}
		e := New(Options{Shards: 3}, set, rec, prometheus.NewRegistry(), zerolog.Nop())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		synctest.Wait()
		for _, l := range lines {
			at := start.Add(mustDur(t, l.At))
			if d := at.Sub(time.Now()); d > 0 {
				<-time.After(d)
			}
			synctest.Wait()
			applyLine(t, e, l, start)
			synctest.Wait()
		}
		for _, inc := range e.Incidents(Filter{}) {
			full, _ := e.Incident(inc.ID)
			out.Incidents = append(out.Incidents, toGolden(Change{At: time.Now(), Incident: full}, start))
		}
		cancel()
		<-done
		for _, c := range rec.all() {
			out.Changes = append(out.Changes, toGolden(c, start))
		}
	})
	sort.SliceStable(out.Changes, func(i, j int) bool {
		a, b := out.Changes[i], out.Changes[j]
		if a.At != b.At {
			return mustDur(t, a.At) < mustDur(t, b.At)
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Revision < b.Revision
	})
	return out
}

func toGolden(c Change, start time.Time) goldenChange {
	inc := c.Incident
	g := goldenChange{
		At: c.At.Sub(start).String(), Type: c.Type, ID: inc.ID, Rule: inc.Rule, GroupKey: inc.GroupKey,
		Title: inc.Title, Status: inc.Status, Priority: inc.Priority, Signals: inc.SignalCount,
		Firing: inc.FiringCount, Events: inc.EventCount, Breadth: inc.Breadth, Parent: inc.Parent,
		Children: len(inc.Children), Revision: inc.Revision, PrevPrio: c.PreviousPriority,
		FirstSeen: inc.FirstSeen.Sub(start).String(), CommonLabel: inc.CommonLabels,
		Previous: inc.Previous, Reopens: inc.Reopens, Flapping: inc.Flapping,
		Detail: c.Detail, Service: inc.Service, Level: inc.EscalationLevel, Major: inc.Major, AckedBy: inc.AckedBy, Maintenance: inc.Maintenance, Waiting: inc.Waiting,
	}
	if inc.Service != "" {
		g.Assignment = inc.AssignmentGroup
	}
	for _, k := range inc.KnownErrors {
		g.KnownErrors = append(g.KnownErrors, k.ID)
	}
	for _, s := range inc.Suspects {
		g.Suspects = append(g.Suspects, fmt.Sprintf("%d %s overlap=%.2f after=%s", s.Rank, s.ChangeID, s.Overlap, s.After))
	}
	g.Problem = inc.Problem
	if p := c.Problem; p != nil {
		g.Problem, g.ProbPattern, g.ProbStatus, g.ProbCount = p.ID, p.Pattern, p.Status, len(p.Incidents)
	}
	if len(inc.KnownErrors)+len(inc.Suspects) > 0 {
		g.Description = inc.Description
	}
	if inc.SLA != nil && inc.Service != "" {
		g.SLA = &goldenSLA{
			ResponseDue: inc.SLA.ResponseDue.Sub(start).String(), ResolutionDue: inc.SLA.ResolutionDue.Sub(start).String(),
			ResponseBreached: inc.SLA.ResponseBreached, ResolutionBreached: inc.SLA.ResolutionBreached,
		}
	}
	for _, s := range inc.Signals {
		if s.Absorbed {
			g.Absorbed++
		}
	}
	return g
}

// applyLine applies one golden input line (an event, a change record, an
// acknowledgement or a wait) to an engine.
func applyLine(t *testing.T, e *Engine, l inputLine, start time.Time) {
	t.Helper()
	if c := l.Change; c != nil {
		rec := ChangeRecord{ID: c.ID, Title: c.Title, Start: start.Add(mustDur(t, c.Start)), Scope: c.Scope}
		if c.End != "" {
			rec.End = start.Add(mustDur(t, c.End))
		}
		if err := e.AddChanges([]ChangeRecord{rec}); err != nil {
			t.Fatalf("change: %v", err)
		}
		return
	}
	if w := l.Wait; w != nil {
		open := e.Incidents(Filter{Rule: w.Rule, Status: StatusOpen})
		if len(open) != 1 {
			t.Fatalf("wait: got %d open incidents of %s, want 1", len(open), w.Rule)
		}
		if _, err := e.Wait(open[0].ID, w.Reason); err != nil {
			t.Fatalf("wait: %v", err)
		}
		return
	}
	if l.Ack != nil {
		open := e.Incidents(Filter{Rule: l.Ack.Rule, Status: StatusOpen})
		if len(open) != 1 {
			t.Fatalf("ack: got %d open incidents of %s, want 1", len(open), l.Ack.Rule)
		}
		if _, err := e.Ack(open[0].ID, l.Ack.By); err != nil {
			t.Fatalf("ack: %v", err)
		}
		return
	}
	if len(l.Labels) == 0 {
		return
	}
	ev := ingest.Event{Kind: "test", Source: l.Source, Labels: ingest.LabelsFromMap(l.Labels),
		Annotations: ingest.LabelsFromMap(l.Annotations), ArrivalTime: time.Now()}
	if ev.Source == "" {
		ev.Source = "test"
	}
	ev.EventTime = ev.ArrivalTime
	if l.EventTime != "" {
		ev.EventTime = start.Add(mustDur(t, l.EventTime))
	}
	ev.Fingerprint = ingest.FingerprintOf(ev.Labels)
	if l.Status == "resolved" {
		ev.Status = ingest.StatusResolved
	}
	ev.Severity, _ = ingest.ParseSeverity(l.Severity)
	if err := e.Submit(context.Background(), []ingest.Event{ev}); err != nil {
		t.Fatalf("submit: %v", err)
	}
}
