package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corrd/corrd/outputs/rt/rttest"
)

// Request Tracker goes down in the middle of an alert storm and comes back:
// the rt sink's queue coalesces the updates that pile up meanwhile, and in
// the end every incident has one ticket, in the right state, with no change
// applied twice.
func TestRTOutage(t *testing.T) {
	rt := rttest.Start(t)
	rt.CreateCustomField(t, rtKeyField)
	rules := writeRules(t, `
rules:
  - name: store
    match: ['alertname="DeviceDown"']
    group_by: [store]
    update_interval: 1s
    breadth: [device]
    urgency: high
    impact_from:
      label: device
      levels: [{min: 1, impact: low}, {min: 12, impact: medium}]
    title: 'Store {{ .GroupLabels.store }}: {{ .Breadth.device }} devices down'
`)
	base, _ := startCorrd(t, fmt.Sprintf(`
ingest:
  alertmanager: {}
rule_files: [%q]
outputs:
  sinks:
    - name: rt
      type: rt
      rt:
        url: %q
        auth: {basic: {username: %q, password: %q}}
        custom_field: %s
        timeout: 2s
  retry: {initial_backoff: 100ms, max_backoff: 500ms, max_attempts: 100000, max_retry_duration: 10m}
`, rules, rt.URL, rt.Username, rt.Password, rtKeyField))
	start := time.Now()

	// Four stores, each with a first device down: four tickets.
	stores := []string{"s1", "s2", "s3", "s4"}
	// caps are the devices each store loses in the storm: s1 and s2 pass
	// 12 and so change priority.
	caps := map[string]int{"s1": 40, "s2": 25, "s3": 8, "s4": 5}
	sender := newAMSender(func() string { return base })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	devices := map[string]int{}
	fire := func(now time.Time) []amAlert {
		var batch []amAlert
		for _, s := range stores {
			if devices[s] < caps[s] {
				devices[s]++
				batch = append(batch, amAlert{store: s, device: fmt.Sprintf("pos%02d", devices[s]), firing: true, startsAt: now})
			}
		}
		return batch
	}
	if !sender.send(ctx, fire(time.Now())) {
		t.Fatalf("first batch: %v", sender.failure)
	}
	ids := map[string]string{} // store -> incident
	eventually(t, 30*time.Second, "four incidents with a ticket each", func() bool {
		for _, inc := range getIncidents(t, base).Incidents {
			d, _ := getIncident(t, base, inc.ID)
			ids[d.GroupLabels["store"]] = inc.ID
		}
		if len(ids) != len(stores) {
			return false
		}
		for _, id := range ids {
			if len(rt.TicketsByKey(t, rtKeyField, id)) == 0 {
				return false
			}
		}
		return true
	})

	// The storm: a new device of every store every 200ms for 8 seconds,
	// with RT down from 1.5s to about 5s (and the start it then takes).
	var storm sync.WaitGroup
	storm.Go(func() {
		end := time.Now().Add(8 * time.Second)
		for time.Now().Before(end) {
			time.Sleep(200 * time.Millisecond)
			if batch := fire(time.Now()); len(batch) > 0 && !sender.send(ctx, batch) {
				return
			}
		}
	})
	time.Sleep(1500 * time.Millisecond)
	rt.Stop()
	stopped := time.Now()
	depth := metricValue(t, base, `corrd_outputs_queue_depth{sink="rt"} `)
	time.Sleep(3 * time.Second)
	t.Logf("RT down; rt queue depth %v after stop, %v after 3s", depth, metricValue(t, base, `corrd_outputs_queue_depth{sink="rt"} `))
	rt.Restart()
	t.Logf("RT down for %s", time.Since(stopped).Round(time.Millisecond))
	storm.Wait()
	if sender.failure != nil {
		t.Fatalf("storm: %v", sender.failure)
	}

	// Two stores recover: their incidents resolve.
	var resolve []amAlert
	now := time.Now()
	for _, s := range []string{"s1", "s3"} {
		for d := 1; d <= devices[s]; d++ {
			resolve = append(resolve, amAlert{store: s, device: fmt.Sprintf("pos%02d", d), startsAt: start, endsAt: now})
		}
	}
	if !sender.send(ctx, resolve) {
		t.Fatalf("resolve: %v", sender.failure)
	}
	if !settle(t, base, []string{"rt"}, 90*time.Second) {
		t.Errorf("corrd did not settle within 90s of the storm (rt queue empty, incidents unchanged)")
	}
	t.Logf("settled %s after the start; devices down %v", time.Since(start).Round(time.Millisecond), devices)

	incs := incidentDetails(t, base)
	if len(incs) != len(stores) {
		t.Errorf("corrd has %d incidents; want %d, one per store", len(incs), len(stores))
	}
	for _, s := range stores {
		inc := incs[ids[s]]
		wantStatus := "open"
		if s == "s1" || s == "s3" {
			wantStatus = "resolved"
		}
		if inc.Status != wantStatus || inc.SignalCount != devices[s] {
			t.Errorf("store %s: incident %s is %s with %d signals; want %s with %d", s, inc.ID, inc.Status, inc.SignalCount, wantStatus, devices[s])
		}
	}
	checkRTTickets(t, rt, incs)
	if n := len(rt.Tickets(t, "id > 0")); n != len(stores) {
		t.Errorf("RT holds %d tickets; want %d", n, len(stores))
	}
	for _, s := range stores {
		inc := incs[ids[s]]
		tks := rt.TicketsByKey(t, rtKeyField, inc.ID)
		if len(tks) != 1 {
			continue // reported above
		}
		h := rt.History(t, tks[0])
		if n := h.Count("Create"); n != 1 {
			t.Errorf("store %s: ticket %d has %d Create transactions; want 1", s, tks[0], n)
		}
		// Every change after opened is at most one comment: fewer when
		// updates were coalesced.
		comments := h.Count("Comment")
		if comments > int(inc.Revision)-1 {
			t.Errorf("store %s: ticket %d has %d comments for %d changes after opened", s, tks[0], comments, inc.Revision-1)
		}
		subjects := map[string]int{}
		for _, tx := range h {
			if tx.Type == "Comment" {
				subjects[tx.Data]++
			}
		}
		for subj, n := range subjects {
			if n > 1 {
				t.Errorf("store %s: ticket %d has the comment %q %d times: a change applied twice", s, tks[0], subj, n)
			}
		}
		last := " " + inc.ID + " r" + strconv.FormatUint(inc.Revision, 10)
		found := false
		for subj := range subjects {
			found = found || strings.HasSuffix(subj, last)
		}
		if inc.Revision > 1 && !found {
			t.Errorf("store %s: ticket %d has no comment for the incident's last revision %d: %q", s, tks[0], inc.Revision, h)
		}
		if want := map[string]int{"resolved": 1, "open": 0}[inc.Status]; h.Count("Status") != want {
			t.Errorf("store %s: ticket %d has %d Status transactions; want %d: %q", s, tks[0], h.Count("Status"), want, h)
		}
		t.Logf("store %s: incident %s %s, priority %d, revision %d; ticket %d: %d comments", s, inc.ID, inc.Status, inc.Priority, inc.Revision, tks[0], comments)
	}
	if n := metricValue(t, base, `corrd_outputs_changes_coalesced_total{sink="rt"} `); n <= 0 {
		t.Errorf("corrd_outputs_changes_coalesced_total{sink=\"rt\"} = %v; want > 0: updates queued during the outage", n)
	} else {
		t.Logf("%v updates coalesced for rt", n)
	}
}
