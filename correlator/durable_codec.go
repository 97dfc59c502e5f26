package correlator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	json "github.com/goccy/go-json"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// The durable codec: a group and everything it owns (its incidents, their
// signals and timelines, its threshold window and rollup bookkeeping) as one
// JSON record, and the re-installation of such a record in a shard as if the
// group had been built live. The durable engine writes the group without its
// incidents' signals, timelines and breadth (encodeGroupState), which are
// records of their own (encodeSig, timeline entries, breadth keys), and
// attaches them again on restore. Times are Unix nanoseconds (nanos).
//
// The records are written through mirror structs with short tags so that
// the in-memory types stay free to change. Pointers the rule set owns are
// not stored but found again on decode: the rule by name, the service by
// name (its calendar with it), the matrix of the set, rollup parents by
// rule name. Slices and maps keep the difference between nil and empty
// (omitzero), so that a decoded group encodes to the same bytes again.

// groupRecVersion is the format of the records encodeGroup writes.
const groupRecVersion = 1

// errRuleGone is wrapped by decodeGroup when the record's rule is not in
// the rule set any more: the caller logs and skips the record.
var errRuleGone = errors.New("rule no longer exists")

// lbls is a label set as pairs; nil and empty stay apart.
type lbls [][2]string

func toLbls(ls ingest.Labels) lbls {
	if ls == nil {
		return nil
	}
	out := make(lbls, len(ls))
	for i, l := range ls {
		out[i] = [2]string{l.Name, l.Value}
	}
	return out
}

func (r lbls) labels() ingest.Labels {
	if r == nil {
		return nil
	}
	out := make(ingest.Labels, len(r))
	for i, p := range r {
		out[i] = ingest.Label{Name: p[0], Value: p[1]}
	}
	return out
}

// nanos is a time in a record: Unix nanoseconds, 0 for the zero time.
// Numbers encode and decode several times faster than RFC 3339 text.
type nanos int64

func tn(t time.Time) nanos {
	if t.IsZero() {
		return 0
	}
	return nanos(t.UnixNano())
}

func (n nanos) t() time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

// breadthRec is a breadth set with its values sorted.
type breadthRec map[string][]string

func toBreadthRec(b map[string]map[string]struct{}) breadthRec {
	if b == nil {
		return nil
	}
	out := make(breadthRec, len(b))
	for name, set := range b {
		vs := make([]string, 0, len(set))
		for v := range set {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		out[name] = vs
	}
	return out
}

func (r breadthRec) breadth() map[string]map[string]struct{} {
	if r == nil {
		return nil
	}
	out := make(map[string]map[string]struct{}, len(r))
	for name, vs := range r {
		set := make(map[string]struct{}, len(vs))
		for _, v := range vs {
			set[v] = struct{}{}
		}
		out[name] = set
	}
	return out
}

type groupRec struct {
	V       int        `json:"v"`
	Hash    uint64     `json:"h"`
	Rule    string     `json:"r"`
	Labels  lbls       `json:"l,omitzero"`
	Key     string     `json:"k"`
	Open    []*incRec  `json:"o,omitzero"`
	Last    *incRec    `json:"lr,omitzero"`
	Closing []*incRec  `json:"cl,omitzero"`
	Pending *pendRec   `json:"p,omitzero"`
	Waiting []childRec `json:"w,omitzero"`
	Breadth breadthRec `json:"b,omitzero"`
	CheckAt nanos      `json:"ca,omitempty"`
}

type pendRec struct {
	Sigs []pendSigRec `json:"s,omitzero"`
}

type pendSigRec struct {
	Ev       eventRec `json:"e"`
	Absorbed bool     `json:"a,omitempty"`
	Expires  nanos    `json:"x,omitempty"`
}

// eventRec is an ingest.Event without Raw (nothing downstream of the
// window reads it).
type eventRec struct {
	Kind        string `json:"k,omitempty"`
	Source      string `json:"s,omitempty"`
	EventTime   nanos  `json:"et,omitempty"`
	ArrivalTime nanos  `json:"at,omitempty"`
	Fingerprint uint64 `json:"fp"`
	Labels      lbls   `json:"l,omitzero"`
	Annotations lbls   `json:"an,omitzero"`
	Severity    uint8  `json:"sv,omitempty"`
	Status      uint8  `json:"st,omitempty"`
}

type childRec struct {
	ID       string `json:"i"`
	Shard    int    `json:"sh,omitempty"`
	At       nanos  `json:"at,omitempty"`
	Severity uint8  `json:"sv,omitempty"`
	First    nanos  `json:"f,omitempty"`
	Resolved bool   `json:"rs,omitempty"`
}

type sigRec struct {
	FP          uint64 `json:"fp"`
	Kind        string `json:"k,omitempty"`
	Source      string `json:"s,omitempty"`
	Labels      lbls   `json:"l,omitzero"`
	Annotations lbls   `json:"an,omitzero"`
	Severity    uint8  `json:"sv,omitempty"`
	Status      uint8  `json:"st,omitempty"`
	StartsAt    nanos  `json:"sa,omitempty"`
	LastSeen    nanos  `json:"ls,omitempty"`
	ResolvedAt  nanos  `json:"ra,omitempty"`
	Count       int64  `json:"n,omitempty"`
	Absorbed    bool   `json:"ab,omitempty"`
}

type parentRec struct {
	Rule string `json:"r"`
	Hash uint64 `json:"h"`
}

// incRec is every field of incState (and its itil) but the pointers
// decodeGroup finds again.
type incRec struct {
	ID         string `json:"id"`
	Status     Status `json:"st"`
	OpenedAt   nanos  `json:"oa,omitempty"`
	ResolvedAt nanos  `json:"ra,omitempty"`
	ClosedAt   nanos  `json:"ca,omitempty"`
	FirstSeen  nanos  `json:"fs,omitempty"`
	LastSeen   nanos  `json:"ls,omitempty"`
	LastArrive nanos  `json:"la,omitempty"`

	Signals    []sigRec   `json:"sg,omitzero"`
	Untracked  int        `json:"ut,omitempty"`
	OwnSignals int        `json:"own,omitempty"`
	Firing     int        `json:"fr,omitempty"`
	Events     int64      `json:"ev,omitempty"`
	Common     lbls       `json:"cm,omitzero"`
	CommonAnn  lbls       `json:"can,omitzero"`
	Breadth    breadthRec `json:"b,omitzero"`
	Severity   uint8      `json:"sv,omitempty"`

	Priority int    `json:"pr,omitempty"`
	Impact   string `json:"im,omitempty"`
	Urgency  string `json:"ur,omitempty"`

	Parent    string          `json:"par,omitempty"`
	Children  []string        `json:"ch,omitzero"`
	ChildOpen map[string]bool `json:"cho,omitzero"`
	OpenKids  int             `json:"ok,omitempty"`
	IsParent  bool            `json:"ip,omitempty"`
	Parents   []parentRec     `json:"ps,omitzero"`

	// itil; the calendar follows the service.
	Service      string        `json:"svc,omitempty"`
	Category     string        `json:"cat,omitempty"`
	Assignment   string        `json:"asg,omitempty"`
	RespDue      nanos         `json:"rpd,omitempty"`
	RespWarn     nanos         `json:"rpw,omitempty"`
	ResDue       nanos         `json:"rsd,omitempty"`
	ResWarn      nanos         `json:"rsw,omitempty"`
	RespWarned   bool          `json:"rpwd,omitempty"`
	RespBreached bool          `json:"rpb,omitempty"`
	ResWarned    bool          `json:"rswd,omitempty"`
	ResBreached  bool          `json:"rsb,omitempty"`
	Level        int           `json:"lv,omitempty"`
	LevelDue     nanos         `json:"lvd,omitempty"`
	Major        bool          `json:"mj,omitempty"`
	NextStatus   nanos         `json:"ns,omitempty"`
	Maint        bool          `json:"mt,omitempty"`
	MaintBy      string        `json:"mtb,omitempty"`
	PauseStart   nanos         `json:"pst,omitempty"`
	Paused       time.Duration `json:"pd,omitempty"`
	Withheld     bool          `json:"wh,omitempty"`
	Forwarded    bool          `json:"fw,omitempty"`
	LastFwd      ChangeType    `json:"lf,omitempty"`
	MaintCheckAt nanos         `json:"mca,omitempty"`
	PendingProb  *Change       `json:"pp,omitzero"`
	Waiting      string        `json:"wt,omitempty"`

	FirstArrive nanos             `json:"fa,omitempty"`
	KnownErrors []KnownErrorMatch `json:"ke,omitzero"`
	Suspects    []Suspect         `json:"su,omitzero"`
	Problem     string            `json:"pb,omitempty"`

	Previous    string          `json:"prev,omitempty"`
	ReopenTimes []time.Time     `json:"rot,omitzero"`
	Reopens     int             `json:"ro,omitempty"`
	Flapping    bool            `json:"fl,omitempty"`
	StableAt    nanos           `json:"sta,omitempty"`
	AckedAt     nanos           `json:"aa,omitempty"`
	AckedBy     string          `json:"ab,omitempty"`
	Timeline    []TimelineEntry `json:"tl,omitzero"`

	Revision   uint64 `json:"rev,omitempty"`
	Announced  bool   `json:"an,omitempty"`
	AnnounceAt nanos  `json:"aat,omitempty"`
	Dirty      bool   `json:"dt,omitempty"`
	LastEmit   nanos  `json:"le,omitempty"`
	UpdateDue  nanos  `json:"ud,omitempty"`
	CloseAt    nanos  `json:"cla,omitempty"`
	QuietAt    nanos  `json:"qa,omitempty"`
}

// encodeGroup serialises g with its open incidents, its resolved ones
// waiting to close, its threshold window and its rollup bookkeeping.
func encodeGroup(g *group) ([]byte, error) { return encodeGroupRec(g, true) }

// encodeGroupState is encodeGroup without the incidents' signals and
// timelines: the durable engine writes each signal as its own record
// (encodeSig) when it changes and each timeline entry when it is added,
// so a group of a thousand signals is not rewritten whole for every new
// one.
func encodeGroupState(g *group) ([]byte, error) { return encodeGroupRec(g, false) }

func encodeGroupRec(g *group, withSignals bool) ([]byte, error) {
	if g == nil || g.rule == nil {
		return nil, errors.New("encode group: no group or no rule")
	}
	rec := groupRec{
		V:       groupRecVersion,
		Hash:    g.hash,
		Rule:    g.rule.Name,
		Labels:  toLbls(g.labels),
		Key:     g.key,
		Breadth: toBreadthRec(g.breadth),
		CheckAt: tn(g.checkAt),
	}
	if g.open != nil {
		rec.Open = make([]*incRec, len(g.open))
		for i, inc := range g.open {
			rec.Open[i] = toIncRec(inc, withSignals)
		}
	}
	if g.lastResolved != nil {
		rec.Last = toIncRec(g.lastResolved, withSignals)
	}
	for _, inc := range g.closing {
		if inc == nil || inc == g.lastResolved || inc.g != g {
			continue
		}
		rec.Closing = append(rec.Closing, toIncRec(inc, withSignals))
	}
	if p := g.pending; p != nil {
		rec.Pending = &pendRec{}
		if p.sigs != nil {
			rec.Pending.Sigs = make([]pendSigRec, len(p.sigs))
			for i, ps := range p.sigs {
				rec.Pending.Sigs[i] = pendSigRec{Ev: toEventRec(&ps.ev), Absorbed: ps.absorbed, Expires: tn(ps.expires)}
			}
		}
	}
	if g.waitingChildren != nil {
		rec.Waiting = make([]childRec, len(g.waitingChildren))
		for i, c := range g.waitingChildren {
			rec.Waiting[i] = childRec{ID: c.id, Shard: c.shard, At: tn(c.at), Severity: uint8(c.severity), First: tn(c.first), Resolved: c.resolved}
		}
	}
	b, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("encode group %s %s: %w", g.rule.Name, g.key, err)
	}
	return b, nil
}

func toSigRec(sg *sigState) sigRec {
	return sigRec{
		FP: sg.fp, Kind: sg.kind, Source: sg.source,
		Labels: toLbls(sg.labels), Annotations: toLbls(sg.annotations),
		Severity: uint8(sg.severity), Status: uint8(sg.status),
		StartsAt: tn(sg.startsAt), LastSeen: tn(sg.lastSeen), ResolvedAt: tn(sg.resolvedAt),
		Count: sg.count, Absorbed: sg.absorbed,
	}
}

func (sr *sigRec) sig() *sigState {
	return &sigState{
		fp: sr.FP, kind: sr.Kind, source: sr.Source,
		labels: sr.Labels.labels(), annotations: sr.Annotations.labels(),
		severity: ingest.Severity(sr.Severity), status: ingest.Status(sr.Status),
		startsAt: sr.StartsAt.t(), lastSeen: sr.LastSeen.t(), resolvedAt: sr.ResolvedAt.t(),
		count: sr.Count, absorbed: sr.Absorbed,
	}
}

// sigKey is the store key of a signal record: its incident's id and its
// place in the incident's signal order, so that keys load in order.
func sigKey(incID string, idx int) string {
	return incID + string(binary.BigEndian.AppendUint32(nil, uint32(idx)))
}

// encodeSig serialises one signal of an incident, for its own record.
func encodeSig(sg *sigState) ([]byte, error) {
	rec := toSigRec(sg)
	return json.Marshal(&rec)
}

// attachTimeline gives inc the timeline entries of its records (in key
// order).
func attachTimeline(inc *incState, data [][]byte) error {
	inc.timeline = make([]TimelineEntry, len(data))
	for i, d := range data {
		if err := json.Unmarshal(d, &inc.timeline[i]); err != nil {
			return fmt.Errorf("timeline entry %d of %s: %w", i, inc.id, err)
		}
	}
	return nil
}

// attachSignals gives inc the signals of its records (in key order).
func attachSignals(inc *incState, data [][]byte) error {
	inc.order = make([]*sigState, 0, len(data))
	inc.signals = make(map[uint64]*sigState, len(data))
	for i, d := range data {
		var sr sigRec
		if err := json.Unmarshal(d, &sr); err != nil {
			return fmt.Errorf("signal %d of %s: %w", i, inc.id, err)
		}
		sg := sr.sig()
		sg.idx = i
		inc.order = append(inc.order, sg)
		inc.signals[sg.fp] = sg
	}
	return nil
}

func toEventRec(ev *ingest.Event) eventRec {
	return eventRec{
		Kind: ev.Kind, Source: ev.Source, EventTime: tn(ev.EventTime), ArrivalTime: tn(ev.ArrivalTime),
		Fingerprint: ev.Fingerprint, Labels: toLbls(ev.Labels), Annotations: toLbls(ev.Annotations),
		Severity: uint8(ev.Severity), Status: uint8(ev.Status),
	}
}

func (r *eventRec) event() ingest.Event {
	return ingest.Event{
		Kind: r.Kind, Source: r.Source, EventTime: r.EventTime.t(), ArrivalTime: r.ArrivalTime.t(),
		Fingerprint: r.Fingerprint, Labels: r.Labels.labels(), Annotations: r.Annotations.labels(),
		Severity: ingest.Severity(r.Severity), Status: ingest.Status(r.Status),
	}
}

func toIncRec(inc *incState, withSignals bool) *incRec {
	r := &incRec{
		ID: inc.id, Status: inc.status,
		OpenedAt: tn(inc.openedAt), ResolvedAt: tn(inc.resolvedAt), ClosedAt: tn(inc.closedAt),
		FirstSeen: tn(inc.firstSeen), LastSeen: tn(inc.lastSeen), LastArrive: tn(inc.lastArrive),
		Untracked: inc.untracked, OwnSignals: inc.ownSignals, Firing: inc.firing, Events: inc.events,
		Common: toLbls(inc.common), CommonAnn: toLbls(inc.commonAnn),
		Severity: uint8(inc.severity),
		Priority: inc.priority, Impact: inc.impact, Urgency: inc.urgency,
		Parent: inc.parent, Children: inc.children, ChildOpen: inc.childOpen, OpenKids: inc.openKids, IsParent: inc.isParent,

		Category: inc.category, Assignment: inc.assignment,
		RespDue: tn(inc.respDue), RespWarn: tn(inc.respWarn), ResDue: tn(inc.resDue), ResWarn: tn(inc.resWarn),
		RespWarned: inc.respWarned, RespBreached: inc.respBreached, ResWarned: inc.resWarned, ResBreached: inc.resBreached,
		Level: inc.level, LevelDue: tn(inc.levelDue), Major: inc.major, NextStatus: tn(inc.nextStatus),
		Maint: inc.maint, MaintBy: inc.maintBy, PauseStart: tn(inc.pauseStart), Paused: inc.paused,
		Withheld: inc.withheld, Forwarded: inc.forwarded, LastFwd: inc.lastForwarded, MaintCheckAt: tn(inc.maintCheckAt),
		PendingProb: inc.pendingProblem, Waiting: inc.waiting,

		FirstArrive: tn(inc.firstArrive), KnownErrors: inc.knownErrors, Suspects: inc.suspects, Problem: inc.problem,
		Previous: inc.previous, ReopenTimes: inc.reopenTimes, Reopens: inc.reopens, Flapping: inc.flapping,
		StableAt: tn(inc.stableAt), AckedAt: tn(inc.ackedAt), AckedBy: inc.ackedBy,

		Revision: inc.revision, Announced: inc.announced, AnnounceAt: tn(inc.announceAt), Dirty: inc.dirty,
		LastEmit: tn(inc.lastEmit), UpdateDue: tn(inc.updateDue), CloseAt: tn(inc.closeAt), QuietAt: tn(inc.quietAt),
	}
	if inc.service != nil {
		r.Service = inc.service.Name
	}
	if withSignals {
		r.Timeline = inc.timeline
		r.Breadth = toBreadthRec(inc.breadth)
	}
	if inc.order != nil && withSignals {
		r.Signals = make([]sigRec, len(inc.order))
		for i, sg := range inc.order {
			r.Signals[i] = toSigRec(sg)
		}
	}
	if inc.parents != nil {
		r.Parents = make([]parentRec, len(inc.parents))
		for i, p := range inc.parents {
			r.Parents[i] = parentRec{Rule: p.rule.Name, Hash: p.hash}
		}
	}
	return r
}

// decodeGroup rebuilds a group written by encodeGroup against set: the
// rule, service, calendar, matrix and rollup parents are looked up by
// name. It fails, wrapping errRuleGone, when the rule is gone, and on a
// record that does not read or does not hold together; it does not touch
// the shard (install does).
//
// Where the rule set changed since the record was written, decodeGroup
// keeps the record's state and drops only what the engine could not run
// with: waiting rollup children of a rule that is no rollup any more,
// rollup parents whose rule is gone, and an escalation deadline the
// service's ladder no longer has a level for.
func (s *shard) decodeGroup(data []byte, set *rules.Set) (*group, error) {
	var rec groupRec
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("decode group: %w", err)
	}
	if rec.V != groupRecVersion {
		return nil, fmt.Errorf("decode group: unknown record version %d", rec.V)
	}
	if set == nil {
		return nil, errors.New("decode group: no rule set")
	}
	if rec.Rule == "" {
		return nil, errors.New("decode group: record names no rule")
	}
	rule := set.Rule(rec.Rule)
	if rule == nil {
		return nil, fmt.Errorf("decode group %s %s: %w", rec.Rule, rec.Key, errRuleGone)
	}
	g := &group{
		hash:    rec.Hash,
		rule:    rule,
		set:     set,
		labels:  rec.Labels.labels(),
		key:     rec.Key,
		breadth: rec.Breadth.breadth(),
		checkAt: rec.CheckAt.t(),
	}
	seen := map[string]bool{}
	inc := func(r *incRec, want Status) (*incState, error) {
		if r == nil {
			return nil, errors.New("empty incident")
		}
		if r.ID == "" || seen[r.ID] {
			return nil, fmt.Errorf("incident id %q empty or twice", r.ID)
		}
		seen[r.ID] = true
		if r.Status != want {
			return nil, fmt.Errorf("incident %s: status %q where %q belongs", r.ID, r.Status, want)
		}
		return s.fromIncRec(r, g, set), nil
	}
	if rec.Open != nil {
		g.open = make([]*incState, 0, len(rec.Open))
		for _, r := range rec.Open {
			in, err := inc(r, StatusOpen)
			if err != nil {
				return nil, fmt.Errorf("decode group %s %s: %w", rec.Rule, rec.Key, err)
			}
			g.open = append(g.open, in)
		}
	}
	if rec.Last != nil {
		in, err := inc(rec.Last, StatusResolved)
		if err != nil {
			return nil, fmt.Errorf("decode group %s %s: %w", rec.Rule, rec.Key, err)
		}
		g.lastResolved = in
	}
	for _, r := range rec.Closing {
		in, err := inc(r, StatusResolved)
		if err != nil {
			return nil, fmt.Errorf("decode group %s %s: %w", rec.Rule, rec.Key, err)
		}
		g.closing = append(g.closing, in)
	}
	if p := rec.Pending; p != nil {
		g.pending = &pendingWindow{}
		if p.Sigs != nil {
			g.pending.sigs = make([]pendingSig, len(p.Sigs))
			for i := range p.Sigs {
				ps := &p.Sigs[i]
				g.pending.sigs[i] = pendingSig{ev: ps.Ev.event(), absorbed: ps.Absorbed, expires: ps.Expires.t()}
			}
		}
	}
	if rule.Rollup != nil {
		n := 1
		if s.e != nil {
			n = len(s.e.shards)
		}
		if rec.Waiting != nil {
			g.waitingChildren = make([]childRef, len(rec.Waiting))
			for i, c := range rec.Waiting {
				sh := c.Shard
				if sh < 0 || sh >= n {
					// Written with more shards than now: the child's
					// parent link cannot reach it, but nothing breaks.
					sh = ((sh % n) + n) % n
				}
				g.waitingChildren[i] = childRef{id: c.ID, shard: sh, at: c.At.t(), severity: ingest.Severity(c.Severity), first: c.First.t(), resolved: c.Resolved}
			}
		}
	} else {
		// The rule is no rollup any more: no child can make it open.
		g.breadth = nil
	}
	return g, nil
}

// fromIncRec rebuilds one incident of g.
func (s *shard) fromIncRec(r *incRec, g *group, set *rules.Set) *incState {
	inc := &incState{
		id: r.ID, rule: g.rule, matrix: &set.Matrix, g: g, shard: s.idx,
		status: r.Status, openedAt: r.OpenedAt.t(), resolvedAt: r.ResolvedAt.t(), closedAt: r.ClosedAt.t(),
		firstSeen: r.FirstSeen.t(), lastSeen: r.LastSeen.t(), lastArrive: r.LastArrive.t(),
		untracked: r.Untracked, ownSignals: r.OwnSignals, firing: r.Firing, events: r.Events,
		common: r.Common.labels(), commonAnn: r.CommonAnn.labels(), breadth: r.Breadth.breadth(),
		severity: ingest.Severity(r.Severity),
		priority: r.Priority, impact: r.Impact, urgency: r.Urgency,
		parent: r.Parent, children: r.Children, childOpen: r.ChildOpen, openKids: r.OpenKids, isParent: r.IsParent,

		firstArrive: r.FirstArrive.t(), knownErrors: r.KnownErrors, suspects: r.Suspects, problem: r.Problem,
		previous: r.Previous, reopenTimes: r.ReopenTimes, reopens: r.Reopens, flapping: r.Flapping,
		stableAt: r.StableAt.t(), ackedAt: r.AckedAt.t(), ackedBy: r.AckedBy, timeline: r.Timeline,

		revision: r.Revision, announced: r.Announced, announceAt: r.AnnounceAt.t(), dirty: r.Dirty,
		lastEmit: r.LastEmit.t(), updateDue: r.UpdateDue.t(), closeAt: r.CloseAt.t(), quietAt: r.QuietAt.t(),
	}
	inc.itil = itil{
		category: r.Category, assignment: r.Assignment,
		respDue: r.RespDue.t(), respWarn: r.RespWarn.t(), resDue: r.ResDue.t(), resWarn: r.ResWarn.t(),
		respWarned: r.RespWarned, respBreached: r.RespBreached, resWarned: r.ResWarned, resBreached: r.ResBreached,
		level: r.Level, levelDue: r.LevelDue.t(), major: r.Major, nextStatus: r.NextStatus.t(),
		maint: r.Maint, maintBy: r.MaintBy, pauseStart: r.PauseStart.t(), paused: r.Paused,
		withheld: r.Withheld, forwarded: r.Forwarded, lastForwarded: r.LastFwd, maintCheckAt: r.MaintCheckAt.t(),
		pendingProblem: r.PendingProb, waiting: r.Waiting,
	}
	// The calendar follows the service, as attachService sets it.
	inc.cal = rules.AlwaysOpen
	if r.Service != "" {
		inc.service = set.Service(r.Service)
	}
	if svc := inc.service; svc != nil {
		inc.cal = svc.Calendar
	}
	// checkITIL escalates to level+1 of the ladder when levelDue passes:
	// without a service, or without that level, there is nothing to
	// escalate to (levelDeadline would have given no deadline).
	if !inc.levelDue.IsZero() && (inc.service == nil || inc.level < 0 || inc.level >= len(inc.service.Escalation)-1) {
		inc.levelDue = time.Time{}
	}
	// Live incidents always have these maps; a record without them must
	// not make the next signal or child panic.
	if inc.breadth == nil {
		inc.breadth = map[string]map[string]struct{}{}
	}
	if inc.isParent && inc.childOpen == nil {
		inc.childOpen = map[string]bool{}
	}
	inc.signals = make(map[uint64]*sigState, len(r.Signals))
	if r.Signals != nil {
		inc.order = make([]*sigState, len(r.Signals))
		for i := range r.Signals {
			sg := r.Signals[i].sig()
			sg.idx = i
			inc.order[i] = sg
			inc.signals[sg.fp] = sg
		}
	}
	if r.Parents != nil {
		inc.parents = make([]parentTarget, 0, len(r.Parents))
		for _, p := range r.Parents {
			if pr := set.Rule(p.Rule); pr != nil {
				inc.parents = append(inc.parents, parentTarget{rule: pr, hash: p.Hash})
			}
		}
	}
	return inc
}

// install registers a decoded group in the shard as if it had been built
// live: the group, its incidents by id, the open mark absorbing rules
// route by, the open-incidents gauge, and a timer hint for every deadline
// the state holds. Deadlines already past fire at the shard's next timer
// check, so that a daemon that was down catches up. The caller holds the
// shard (before Run, or under s.mu).
func (s *shard) install(g *group, now time.Time) {
	s.addGroup(g)
	for _, inc := range g.open {
		s.byID[inc.id] = inc
		s.e.m.open.WithLabelValues(inc.rule.Name).Inc()
		s.rearm(inc)
	}
	if r := g.lastResolved; r != nil {
		s.byID[r.id] = r
		s.rearm(r)
	}
	for _, inc := range g.closing {
		s.byID[inc.id] = inc
		s.rearm(inc)
	}
	if g.accepting(now) != nil {
		s.setOpen(g.hash, true)
	}
	// The group's hints: the pending expiry check (checkAt is its guard)
	// and the waiting children's expiry, as expireChildren arms it.
	if !g.checkAt.IsZero() {
		s.schedule(g.checkAt, g, nil)
	}
	if g.pending != nil && len(g.pending.sigs) > 0 {
		s.scheduleGroup(g, g.pending.nextExpiry())
	}
	if len(g.waitingChildren) > 0 && g.rule.Rollup != nil {
		s.schedule(g.waitingChildren[0].at.Add(g.rule.Rollup.Within+time.Nanosecond), g, nil)
	}
}

// rearm schedules a hint for every deadline an incident holds, whatever
// its status: a resolved incident's clock and maintenance hints stay in
// the live heap too, and its guards (maintCheckAt) tell a reopening that
// they are pending. A hint with nothing due does nothing.
func (s *shard) rearm(inc *incState) {
	at := func(t time.Time) {
		if !t.IsZero() {
			s.schedule(t, nil, inc)
		}
	}
	if !inc.announced {
		at(inc.announceAt)
	}
	// The SLA, escalation and status-update clocks. While they are paused
	// checkITIL ignores them, and resumeClocks re-arms them.
	for _, t := range []time.Time{inc.respWarn, inc.respDue, inc.resWarn, inc.resDue, inc.levelDue, inc.nextStatus} {
		at(t)
	}
	// The guarded hints: a guard set means a hint is pending at it.
	at(inc.updateDue)
	at(inc.stableAt)
	at(inc.maintCheckAt)
	at(inc.quietAt)
	at(inc.closeAt)
	// resolve_after with no hint pending (the rule gained it).
	s.scheduleQuiet(inc)
}

// recurRec is a group's recurrence memory as stored.
type recurRec struct {
	V     int          `json:"v"`
	Opens []openingRec `json:"o,omitzero"`
}

type openingRec struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// encodeRecurrence serialises a shard's recurrence entry of one group.
func encodeRecurrence(r *recurrence) ([]byte, error) {
	if r == nil {
		return nil, errors.New("encode recurrence: nil")
	}
	rec := recurRec{V: groupRecVersion}
	if r.opens != nil {
		rec.Opens = make([]openingRec, len(r.opens))
		for i, o := range r.opens {
			rec.Opens[i] = openingRec{At: o.at, ID: o.id}
		}
	}
	return json.Marshal(&rec)
}

// decodeRecurrence reads what encodeRecurrence wrote.
func decodeRecurrence(data []byte) (*recurrence, error) {
	var rec recurRec
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("decode recurrence: %w", err)
	}
	if rec.V != groupRecVersion {
		return nil, fmt.Errorf("decode recurrence: unknown record version %d", rec.V)
	}
	r := &recurrence{}
	if rec.Opens != nil {
		r.opens = make([]opening, len(rec.Opens))
		for i, o := range rec.Opens {
			r.opens[i] = opening{at: o.At, id: o.ID}
		}
	}
	return r, nil
}
