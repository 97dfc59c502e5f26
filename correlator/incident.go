package correlator

import (
	"time"

	"github.com/corrd/corrd/ingest"
)

// Status is an incident's lifecycle state.
type Status string

// The incident statuses.
const (
	StatusOpen     Status = "open"
	StatusResolved Status = "resolved"
	StatusClosed   Status = "closed"
)

// ChangeType names a transition of an incident.
type ChangeType string

// The change types. Every transition of an incident is emitted as exactly
// one Change; new signals joining an open incident are coalesced into at most
// one ChangeUpdated per rule's update_interval.
const (
	ChangeOpened          ChangeType = "opened"
	ChangeUpdated         ChangeType = "updated"
	ChangePriorityChanged ChangeType = "priority_changed"
	ChangeResolved        ChangeType = "resolved"
	ChangeReopened        ChangeType = "reopened"
	ChangeClosed          ChangeType = "closed"
	ChangeAcknowledged    ChangeType = "acknowledged"
	ChangeSLAWarning      ChangeType = "sla_warning"
	ChangeSLABreached     ChangeType = "sla_breached"
	ChangeEscalated       ChangeType = "escalated"
	ChangeStatusUpdate    ChangeType = "status_update"
)

// Incident is a snapshot of one incident. Snapshots are values: the engine
// never changes one after handing it out.
type Incident struct {
	// ID is stable for the incident's life: "inc-" and 16 hex digits
	// derived from rule, group key and opening time.
	ID string `json:"id"`
	// Rule is the name of the rule that opened it.
	Rule string `json:"rule"`
	// GroupKey is the canonical rendering of GroupLabels, unique per rule
	// among open incidents.
	GroupKey    string        `json:"group_key"`
	GroupLabels ingest.Labels `json:"group_labels"`
	// CommonLabels are the labels every signal of the incident shares.
	CommonLabels ingest.Labels `json:"common_labels"`
	Title        string        `json:"title"`
	Description  string        `json:"description"`
	Status       Status        `json:"status"`
	// Priority is 1 (critical) to 4 (low), from the impact x urgency
	// matrix.
	Priority        int             `json:"priority"`
	PriorityName    string          `json:"priority_name"`
	Impact          string          `json:"impact"`
	Urgency         string          `json:"urgency"`
	Severity        ingest.Severity `json:"severity"`
	Category        string          `json:"category,omitempty"`
	AssignmentGroup string          `json:"assignment_group,omitempty"`
	// Signals is bounded (the first ones, then the latest); SignalCount is
	// the number of distinct signals the incident has held.
	Signals     []Signal `json:"signals,omitempty"`
	SignalCount int      `json:"signal_count"`
	FiringCount int      `json:"firing_count"`
	// EventCount counts every event folded into the incident, duplicates
	// included.
	EventCount int64 `json:"event_count"`
	// Breadth counts distinct values of the rule's breadth labels (stores,
	// devices) over the incident's signals and children.
	Breadth    map[string]int `json:"breadth,omitempty"`
	FirstSeen  time.Time      `json:"first_seen"`
	LastSeen   time.Time      `json:"last_seen"`
	OpenedAt   time.Time      `json:"opened_at"`
	ResolvedAt *time.Time     `json:"resolved_at,omitempty"`
	ClosedAt   *time.Time     `json:"closed_at,omitempty"`
	Parent     string         `json:"parent,omitempty"`
	Children   []string       `json:"children,omitempty"`
	// Service is the catalogue entry the incident belongs to, if any.
	Service string `json:"service,omitempty"`
	// EscalationLevel is the index in the service's ladder (0 = 1st line).
	EscalationLevel int `json:"escalation_level"`
	// Major is set for incidents at the major-incident priority and for
	// any SLA breach; major incidents get periodic status updates.
	Major bool `json:"major"`
	// Maintenance names the maintenance window or silence the incident is
	// in: its changes are recorded but not forwarded, its clocks paused.
	Maintenance string `json:"maintenance,omitempty"`
	// Waiting names whom the incident waits on (a vendor, the user).
	Waiting string `json:"waiting,omitempty"`
	// SLA holds the clocks, counted in the service's business hours.
	SLA *SLA `json:"sla,omitempty"`
	// KnownErrors are the known errors whose signature matches, with their
	// workarounds.
	KnownErrors []KnownErrorMatch `json:"known_errors,omitempty"`
	// Suspects are the changes that may have caused the incident, best
	// first.
	Suspects []Suspect `json:"suspects,omitempty"`
	// Problem is the problem record the incident's recurrence raised.
	Problem string `json:"problem,omitempty"`
	// Previous is the incident of the same group this one follows, when it
	// opened after the previous one was resolved and could no longer be
	// reopened.
	Previous string `json:"previous,omitempty"`
	// Reopens counts how often the incident was reopened.
	Reopens int `json:"reopens,omitempty"`
	// Flapping is set when the incident reopened flapping.count times
	// within flapping.within; it is then held open until stable.
	Flapping bool `json:"flapping,omitempty"`
	// AckedAt and AckedBy record the acknowledgement.
	AckedAt *time.Time `json:"acked_at,omitempty"`
	AckedBy string     `json:"acked_by,omitempty"`
	// Revision increases by one with every emitted change.
	Revision uint64 `json:"revision"`
	// Timeline lists the incident's changes; only on single-incident reads.
	Timeline []TimelineEntry `json:"timeline,omitempty"`
}

// SLA is an incident's response and resolution clocks. Due times move
// when the priority (and so the target) changes; elapsed time is kept.
type SLA struct {
	Calendar           string    `json:"calendar"`
	ResponseDue        time.Time `json:"response_due"`
	ResolutionDue      time.Time `json:"resolution_due"`
	ResponseBreached   bool      `json:"response_breached"`
	ResolutionBreached bool      `json:"resolution_breached"`
}

// TimelineEntry is one change in an incident's history.
type TimelineEntry struct {
	At       time.Time  `json:"at"`
	Type     ChangeType `json:"type"`
	Priority int        `json:"priority"`
	Signals  int        `json:"signals"`
	Firing   int        `json:"firing"`
	Detail   string     `json:"detail,omitempty"`
}

// Signal is one distinct signal (fingerprint) within an incident.
type Signal struct {
	Fingerprint string          `json:"fingerprint"`
	Kind        string          `json:"kind"`
	Source      string          `json:"source"`
	Labels      ingest.Labels   `json:"labels"`
	Annotations ingest.Labels   `json:"annotations,omitempty"`
	Severity    ingest.Severity `json:"severity"`
	Status      ingest.Status   `json:"status"`
	// StartsAt is the event time of the first event of the signal.
	StartsAt time.Time `json:"starts_at"`
	// LastSeen is the arrival time of the latest event of the signal.
	LastSeen   time.Time  `json:"last_seen"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// Count is the number of events of the signal, duplicates included.
	Count int64 `json:"count"`
	// Absorbed is set when an absorb rule attached the signal to this
	// incident in place of its own rule.
	Absorbed bool `json:"absorbed,omitempty"`
}

// Change is one transition of an incident, with the snapshot after it.
type Change struct {
	Type     ChangeType `json:"type"`
	At       time.Time  `json:"at"`
	Incident Incident   `json:"incident"`
	// PreviousPriority is set on ChangePriorityChanged.
	PreviousPriority int `json:"previous_priority,omitempty"`
	// Problem is set on problem changes: the problem after the change.
	Problem *Problem `json:"problem,omitempty"`
	// Detail says more about some changes: the SLA clock ("response",
	// "resolution") of a warning or breach, the group escalated to.
	Detail string `json:"detail,omitempty"`
	// Seq is the change's place in the durable outbox, assigned when the
	// change is committed to the store; 0 when the engine runs without one.
	// Sinks report delivery by it (see outputs.Outbox).
	Seq uint64 `json:"seq,omitempty"`
	// Resumed is set on a change delivered again after a restart: the
	// previous run may have applied it before it could record so. Sinks
	// whose operations are not idempotent check before applying it.
	Resumed bool `json:"resumed,omitempty"`
}

// Publisher receives the engine's changes. Publish must not block for long:
// shards call it inline.
type Publisher interface {
	Publish(Change)
}

// Filter selects incidents for listing.
type Filter struct {
	// Status, when set, keeps only incidents in that status.
	Status Status
	// Rule, when set, keeps only incidents of that rule.
	Rule string
	// After, when set, keeps only incidents after it in the listing
	// order (opening time, then id): the cursor of the previous page.
	After *Cursor
	// Limit, when > 0, returns at most that many incidents, the first in
	// the listing order. Each shard then copies at most Limit incidents.
	Limit int
}

// Cursor is a position in the listing order of incidents: by opening
// time, then id.
type Cursor struct {
	OpenedAt time.Time
	ID       string
}

// CursorOf is the position of inc in the listing order.
func CursorOf(inc Incident) Cursor { return Cursor{OpenedAt: inc.OpenedAt, ID: inc.ID} }

// before reports whether the position (at, id) comes before c.
func (c Cursor) before(o Cursor) bool {
	if !c.OpenedAt.Equal(o.OpenedAt) {
		return c.OpenedAt.Before(o.OpenedAt)
	}
	return c.ID < o.ID
}
