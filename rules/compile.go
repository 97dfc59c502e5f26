package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/corrd/corrd/ingest"
)

// GroupAll as the only group_by entry groups by every label: one incident
// per distinct label set.
const GroupAll = "..."

// The defaults of a rule's settings.
const (
	DefaultWindow         = time.Minute
	DefaultMaxLateness    = 30 * time.Second
	DefaultUpdateInterval = 5 * time.Minute
	DefaultMaxLifetime    = 24 * time.Hour
	DefaultCloseAfter     = 48 * time.Hour
	DefaultMaxSignals     = 100
	DefaultRuleName       = "default"
	DefaultReopenWithin   = 30 * time.Minute
	DefaultFlapCount      = 3
	DefaultFlapWithin     = 30 * time.Minute
	DefaultFlapStableFor  = 15 * time.Minute
)

// DefaultTitle is the title template of a rule that sets none.
const DefaultTitle = `{{ with .CommonAnnotations.summary }}{{ . }}{{ else }}{{ with .CommonLabels.alertname }}{{ . }}{{ else }}{{ .Rule }}{{ end }}{{ range $k, $v := .GroupLabels }} {{ $k }}={{ $v }}{{ end }}{{ end }}`

// DefaultDescription is the description template of a rule that sets none.
const DefaultDescription = `{{ .SignalCount }} signal(s), {{ .FiringCount }} firing, rule {{ .Rule }}.
{{- with .CommonAnnotations.description }}
{{ . }}{{ end }}
{{- range $k, $v := .Breadth }}
{{ $k }}: {{ $v }}{{ end }}`

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// Compiled is a validated rule ready for matching. It is immutable.
type Compiled struct {
	Index       int
	Name        string
	Description string
	Matchers    []*labels.Matcher
	// GroupBy is sorted; GroupByAll groups per label set.
	GroupBy     []string
	GroupByAll  bool
	Window      time.Duration
	MaxLateness time.Duration
	// ThresholdCount signals, or DistinctCount values of DistinctLabel,
	// within Window open an incident.
	ThresholdCount int
	DistinctLabel  string
	DistinctCount  int
	GroupWait      time.Duration
	UpdateInterval time.Duration
	ResolveAfter   time.Duration
	MaxLifetime    time.Duration
	CloseAfter     time.Duration
	Rollup         *CompiledRollup
	Absorb         []CompiledAbsorb
	// Parents are the rollup rules over this rule's incidents.
	Parents         []*Compiled
	Breadth         []string
	Title           *template.Template
	DescriptionTmpl *template.Template
	// DefaultTitle and DefaultDesc are set when the rule uses the default
	// templates, which the correlator renders without text/template.
	DefaultTitle    bool
	DefaultDesc     bool
	Category        string
	AssignmentGroup string
	Impact          string
	ImpactFrom      *ImpactFrom
	Urgency         string
	MaxSignals      int
	ReopenWithin    time.Duration
	// Change, when set, makes signals change records.
	Change *ChangeMarker
	// FlapCount reopens within FlapWithin mark an incident flapping; 0 is
	// off. A flapping incident resolves after FlapStableFor of quiet.
	FlapCount     int
	FlapWithin    time.Duration
	FlapStableFor time.Duration
}

// CompiledRollup is a validated rollup.
type CompiledRollup struct {
	Child       *Compiled
	GroupBy     []string
	MinChildren int
	Within      time.Duration
}

// CompiledAbsorb is a validated absorb clause. On pairs are sorted by group
// label.
type CompiledAbsorb struct {
	Matchers []*labels.Matcher
	On       []LabelPair
}

// LabelPair maps a signal label to a group label.
type LabelPair struct{ Signal, Group string }

// Set is a compiled, immutable rule set.
type Set struct {
	Rules   []*Compiled
	Default *Compiled
	Matrix  Matrix
	// Absorbers are the rules with absorb clauses, in rule order.
	Absorbers []*Compiled
	byName    map[string]*Compiled
	// Services is the service catalogue in file order.
	Services []*Service
	// SLA holds the targets; DefaultSLA unless a file sets them.
	SLA SLAConfig
	// MajorPriority and StatusEvery tune major incidents.
	MajorPriority int
	StatusEvery   time.Duration
	// Maintenance holds the configured maintenance windows.
	Maintenance []*Window
	// KnownErrors from the rules files (the API adds its own).
	KnownErrors []*KnownError
	// SuspectWithin bounds change suspects.
	SuspectWithin time.Duration
	// Problems holds the recurrence detection settings.
	Problems Problems
}

// Rule returns the named rule.
func (s *Set) Rule(name string) *Compiled { return s.byName[name] }

// Match returns the first rule (not a rollup) whose matchers ls satisfies,
// or the default rule.
func (s *Set) Match(ls ingest.Labels) *Compiled {
	for _, r := range s.Rules {
		if r.Rollup == nil && MatchAll(r.Matchers, ls) {
			return r
		}
	}
	return s.Default
}

// MatchAll reports whether ls satisfies every matcher. An absent label
// matches as the empty string, as in Alertmanager.
func MatchAll(ms []*labels.Matcher, ls ingest.Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// Named is a parsed rules file and the name errors refer to it by.
type Named struct {
	Name string
	File *File
}

// ParseFile reads one rules file strictly: unknown fields are errors, each
// with its path. When unknown fields are the only problems it returns them
// with the file decoded without them, so that Compile can report the
// file's other problems in the same run; the caller must not use such a
// file otherwise.
func ParseFile(name string, data []byte) (*File, error) {
	var f File
	known, err := DecodeStrict(data, &f)
	err = prefixErrors(name, err)
	if !known {
		return nil, err
	}
	return &f, err
}

// prefixErrors prefixes each error joined in err with prefix and ": ".
func prefixErrors(prefix string, err error) error {
	if err == nil {
		return nil
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = fmt.Errorf("%s: %w", prefix, e)
	}
	return errors.Join(out...)
}

// Load reads, validates and compiles rules files from disk. Paths may be
// globs. Every problem is reported, each with its file and rule.
func Load(paths []string, m Matrix) (*Set, error) {
	return load(os.DirFS("/"), paths, m, true)
}

// LoadFS is Load over a file system (the embedded examples).
func LoadFS(fsys fs.FS, paths []string, m Matrix) (*Set, error) {
	return load(fsys, paths, m, false)
}

func load(fsys fs.FS, paths []string, m Matrix, abs bool) (*Set, error) {
	var files []Named
	var errs []error
	missing := false // a file that could not be read or decoded
	for _, p := range paths {
		pat := p
		if abs {
			a, err := filepath.Abs(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p, err))
				missing = true
				continue
			}
			pat = strings.TrimPrefix(a, "/")
		}
		matches, err := fs.Glob(fsys, pat)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			missing = true
			continue
		}
		if len(matches) == 0 {
			errs = append(errs, fmt.Errorf("%s: no such rules file", p))
			missing = true
			continue
		}
		sort.Strings(matches)
		for _, name := range matches {
			data, err := fs.ReadFile(fsys, name)
			shown := name
			if abs {
				shown = "/" + name
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", shown, err))
				missing = true
				continue
			}
			f, err := ParseFile(shown, data)
			if err != nil {
				errs = append(errs, err)
			}
			if f == nil {
				missing = true
				continue
			}
			files = append(files, Named{Name: shown, File: f})
		}
	}
	if len(errs) == 0 {
		return Compile(files, m)
	}
	// With every file in hand (some without their unknown fields), the
	// compiler reports the other problems in the same run; the set is not
	// used. Without some file, it would report references to its rules.
	if !missing {
		if _, err := Compile(files, m); err != nil {
			errs = append(errs, err)
		}
	}
	return nil, errors.Join(errs...)
}

// Compile validates and compiles parsed files into a Set.
func Compile(files []Named, m Matrix) (*Set, error) {
	var errs []error
	if err := m.Validate("priority"); err != nil {
		errs = append(errs, err)
	}
	s := &Set{Matrix: m, byName: map[string]*Compiled{}}
	type pending struct {
		file string
		idx  int
		r    *Rule
		c    *Compiled
	}
	var all []pending
	var def *pending
	for _, f := range files {
		for i := range f.File.Rules {
			r := &f.File.Rules[i]
			path := fmt.Sprintf("%s: rules[%d] %q", f.Name, i, r.Name)
			c, err := compileRule(path, r, &m, false)
			if err != nil {
				errs = append(errs, err)
			}
			if c == nil {
				continue
			}
			if prev, ok := s.byName[c.Name]; ok && c.Name != "" {
				errs = append(errs, fmt.Errorf("%s: name used twice (also rules[%d])", path, prev.Index))
				continue
			}
			c.Index = len(s.Rules)
			s.byName[c.Name] = c
			s.Rules = append(s.Rules, c)
			all = append(all, pending{file: f.Name, idx: i, r: r, c: c})
		}
		if f.File.Default != nil {
			if def != nil {
				errs = append(errs, fmt.Errorf("%s: default: also defined in %s", f.Name, def.file))
				continue
			}
			r := f.File.Default
			if r.Name == "" {
				r.Name = DefaultRuleName
			}
			path := fmt.Sprintf("%s: default %q", f.Name, r.Name)
			c, err := compileRule(path, r, &m, true)
			if err != nil {
				errs = append(errs, err)
			}
			def = &pending{file: f.Name, r: r, c: c}
		}
	}
	if err := compileServiceManagement(files, s); err != nil {
		errs = append(errs, err)
	}
	// Cross-rule references.
	for _, p := range all {
		if p.r.Rollup == nil {
			continue
		}
		path := fmt.Sprintf("%s: rules[%d] %q: rollup.rule", p.file, p.idx, p.r.Name)
		child, ok := s.byName[p.r.Rollup.Rule]
		switch {
		case p.r.Rollup.Rule == "":
			errs = append(errs, fmt.Errorf("%s: is required", path))
		case !ok:
			errs = append(errs, fmt.Errorf("%s: no rule named %q", path, p.r.Rollup.Rule))
		case child == p.c:
			errs = append(errs, fmt.Errorf("%s: a rule cannot roll itself up", path))
		case child.Rollup != nil:
			errs = append(errs, fmt.Errorf("%s: %q is itself a rollup rule; rollups do not nest", path, child.Name))
		default:
			p.c.Rollup.Child = child
			child.Parents = append(child.Parents, p.c)
		}
	}
	for _, c := range s.Rules {
		if len(c.Absorb) > 0 {
			s.Absorbers = append(s.Absorbers, c)
		}
	}
	if def != nil && def.c != nil {
		s.Default = def.c
	} else if def == nil {
		c, err := compileRule("default", &Rule{Name: DefaultRuleName, GroupBy: []string{GroupAll}}, &m, true)
		if err != nil {
			errs = append(errs, err)
		}
		s.Default = c
	}
	if s.Default != nil {
		if _, clash := s.byName[s.Default.Name]; clash {
			errs = append(errs, fmt.Errorf("default: name %q is also a rule's name", s.Default.Name))
		}
		s.Default.Index = len(s.Rules)
		s.byName[s.Default.Name] = s.Default
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func compileRule(path string, r *Rule, m *Matrix, isDefault bool) (*Compiled, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(path+": "+format, a...)) }
	c := &Compiled{
		Name:            r.Name,
		Description:     r.Description,
		Window:          durOr(r.Window, DefaultWindow),
		MaxLateness:     durOr(r.MaxLateness, DefaultMaxLateness),
		GroupWait:       time.Duration(r.GroupWait),
		UpdateInterval:  durOr(r.UpdateInterval, DefaultUpdateInterval),
		ResolveAfter:    time.Duration(r.ResolveAfter),
		MaxLifetime:     durOr(r.MaxLifetime, DefaultMaxLifetime),
		CloseAfter:      durOr(r.CloseAfter, DefaultCloseAfter),
		Category:        r.Category,
		AssignmentGroup: r.AssignmentGroup,
		Impact:          r.Impact,
		ImpactFrom:      r.ImpactFrom,
		Urgency:         r.Urgency,
		MaxSignals:      r.MaxSignals,
		ThresholdCount:  1,
	}
	if c.MaxSignals == 0 {
		c.MaxSignals = DefaultMaxSignals
	}
	if m := r.Change; m != nil {
		if len(m.Scope) == 0 {
			add("change.scope: name the labels that make the change's scope")
		}
		for i, l := range m.Scope {
			if !ingest.ValidLabelName(l) {
				add("change.scope[%d]: %q is not a valid label name (non-empty UTF-8)", i, l)
			}
		}
		if r.Rollup != nil || len(r.Absorb) > 0 || r.Threshold != nil {
			add("change: a change-marker rule makes change records, not incidents; remove rollup, absorb and threshold")
		}
		if isDefault {
			add("change: the default rule cannot be a change marker")
		}
		c.Change = m
	}
	c.ReopenWithin = DefaultReopenWithin
	if r.ReopenWithin != nil {
		c.ReopenWithin = time.Duration(*r.ReopenWithin)
	}
	if c.ReopenWithin > c.CloseAfter {
		add("reopen_within (%v) must not exceed close_after (%v): a closed incident cannot reopen", c.ReopenWithin, c.CloseAfter)
	}
	c.FlapCount, c.FlapWithin, c.FlapStableFor = DefaultFlapCount, DefaultFlapWithin, DefaultFlapStableFor
	if f := r.Flapping; f != nil {
		if f.Disabled {
			c.FlapCount = 0
		} else {
			if f.Count < 1 {
				add("flapping.count must be >= 1")
			}
			if f.Within <= 0 {
				add("flapping.within must be > 0")
			}
			if f.StableFor <= 0 {
				add("flapping.stable_for must be > 0")
			}
			c.FlapCount, c.FlapWithin, c.FlapStableFor = f.Count, time.Duration(f.Within), time.Duration(f.StableFor)
		}
	}
	if r.Name == "" {
		add("name is required")
	} else if !nameRE.MatchString(r.Name) {
		add("name may hold only letters, digits, '_', '.' and '-'")
	}
	if isDefault && len(r.Match) > 0 {
		add("match: the default rule takes the events no rule matches; it has no matchers")
	}
	if isDefault && (r.Rollup != nil || len(r.Absorb) > 0) {
		add("the default rule cannot have rollup or absorb")
	}
	if r.Rollup != nil && len(r.Match) > 0 {
		add("match: a rollup rule takes child incidents, not events; remove match")
	}
	c.Matchers = compileMatchers(path+": match", r.Match, &errs)
	// group_by
	seen := map[string]bool{}
	for i, g := range r.GroupBy {
		switch {
		case g == GroupAll:
			if len(r.GroupBy) != 1 {
				add("group_by[%d]: %q must be the only entry", i, GroupAll)
			}
			c.GroupByAll = true
		case !ingest.ValidLabelName(g):
			add("group_by[%d]: %q is not a valid label name (non-empty UTF-8)", i, g)
		case seen[g]:
			add("group_by[%d]: %q listed twice", i, g)
		default:
			seen[g] = true
			c.GroupBy = append(c.GroupBy, g)
		}
	}
	sort.Strings(c.GroupBy)
	if r.Window < 0 {
		add("window must be > 0")
	}
	if r.UpdateInterval < 0 {
		add("update_interval must be >= 0")
	}
	if r.Threshold != nil {
		t := r.Threshold
		switch {
		case t.Count != 0 && t.Distinct != nil:
			add("threshold: set count or distinct, not both")
		case t.Distinct != nil:
			if !ingest.ValidLabelName(t.Distinct.Label) {
				add("threshold.distinct.label: %q is not a valid label name (non-empty UTF-8)", t.Distinct.Label)
			}
			if t.Distinct.Count < 1 {
				add("threshold.distinct.count must be >= 1")
			}
			c.ThresholdCount, c.DistinctLabel, c.DistinctCount = 0, t.Distinct.Label, t.Distinct.Count
		case t.Count < 1:
			add("threshold.count must be >= 1")
		default:
			c.ThresholdCount = t.Count
		}
		if c.GroupByAll && (t.Count > 1 || t.Distinct != nil) {
			add("threshold: with group_by [\"...\"] every group holds one signal; a threshold above one can never be met")
		}
	}
	if r.Rollup != nil {
		ru := r.Rollup
		c.Rollup = &CompiledRollup{MinChildren: ru.MinChildren, Within: time.Duration(ru.Within)}
		if len(ru.GroupBy) == 0 {
			add("rollup.group_by must name the labels children share")
		}
		for i, g := range ru.GroupBy {
			if !ingest.ValidLabelName(g) {
				add("rollup.group_by[%d]: %q is not a valid label name (non-empty UTF-8)", i, g)
			}
		}
		c.Rollup.GroupBy = append([]string(nil), ru.GroupBy...)
		sort.Strings(c.Rollup.GroupBy)
		if ru.MinChildren < 1 {
			add("rollup.min_children must be >= 1")
		}
		if ru.Within <= 0 {
			add("rollup.within must be > 0")
		}
		if len(r.GroupBy) > 0 {
			add("group_by: a rollup rule groups by rollup.group_by; remove group_by")
		}
		c.GroupBy = c.Rollup.GroupBy
		if r.Threshold != nil {
			add("threshold: a rollup rule opens on rollup.min_children")
		}
	}
	for i, a := range r.Absorb {
		ap := fmt.Sprintf("absorb[%d]", i)
		ca := CompiledAbsorb{Matchers: compileMatchers(path+": "+ap+".match", a.Match, &errs)}
		if len(a.Match) == 0 {
			add("%s.match: at least one matcher is required", ap)
		}
		if c.GroupByAll || len(c.GroupBy) == 0 {
			add("%s: absorb needs a rule grouped by named labels", ap)
		}
		groups := map[string]bool{}
		for sig, grp := range a.On {
			if !seen[grp] {
				add("%s.on: %q is not in group_by", ap, grp)
			}
			if !ingest.ValidLabelName(sig) {
				add("%s.on: %q is not a valid label name (non-empty UTF-8)", ap, sig)
			}
			groups[grp] = true
			ca.On = append(ca.On, LabelPair{Signal: sig, Group: grp})
		}
		for _, g := range c.GroupBy {
			if !groups[g] && !c.GroupByAll {
				add("%s.on: group label %q has no signal label mapped to it", ap, g)
			}
		}
		sort.Slice(ca.On, func(i, j int) bool { return ca.On[i].Group < ca.On[j].Group })
		c.Absorb = append(c.Absorb, ca)
	}
	for i, b := range r.Breadth {
		if !ingest.ValidLabelName(b) {
			add("breadth[%d]: %q is not a valid label name (non-empty UTF-8)", i, b)
		}
		c.Breadth = append(c.Breadth, b)
	}
	if c.Impact != "" && m.impactIndex(c.Impact) < 0 {
		add("impact: %q is not an impact of the priority matrix (%s)", c.Impact, strings.Join(m.Impacts, ", "))
	}
	if c.Urgency != "" && m.urgencyIndex(c.Urgency) < 0 {
		add("urgency: %q is not an urgency of the priority matrix (%s)", c.Urgency, strings.Join(m.Urgencies, ", "))
	}
	if f := r.ImpactFrom; f != nil {
		if c.Impact != "" {
			add("impact_from: set impact or impact_from, not both")
		}
		if !ingest.ValidLabelName(f.Label) {
			add("impact_from.label: %q is not a valid label name (non-empty UTF-8)", f.Label)
		} else if !contains(c.Breadth, f.Label) {
			c.Breadth = append(c.Breadth, f.Label)
		}
		if len(f.Levels) == 0 {
			add("impact_from.levels must not be empty")
		}
		for i, l := range f.Levels {
			if m.impactIndex(l.Impact) < 0 {
				add("impact_from.levels[%d].impact: %q is not an impact of the priority matrix", i, l.Impact)
			}
			if i > 0 && l.Min <= f.Levels[i-1].Min {
				add("impact_from.levels[%d].min must be greater than the previous level's", i)
			}
		}
	}
	var err error
	title := r.Title
	if title == "" {
		title, c.DefaultTitle = DefaultTitle, true
	}
	if c.Title, err = parseTemplate("title", title); err != nil {
		add("title: %v", err)
	}
	desc := r.DescriptionTmpl
	if desc == "" {
		desc, c.DefaultDesc = DefaultDescription, true
	}
	if c.DescriptionTmpl, err = parseTemplate("description", desc); err != nil {
		add("description_template: %v", err)
	}
	if r.MaxSignals < 0 {
		add("max_signals must be >= 0")
	}
	return c, errors.Join(errs...)
}

func compileMatchers(path string, in []string, errs *[]error) []*labels.Matcher {
	var out []*labels.Matcher
	for i, s := range in {
		m, err := labels.ParseMatcher(s)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s[%d]: %q: %w", path, i, s, err))
			continue
		}
		out = append(out, m)
	}
	return out
}

// TemplateFuncs are available in title and description templates.
var TemplateFuncs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  strings.Join,
}

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=zero").Funcs(TemplateFuncs).Parse(text)
}

func durOr(d Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

func contains(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

// ImpactOf returns the impact of an incident with the given breadth.
func (c *Compiled) ImpactOf(m *Matrix, breadth func(label string) int) string {
	if c.ImpactFrom != nil {
		n := breadth(c.ImpactFrom.Label)
		imp := ""
		for _, l := range c.ImpactFrom.Levels {
			if n >= l.Min {
				imp = l.Impact
			}
		}
		if imp != "" {
			return imp
		}
	}
	if c.Impact != "" {
		return c.Impact
	}
	return m.DefaultImpact
}

// UrgencyOf returns the rule's urgency or the matrix default.
func (c *Compiled) UrgencyOf(m *Matrix) string {
	if c.Urgency != "" {
		return c.Urgency
	}
	return m.DefaultUrgency
}

// compileServiceManagement compiles calendars, the service catalogue, SLA
// targets and major-incident settings of all files into s.
func compileServiceManagement(files []Named, s *Set) error {
	var errs []error
	cals := map[string]*Calendar{"24x7": AlwaysOpen}
	calFile := map[string]string{}
	for _, f := range files {
		names := make([]string, 0, len(f.File.Calendars))
		for n := range f.File.Calendars {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			path := fmt.Sprintf("%s: calendars.%s", f.Name, n)
			if prev, ok := calFile[n]; ok || n == "24x7" {
				errs = append(errs, fmt.Errorf("%s: defined twice (also in %s)", path, map[bool]string{true: prev, false: "built in"}[ok]))
				continue
			}
			c, err := CompileCalendar(path, n, f.File.Calendars[n])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			cals[n], calFile[n] = c, f.Name
		}
	}
	s.SLA = DefaultSLA()
	s.MajorPriority, s.StatusEvery = 1, 30*time.Minute
	var slaFile, majorFile, changesFile, problemsFile string
	s.SuspectWithin = DefaultSuspectWithin
	s.Problems = DefaultProblems()
	keSeen := map[string]string{}
	seen := map[string]bool{}
	for _, f := range files {
		for i := range f.File.Services {
			c := &f.File.Services[i]
			path := fmt.Sprintf("%s: services[%d] %q", f.Name, i, c.Name)
			svc, err := compileService(path, c, &s.Matrix, cals)
			if err != nil {
				errs = append(errs, err)
			}
			if seen[c.Name] {
				errs = append(errs, fmt.Errorf("%s: name used twice", path))
			}
			seen[c.Name] = true
			s.Services = append(s.Services, svc)
		}
		if f.File.SLA != nil {
			if slaFile != "" {
				errs = append(errs, fmt.Errorf("%s: sla: also set in %s", f.Name, slaFile))
				continue
			}
			slaFile = f.Name
			sla := *f.File.SLA
			for p := 1; p <= 4; p++ {
				if _, ok := sla.Targets[p]; !ok {
					errs = append(errs, fmt.Errorf("%s: sla.targets: priority %d has no targets", f.Name, p))
				}
			}
			if err := validateSLA(f.Name+": sla", sla); err != nil {
				errs = append(errs, err)
			}
			s.SLA = sla
		}
		for i := range f.File.Maintenance {
			c := &f.File.Maintenance[i]
			w, err := compileMaintenance(fmt.Sprintf("%s: maintenance[%d] %q", f.Name, i, c.Name), c)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.Maintenance = append(s.Maintenance, w)
		}
		for i, c := range f.File.KnownErrors {
			path := fmt.Sprintf("%s: known_errors[%d] %q", f.Name, i, c.ID)
			k, err := CompileKnownError(path, c)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if prev, ok := keSeen[c.ID]; ok {
				errs = append(errs, fmt.Errorf("%s: id used twice (also in %s)", path, prev))
				continue
			}
			keSeen[c.ID] = f.Name
			s.KnownErrors = append(s.KnownErrors, k)
		}
		if c := f.File.Changes; c != nil {
			if changesFile != "" {
				errs = append(errs, fmt.Errorf("%s: changes: also set in %s", f.Name, changesFile))
			} else {
				changesFile = f.Name
				if c.SuspectWithin < 0 {
					errs = append(errs, fmt.Errorf("%s: changes.suspect_within must be >= 0", f.Name))
				} else if c.SuspectWithin > 0 {
					s.SuspectWithin = time.Duration(c.SuspectWithin)
				}
			}
		}
		if c := f.File.Problems; c != nil {
			if problemsFile != "" {
				errs = append(errs, fmt.Errorf("%s: problems: also set in %s", f.Name, problemsFile))
			} else {
				problemsFile = f.Name
				p, err := compileProblems(f.Name+": problems", c)
				if err != nil {
					errs = append(errs, err)
				}
				s.Problems = p
			}
		}
		if m := f.File.Major; m != nil {
			if majorFile != "" {
				errs = append(errs, fmt.Errorf("%s: major: also set in %s", f.Name, majorFile))
				continue
			}
			majorFile = f.Name
			if m.Priority != 0 {
				if m.Priority < 1 || m.Priority > 4 {
					errs = append(errs, fmt.Errorf("%s: major.priority: %d out of range 1..4", f.Name, m.Priority))
				}
				s.MajorPriority = m.Priority
			}
			if m.StatusEvery < 0 {
				errs = append(errs, fmt.Errorf("%s: major.status_every must be >= 0", f.Name))
			}
			if m.StatusEvery > 0 {
				s.StatusEvery = time.Duration(m.StatusEvery)
			}
		}
	}
	return errors.Join(errs...)
}
