package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/rules"
)

// fakeIncidents serves a fixed list of incidents and records the filters
// it was asked for.
type fakeIncidents struct {
	incs    []correlator.Incident
	mu      sync.Mutex
	filters []correlator.Filter
}

func (f *fakeIncidents) Incidents(flt correlator.Filter) []correlator.Incident {
	f.mu.Lock()
	f.filters = append(f.filters, flt)
	f.mu.Unlock()
	var out []correlator.Incident
	for _, inc := range f.incs {
		if (flt.Status == "" || inc.Status == flt.Status) && (flt.Rule == "" || inc.Rule == flt.Rule) {
			inc.Signals = nil
			out = append(out, inc)
		}
	}
	return out
}

func (f *fakeIncidents) Wait(string, string) (correlator.Incident, error) {
	return correlator.Incident{}, correlator.ErrUnknownIncident
}

func (f *fakeIncidents) Ack(id, by string) (correlator.Incident, error) {
	return correlator.Incident{}, correlator.ErrUnknownIncident
}

func (f *fakeIncidents) AddSilence(correlator.Silence) (correlator.Silence, error) {
	return correlator.Silence{}, correlator.ErrInvalidSilence
}

func (f *fakeIncidents) ExpireSilence(string) (correlator.Silence, error) {
	return correlator.Silence{}, correlator.ErrUnknownSilence
}

func (f *fakeIncidents) Silences() []correlator.Silence { return nil }

func (f *fakeIncidents) KnownErrors() []correlator.KnownErrorInfo { return nil }

func (f *fakeIncidents) AddKnownError(rules.KnownErrorConfig) (correlator.KnownErrorInfo, error) {
	return correlator.KnownErrorInfo{}, correlator.ErrInvalid
}

func (f *fakeIncidents) DeleteKnownError(string) error { return correlator.ErrUnknownKE }

func (f *fakeIncidents) AddChanges([]correlator.ChangeRecord) error { return correlator.ErrInvalid }

func (f *fakeIncidents) Changes() []correlator.ChangeRecord { return nil }

func (f *fakeIncidents) Problems() []correlator.Problem { return nil }

func (f *fakeIncidents) Problem(string) (correlator.Problem, bool) {
	return correlator.Problem{}, false
}

func (f *fakeIncidents) ResolveProblem(string) (correlator.Problem, error) {
	return correlator.Problem{}, correlator.ErrUnknownProblem
}

func (f *fakeIncidents) KnownErrorFromProblem(string, rules.KnownErrorConfig) (correlator.KnownErrorInfo, error) {
	return correlator.KnownErrorInfo{}, correlator.ErrUnknownProblem
}

func (f *fakeIncidents) Incident(id string) (correlator.Incident, bool) {
	for _, inc := range f.incs {
		if inc.ID == id {
			return inc, true
		}
	}
	return correlator.Incident{}, false
}

type webFixture struct {
	srv     *httptest.Server
	fake    *fakeIncidents
	ready   atomic.Bool
	reloads atomic.Int32
	// reloadErr is returned by reloads when set.
	reloadErr atomic.Pointer[error]
}

func (f *fakeIncidents) lastFilter() (correlator.Filter, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.filters) == 0 {
		return correlator.Filter{}, 0
	}
	return f.filters[len(f.filters)-1], len(f.filters)
}

func newWebFixture(t *testing.T) *webFixture {
	t.Helper()
	f := &webFixture{fake: &fakeIncidents{incs: []correlator.Incident{
		{ID: "inc-1", Rule: "store-power", Status: correlator.StatusOpen,
			Signals: []correlator.Signal{{Fingerprint: "00000000000000aa"}}},
		{ID: "inc-2", Rule: "store-power", Status: correlator.StatusResolved},
		{ID: "inc-3", Rule: "link-down", Status: correlator.StatusOpen},
	}}}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "corrd_test_total", Help: "test"})
	reg.MustRegister(c)
	h, err := newWebHandler(webDeps{
		incidents: f.fake,
		receivers: []receiver{{path: "/api/v1/ingest/test", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
		})}},
		gatherer: reg,
		ready: func() error {
			if !f.ready.Load() {
				return errNotRunning
			}
			return nil
		},
		reload: func() error {
			f.reloads.Add(1)
			if err := f.reloadErr.Load(); err != nil {
				return *err
			}
			return nil
		},
		log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *webFixture) do(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestListIncidents(t *testing.T) {
	f := newWebFixture(t)
	for _, tc := range []struct {
		name, query string
		want        []string // ids
		filter      correlator.Filter
	}{
		{"all", "", []string{"inc-1", "inc-2", "inc-3"}, correlator.Filter{}},
		{"open", "?status=open", []string{"inc-1", "inc-3"}, correlator.Filter{Status: correlator.StatusOpen}},
		{"rule", "?rule=store-power", []string{"inc-1", "inc-2"}, correlator.Filter{Rule: "store-power"}},
		{"both", "?status=resolved&rule=store-power", []string{"inc-2"}, correlator.Filter{Status: correlator.StatusResolved, Rule: "store-power"}},
		{"none", "?status=closed", []string{}, correlator.Filter{Status: correlator.StatusClosed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.do(t, "GET", "/api/v1/incidents"+tc.query)
			if code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", code, body)
			}
			var resp struct {
				Incidents *[]correlator.Incident `json:"incidents"`
			}
			if err := json.Unmarshal([]byte(body), &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Incidents == nil {
				t.Fatalf("no incidents array in %s", body)
			}
			ids := []string{}
			for _, inc := range *resp.Incidents {
				ids = append(ids, inc.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
				t.Errorf("ids %v, want %v", ids, tc.want)
			}
			// The handler asks one more than the default page to learn
			// whether a next page exists.
			want := tc.filter
			want.Limit = defaultPageLimit + 1
			if got, _ := f.fake.lastFilter(); got != want {
				t.Errorf("filter %+v, want %+v", got, want)
			}
		})
	}
}

func TestListIncidentsBadStatus(t *testing.T) {
	f := newWebFixture(t)
	code, body := f.do(t, "GET", "/api/v1/incidents?status=firing")
	if code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", code)
	}
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, `"firing"`) {
		t.Errorf("body %s (%v), want a JSON error naming the status", body, err)
	}
	if _, n := f.fake.lastFilter(); n != 0 {
		t.Error("engine queried on a bad request")
	}
}

func TestGetIncident(t *testing.T) {
	f := newWebFixture(t)
	code, body := f.do(t, "GET", "/api/v1/incidents/inc-1")
	if code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", code, body)
	}
	var inc correlator.Incident
	if err := json.Unmarshal([]byte(body), &inc); err != nil {
		t.Fatal(err)
	}
	if inc.ID != "inc-1" || len(inc.Signals) != 1 {
		t.Errorf("got %+v, want inc-1 with its signal", inc)
	}

	code, body = f.do(t, "GET", "/api/v1/incidents/inc-404")
	if code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", code)
	}
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != `incident "inc-404" not found` {
		t.Errorf("body %s (%v)", body, err)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	f := newWebFixture(t)
	if code, _ := f.do(t, "GET", "/-/healthy"); code != http.StatusOK {
		t.Errorf("healthy: %d, want 200", code)
	}
	if code, _ := f.do(t, "GET", "/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("ready before start: %d, want 503", code)
	}
	f.ready.Store(true)
	if code, _ := f.do(t, "GET", "/-/ready"); code != http.StatusOK {
		t.Errorf("ready: %d, want 200", code)
	}
	code, body := f.do(t, "GET", "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "corrd_test_total 0") {
		t.Errorf("metrics: %d\n%s", code, body)
	}
	if code, _ := f.do(t, "POST", "/api/v1/ingest/test"); code != http.StatusAccepted {
		t.Errorf("receiver: %d, want 202", code)
	}
	if code, _ := f.do(t, "POST", "/api/v1/incidents"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST incidents: %d, want 405", code)
	}
}

func TestReloadEndpoint(t *testing.T) {
	f := newWebFixture(t)
	if code, _ := f.do(t, "POST", "/-/reload"); code != http.StatusOK {
		t.Errorf("reload: %d, want 200", code)
	}
	err := errors.New(`rules.yml: rules[0] "x": window must be > 0`)
	f.reloadErr.Store(&err)
	code, body := f.do(t, "POST", "/-/reload")
	if code != http.StatusInternalServerError || !strings.Contains(body, "window must be > 0") {
		t.Errorf("failed reload: %d %q, want 500 with the error", code, body)
	}
	if code, _ := f.do(t, "GET", "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET reload: %d, want 405", code)
	}
	if got := f.reloads.Load(); got != 2 {
		t.Errorf("%d reloads, want 2", got)
	}
}

func TestReceiverPathConflict(t *testing.T) {
	_, err := newWebHandler(webDeps{
		receivers: []receiver{{path: "/metrics", handler: http.NotFoundHandler()}},
		gatherer:  prometheus.NewRegistry(),
		log:       zerolog.Nop(),
	})
	if err == nil {
		t.Fatal("receiver at /metrics accepted")
	}
}
