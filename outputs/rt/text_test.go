package rt

import (
	"strings"
	"testing"
	"time"

	"github.com/corrd/corrd/correlator"
)

func TestTicketContent(t *testing.T) {
	inc := testIncident("inc-00000000000000c1")
	inc.Category, inc.AssignmentGroup, inc.Service = "network", "noc", "pos"
	inc.KnownErrors = []correlator.KnownErrorMatch{{ID: "KE-7", Title: "Uplink flaps", Workaround: "bounce the port"}}
	got := ticketContent(&inc)
	for _, want := range []string{
		"Every device of store s042 stopped answering.\n\n",
		"Incident:         inc-00000000000000c1\n",
		"Priority:         3 (moderate), impact medium, urgency medium\n",
		"Severity:         major\n",
		"Category:         network\n",
		"Assignment group: noc\n",
		"Service:          pos\n",
		"Signals:          1 (1 firing), 3 events\n",
		"Breadth:          device=4\n",
		`Labels:           {site="s042", team="net"}` + "\n",
		"Known error:      KE-7 Uplink flaps | workaround: bounce the port\n",
		`- alertmanager {alertname="StoreDown", site="s042"} (firing, major, 3 events, since 2026-03-01T10:04:05Z)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ticket content lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Parent:") {
		t.Errorf("ticket content shows an empty field:\n%s", got)
	}
}

func TestCommentContent(t *testing.T) {
	acked := t0.Add(time.Minute)
	tests := []struct {
		name  string
		typ   correlator.ChangeType
		edit  func(*correlator.Incident, *correlator.Change)
		wants []string
	}{
		{"escalated", correlator.ChangeEscalated, func(inc *correlator.Incident, ch *correlator.Change) {
			ch.Detail, inc.EscalationLevel, inc.AssignmentGroup = "network-2nd-line", 1, "network-2nd-line"
		}, []string{"escalated: network-2nd-line\n\n", "Escalation level: 1\n", "Assignment group: network-2nd-line\n"}},
		{"acknowledged", correlator.ChangeAcknowledged, func(inc *correlator.Incident, _ *correlator.Change) {
			inc.AckedAt, inc.AckedBy = &acked, "alice"
		}, []string{"acknowledged\n\n", "Acknowledged:     2026-03-01T10:05:05Z alice\n"}},
		{"sla_breached", correlator.ChangeSLABreached, func(inc *correlator.Incident, ch *correlator.Change) {
			ch.Detail = "resolution"
			inc.SLA = &correlator.SLA{ResponseDue: t0, ResolutionDue: t0.Add(time.Hour), ResolutionBreached: true}
		}, []string{"sla_breached: resolution\n\n", "Response due:     2026-03-01T10:04:05Z\n", "Resolution due:   2026-03-01T11:04:05Z (breached)\n"}},
		{"updated", correlator.ChangeUpdated, func(inc *correlator.Incident, _ *correlator.Change) {
			inc.SignalCount, inc.FiringCount, inc.EventCount, inc.Breadth = 14, 12, 40, map[string]int{"store": 12, "device": 30}
		}, []string{"updated\n\n", "Signals:          14 (12 firing), 40 events\n", "Breadth:          device=30, store=12\n", "Status:           open\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLifecycle("inc-00000000000000c2")
			l.next(correlator.ChangeOpened, nil)
			ch := l.next(tt.typ, tt.edit)
			got := commentContent(&ch)
			for _, want := range tt.wants {
				if !strings.Contains(got, want) {
					t.Errorf("comment lacks %q:\n%s", want, got)
				}
			}
			if !strings.HasPrefix(got, string(tt.typ)) {
				t.Errorf("comment does not start with the change type:\n%s", got)
			}
			if s := commentSubject(&ch); s != "corrd "+string(tt.typ)+" inc-00000000000000c2 r2" {
				t.Errorf("subject = %q", s)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	s := strings.Repeat("é", 150) // 300 bytes
	got := ticketSubject(&correlator.Incident{Title: s})
	if len(got) > maxSubject || !strings.HasPrefix(s, got) || len(got) != 200 {
		t.Errorf("subject of %d bytes cut to %d bytes (%q)", len(s), len(got), got)
	}
	if got := ticketSubject(&correlator.Incident{ID: "inc-1"}); got != "corrd incident inc-1" {
		t.Errorf("subject without title = %q", got)
	}
}
