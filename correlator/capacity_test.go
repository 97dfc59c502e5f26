package correlator

import (
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// At max_open_incidents new default-rule groups are refused first; rule
// groups still open up to 10% above the cap, and beyond it are refused
// too, counted by rule kind with their events counted as shed.
func TestOpenIncidentCap(t *testing.T) {
	set := durableRules(t)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2, MaxOpenIncidents: 10}, set)
		defer h.stop()
		other := func(i int) {
			h.submit(event(map[string]string{"alertname": "Other", "instance": fmt.Sprint(i)}, 0))
		}
		for i := range 10 {
			other(i)
		}
		other(10) // at the cap: the default rule's new group is refused
		h.submit(register("0001", 1, 0))
		h.submit(register("0002", 1, 0)) // 11 groups: the ceiling for rule groups
		h.submit(register("0001", 2, 0)) // joins its open incident: no new group
		m := h.e.m
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"refused default", testutil.ToFloat64(m.incidentsRefused.WithLabelValues("default")), 1},
			{"refused rule", testutil.ToFloat64(m.incidentsRefused.WithLabelValues("rule")), 1},
			{"shed default", testutil.ToFloat64(m.eventsShed.WithLabelValues("default")), 1},
			{"shed store-registers", testutil.ToFloat64(m.eventsShed.WithLabelValues("store-registers")), 1},
			{"open gauge", testutil.ToFloat64(m.openIncidents), 11},
			{"limit gauge", testutil.ToFloat64(m.openIncidentsCap), 10},
		} {
			if c.got != c.want {
				t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
			}
		}
		incs := h.e.Incidents(Filter{})
		if len(incs) != 11 {
			t.Fatalf("got %d incidents, want 11", len(incs))
		}
		if inc := openOf(t, h.e, "store-registers", `{store="0001"}`); inc.SignalCount != 2 {
			t.Errorf("store 0001: got %d signals, want 2 (a signal joining an open incident is never refused)", inc.SignalCount)
		}
	})
}
