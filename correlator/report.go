package correlator

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Report renders an incident report in Markdown: the questions a supplier's
// incident report answers (when, how, what, why, consequences, actions),
// filled from the data where corrd knows the answer and left for people
// where it does not, followed by a timeline.
func Report(inc Incident) string {
	var b strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }
	fmt.Fprintf(&b, "# Incident report: %s\n\n", inc.Title)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, strings.ReplaceAll(v, "|", `\|`))
		}
	}
	row("Incident", inc.ID)
	row("Status", string(inc.Status))
	row("Priority", fmt.Sprintf("%d (%s), impact %s, urgency %s", inc.Priority, inc.PriorityName, inc.Impact, inc.Urgency))
	if inc.Major {
		row("Major incident", "yes")
	}
	row("Service", inc.Service)
	row("Category", inc.Category)
	row("Assignment group", inc.AssignmentGroup)
	row("Rule", inc.Rule)
	row("Group", inc.GroupKey)
	if inc.Parent != "" {
		row("Part of", inc.Parent)
	}
	if inc.Previous != "" {
		row("Follows", inc.Previous)
	}

	b.WriteString("\n## When\n\n")
	fmt.Fprintf(&b, "- First signal: %s\n", ts(inc.FirstSeen))
	fmt.Fprintf(&b, "- Opened: %s\n", ts(inc.OpenedAt))
	if inc.AckedAt != nil {
		fmt.Fprintf(&b, "- Acknowledged: %s by %s (response time %s)\n", ts(*inc.AckedAt), inc.AckedBy, inc.AckedAt.Sub(inc.OpenedAt).Round(time.Second))
	} else {
		b.WriteString("- Acknowledged: not acknowledged\n")
	}
	if inc.ResolvedAt != nil {
		fmt.Fprintf(&b, "- Resolved: %s (lead time %s)\n", ts(*inc.ResolvedAt), inc.ResolvedAt.Sub(inc.OpenedAt).Round(time.Second))
	}
	if inc.ClosedAt != nil {
		fmt.Fprintf(&b, "- Closed: %s\n", ts(*inc.ClosedAt))
	}
	if s := inc.SLA; s != nil {
		fmt.Fprintf(&b, "- SLA (%s calendar): response due %s%s, resolution due %s%s\n", s.Calendar,
			ts(s.ResponseDue), breached(s.ResponseBreached), ts(s.ResolutionDue), breached(s.ResolutionBreached))
	}

	b.WriteString("\n## How it was detected\n\n")
	fmt.Fprintf(&b, "%d signal(s), %d event(s) in all", inc.SignalCount, inc.EventCount)
	if kinds := signalKinds(inc.Signals); kinds != "" {
		fmt.Fprintf(&b, ", from %s", kinds)
	}
	b.WriteString(".\n")
	if len(inc.Children) > 0 {
		fmt.Fprintf(&b, "It groups %d child incidents.\n", len(inc.Children))
	}
	if inc.Reopens > 0 {
		fmt.Fprintf(&b, "It reopened %d time(s)", inc.Reopens)
		if inc.Flapping {
			b.WriteString(" and was flapping")
		}
		b.WriteString(".\n")
	}

	b.WriteString("\n## What happened\n\n")
	if inc.Description != "" {
		b.WriteString(strings.TrimSpace(inc.Description))
		b.WriteString("\n")
	}
	if len(inc.Breadth) > 0 {
		keys := make([]string, 0, len(inc.Breadth))
		for k := range inc.Breadth {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("\nBreadth:")
		for _, k := range keys {
			fmt.Fprintf(&b, " %d %s;", inc.Breadth[k], k)
		}
		b.WriteString("\n")
	}

	if len(inc.Suspects) > 0 {
		b.WriteString("\n## Suspected changes\n\n")
		for _, c := range inc.Suspects {
			fmt.Fprintf(&b, "%d. %s %s: started %s before the first signal; shared scope %s", c.Rank, c.ChangeID, c.Title, c.After, strings.Join(c.Matched, ", "))
			if c.Link != "" {
				fmt.Fprintf(&b, " (%s)", c.Link)
			}
			b.WriteString("\n")
		}
	}
	if len(inc.KnownErrors) > 0 {
		b.WriteString("\n## Known errors\n\n")
		for _, k := range inc.KnownErrors {
			fmt.Fprintf(&b, "- %s %s. Workaround: %s\n", k.ID, k.Title, k.Workaround)
		}
	}
	if inc.Problem != "" {
		fmt.Fprintf(&b, "\nRecurring: part of problem %s.\n", inc.Problem)
	}

	b.WriteString("\n## Why (root cause)\n\n_To be completed._\n")
	b.WriteString("\n## Consequences for users\n\n_To be completed._\n")
	b.WriteString("\n## Proposed actions\n\n_To be completed._\n")

	b.WriteString("\n## Timeline\n\n| time | change | priority | signals | firing | detail |\n|---|---|---|---|---|---|\n")
	for _, e := range inc.Timeline {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s |\n", ts(e.At), e.Type, e.Priority, e.Signals, e.Firing, e.Detail)
	}
	return b.String()
}

func breached(b bool) string {
	if b {
		return " (breached)"
	}
	return ""
}

func signalKinds(sigs []Signal) string {
	seen := map[string]bool{}
	var out []string
	for _, s := range sigs {
		k := s.Kind + " " + s.Source
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
