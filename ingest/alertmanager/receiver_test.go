package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// fakeSubmitter records the batches it accepts, or fails with err.
type fakeSubmitter struct {
	mu      sync.Mutex
	err     error
	batches [][]ingest.Event
	calls   int
}

func (f *fakeSubmitter) Submit(ctx context.Context, events []ingest.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return f.err
	}
	f.batches = append(f.batches, events)
	return nil
}

var testArrival = time.Date(2026, 11, 22, 6, 40, 0, 0, time.UTC)

type harness struct {
	r   *Receiver
	sub *fakeSubmitter
	m   *ingest.Metrics
	reg *prometheus.Registry
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := &harness{sub: &fakeSubmitter{}, m: ingest.NewMetrics(reg), reg: reg}
	r, err := New("am-main", cfg, h.sub, h.m, reg, zerolog.Nop())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.now = func() time.Time { return testArrival }
	h.r = r
	return h
}

// post sends body to the receiver; edit may change the request first.
func (h *harness) post(body string, edit func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, h.r.Path(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if edit != nil {
		edit(req)
	}
	w := httptest.NewRecorder()
	h.r.ServeHTTP(w, req)
	return w
}

func (h *harness) rejected(reason string) float64 {
	return testutil.ToFloat64(h.m.Rejected.WithLabelValues("am-main", "alertmanager", reason))
}

func (h *harness) received() float64 {
	return testutil.ToFloat64(h.m.Received.WithLabelValues("am-main", "alertmanager"))
}

func (h *harness) requests(code int) float64 {
	return testutil.ToFloat64(h.r.m.request(code))
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestReceiverCapturedPayloads(t *testing.T) {
	type want struct {
		store     string
		status    ingest.Status
		eventTime time.Time
		fp        uint64
		severity  ingest.Severity
	}
	started := mustTime("2026-11-22T06:38:45Z")
	tests := []struct {
		file string
		want []want
	}{
		{"firing.json", []want{
			{"0412", ingest.StatusFiring, started, 0x16543c7fcf04e7f0, ingest.SeverityCritical},
			{"0413", ingest.StatusFiring, started, 0x8f735ddb0dcdd5c4, ingest.SeverityCritical},
			{"0977", ingest.StatusFiring, started, 0x5b20311519e74613, ingest.SeverityWarning},
		}},
		{"mixed.json", []want{
			{"0412", ingest.StatusResolved, mustTime("2026-11-22T06:38:48Z"), 0x16543c7fcf04e7f0, ingest.SeverityCritical},
			{"0413", ingest.StatusFiring, started, 0x8f735ddb0dcdd5c4, ingest.SeverityCritical},
			{"0977", ingest.StatusFiring, started, 0x5b20311519e74613, ingest.SeverityWarning},
		}},
		{"resolved.json", []want{
			{"0412", ingest.StatusResolved, mustTime("2026-11-22T06:38:58Z"), 0x16543c7fcf04e7f0, ingest.SeverityCritical},
			{"0413", ingest.StatusResolved, mustTime("2026-11-22T06:38:58Z"), 0x8f735ddb0dcdd5c4, ingest.SeverityCritical},
			{"0977", ingest.StatusResolved, mustTime("2026-11-22T06:38:58Z"), 0x5b20311519e74613, ingest.SeverityWarning},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			h := newHarness(t, Config{})
			w := h.post(readTestdata(t, tt.file), nil)
			if w.Code != http.StatusOK {
				t.Fatalf("code = %d (%s), want 200", w.Code, w.Body)
			}
			if got, want := w.Body.String(), `{"status":"success","accepted":3}`+"\n"; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if len(h.sub.batches) != 1 {
				t.Fatalf("%d batches submitted, want 1", len(h.sub.batches))
			}
			evs := h.sub.batches[0]
			if len(evs) != len(tt.want) {
				t.Fatalf("%d events, want %d", len(evs), len(tt.want))
			}
			for i, ev := range evs {
				w := tt.want[i]
				if got := ev.Labels.Get("store"); got != w.store {
					t.Errorf("event %d: store = %q, want %q", i, got, w.store)
				}
				if ev.Kind != "alertmanager" || ev.Source != "am-main" {
					t.Errorf("event %d: kind, source = %q, %q, want alertmanager, am-main", i, ev.Kind, ev.Source)
				}
				if ev.Status != w.status {
					t.Errorf("event %d: status = %v, want %v", i, ev.Status, w.status)
				}
				if !ev.EventTime.Equal(w.eventTime) {
					t.Errorf("event %d: event time = %v, want %v", i, ev.EventTime, w.eventTime)
				}
				if !ev.ArrivalTime.Equal(testArrival) {
					t.Errorf("event %d: arrival time = %v, want %v", i, ev.ArrivalTime, testArrival)
				}
				if ev.Fingerprint != w.fp {
					t.Errorf("event %d: fingerprint = %016x, want %016x", i, ev.Fingerprint, w.fp)
				}
				// Alertmanager computed the fingerprints of these payloads.
				if got := ingest.FingerprintOf(ev.Labels); got != w.fp {
					t.Errorf("event %d: FingerprintOf(labels) = %016x, want Alertmanager's %016x", i, got, w.fp)
				}
				if ev.Severity != w.severity {
					t.Errorf("event %d: severity = %v, want %v", i, ev.Severity, w.severity)
				}
				if got, want := len(ev.Labels), 7; got != want {
					t.Errorf("event %d: %d labels, want %d", i, got, want)
				}
				if got := ev.Annotations.Get("runbook_url"); got != "https://runbooks.example.net/store-link-down" {
					t.Errorf("event %d: runbook_url = %q", i, got)
				}
				var raw struct {
					Fingerprint string `json:"fingerprint"`
				}
				if err := json.Unmarshal(ev.Raw, &raw); err != nil {
					t.Errorf("event %d: raw %q is not the alert's JSON: %v", i, ev.Raw, err)
				} else if want := fmt.Sprintf("%016x", w.fp); raw.Fingerprint != want {
					t.Errorf("event %d: raw fingerprint = %q, want %q", i, raw.Fingerprint, want)
				}
			}
			if got := evs[2].Annotations.Get("description"); got != `ICMP probe to rtr-0977 "lost" 40% of packets — degraded.` {
				t.Errorf("event 2: description = %q", got)
			}
			if got := h.received(); got != 3 {
				t.Errorf("received = %v, want 3", got)
			}
			if got := h.requests(http.StatusOK); got != 1 {
				t.Errorf("requests{code=200} = %v, want 1", got)
			}
		})
	}
}

func TestReceiverMetrics(t *testing.T) {
	h := newHarness(t, Config{})
	for range 2 {
		if w := h.post(readTestdata(t, "firing100.json"), nil); w.Code != http.StatusOK {
			t.Fatalf("code = %d (%s), want 200", w.Code, w.Body)
		}
	}
	h.post(`{`, nil)
	want := `
# HELP corrd_ingest_alertmanager_alerts_per_request Alerts in an accepted Alertmanager webhook request.
# TYPE corrd_ingest_alertmanager_alerts_per_request histogram
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="1"} 0
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="2"} 0
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="5"} 0
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="10"} 0
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="20"} 0
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="50"} 0
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="100"} 2
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="200"} 2
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="500"} 2
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="1000"} 2
corrd_ingest_alertmanager_alerts_per_request_bucket{source="am-main",le="+Inf"} 2
corrd_ingest_alertmanager_alerts_per_request_sum{source="am-main"} 200
corrd_ingest_alertmanager_alerts_per_request_count{source="am-main"} 2
# HELP corrd_ingest_events_received_total Events produced by a source and offered to the correlator.
# TYPE corrd_ingest_events_received_total counter
corrd_ingest_events_received_total{kind="alertmanager",source="am-main"} 200
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want),
		"corrd_ingest_alertmanager_alerts_per_request", "corrd_ingest_events_received_total"); err != nil {
		t.Error(err)
	}
	for code, want := range map[int]float64{200: 2, 400: 1, 503: 0} {
		if got := h.requests(code); got != want {
			t.Errorf("requests{code=%d} = %v, want %v", code, got, want)
		}
	}
	if got := testutil.CollectAndCount(h.reg, "corrd_ingest_alertmanager_request_duration_seconds"); got != 1 {
		t.Errorf("%d duration series, want 1", got)
	}
	// Every series label value is the source name or an HTTP code.
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "source" && lp.GetValue() != "am-main" {
					t.Errorf("%s: source = %q, want am-main", mf.GetName(), lp.GetValue())
				}
			}
		}
	}
}

func TestReceiverSeverityAndFingerprint(t *testing.T) {
	h := newHarness(t, Config{})
	body := `{"version":"4","alerts":[
		{"status":"firing","labels":{"alertname":"A","severity":"Sev-9"},"startsAt":"2026-11-22T06:00:00Z","fingerprint":"not-a-fingerprint"},
		{"status":"firing","labels":{"alertname":"B","severity":"P2","empty":""},"fingerprint":"00000000000000ff"},
		{"status":"resolved","labels":{"alertname":"C"},"startsAt":"2026-11-22T06:00:00Z","endsAt":"0001-01-01T00:00:00Z"},
		{"status":"firing","labels":{"alertname":"D"},"fingerprint":"00000000000000FF0"}
	],"truncatedAlerts":7}`
	w := h.post(body, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("code = %d (%s), want 200", w.Code, w.Body)
	}
	evs := h.sub.batches[0]
	tests := []struct {
		name      string
		ev        ingest.Event
		severity  ingest.Severity
		fp        uint64
		eventTime time.Time
	}{
		{"unknown severity, bad fingerprint", evs[0], ingest.SeverityUnknown,
			ingest.FingerprintOf(evs[0].Labels), mustTime("2026-11-22T06:00:00Z")},
		{"P2, given fingerprint, no startsAt", evs[1], ingest.SeverityMajor, 0xff, testArrival},
		{"no severity, resolved without endsAt", evs[2], ingest.SeverityUnknown,
			ingest.FingerprintOf(evs[2].Labels), testArrival},
		{"17 hex digits", evs[3], ingest.SeverityUnknown, ingest.FingerprintOf(evs[3].Labels), testArrival},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ev.Severity != tt.severity {
				t.Errorf("severity = %v, want %v", tt.ev.Severity, tt.severity)
			}
			if tt.ev.Fingerprint != tt.fp {
				t.Errorf("fingerprint = %016x, want %016x", tt.ev.Fingerprint, tt.fp)
			}
			if !tt.ev.EventTime.Equal(tt.eventTime) {
				t.Errorf("event time = %v, want %v", tt.ev.EventTime, tt.eventTime)
			}
		})
	}
	if evs[1].Labels.Has("empty") {
		t.Errorf("labels %v keep an empty value", evs[1].Labels)
	}
	if got := testutil.ToFloat64(h.r.m.unknownSeverity); got != 1 {
		t.Errorf("unknown severity = %v, want 1", got)
	}
	if got := testutil.ToFloat64(h.r.m.truncated); got != 7 {
		t.Errorf("truncated = %v, want 7", got)
	}
}

func TestReceiverRawIsBounded(t *testing.T) {
	h := newHarness(t, Config{})
	long := strings.Repeat("x", 3*ingest.MaxRaw)
	w := h.post(`{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"},"annotations":{"d":"`+long+`"}}]}`, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("code = %d (%s), want 200", w.Code, w.Body)
	}
	ev := h.sub.batches[0][0]
	if len(ev.Raw) != ingest.MaxRaw {
		t.Errorf("len(raw) = %d, want %d", len(ev.Raw), ingest.MaxRaw)
	}
	if got := ev.Annotations.Get("d"); got != long {
		t.Errorf("annotation d has %d bytes, want %d", len(got), len(long))
	}
}

func TestReceiverSubmitErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		code       int
		reason     string
		retryAfter string
	}{
		{"backpressure", ingest.ErrBackpressure, http.StatusServiceUnavailable, reasonBackpress, retryAfter},
		{"wrapped backpressure", errors.Join(errors.New("shard 3"), ingest.ErrBackpressure), http.StatusServiceUnavailable, reasonBackpress, retryAfter},
		{"batch larger than the queue", fmt.Errorf("%w: 3 events, queue_size 2", ingest.ErrBatchTooLarge), http.StatusRequestEntityTooLarge, reasonBatchSize, ""},
		{"canceled", context.Canceled, http.StatusServiceUnavailable, reasonCanceled, retryAfter},
		{"deadline", context.DeadlineExceeded, http.StatusServiceUnavailable, reasonCanceled, retryAfter},
		{"other", errors.New("correlator is not running"), http.StatusInternalServerError, reasonSubmitError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.sub.err = tt.err
			w := h.post(readTestdata(t, "firing.json"), nil)
			if w.Code != tt.code {
				t.Errorf("code = %d, want %d", w.Code, tt.code)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			checkErrorBody(t, w, "")
			if got := h.rejected(tt.reason); got != 1 {
				t.Errorf("rejected{reason=%s} = %v, want 1", tt.reason, got)
			}
			if got := h.received(); got != 0 {
				t.Errorf("received = %v, want 0", got)
			}
			if got := h.requests(tt.code); got != 1 {
				t.Errorf("requests{code=%d} = %v, want 1", tt.code, got)
			}
		})
	}
}

// checkErrorBody checks that w has a JSON error body whose message
// contains want.
func checkErrorBody(t *testing.T, w *httptest.ResponseRecorder, want string) {
	t.Helper()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Errorf("body %q: %v", w.Body, err)
		return
	}
	if body.Status != "error" || body.Error == "" {
		t.Errorf("body = %q, want status error and a message", w.Body)
	}
	if !strings.Contains(body.Error, want) {
		t.Errorf("error = %q, want it to contain %q", body.Error, want)
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
}

func TestReceiverBodyLimitWithoutContentLength(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 1000})
	srv := httptest.NewServer(h.r)
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(readTestdata(t, "firing.json")))
		_ = pw.Close()
	}()
	resp, err := http.Post(srv.URL+h.r.Path(), "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("code = %d, want 413", resp.StatusCode)
	}
	if got := h.rejected(reasonTooLarge); got != 1 {
		t.Errorf("rejected{reason=too_large} = %v, want 1", got)
	}
	if h.sub.calls != 0 {
		t.Errorf("%d submits, want 0", h.sub.calls)
	}
}
