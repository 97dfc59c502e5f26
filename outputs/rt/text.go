package rt

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corrd/corrd/correlator"
)

// maxSignalsInText bounds the signals a ticket body or comment lists.
const maxSignalsInText = 10

// maxSubject bounds a ticket subject (RT stores up to 200 characters).
const maxSubject = 200

// ticketSubject is the subject of a new incident ticket.
func ticketSubject(inc *correlator.Incident) string {
	s := inc.Title
	if s == "" {
		s = "corrd incident " + inc.ID
	}
	return truncate(s, maxSubject)
}

// ticketContent is the first message of a new incident ticket: the
// description, then the key facts.
func ticketContent(inc *correlator.Incident) string {
	var b strings.Builder
	if d := strings.TrimSpace(inc.Description); d != "" {
		b.WriteString(d)
		b.WriteString("\n\n")
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-17s %s\n", k+":", v)
		}
	}
	line("Incident", inc.ID)
	line("Rule", inc.Rule)
	line("Group", inc.GroupKey)
	line("Status", string(inc.Status))
	line("Priority", priorityText(inc))
	line("Severity", inc.Severity.String())
	line("Category", inc.Category)
	line("Assignment group", inc.AssignmentGroup)
	line("Service", inc.Service)
	line("Signals", signalsText(inc))
	line("Breadth", breadthText(inc.Breadth))
	line("First seen", timeText(inc.FirstSeen))
	line("Opened", timeText(inc.OpenedAt))
	line("Labels", inc.CommonLabels.String())
	line("Problem", inc.Problem)
	line("Previous", inc.Previous)
	line("Parent", inc.Parent)
	for _, k := range inc.KnownErrors {
		line("Known error", k.ID+" "+k.Title+" | workaround: "+k.Workaround)
	}
	for i, s := range inc.Suspects {
		if i == 3 {
			break
		}
		line("Suspect change", strings.TrimSpace(s.ChangeID+" "+s.Title+" "+s.Link))
	}
	writeSignals(&b, inc)
	return b.String()
}

// commentSubject names one change uniquely: incident (or problem) id,
// revision and type. RT records it as the comment transaction's Data,
// which is how a comment whose answer was lost is found again.
func commentSubject(ch *correlator.Change) string {
	if p := ch.Problem; p != nil {
		return fmt.Sprintf("corrd %s %s r%d", ch.Type, p.ID, p.Revision)
	}
	return fmt.Sprintf("corrd %s %s r%d", ch.Type, ch.Incident.ID, ch.Incident.Revision)
}

// commentContent summarises a change: type and detail, then the incident's
// state after it.
func commentContent(ch *correlator.Change) string {
	var b strings.Builder
	inc := &ch.Incident
	head := string(ch.Type)
	if ch.Detail != "" {
		head += ": " + ch.Detail
	}
	b.WriteString(head)
	b.WriteString("\n\n")
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-17s %s\n", k+":", v)
		}
	}
	if p := ch.Problem; p != nil {
		line("Problem", p.ID)
		line("Kind", p.Kind)
		line("Pattern", p.Pattern)
		line("Status", p.Status)
		line("Known error", p.KnownError)
		line("Incidents", strconv.Itoa(p.Count)+" ("+strings.Join(lastN(p.Incidents, 10), ", ")+")")
		line("Latest incident", inc.ID)
		line("At", timeText(ch.At))
		return b.String()
	}
	line("Incident", inc.ID)
	line("At", timeText(ch.At))
	line("Status", string(inc.Status))
	prio := priorityText(inc)
	if ch.PreviousPriority != 0 {
		prio += fmt.Sprintf(", was %d", ch.PreviousPriority)
	}
	line("Priority", prio)
	line("Severity", inc.Severity.String())
	line("Signals", signalsText(inc))
	line("Breadth", breadthText(inc.Breadth))
	if inc.EscalationLevel > 0 || ch.Type == correlator.ChangeEscalated {
		line("Escalation level", strconv.Itoa(inc.EscalationLevel))
	}
	line("Assignment group", inc.AssignmentGroup)
	if inc.AckedAt != nil {
		line("Acknowledged", strings.TrimSpace(timeText(*inc.AckedAt)+" "+inc.AckedBy))
	}
	if sla := inc.SLA; sla != nil {
		line("Response due", timeText(sla.ResponseDue)+breached(sla.ResponseBreached))
		line("Resolution due", timeText(sla.ResolutionDue)+breached(sla.ResolutionBreached))
	}
	if inc.ResolvedAt != nil {
		line("Resolved", timeText(*inc.ResolvedAt))
	}
	if ch.Type == correlator.ChangeReopened && inc.Reopens > 0 {
		line("Reopens", strconv.Itoa(inc.Reopens))
	}
	writeSignals(&b, inc)
	return b.String()
}

func breached(b bool) string {
	if b {
		return " (breached)"
	}
	return ""
}

func priorityText(inc *correlator.Incident) string {
	if inc.Priority == 0 {
		return ""
	}
	s := strconv.Itoa(inc.Priority)
	if inc.PriorityName != "" {
		s += " (" + inc.PriorityName + ")"
	}
	if inc.Impact != "" || inc.Urgency != "" {
		s += ", impact " + inc.Impact + ", urgency " + inc.Urgency
	}
	return s
}

func signalsText(inc *correlator.Incident) string {
	return fmt.Sprintf("%d (%d firing), %d events", inc.SignalCount, inc.FiringCount, inc.EventCount)
}

func breadthText(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// writeSignals lists the incident's latest signals.
func writeSignals(b *strings.Builder, inc *correlator.Incident) {
	if len(inc.Signals) == 0 {
		return
	}
	sigs := inc.Signals
	more := 0
	if len(sigs) > maxSignalsInText {
		more = inc.SignalCount - maxSignalsInText
		sigs = sigs[len(sigs)-maxSignalsInText:]
	}
	b.WriteString("\nSignals:\n")
	for _, s := range sigs {
		fmt.Fprintf(b, "- %s %s (%s, %s, %d events, since %s)\n",
			s.Kind, s.Labels.String(), s.Status, s.Severity, s.Count, timeText(s.StartsAt))
	}
	if more > 0 {
		fmt.Fprintf(b, "- and %d more\n", more)
	}
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// problemSubject is the subject of a problem ticket.
func problemSubject(p *correlator.Problem) string {
	s := "Problem " + p.ID + ": " + p.Rule + " " + p.GroupKey
	if p.Pattern != "" {
		s += " (" + p.Pattern + ")"
	}
	return truncate(s, maxSubject)
}

// problemContent is the first message of a problem ticket.
func problemContent(ch *correlator.Change) string {
	p := ch.Problem
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-17s %s\n", k+":", v)
		}
	}
	line("Problem", p.ID)
	line("Rule", p.Rule)
	line("Group", p.GroupKey)
	line("Kind", p.Kind)
	line("Pattern", p.Pattern)
	line("Status", p.Status)
	line("Incidents", strconv.Itoa(p.Count)+" ("+strings.Join(lastN(p.Incidents, 10), ", ")+")")
	line("Created", timeText(p.CreatedAt))
	return b.String()
}
