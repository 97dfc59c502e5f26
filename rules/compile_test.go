package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corrd/corrd/ingest"
)

func compileYAML(t *testing.T, src string) (*Set, error) {
	t.Helper()
	f, err := ParseFile("r.yml", []byte(src))
	if err != nil {
		return nil, err
	}
	return Compile([]Named{{Name: "r.yml", File: f}}, DefaultMatrix())
}

func TestCompileErrorsNamePath(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown field", "rules:\n  - name: a\n    windoe: 1s\n", []string{`r.yml: rules[0] "a": windoe: unknown field (line 3)`}},
		{"bad matcher", "rules:\n  - name: a\n    match: ['alertname=~\"(\"']\n", []string{`r.yml: rules[0] "a": match[0]`}},
		{"negative window", "rules:\n  - name: store-power\n    match: ['a=\"b\"']\n    window: -1s\n", []string{`r.yml: rules[0] "store-power": window: negative duration "-1s" (line 4)`}},
		{"missing name", "rules:\n  - match: ['a=\"b\"']\n", []string{`rules[0] "": name is required`}},
		{"duplicate name", "rules:\n  - name: a\n  - name: a\n", []string{`rules[1] "a": name used twice`}},
		{"threshold both", "rules:\n  - name: a\n    threshold: {count: 2, distinct: {label: x, count: 2}}\n", []string{"set count or distinct, not both"}},
		{"threshold zero", "rules:\n  - name: a\n    threshold: {count: 0}\n", []string{"threshold.count must be >= 1"}},
		{"group all with threshold", "rules:\n  - name: a\n    group_by: ['...']\n    threshold: {count: 2}\n", []string{"can never be met"}},
		{"group all not alone", "rules:\n  - name: a\n    group_by: ['...', x]\n", []string{`group_by[0]: "..." must be the only entry`}},
		{"empty label", "rules:\n  - name: a\n    group_by: [x, '']\n", []string{`r.yml: rules[0] "a": group_by[1]: "" is not a valid label name (non-empty UTF-8)`}},
		{"empty breadth label", "rules:\n  - name: a\n    breadth: ['']\n", []string{`r.yml: rules[0] "a": breadth[0]: "" is not a valid label name (non-empty UTF-8)`}},
		{"empty absorb label", "rules:\n  - name: sw\n    group_by: [switch]\n    absorb:\n      - match: ['a=\"b\"']\n        on: {'': switch}\n", []string{`r.yml: rules[0] "sw": absorb[0].on: "" is not a valid label name (non-empty UTF-8)`}},
		{"rollup unknown child", "rules:\n  - name: p\n    rollup: {rule: nope, group_by: [x], min_children: 2, within: 1m}\n", []string{`rules[0] "p": rollup.rule: no rule named "nope"`}},
		{"rollup self", "rules:\n  - name: p\n    rollup: {rule: p, group_by: [x], min_children: 2, within: 1m}\n", []string{"cannot roll itself up"}},
		{"rollup with match", "rules:\n  - name: c\n  - name: p\n    match: ['a=\"b\"']\n    rollup: {rule: c, group_by: [x], min_children: 2, within: 1m}\n", []string{"a rollup rule takes child incidents"}},
		{"rollup bad numbers", "rules:\n  - name: c\n  - name: p\n    rollup: {rule: c, group_by: [x], min_children: 0}\n", []string{"min_children must be >= 1", "within must be > 0"}},
		{"nested rollup", "rules:\n  - name: c\n  - name: p\n    rollup: {rule: c, group_by: [x], min_children: 2, within: 1m}\n  - name: pp\n    rollup: {rule: p, group_by: [x], min_children: 2, within: 1m}\n", []string{"rollups do not nest"}},
		{"absorb not in group_by", "rules:\n  - name: sw\n    group_by: [switch]\n    absorb:\n      - match: ['a=\"b\"']\n        on: {uplink: port}\n", []string{`absorb[0].on: "port" is not in group_by`, `group label "switch" has no signal label`}},
		{"absorb without matchers", "rules:\n  - name: sw\n    group_by: [switch]\n    absorb:\n      - on: [switch]\n", []string{"absorb[0].match: at least one matcher is required"}},
		{"unknown impact", "rules:\n  - name: a\n    impact: huge\n", []string{`impact: "huge" is not an impact of the priority matrix`}},
		{"unknown urgency", "rules:\n  - name: a\n    urgency: asap\n", []string{`urgency: "asap" is not an urgency`}},
		{"impact_from levels", "rules:\n  - name: a\n    impact_from: {label: store, levels: [{min: 5, impact: low}, {min: 5, impact: high}]}\n", []string{"levels[1].min must be greater"}},
		{"bad template", "rules:\n  - name: a\n    title: '{{ .Foo '\n", []string{`rules[0] "a": title:`}},
		{"default with match", "default:\n  match: ['a=\"b\"']\n", []string{`default "default": match`}},
		{"bad duration", "rules:\n  - name: a\n    window: soon\n", []string{`invalid duration "soon"`}},
		{"several problems at once", "rules:\n  - name: a\n    urgency: asap\n  - name: b\n    impact: huge\n", []string{`rules[0] "a": urgency`, `rules[1] "b": impact`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileYAML(t, tc.src)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestMatchOrderAndDefault(t *testing.T) {
	set, err := compileYAML(t, `
rules:
  - name: fleet
    rollup: {rule: store, group_by: [chain], min_children: 2, within: 1m}
  - name: store
    match: ['alertname="RegisterDown"', 'store=~"04.*"']
  - name: any-register
    match: ['alertname="RegisterDown"']
`)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"alertname": "RegisterDown", "store": "0412"}, "store"},
		{map[string]string{"alertname": "RegisterDown", "store": "1412"}, "any-register"},
		{map[string]string{"alertname": "Other"}, DefaultRuleName},
	}
	for _, tc := range cases {
		if got := set.Match(ingest.LabelsFromMap(tc.labels)).Name; got != tc.want {
			t.Errorf("Match(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
	if got := set.Rule("store").Parents; len(got) != 1 || got[0].Name != "fleet" {
		t.Errorf("got parents %v of store, want [fleet]", got)
	}
	if !set.Default.GroupByAll {
		t.Error("built-in default rule should group per label set")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	set, err := compileYAML(t, `
rules:
  - name: a
    match: ['alertname="A"', 'severity=~"crit.*"']
  - name: b
    match: ['alertname!="B"', 'team="ops"']
`)
	if err != nil {
		t.Fatal(err)
	}
	ls := ingest.LabelsFromMap(map[string]string{"alertname": "B", "team": "dev", "severity": "critical"})
	if n := testing.AllocsPerRun(100, func() { _ = set.Match(ls) }); n != 0 {
		t.Errorf("got %v allocations per Match, want 0", n)
	}
}

func TestLoadGlobsAndMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte("rules:\n  - name: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.yml"), []byte("rules:\n  - name: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := Load([]string{filepath.Join(dir, "*.yml")}, DefaultMatrix())
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) != 2 {
		t.Errorf("got %d rules, want 2", len(set.Rules))
	}
	_, err = Load([]string{filepath.Join(dir, "none.yml")}, DefaultMatrix())
	if err == nil || !strings.Contains(err.Error(), "none.yml: no such rules file") {
		t.Errorf("got %v, want a missing-file error naming the file", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "c.yml"), []byte("default:\n  group_by: [x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d.yml"), []byte("default:\n  group_by: [y]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load([]string{filepath.Join(dir, "*.yml")}, DefaultMatrix())
	if err == nil || !strings.Contains(err.Error(), "default: also defined in") {
		t.Errorf("got %v, want a duplicate-default error", err)
	}
}

func TestMatrix(t *testing.T) {
	m := DefaultMatrix()
	cases := []struct {
		impact, urgency string
		want            int
	}{
		{"low", "low", 4}, {"low", "normal", 3}, {"low", "high", 2}, {"low", "urgent", 1},
		{"medium", "low", 3}, {"medium", "high", 1}, {"high", "low", 2}, {"high", "urgent", 1},
		{"bogus", "bogus", 3}, // defaults: low x normal
	}
	for _, tc := range cases {
		if got := m.Priority(tc.impact, tc.urgency); got != tc.want {
			t.Errorf("Priority(%s, %s) = %d, want %d", tc.impact, tc.urgency, got, tc.want)
		}
	}
	bad := Matrix{Impacts: []string{"a", "a"}, Urgencies: []string{"x"}, Priorities: map[string][]int{"a": {5, 1}, "z": {1}}, DefaultImpact: "q", DefaultUrgency: "x"}
	err := bad.Validate("priority")
	for _, w := range []string{`impact "a" listed twice`, "priorities.a: 2 values for 1 urgencies", "priorities.a[0]: priority 5 out of range", `row "z" is not a listed impact`, `default_impact "q"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got %v, want it to contain %q", err, w)
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]string{"30s": "30s", "5m": "5m0s", "2d": "48h0m0s", "1w2d3h": "219h0m0s", "1h30m": "1h30m0s"}
	for in, want := range cases {
		d, err := ParseDuration(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1s", "3"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): got no error", in)
		}
	}
}

func TestTemplateFunctions(t *testing.T) {
	set, err := compileYAML(t, `
rules:
  - name: a
    title: '{{ upper .Rule }} {{ lower "STORE" }} {{ join .Stores "," }}'
`)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := set.Rule("a").Title.Execute(&b, map[string]any{"Rule": "fleet", "Stores": []string{"1", "2"}}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "FLEET store 1,2" {
		t.Errorf("got %q, want %q", got, "FLEET store 1,2")
	}
}

func TestSLAWarningAt(t *testing.T) {
	targets := "  targets:\n    1: {response: 1m, resolution: 1h}\n    2: {response: 1m, resolution: 1h}\n    3: {response: 1m, resolution: 1h}\n    4: {response: 1m, resolution: 1h}\n"
	cases := []struct {
		src  string
		want float64
	}{
		{"sla:\n" + targets, 0.75},
		{"sla:\n  warning_at: 0\n" + targets, 0},
		{"sla:\n  warning_at: 0.5\n" + targets, 0.5},
		{"rules: []\n", 0.75},
	}
	for _, tc := range cases {
		set, err := compileYAML(t, tc.src)
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if got := set.SLA.Warning(); got != tc.want {
			t.Errorf("%q: warning %v, want %v", tc.src, got, tc.want)
		}
	}
	if _, err := compileYAML(t, "sla:\n  warning_at: 1.5\n"+targets); err == nil || !strings.Contains(err.Error(), "warning_at: 1.5 must be in [0, 1)") {
		t.Errorf("got %v for warning_at 1.5", err)
	}
}

// TestLoadReportsUnknownFieldsWithTheRest: an unknown field does not hide
// the file's other problems; each names its file, rule and field.
func TestLoadReportsUnknownFieldsWithTheRest(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.yml")
	src := `rules:
  - name: store-power
    match: ['alertname="PowerLost"']
    group_by: [store]
    urgency: asap
  - name: pos
    group_by: [store, store]
    bogus: 1
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load([]string{file}, DefaultMatrix())
	want := []string{
		file + `: rules[1] "pos": bogus: unknown field (line 8)`,
		file + `: rules[0] "store-power": urgency: "asap" is not an urgency of the priority matrix (low, normal, high, urgent)`,
		file + `: rules[1] "pos": group_by[1]: "store" listed twice`,
	}
	var got []string
	for _, e := range leaves(err) {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// leaves lists the errors of a tree of joined errors.
func leaves(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if err == nil {
			return nil
		}
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}

// TestUTF8LabelNames: label names in rules are valid as Alertmanager
// validates them (non-empty UTF-8), so that the labels an Alertmanager in
// UTF-8 mode sends can be grouped by.
func TestUTF8LabelNames(t *testing.T) {
	s, err := compileYAML(t, "rules:\n  - name: a\n    group_by: [service.name, 'k8s-pod']\n    breadth: [host.name]\n    threshold: {distinct: {label: host.name, count: 2}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Rule("a").GroupBy; strings.Join(got, ",") != "k8s-pod,service.name" {
		t.Errorf("got group_by %q, want [k8s-pod service.name]", got)
	}
}
