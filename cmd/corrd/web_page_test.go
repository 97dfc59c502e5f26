package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// runDatacenterEngine runs a real engine on the data-centre example rules
// with one DiskFull incident per instance given, and returns once every
// one is open.
func runDatacenterEngine(t *testing.T, instances ...string) *correlator.Engine {
	t.Helper()
	set, err := rules.Load([]string{"../../examples/datacenter/rules.yml"}, rules.DefaultMatrix())
	if err != nil {
		t.Fatal(err)
	}
	e := correlator.New(correlator.Options{Shards: 2}, set, nil, prometheus.NewRegistry(), zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	var evs []ingest.Event
	for _, in := range instances {
		ls := ingest.LabelsFromMap(map[string]string{"alertname": "DiskFull", "instance": in})
		evs = append(evs, ingest.Event{Kind: "test", Source: "t", Labels: ls, Fingerprint: ingest.FingerprintOf(ls)})
	}
	for {
		if err = e.Submit(context.Background(), evs); err == nil {
			break
		}
		if err != correlator.ErrNotRunning {
			t.Fatal(err)
		}
		runtime.Gosched() // Run has not marked itself running yet
	}
	for len(e.Incidents(correlator.Filter{})) < len(instances) {
		runtime.Gosched()
	}
	return e
}

// GET /api/v1/incidents pages through every incident exactly once, in
// order, and refuses a bad limit or cursor.
func TestIncidentPages(t *testing.T) {
	var instances []string
	for i := range 25 {
		instances = append(instances, fmt.Sprintf("db%02d", i))
	}
	e := runDatacenterEngine(t, instances...)
	h, err := newWebHandler(webDeps{incidents: e, gatherer: prometheus.NewRegistry(), ready: func() error { return nil }, reload: func() error { return nil }, log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	get := func(query string) (int, struct {
		Incidents []correlator.Incident `json:"incidents"`
		Next      string                `json:"next"`
		Error     string                `json:"error"`
	}) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/incidents"+query, nil))
		var page struct {
			Incidents []correlator.Incident `json:"incidents"`
			Next      string                `json:"next"`
			Error     string                `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatalf("GET %s: %v in %s", query, err, rec.Body)
		}
		return rec.Code, page
	}

	all := e.Incidents(correlator.Filter{})
	var got []string
	pages := 0
	for q := "?limit=7"; ; pages++ {
		code, page := get(q)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", q, code, page.Error)
		}
		if len(page.Incidents) > 7 {
			t.Fatalf("page of %d incidents, want at most 7", len(page.Incidents))
		}
		for _, inc := range page.Incidents {
			got = append(got, inc.ID)
		}
		if page.Next == "" {
			break
		}
		q = "?limit=7&cursor=" + page.Next
	}
	if pages != 3 {
		t.Errorf("got %d pages after the first, want 3 (25 incidents, 7 a page)", pages)
	}
	if len(got) != len(all) {
		t.Fatalf("got %d incidents over the pages, want %d", len(got), len(all))
	}
	for i := range all {
		if got[i] != all[i].ID {
			t.Errorf("incident %d: got %s, want %s (listing order)", i, got[i], all[i].ID)
		}
	}
	if code, page := get(""); code != http.StatusOK || len(page.Incidents) != 25 || page.Next != "" {
		t.Errorf("default page: %d with %d incidents, next %q; want 200, all 25, no next", code, len(page.Incidents), page.Next)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?cursor=!!!", "?cursor=bm9jb2xvbg"} {
		if code, page := get(q); code != http.StatusBadRequest || page.Error == "" {
			t.Errorf("GET %s: %d %q, want 400 with the reason", q, code, page.Error)
		}
	}
}
