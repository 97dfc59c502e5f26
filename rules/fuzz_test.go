package rules

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corrd/corrd/ingest"
)

// FuzzCompile parses and compiles arbitrary rules files: every input is
// either refused with an error or compiles into a set whose matching,
// calendars and windows work without panicking.
func FuzzCompile(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*/*.yml")
	more, _ := filepath.Glob("../correlator/testdata/*/rules.yaml")
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("rules:\n  - name: a\n    window: 1d\n    threshold: {distinct: {label: x, count: 2}}\n"))
	f.Add([]byte("calendars:\n  c: {hours: {fri-mon: \"00:00-24:00\"}}\nservices:\n  - {name: s, match: ['a=\"b\"'], calendar: c, escalation: [{group: g}]}\n"))
	ls := ingest.LabelsFromMap(map[string]string{"alertname": "RegisterDown", "store": "0412", "chain": "ica", "app": "pos"})
	t0 := time.Date(2026, 11, 20, 16, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile("fuzz.yml", data)
		if err != nil {
			return
		}
		set, err := Compile([]Named{{Name: "fuzz.yml", File: file}}, DefaultMatrix())
		if err != nil {
			return
		}
		r := set.Match(ls)
		if r == nil {
			t.Fatal("Match returned no rule; the default rule catches all")
		}
		_ = r.ImpactOf(&set.Matrix, func(string) int { return 3 })
		for _, svc := range set.Services {
			svc.Calendar.Add(t0, 8*time.Hour)
			svc.Calendar.Elapsed(t0, t0.Add(72*time.Hour))
		}
		for _, w := range set.Maintenance {
			w.Active(t0)
		}
		for _, k := range set.KnownErrors {
			k.MatchesIncident("x", ls)
			k.MatchesSignal(ls, nil)
		}
	})
}
