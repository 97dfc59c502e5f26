package correlator

import (
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// maxTrackedSignals bounds the per-incident signal state. Signals beyond it
// are counted but not tracked one by one; such an incident resolves by its
// tracked signals or by resolve_after.
const maxTrackedSignals = 10000

// group is the state of one (rule, group key) in a shard.
type group struct {
	hash   uint64
	rule   *rules.Compiled
	set    *rules.Set
	labels ingest.Labels
	key    string
	// open incidents, oldest first; only the newest may accept new signals
	// (older ones have reached max_lifetime).
	open    []*incState
	pending *pendingWindow
	// lastResolved is the group's latest resolved incident while it may
	// still reopen or be referred to as previous.
	lastResolved *incState
	// closing are older resolved incidents of the group, superseded as
	// lastResolved, that wait for close_after.
	closing []*incState
	// Rollup parents: children seen but not yet enough to open.
	waitingChildren []childRef
	breadth         map[string]map[string]struct{}
	// checkAt is the pending expiry hint of the group, if any.
	checkAt time.Time
}

// childRef names a child incident of a rollup parent.
type childRef struct {
	id       string
	shard    int
	at       time.Time
	severity ingest.Severity
	first    time.Time
	resolved bool
}

// accepting returns the open incident that takes new signals, if any.
func (g *group) accepting(now time.Time) *incState {
	if n := len(g.open); n > 0 {
		inc := g.open[n-1]
		if now.Sub(inc.openedAt) < inc.rule.MaxLifetime {
			return inc
		}
	}
	return nil
}

// reopenable returns the resolved incident a new signal reopens, if any.
func (g *group) reopenable(now time.Time) *incState {
	r := g.lastResolved
	if r != nil && r.status == StatusResolved && now.Sub(r.resolvedAt) <= r.rule.ReopenWithin {
		return r
	}
	return nil
}

// find returns the open incident holding the signal fp.
func (g *group) find(fp uint64) (*incState, *sigState) {
	for i := len(g.open) - 1; i >= 0; i-- {
		if s, ok := g.open[i].signals[fp]; ok {
			return g.open[i], s
		}
	}
	return nil, nil
}

func (g *group) removeOpen(inc *incState) {
	for i, o := range g.open {
		if o == inc {
			g.open = append(g.open[:i], g.open[i+1:]...)
			return
		}
	}
}

func (g *group) idle() bool {
	return len(g.open) == 0 && (g.pending == nil || len(g.pending.sigs) == 0) && len(g.waitingChildren) == 0 && g.lastResolved == nil && len(g.closing) == 0
}

// knowsChild reports whether the rollup group already counts child id:
// waiting, or a child of one of its incidents.
func (g *group) knowsChild(id string) bool {
	for _, c := range g.waitingChildren {
		if c.id == id {
			return true
		}
	}
	has := func(inc *incState) bool {
		if inc == nil {
			return false
		}
		_, ok := inc.childOpen[id]
		return ok
	}
	for _, inc := range g.open {
		if has(inc) {
			return true
		}
	}
	if has(g.lastResolved) {
		return true
	}
	for _, inc := range g.closing {
		if has(inc) {
			return true
		}
	}
	return false
}

// supersede moves the group's latest resolved incident to closing: a new
// incident of the group opened, or another one resolved. It returns the
// superseded incident's id.
func (g *group) supersede() string {
	r := g.lastResolved
	if r == nil {
		return ""
	}
	g.closing = append(g.closing, r)
	g.lastResolved = nil
	return r.id
}

// unclose forgets inc as waiting to close.
func (g *group) unclose(inc *incState) {
	for i, c := range g.closing {
		if c == inc {
			g.closing = append(g.closing[:i], g.closing[i+1:]...)
			return
		}
	}
}

// incState is the mutable state of an incident, owned by one shard.
type incState struct {
	id     string
	rule   *rules.Compiled
	matrix *rules.Matrix
	g      *group
	shard  int

	status                          Status
	openedAt, resolvedAt, closedAt  time.Time
	firstSeen, lastSeen, lastArrive time.Time

	signals   map[uint64]*sigState
	order     []*sigState
	untracked int
	// ownSignals counts the signals that are not absorbed.
	ownSignals int
	firing     int
	events     int64
	common     ingest.Labels
	commonAnn  ingest.Labels
	breadth    map[string]map[string]struct{}
	severity   ingest.Severity

	priority        int
	impact, urgency string

	parent    string
	children  []string
	childOpen map[string]bool
	openKids  int
	isParent  bool
	parents   []parentTarget

	itil
	firstArrive time.Time

	knownErrors []KnownErrorMatch
	suspects    []Suspect
	problem     string

	previous    string
	reopenTimes []time.Time
	reopens     int
	flapping    bool
	stableAt    time.Time
	ackedAt     time.Time
	ackedBy     string
	timeline    []TimelineEntry

	revision   uint64
	announced  bool
	announceAt time.Time
	dirty      bool
	lastEmit   time.Time
	updateDue  time.Time
	closeAt    time.Time
	// quietAt is the pending resolve_after hint, if any.
	quietAt time.Time
}

// sigState is one signal of an incident.
type sigState struct {
	fp          uint64
	kind        string
	source      string
	labels      ingest.Labels
	annotations ingest.Labels
	severity    ingest.Severity
	status      ingest.Status
	startsAt    time.Time
	lastSeen    time.Time
	resolvedAt  time.Time
	count       int64
	absorbed    bool
	// idx is the signal's place in its incident's order (its store key).
	idx int
}

func newSig(ev *ingest.Event, absorbed bool) *sigState {
	s := &sigState{
		fp: ev.Fingerprint, kind: ev.Kind, source: ev.Source,
		labels: ev.Labels, annotations: ev.Annotations,
		severity: ev.Severity, status: ev.Status,
		startsAt: ev.EventTime, lastSeen: ev.ArrivalTime, count: 1, absorbed: absorbed,
	}
	if ev.Status == ingest.StatusResolved {
		s.resolvedAt = ev.EventTime
	}
	return s
}

// breadthLabels are the labels whose distinct values the incident counts:
// its rule's and its rollup parents'.
func breadthLabels(r *rules.Compiled) []string {
	out := r.Breadth
	for _, p := range r.Parents {
		for _, b := range p.Breadth {
			if !containsStr(out, b) {
				out = append(out[:len(out):len(out)], b)
			}
		}
	}
	return out
}

func containsStr(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

// addBreadth records the label values of ls; it returns the pairs that were
// new.
func addBreadth(b map[string]map[string]struct{}, names []string, ls ingest.Labels, fresh []ingest.Label) []ingest.Label {
	for _, n := range names {
		v := ls.Get(n)
		if v == "" {
			continue
		}
		set := b[n]
		if set == nil {
			set = map[string]struct{}{}
			b[n] = set
		}
		if _, ok := set[v]; !ok {
			set[v] = struct{}{}
			fresh = append(fresh, ingest.Label{Name: n, Value: v})
		}
	}
	return fresh
}

// intersect returns the labels of a present with the same value in b. It
// reuses a's storage.
func intersect(a, b ingest.Labels) ingest.Labels {
	out := a[:0:0]
	same := true
	for _, l := range a {
		if b.Get(l.Name) == l.Value {
			out = append(out, l)
		} else {
			same = false
		}
	}
	if same {
		return a
	}
	return out
}

func (inc *incState) breadthCount(label string) int { return len(inc.breadth[label]) }

// recomputePriority updates impact, urgency and priority; it reports the
// previous priority when it changed.
func (inc *incState) recomputePriority() (prev int, changed bool) {
	inc.impact = inc.rule.ImpactOf(inc.matrix, inc.breadthCount)
	if inc.rule.Impact == "" && inc.rule.ImpactFrom == nil && inc.service != nil && inc.service.Criticality != "" {
		inc.impact = inc.service.Criticality
	}
	inc.urgency = inc.rule.UrgencyOf(inc.matrix)
	p := inc.matrix.Priority(inc.impact, inc.urgency)
	if p != inc.priority {
		prev, inc.priority = inc.priority, p
		return prev, prev != 0
	}
	return 0, false
}

// templateData is what title and description templates see.
type templateData struct {
	Rule              string
	Status            string
	Priority          int
	Severity          string
	GroupLabels       map[string]string
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	SignalCount       int
	FiringCount       int
	ChildCount        int
	Breadth           map[string]int
}

// snapshot renders the incident. withSignals adds the bounded signal list.
func (inc *incState) snapshot(withSignals bool) Incident {
	out := Incident{
		ID:              inc.id,
		Rule:            inc.rule.Name,
		GroupKey:        inc.g.key,
		GroupLabels:     inc.g.labels,
		CommonLabels:    inc.common,
		Status:          inc.status,
		Priority:        inc.priority,
		PriorityName:    inc.matrix.Name(inc.priority),
		Impact:          inc.impact,
		Urgency:         inc.urgency,
		Severity:        inc.severity,
		Category:        inc.category,
		AssignmentGroup: inc.assignment,
		EscalationLevel: inc.level,
		Major:           inc.major,
		SLA:             inc.slaSnapshot(),
		Maintenance:     inc.maintBy,
		Waiting:         inc.waiting,
		SignalCount:     len(inc.order) + inc.untracked,
		FiringCount:     inc.firing,
		EventCount:      inc.events,
		FirstSeen:       inc.firstSeen,
		LastSeen:        inc.lastSeen,
		OpenedAt:        inc.openedAt,
		Parent:          inc.parent,
		Revision:        inc.revision,
		Previous:        inc.previous,
		Reopens:         inc.reopens,
		Flapping:        inc.flapping,
		AckedBy:         inc.ackedBy,
	}
	if !inc.ackedAt.IsZero() {
		t := inc.ackedAt
		out.AckedAt = &t
	}
	if inc.service != nil {
		out.Service = inc.service.Name
	}
	out.KnownErrors = append([]KnownErrorMatch(nil), inc.knownErrors...)
	out.Suspects = append([]Suspect(nil), inc.suspects...)
	out.Problem = inc.problem
	if inc.isParent {
		out.FiringCount = inc.openKids
	}
	if !inc.resolvedAt.IsZero() {
		t := inc.resolvedAt
		out.ResolvedAt = &t
	}
	if !inc.closedAt.IsZero() {
		t := inc.closedAt
		out.ClosedAt = &t
	}
	if len(inc.children) > 0 {
		out.Children = append([]string(nil), inc.children...)
	}
	if len(inc.rule.Breadth) > 0 {
		out.Breadth = make(map[string]int, len(inc.rule.Breadth))
		for _, b := range inc.rule.Breadth {
			out.Breadth[b] = len(inc.breadth[b])
		}
	}
	if withSignals {
		n := min(len(inc.order), inc.rule.MaxSignals)
		out.Signals = make([]Signal, 0, n)
		for _, s := range inc.order[:n] {
			out.Signals = append(out.Signals, s.snapshot())
		}
	}
	var data *templateData
	tmplData := func() *templateData {
		if data == nil {
			data = &templateData{
				Rule: inc.rule.Name, Status: string(inc.status), Priority: inc.priority,
				Severity: inc.severity.String(), GroupLabels: inc.g.labels.Map(),
				CommonLabels: inc.common.Map(), CommonAnnotations: inc.commonAnn.Map(),
				SignalCount: out.SignalCount, FiringCount: out.FiringCount, ChildCount: len(inc.children),
				Breadth: out.Breadth,
			}
		}
		return data
	}
	if inc.rule.DefaultTitle {
		out.Title = inc.defaultTitle()
	} else {
		out.Title = render(inc.rule.Title, tmplData())
	}
	if inc.rule.DefaultDesc {
		out.Description = inc.defaultDescription(out.SignalCount, out.FiringCount, out.Breadth)
	} else {
		out.Description = render(inc.rule.DescriptionTmpl, tmplData())
	}
	out.Description += inc.knowledgeText()
	return out
}

// defaultTitle renders rules.DefaultTitle without text/template.
func (inc *incState) defaultTitle() string {
	if s := inc.commonAnn.Get("summary"); s != "" {
		return s
	}
	name := inc.common.Get("alertname")
	if name == "" {
		name = inc.rule.Name
	}
	b := append(make([]byte, 0, 64), name...)
	for _, l := range inc.g.labels {
		b = append(b, ' ')
		b = appendLabelName(b, l.Name)
		b = append(b, '=')
		b = appendTitleValue(b, l.Value)
	}
	return string(b)
}

// defaultDescription renders rules.DefaultDescription without
// text/template.
func (inc *incState) defaultDescription(signals, firing int, breadth map[string]int) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(signals))
	b.WriteString(" signal(s), ")
	b.WriteString(strconv.Itoa(firing))
	b.WriteString(" firing, rule ")
	b.WriteString(inc.rule.Name)
	b.WriteByte('.')
	if d := inc.commonAnn.Get("description"); d != "" {
		b.WriteByte('\n')
		b.WriteString(d)
	}
	if len(breadth) > 0 {
		keys := make([]string, 0, len(breadth))
		for k := range breadth {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteByte('\n')
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(strconv.Itoa(breadth[k]))
		}
	}
	return b.String()
}

func (s *sigState) snapshot() Signal {
	out := Signal{
		Fingerprint: fingerprintString(s.fp),
		Kind:        s.kind, Source: s.source,
		Labels: s.labels, Annotations: s.annotations,
		Severity: s.severity, Status: s.status,
		StartsAt: s.startsAt, LastSeen: s.lastSeen, Count: s.count, Absorbed: s.absorbed,
	}
	if s.status == ingest.StatusResolved && !s.resolvedAt.IsZero() {
		t := s.resolvedAt
		out.ResolvedAt = &t
	}
	return out
}

func fingerprintString(fp uint64) string {
	s := strconv.FormatUint(fp, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

func render(t *template.Template, data *templateData) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "template error: " + err.Error()
	}
	return b.String()
}

func sortIncidents(list []Incident) {
	sort.Slice(list, func(i, j int) bool {
		if !list[i].OpenedAt.Equal(list[j].OpenedAt) {
			return list[i].OpenedAt.Before(list[j].OpenedAt)
		}
		return list[i].ID < list[j].ID
	})
}
