package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// alert is one alert for Alertmanager's API; a zero endsAt is firing.
func alert(labels map[string]string, startsAt, endsAt time.Time) map[string]any {
	a := map[string]any{"labels": labels, "startsAt": startsAt.UTC().Format(time.RFC3339Nano)}
	if !endsAt.IsZero() {
		a["endsAt"] = endsAt.UTC().Format(time.RFC3339Nano)
	}
	return a
}

func writeRules(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A link that fires and resolves ten times through a real Alertmanager is
// one incident, flagged flapping, created once at the sink.
func TestFlappingThroughAlertmanager(t *testing.T) {
	needPeer(t, "prometheus-alertmanager")
	sink := &sinkRecorder{}
	ticketing := httptest.NewServer(sink)
	defer ticketing.Close()
	rulesPath := writeRules(t, `
rules:
  - name: link
    match: ['alertname="LinkFlap"']
    group_by: [device]
    flapping: {count: 3, within: 10m, stable_for: 3s}
`)
	base, _ := startCorrd(t, fmt.Sprintf(`
rule_files: [%q]
outputs:
  sinks:
    - {name: tickets, type: webhook, webhook: {url: %q}}
`, rulesPath, ticketing.URL))
	amURL := startAlertmanager(t, base)

	labels := map[string]string{"alertname": "LinkFlap", "device": "sw1", "ifIndex": "7"}
	firing := func() bool {
		l := getIncidents(t, base)
		return len(l.Incidents) == 1 && l.Incidents[0].FiringCount == 1
	}
	quiet := func() bool {
		l := getIncidents(t, base)
		return len(l.Incidents) == 1 && l.Incidents[0].FiringCount == 0
	}
	for i := 0; i < 10; i++ {
		start := time.Now().Add(-time.Second)
		postAlerts(t, amURL, []map[string]any{alert(labels, start, time.Time{})})
		eventually(t, 20*time.Second, fmt.Sprintf("firing #%d", i+1), firing)
		postAlerts(t, amURL, []map[string]any{alert(labels, start, time.Now().Add(-100*time.Millisecond))})
		eventually(t, 20*time.Second, fmt.Sprintf("resolve #%d", i+1), quiet)
	}
	var id string
	eventually(t, 20*time.Second, "the flapping incident to resolve once stable", func() bool {
		l := getIncidents(t, base)
		if len(l.Incidents) == 1 && l.Incidents[0].Status == "resolved" {
			id = l.Incidents[0].ID
			return true
		}
		return false
	})
	eventually(t, 10*time.Second, "the final resolve at the sink", func() bool {
		ts := sink.types(id)
		return len(ts) > 0 && ts[len(ts)-1] == "resolved"
	})
	types := sink.types(id)
	count := map[string]int{}
	for _, ty := range types {
		count[ty]++
	}
	if count["opened"] != 1 {
		t.Errorf("got %d opened changes, want one ticket created: %v", count["opened"], types)
	}
	// Three resolves and reopens until the third reopen marks it flapping,
	// then one resolve once stable: 4 resolves and 3 reopens, not 10 each.
	if count["reopened"] != 3 || count["resolved"] != 4 {
		t.Errorf("got %d reopened and %d resolved changes, want 3 and 4: %v", count["reopened"], count["resolved"], types)
	}
	sink.mu.Lock()
	last := sink.changes[len(sink.changes)-1]
	sink.mu.Unlock()
	if inc, _ := last["incident"].(map[string]any); inc["flapping"] != true {
		t.Errorf("final change lacks flapping=true: %v", inc)
	}
}

// The self-checkout fleet outage through a real Alertmanager: six stores'
// devices fail on one firmware; the fleet incident is priority 1, major,
// routed to the incident manager, with status updates until resolved.
func TestMajorFleetOutageThroughAlertmanager(t *testing.T) {
	needPeer(t, "prometheus-alertmanager")
	tickets, manager := &sinkRecorder{}, &sinkRecorder{}
	ticketSrv, managerSrv := httptest.NewServer(tickets), httptest.NewServer(manager)
	defer ticketSrv.Close()
	defer managerSrv.Close()
	rulesPath := writeRules(t, `
major: {status_every: 2s}
rules:
  - name: store-scanners
    match: ['alertname="ScannerDown"']
    group_by: [chain, store]
    breadth: [device]
    urgency: high
  - name: fleet-firmware
    rollup: {rule: store-scanners, group_by: [chain, firmware], min_children: 5, within: 10m}
    breadth: [store, device]
    urgency: urgent
    impact_from:
      label: store
      levels: [{min: 1, impact: low}, {min: 5, impact: high}]
`)
	base, _ := startCorrd(t, fmt.Sprintf(`
rule_files: [%q]
outputs:
  sinks:
    - {name: tickets, type: webhook, webhook: {url: %q}}
    - {name: incident-manager, type: webhook, webhook: {url: %q}}
  routes:
    - {match: ['major="true"'], sinks: [incident-manager], continue: true}
    - {sinks: [tickets]}
`, rulesPath, ticketSrv.URL, managerSrv.URL))
	amURL := startAlertmanager(t, base)

	start := time.Now().Add(-10 * time.Second)
	var alerts []map[string]any
	for s := 1; s <= 6; s++ {
		for d := 1; d <= 2; d++ {
			alerts = append(alerts, alert(map[string]string{"alertname": "ScannerDown", "chain": "ica", "firmware": "7.1.0",
				"store": fmt.Sprintf("%04d", s), "device": fmt.Sprintf("%04d-%d", s, d)}, start, time.Time{}))
		}
	}
	postAlerts(t, amURL, alerts)

	var fleet string
	eventually(t, 30*time.Second, "one major fleet incident over 6 stores", func() bool {
		for _, inc := range getIncidents(t, base).Incidents {
			if inc.Rule == "fleet-firmware" && inc.Priority == 1 {
				fleet = inc.ID
			}
		}
		return fleet != "" && len(getIncidents(t, base).Incidents) == 7
	})
	eventually(t, 20*time.Second, "two status updates at the incident manager", func() bool {
		n := 0
		for _, ty := range manager.types(fleet) {
			if ty == "status_update" {
				n++
			}
		}
		return n >= 2
	})
	if got := tickets.types(fleet); len(got) == 0 || got[0] != "opened" {
		t.Errorf("tickets sink got %v for the fleet incident, want it opened there too", got)
	}
	for _, c := range manager.changes {
		if inc, _ := c["incident"].(map[string]any); inc["major"] != true {
			t.Errorf("incident manager got a change of a non-major incident: %v", inc["id"])
		}
	}

	// Every device recovers: the fleet incident resolves, updates stop.
	for i := range alerts {
		alerts[i]["endsAt"] = time.Now().Add(-100 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	}
	postAlerts(t, amURL, alerts)
	eventually(t, 30*time.Second, "the fleet incident to resolve", func() bool {
		ts := manager.types(fleet)
		return len(ts) > 0 && ts[len(ts)-1] == "resolved"
	})
	if got := strings.Join(manager.types(fleet), ","); !strings.HasPrefix(got, "opened,") {
		t.Errorf("incident manager changes %s, want them to start with opened", got)
	}
}
