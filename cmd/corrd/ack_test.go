package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/ingest"
)

// The ack endpoint against the real engine.
func TestAckEndpoint(t *testing.T) {
	e := runDatacenterEngine(t, "db1")
	id := e.Incidents(correlator.Filter{})[0].ID
	h, err := newWebHandler(webDeps{incidents: e, gatherer: prometheus.NewRegistry(), ready: func() error { return nil }, reload: func() error { return nil }, log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, body string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	cases := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"unknown incident", "/api/v1/incidents/inc-nope/ack", `{"by":"anna"}`, 404, "not found"},
		{"invalid json", "/api/v1/incidents/" + id + "/ack", `{"by":`, 400, "invalid request"},
		{"unknown field", "/api/v1/incidents/" + id + "/ack", `{"who":"anna"}`, 400, "unknown field"},
		{"missing by", "/api/v1/incidents/" + id + "/ack", `{"by":" "}`, 400, `is required: who acknowledges`},
		{"wait without on", "/api/v1/incidents/" + id + "/wait", `{}`, 400, "is required"},
		{"wait unknown", "/api/v1/incidents/inc-nope/wait", `{"on":"vendor"}`, 404, "not found"},
		{"wait", "/api/v1/incidents/" + id + "/wait", `{"on":"vendor"}`, 200, `"waiting":"vendor"`},
		{"ack", "/api/v1/incidents/" + id + "/ack", `{"by":"anna"}`, 200, `"acked_by":"anna"`},
		{"second ack keeps the first", "/api/v1/incidents/" + id + "/ack", `{"by":"bert"}`, 200, `"acked_by":"anna"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.path, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %s, want %d containing %q", code, body, tc.code, tc.want)
			}
		})
	}
	inc, _ := e.Incident(id)
	var types []string
	for _, te := range inc.Timeline {
		types = append(types, string(te.Type))
	}
	if got := strings.Join(types, ","); got != "opened,updated,acknowledged" {
		t.Errorf("got timeline %s, want opened,updated (waiting),acknowledged", got)
	}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/api/v1/incidents/" + id + "/report"); code != http.StatusConflict {
		t.Errorf("report of an open incident: got %d %s, want 409", code, body)
	}
	if code, _ := get("/api/v1/incidents/inc-nope/report"); code != http.StatusNotFound {
		t.Errorf("report of an unknown incident: got %d, want 404", code)
	}
	ls := ingest.LabelsFromMap(map[string]string{"alertname": "DiskFull", "instance": "db1"})
	res := ingest.Event{Kind: "test", Source: "t", Labels: ls, Fingerprint: ingest.FingerprintOf(ls), Status: ingest.StatusResolved}
	if err := e.Submit(context.Background(), []ingest.Event{res}); err != nil {
		t.Fatal(err)
	}
	for {
		if inc, _ := e.Incident(id); inc.Status == correlator.StatusResolved {
			break
		}
		runtime.Gosched()
	}
	code, report := get("/api/v1/incidents/" + id + "/report")
	for _, want := range []string{"# Incident report: DiskFull instance=db1", "## When", "Acknowledged: ", "by anna", "## Why (root cause)", "_To be completed._", "## Timeline", "| opened |", "| acknowledged |", "| resolved |"} {
		if code != http.StatusOK || !strings.Contains(report, want) {
			t.Errorf("report: got %d, want 200 with %q in:\n%s", code, want, report)
		}
	}
	// Silences: bad input gets a clear 400, unknown ids 404.
	del := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, path, nil))
		return rec.Code, rec.Body.String()
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"invalid matcher", `{"matchers":["a=~\"(\""],"ends_at":"` + future + `","created_by":"anna"}`, 400, "matchers[0]"},
		{"end before start", `{"matchers":["a=\"b\""],"starts_at":"` + future + `","ends_at":"` + past + `","created_by":"anna"}`, 400, "ends_at must be after starts_at"},
		{"no author", `{"matchers":["a=\"b\""],"ends_at":"` + future + `"}`, 400, "created_by is required"},
		{"unknown field", `{"matcher":["a=\"b\""]}`, 400, "unknown field"},
		{"created", `{"matchers":["instance=\"db2\""],"ends_at":"` + future + `","created_by":"anna","comment":"disk swap"}`, 201, `"status":"active"`},
	} {
		t.Run("silence "+tc.name, func(t *testing.T) {
			code, body := post("/api/v1/silences", tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %s, want %d containing %q", code, body, tc.code, tc.want)
			}
		})
	}
	if code, _ := del("/api/v1/silences/sil-nope"); code != http.StatusNotFound {
		t.Errorf("expire unknown silence: got %d, want 404", code)
	}
	code, body := get("/api/v1/silences")
	var sl struct{ Silences []correlator.Silence }
	if err := json.Unmarshal([]byte(body), &sl); code != 200 || err != nil || len(sl.Silences) != 1 {
		t.Fatalf("list silences: %d %s", code, body)
	}
	if code, body := del("/api/v1/silences/" + sl.Silences[0].ID); code != 200 || !strings.Contains(body, `"status":"expired"`) {
		t.Errorf("expire silence: got %d %s", code, body)
	}

	// Known errors and change records: bad input is a clear 4xx.
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"ke without workaround", "POST", "/api/v1/known-errors", `{"id":"KE-1","title":"t","match":["rule=\"x\""]}`, 400, "workaround is required"},
		{"ke bad matcher", "POST", "/api/v1/known-errors", `{"id":"KE-1","title":"t","workaround":"w","signal_match":["message=~\"(\""]}`, 400, "signal_match[0]"},
		{"ke unknown field", "POST", "/api/v1/known-errors", `{"id":"KE-1","titel":"t"}`, 400, "unknown field"},
		{"ke created", "POST", "/api/v1/known-errors", `{"id":"KE-1","title":"Disk full on db","match":["instance=\"db2\""],"workaround":"Rotate the logs"}`, 201, `"origin":"api"`},
		{"ke duplicate", "POST", "/api/v1/known-errors", `{"id":"KE-1","title":"t","match":["a=\"b\""],"workaround":"w"}`, 409, "already exists"},
		{"ke list", "GET", "/api/v1/known-errors", ``, 200, `"id":"KE-1"`},
		{"ke delete unknown", "DELETE", "/api/v1/known-errors/KE-9", ``, 404, "not found"},
		{"ke delete", "DELETE", "/api/v1/known-errors/KE-1", ``, 204, ""},
		{"change end before start", "POST", "/api/v1/ingest/changes", `{"id":"CHG-1","start":"2026-11-22T10:00:00Z","end":"2026-11-22T09:00:00Z","scope":{"chain":"ica"}}`, 400, "end is before start"},
		{"change without scope", "POST", "/api/v1/ingest/changes", `[{"id":"CHG-1","start":"2026-11-22T10:00:00Z"}]`, 400, "scope needs at least one label"},
		{"change bad json", "POST", "/api/v1/ingest/changes", `{"id":`, 400, "invalid change records"},
		{"change accepted", "POST", "/api/v1/ingest/changes", `[{"id":"CHG-1","title":"db upgrade","start":"2026-11-22T10:00:00Z","scope":{"instance":"db2"}}]`, 202, `"accepted":1`},
		{"change list", "GET", "/api/v1/changes", ``, 200, `"id":"CHG-1"`},
		{"problems empty", "GET", "/api/v1/problems", ``, 200, `{"problems":[]}`},
		{"problem unknown", "GET", "/api/v1/problems/prb-x", ``, 404, "not found"},
		{"problem resolve unknown", "POST", "/api/v1/problems/prb-x/resolve", ``, 404, "not found"},
		{"problem known error unknown", "POST", "/api/v1/problems/prb-x/known-error", `{"workaround":"w"}`, 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("got %d %s, want %d containing %q", rec.Code, rec.Body.String(), tc.code, tc.want)
			}
		})
	}

	b, _ := json.Marshal(inc)
	if !strings.Contains(string(b), `"timeline"`) {
		t.Errorf("single-incident read lacks the timeline: %s", b)
	}
}
