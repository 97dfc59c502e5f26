package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/ingest"
)

func testChange() correlator.Change {
	at := time.Date(2026, 3, 1, 10, 4, 5, 0, time.UTC)
	return correlator.Change{
		Type: correlator.ChangePriorityChanged,
		At:   at,
		Incident: correlator.Incident{
			ID:           "inc-0123456789abcdef",
			Rule:         "fleet",
			GroupKey:     `{site="s042"}`,
			GroupLabels:  ingest.Labels{{Name: "site", Value: "s042"}},
			CommonLabels: ingest.Labels{{Name: "site", Value: "s042"}, {Name: "team", Value: "net"}},
			Title:        "Store s042 down",
			Status:       correlator.StatusOpen,
			Priority:     2,
			PriorityName: "high",
			Impact:       "medium",
			Urgency:      "high",
			Severity:     ingest.SeverityMajor,
			SignalCount:  1,
			FiringCount:  1,
			EventCount:   3,
			FirstSeen:    at.Add(-time.Minute),
			LastSeen:     at,
			OpenedAt:     at.Add(-time.Minute),
			Revision:     7,
		},
		PreviousPriority: 3,
	}
}

// request is what the fake receiver saw.
type request struct {
	method string
	header http.Header
	body   []byte
}

// receiver is a fake webhook endpoint; respond answers the n-th request
// (0-based).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []request
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, request{method: r.Method, header: r.Header.Clone(), body: body})
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func status(code int, header ...string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code)+" from receiver")
	}
}

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New("tickets", cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestDeliverDefaultBodyAndHeaders(t *testing.T) {
	rc := newReceiver(t, status(http.StatusCreated))
	s := newSink(t, Config{
		URL:         rc.URL + "/hook?token=secret",
		Headers:     map[string]string{"X-Team": "noc", "User-Agent": "corrd-test"},
		BearerToken: "tok",
	})
	retryable, err := s.Deliver(context.Background(), testChange())
	if err != nil || retryable {
		t.Fatalf("Deliver = %v, %v; want false, nil", retryable, err)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost {
		t.Errorf("method %s, want POST", r.method)
	}
	for name, want := range map[string]string{
		"Content-Type":    "application/json",
		"User-Agent":      "corrd-test",
		"Idempotency-Key": "inc-0123456789abcdef-7",
		"X-Team":          "noc",
		"Authorization":   "Bearer tok",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}

	if !strings.HasPrefix(string(r.body), `{"version":"1","type":"priority_changed",`) {
		t.Errorf("body starts %.60s, want version then type first", r.body)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	const want = `{
		"version": "1",
		"type": "priority_changed",
		"at": "2026-03-01T10:04:05Z",
		"previous_priority": 3,
		"incident": {
			"id": "inc-0123456789abcdef",
			"rule": "fleet",
			"group_key": "{site=\"s042\"}",
			"group_labels": {"site": "s042"},
			"common_labels": {"site": "s042", "team": "net"},
			"title": "Store s042 down",
			"description": "",
			"status": "open",
			"priority": 2,
			"priority_name": "high",
			"impact": "medium",
			"urgency": "high",
			"severity": "major",
			"signal_count": 1,
			"firing_count": 1,
			"event_count": 3,
			"first_seen": "2026-03-01T10:03:05Z",
			"last_seen": "2026-03-01T10:04:05Z",
			"opened_at": "2026-03-01T10:03:05Z",
			"escalation_level": 0,
			"major": false,
			"revision": 7
		}
	}`
	var wantV map[string]any
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantV) {
		t.Errorf("body\n%s\nwant\n%s", r.body, want)
	}
}

func TestDeliverAuthAndTemplate(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	s := newSink(t, Config{
		URL:         rc.URL,
		BasicAuth:   &BasicAuth{Username: "corrd", Password: "pw"},
		ContentType: "text/plain; charset=utf-8",
		Template:    `{{.Type}} {{.Incident.ID}} p{{.Incident.Priority}} {{json .Incident.Title}}`,
	})
	if _, err := s.Deliver(context.Background(), testChange()); err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	if got, want := string(r.body), `priority_changed inc-0123456789abcdef p2 "Store s042 down"`; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("corrd:pw"))
	if got := r.header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization %q, want %q", got, wantAuth)
	}
	if got := r.header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
}

func TestDeliverTemplateErrorIsPermanent(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	s := newSink(t, Config{URL: rc.URL, Template: `{{.Incident.Nope}}`})
	retryable, err := s.Deliver(context.Background(), testChange())
	if err == nil || retryable {
		t.Fatalf("Deliver = %v, %v; want permanent error", retryable, err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("got %d requests, want 0", n)
	}
}

func TestDeliverClassification(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name          string
		respond       func(int, http.ResponseWriter, *http.Request)
		wantErr       bool
		wantRetryable bool
		// retry-after bounds; both 0 when none is expected
		minRetryAfter, maxRetryAfter time.Duration
		wantInErr                    string
	}{
		{name: "200", respond: status(200)},
		{name: "204", respond: status(204)},
		{name: "400 permanent", respond: status(400), wantErr: true, wantInErr: "400 Bad Request: Bad Request from receiver"},
		{name: "401 permanent", respond: status(401), wantErr: true},
		{name: "404 permanent", respond: status(404), wantErr: true},
		{name: "408 retryable", respond: status(408), wantErr: true, wantRetryable: true},
		{name: "429 retry-after seconds", respond: status(429, "Retry-After", "7"), wantErr: true, wantRetryable: true,
			minRetryAfter: 7 * time.Second, maxRetryAfter: 7 * time.Second},
		{name: "429 retry-after date", respond: status(429, "Retry-After", date), wantErr: true, wantRetryable: true,
			minRetryAfter: 80 * time.Second, maxRetryAfter: 90 * time.Second},
		{name: "429 retry-after garbage", respond: status(429, "Retry-After", "soon"), wantErr: true, wantRetryable: true},
		{name: "500", respond: status(500), wantErr: true, wantRetryable: true},
		{name: "503", respond: status(503, "Retry-After", "2"), wantErr: true, wantRetryable: true,
			minRetryAfter: 2 * time.Second, maxRetryAfter: 2 * time.Second, wantInErr: "503 Service Unavailable"},
		{name: "400 ignores retry-after", respond: status(400, "Retry-After", "5"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.respond)
			s := newSink(t, Config{URL: rc.URL})
			retryable, err := s.Deliver(context.Background(), testChange())
			if (err != nil) != tt.wantErr || retryable != tt.wantRetryable {
				t.Fatalf("Deliver = %v, %v; want retryable %v, error %v", retryable, err, tt.wantRetryable, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantInErr)
			}
			var ra interface{ RetryAfter() time.Duration }
			var got time.Duration
			if errors.As(err, &ra) {
				got = ra.RetryAfter()
			}
			if got < tt.minRetryAfter || got > tt.maxRetryAfter {
				t.Errorf("RetryAfter %v, want in [%v, %v]", got, tt.minRetryAfter, tt.maxRetryAfter)
			}
		})
	}
}

func TestDeliverTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	s := newSink(t, Config{URL: rc.URL})
	s.timeout = 50 * time.Millisecond
	retryable, err := s.Deliver(context.Background(), testChange())
	if err == nil || !retryable {
		t.Fatalf("Deliver = %v, %v; want retryable error", retryable, err)
	}
	if !strings.Contains(err.Error(), "timeout after 50ms") {
		t.Errorf("error %q does not name the timeout", err)
	}
}

func TestDeliverConnectionRefusedIsRetryable(t *testing.T) {
	rc := newReceiver(t, nil)
	url := rc.URL
	rc.Close()
	s := newSink(t, Config{URL: url, BasicAuth: &BasicAuth{Username: "u", Password: "hunter2"}})
	retryable, err := s.Deliver(context.Background(), testChange())
	if err == nil || !retryable {
		t.Fatalf("Deliver = %v, %v; want retryable error", retryable, err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q leaks the password", err)
	}
}

func TestDeliverBoundedErrorBody(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<20))
	})
	s := newSink(t, Config{URL: rc.URL})
	_, err := s.Deliver(context.Background(), testChange())
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *StatusError", err)
	}
	if len(se.Body) != maxResponseBody {
		t.Errorf("read %d bytes of body, want %d", len(se.Body), maxResponseBody)
	}
	if len(err.Error()) > 1024 {
		t.Errorf("error message is %d bytes long", len(err.Error()))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"Sun, 01 Mar 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Sun, 01 Mar 2026 09:00:00 GMT", 0, true},
		{"99999999999999999", maxRetryAfter, true},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "ok", cfg: Config{URL: "https://x.example/hook", Headers: map[string]string{"X-A": "b"}}},
		{name: "no url", cfg: Config{}, want: []string{"p.url is required"}},
		{name: "bad scheme", cfg: Config{URL: "ftp://u:pw@x/"}, want: []string{`p.url "ftp://u:xxxxx@x/": scheme must be http or https`}},
		{name: "no host", cfg: Config{URL: "http:///x"}, want: []string{`p.url "http:///x" has no host`}},
		{name: "unparsable", cfg: Config{URL: "http://x/%zz"}, want: []string{`p.url is invalid: invalid URL escape "%zz"`}},
		{
			name: "everything wrong",
			cfg: Config{
				URL:         "http://x",
				Headers:     map[string]string{"Bad Name": "v", "content-type": "x", "Idempotency-Key": "k", "Authorization": "a", "X-B": "a\nb"},
				BearerToken: "t",
				BasicAuth:   &BasicAuth{},
				ContentType: ";;",
				Template:    "{{.Type",
			},
			want: []string{
				`p.headers[Authorization]: conflicts with bearer_token or basic_auth`,
				`p.headers: invalid header name "Bad Name"`,
				`p.headers[Idempotency-Key]: reserved, set per change`,
				`p.headers[X-B]: value contains a control character`,
				`p.headers[content-type]: set content_type instead`,
				`p.bearer_token and basic_auth are mutually exclusive`,
				`p.basic_auth.username is required`,
				`p.content_type ";;" is invalid: mime: no media type`,
				`p.template is invalid: template: body:1: unclosed action`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := tt.cfg.Validate("p"); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "1.5", "Sun, 01 Mar 2026 10:00:30 GMT", "Sunday, 01-Mar-26 10:00:30 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Errorf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}

func TestIdempotencyKeyOfProblemChanges(t *testing.T) {
	inc := correlator.Change{Type: correlator.ChangeOpened, Incident: correlator.Incident{ID: "inc-1", Revision: 3}}
	if got := IdempotencyKey(&inc); got != "inc-1-3" {
		t.Errorf("got %q, want inc-1-3", got)
	}
	prb := correlator.Change{Type: correlator.ChangeProblemOpened, Incident: inc.Incident, Problem: &correlator.Problem{ID: "prb-9", Revision: 1}}
	if got := IdempotencyKey(&prb); got != "prb-9-1" {
		t.Errorf("got %q for a problem change, want prb-9-1 (not the incident's key)", got)
	}
}
