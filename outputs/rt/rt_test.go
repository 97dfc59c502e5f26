package rt

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

var t0 = time.Date(2026, 3, 1, 10, 4, 5, 0, time.UTC)

func testIncident(id string) correlator.Incident {
	return correlator.Incident{
		ID:           id,
		Rule:         "fleet",
		GroupKey:     `{site="s042"}`,
		GroupLabels:  ingest.Labels{{Name: "site", Value: "s042"}},
		CommonLabels: ingest.Labels{{Name: "site", Value: "s042"}, {Name: "team", Value: "net"}},
		Title:        "Store s042 down",
		Description:  "Every device of store s042 stopped answering.",
		Status:       correlator.StatusOpen,
		Priority:     3,
		PriorityName: "moderate",
		Impact:       "medium",
		Urgency:      "medium",
		Severity:     ingest.SeverityMajor,
		Signals: []correlator.Signal{{
			Fingerprint: "f1", Kind: "alertmanager", Source: "am",
			Labels:   ingest.Labels{{Name: "alertname", Value: "StoreDown"}, {Name: "site", Value: "s042"}},
			Severity: ingest.SeverityMajor, Status: ingest.StatusFiring, StartsAt: t0, LastSeen: t0, Count: 3,
		}},
		SignalCount: 1,
		FiringCount: 1,
		EventCount:  3,
		Breadth:     map[string]int{"device": 4},
		FirstSeen:   t0,
		LastSeen:    t0,
		OpenedAt:    t0,
		Revision:    1,
	}
}

// lifecycle yields the changes of one incident in order, each with the
// next revision.
type lifecycle struct {
	inc correlator.Incident
	at  time.Time
}

func newLifecycle(id string) *lifecycle {
	return &lifecycle{inc: testIncident(id), at: t0}
}

func (l *lifecycle) next(typ correlator.ChangeType, edit func(*correlator.Incident, *correlator.Change)) correlator.Change {
	if typ != correlator.ChangeOpened {
		l.inc.Revision++
	}
	l.at = l.at.Add(time.Minute)
	ch := correlator.Change{Type: typ, At: l.at}
	if edit != nil {
		edit(&l.inc, &ch)
	}
	ch.Incident = l.inc
	return ch
}

func newSink(t *testing.T, f *fakeRT, edit func(*Config), opts ...Option) *Sink {
	t.Helper()
	cfg := Config{URL: f.URL, Auth: Auth{Token: strings.TrimPrefix(fakeAuth, "token ")}}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New("rt", cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func deliver(t *testing.T, s *Sink, ch correlator.Change) {
	t.Helper()
	retryable, err := s.Deliver(context.Background(), ch)
	if err != nil {
		t.Fatalf("Deliver %s = %v, %v; want success", ch.Type, retryable, err)
	}
}

func TestLifecycle(t *testing.T) {
	f := newFakeRT(t)
	ids := &MemoryTicketIDs{}
	s := newSink(t, f, nil, WithTicketIDs(ids))
	l := newLifecycle("inc-0000000000000001")

	deliver(t, s, l.next(correlator.ChangeOpened, nil))
	tk := f.ticket(1)
	if tk.Subject != "Store s042 down" || tk.Queue != "General" || tk.Priority != 50 || tk.Status != "new" ||
		tk.CF["IncidentKey"] != "inc-0000000000000001" {
		t.Errorf("created ticket = %+v; want subject, queue General, priority 50, status new, key", tk)
	}
	for _, want := range []string{"Every device of store s042", "inc-0000000000000001", "3 (moderate)", "device=4", "alertname=", "StoreDown"} {
		if !strings.Contains(tk.Content, want) {
			t.Errorf("ticket content lacks %q:\n%s", want, tk.Content)
		}
	}

	deliver(t, s, l.next(correlator.ChangeUpdated, func(inc *correlator.Incident, _ *correlator.Change) {
		inc.SignalCount, inc.FiringCount = 2, 2
	}))
	deliver(t, s, l.next(correlator.ChangePriorityChanged, func(inc *correlator.Incident, ch *correlator.Change) {
		ch.PreviousPriority = inc.Priority
		inc.Priority, inc.PriorityName = 1, "critical"
	}))
	if tk := f.ticket(1); tk.Priority != 90 {
		t.Errorf("priority after priority_changed = %d; want 90", tk.Priority)
	}
	deliver(t, s, l.next(correlator.ChangeSLAWarning, func(_ *correlator.Incident, ch *correlator.Change) { ch.Detail = "response" }))
	deliver(t, s, l.next(correlator.ChangeResolved, func(inc *correlator.Incident, _ *correlator.Change) {
		inc.Status = correlator.StatusResolved
	}))
	if tk := f.ticket(1); tk.Status != "resolved" {
		t.Errorf("status after resolved = %q; want resolved", tk.Status)
	}
	deliver(t, s, l.next(correlator.ChangeReopened, func(inc *correlator.Incident, _ *correlator.Change) {
		inc.Status, inc.Reopens = correlator.StatusOpen, 1
	}))
	if tk := f.ticket(1); tk.Status != "open" {
		t.Errorf("status after reopened = %q; want open", tk.Status)
	}
	if ids.Len() != 1 {
		t.Errorf("ticket ids held = %d; want 1", ids.Len())
	}
	deliver(t, s, l.next(correlator.ChangeClosed, nil))
	if ids.Len() != 0 {
		t.Errorf("ticket ids held after closed = %d; want 0", ids.Len())
	}

	tk = f.ticket(1)
	var subjects []string
	for _, c := range tk.comments() {
		subjects = append(subjects, strings.TrimSpace(c.Data))
	}
	want := []string{
		"corrd updated inc-0000000000000001 r2",
		"corrd priority_changed inc-0000000000000001 r3",
		"corrd sla_warning inc-0000000000000001 r4",
		"corrd resolved inc-0000000000000001 r5",
		"corrd reopened inc-0000000000000001 r6",
	}
	if !slices.Equal(subjects, want) {
		t.Errorf("comment subjects = %q; want %q", subjects, want)
	}
	if c := tk.comments()[1].Content; !strings.Contains(c, "1 (critical)") || !strings.Contains(c, "was 3") {
		t.Errorf("priority_changed comment lacks new and previous priority:\n%s", c)
	}
	if c := tk.comments()[2].Content; !strings.HasPrefix(c, "sla_warning: response") {
		t.Errorf("sla_warning comment does not start with type and detail:\n%s", c)
	}
	if f.ticketCount() != 1 {
		t.Errorf("tickets = %d; want 1", f.ticketCount())
	}
	// The custom field is looked up once, the ticket searched once.
	reqs := f.requests()
	if n := countPrefix(reqs, "GET /customfields"); n != 1 {
		t.Errorf("custom field lookups = %d; want 1 (%q)", n, reqs)
	}
}

func countPrefix(reqs []string, prefix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// A fresh sink (a restarted daemon) adopts the ticket the custom field
// names instead of creating a second one.
func TestCreateIsIdempotent(t *testing.T) {
	f := newFakeRT(t)
	l := newLifecycle("inc-0000000000000002")
	opened := l.next(correlator.ChangeOpened, nil)
	deliver(t, newSink(t, f, nil), opened)
	deliver(t, newSink(t, f, nil), opened)
	s := newSink(t, f, nil)
	deliver(t, s, opened)
	deliver(t, s, opened)
	if n := f.ticketCount(); n != 1 {
		t.Fatalf("tickets = %d; want 1", n)
	}
	// A later change on a fresh sink finds the ticket by its key too.
	deliver(t, newSink(t, f, nil), l.next(correlator.ChangeUpdated, nil))
	if n, c := f.ticketCount(), len(f.ticket(1).comments()); n != 1 || c != 1 {
		t.Errorf("tickets, comments = %d, %d; want 1, 1", n, c)
	}
}

// A change whose opened change never arrived creates the ticket, then
// applies itself: nothing is lost.
func TestChangeWithoutTicketCreatesIt(t *testing.T) {
	f := newFakeRT(t)
	s := newSink(t, f, nil)
	l := newLifecycle("inc-0000000000000003")
	l.next(correlator.ChangeOpened, nil) // lost
	deliver(t, s, l.next(correlator.ChangeResolved, func(inc *correlator.Incident, _ *correlator.Change) {
		inc.Status = correlator.StatusResolved
	}))
	tk := f.ticket(1)
	if tk.Status != "resolved" || len(tk.comments()) != 1 || tk.CF["IncidentKey"] != "inc-0000000000000003" {
		t.Errorf("ticket = %+v; want resolved with one comment and the key", tk)
	}
	want := []string{"GET /customfields", "GET /tickets", "POST /ticket", "GET /tickets", "PUT /ticket/1", "GET /ticket/1", "POST /ticket/1/comment"}
	if got := f.requests(); !slices.Equal(got, want) {
		t.Errorf("requests = %q; want %q", got, want)
	}
}

// A remembered ticket that RT no longer has (404) is forgotten and the
// change starts over with a search and a create.
func TestRememberedTicketGone(t *testing.T) {
	f := newFakeRT(t)
	ids := &MemoryTicketIDs{}
	_ = ids.Put("inc-0000000000000004", 77)
	s := newSink(t, f, nil, WithTicketIDs(ids))
	l := newLifecycle("inc-0000000000000004")
	deliver(t, s, l.next(correlator.ChangeUpdated, nil))
	if id, _, _ := ids.Get("inc-0000000000000004"); id != 1 || len(f.ticket(1).comments()) != 1 {
		t.Errorf("remembered id = %d, want 1; ticket 1 = %+v", id, f.ticket(1))
	}
}

func TestProblems(t *testing.T) {
	problem := func(typ correlator.ChangeType, status string, rev uint64) correlator.Change {
		return correlator.Change{Type: typ, At: t0, Incident: testIncident("inc-0000000000000005"),
			Problem: &correlator.Problem{ID: "prb-0000000000000001", Rule: "fleet", GroupKey: `{site="s042"}`,
				Kind: "daily", Pattern: "daily around 02:00 UTC, 5 of the last 7 days", Status: status,
				Incidents: []string{"inc-0000000000000005"}, Count: 5, CreatedAt: t0, Revision: rev}}
	}
	t.Run("skipped by default", func(t *testing.T) {
		f := newFakeRT(t)
		s := newSink(t, f, nil)
		deliver(t, s, problem(correlator.ChangeProblemOpened, "open", 1))
		if reqs := f.requests(); len(reqs) != 0 {
			t.Errorf("requests = %q; want none", reqs)
		}
	})
	t.Run("problems: true", func(t *testing.T) {
		f := newFakeRT(t)
		s := newSink(t, f, func(c *Config) { c.Problems = true })
		deliver(t, s, problem(correlator.ChangeProblemOpened, "open", 1))
		deliver(t, s, problem(correlator.ChangeProblemUpdated, "resolved", 2))
		tk := f.ticket(1)
		if tk.CF["IncidentKey"] != "prb-0000000000000001" || !strings.HasPrefix(tk.Subject, "Problem prb-0000000000000001") ||
			tk.Status != "resolved" || len(tk.comments()) != 1 {
			t.Errorf("problem ticket = %+v; want keyed by problem id, resolved, one comment", tk)
		}
	})
}

func TestCustomField(t *testing.T) {
	l := newLifecycle("inc-0000000000000006")
	opened := l.next(correlator.ChangeOpened, nil)
	t.Run("missing", func(t *testing.T) {
		f := newFakeRT(t)
		f.cfName = ""
		retryable, err := newSink(t, f, nil).Deliver(context.Background(), opened)
		if err == nil || retryable || !strings.Contains(err.Error(), `custom field "IncidentKey" does not exist`) {
			t.Errorf("Deliver = %v, %v; want permanent missing custom field error", retryable, err)
		}
		if f.ticketCount() != 0 {
			t.Errorf("tickets = %d; want 0", f.ticketCount())
		}
	})
	t.Run("created", func(t *testing.T) {
		f := newFakeRT(t)
		f.cfName = ""
		deliver(t, newSink(t, f, func(c *Config) { c.CreateCustomField = true; c.CustomField = "CorrdKey" }), opened)
		if f.cfName != "CorrdKey" || !f.cfGlobal || f.ticket(1).CF["CorrdKey"] != "inc-0000000000000006" {
			t.Errorf("custom field %q (global %v), ticket %+v; want CorrdKey applied globally and set", f.cfName, f.cfGlobal, f.ticket(1))
		}
	})
	t.Run("not applied to the queue", func(t *testing.T) {
		f := newFakeRT(t)
		f.cfGlobal = false
		retryable, err := newSink(t, f, nil).Deliver(context.Background(), opened)
		if err == nil || retryable || !strings.Contains(err.Error(), "is the custom field applied to queue") {
			t.Errorf("Deliver = %v, %v; want permanent error about the custom field", retryable, err)
		}
	})
}

// retryAfterer is the dispatcher's view of a delay request.
type retryAfterer interface{ RetryAfter() time.Duration }

func TestErrors(t *testing.T) {
	const key = "inc-0000000000000007"
	resolved := func() correlator.Change {
		l := newLifecycle(key)
		return l.next(correlator.ChangeResolved, func(inc *correlator.Incident, _ *correlator.Change) {
			inc.Status = correlator.StatusResolved
		})
	}
	// answer injects a response for requests matching method and path.
	answer := func(method, path string, respond func(w http.ResponseWriter)) func(*fakeRT) {
		return func(f *fakeRT) {
			f.inject = func(_ int, w http.ResponseWriter, r *http.Request) bool {
				if r.Method != method || !strings.HasPrefix(strings.TrimPrefix(r.URL.Path, "/REST/2.0"), path) {
					return false
				}
				respond(w)
				return true
			}
		}
	}
	tests := []struct {
		name       string
		setup      func(*fakeRT)
		cfg        func(*Config)
		retryable  bool
		retryAfter time.Duration
		wantErr    string
	}{
		{
			name:    "200 with an error message",
			setup:   func(f *fakeRT) { f.statuses = []string{"new", "open"} },
			wantErr: `set Status of ticket 1: RT answered 200 OK: Status is "new" after setting it to "resolved": Ticket 1: Status 'resolved' isn't a valid status for this ticket.`,
		},
		{
			name: "429 with Retry-After",
			setup: answer(http.MethodPut, "/ticket/", func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "7")
				rtError(w, http.StatusTooManyRequests, "slow down")
			}),
			retryable:  true,
			retryAfter: 7 * time.Second,
			wantErr:    "set Status of ticket 1: PUT /ticket/1: RT answered 429 Too Many Requests: slow down",
		},
		{
			name:      "503",
			setup:     answer(http.MethodGet, "/tickets", func(w http.ResponseWriter) { rtError(w, http.StatusServiceUnavailable, "down") }),
			retryable: true,
			wantErr:   "search ticket: GET /tickets: RT answered 503 Service Unavailable: down",
		},
		{
			name:    "401",
			cfg:     func(c *Config) { c.Auth.Token = "wrong" },
			wantErr: "look up custom field \"IncidentKey\": GET /customfields: RT answered 401 Unauthorized: Unauthorized",
		},
		{
			name:    "403",
			setup:   answer(http.MethodPost, "/ticket", func(w http.ResponseWriter) { rtError(w, http.StatusForbidden, "Permission Denied") }),
			wantErr: "create ticket: POST /ticket: RT answered 403 Forbidden: Permission Denied",
		},
		{
			name: "400 on create",
			setup: answer(http.MethodPost, "/ticket", func(w http.ResponseWriter) {
				rtError(w, http.StatusBadRequest, "Could not create ticket. Queue not set")
			}),
			wantErr: "create ticket: POST /ticket: RT answered 400 Bad Request: Could not create ticket. Queue not set",
		},
		{
			name: "undecodable 200",
			setup: answer(http.MethodGet, "/tickets", func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte("<html>login</html>"))
			}),
			wantErr: "search ticket: GET /tickets: RT answered 200 OK: undecodable answer",
		},
		{
			name: "timeout",
			setup: func(f *fakeRT) {
				f.inject = func(_ int, _ http.ResponseWriter, r *http.Request) bool {
					if r.Method != http.MethodPost || r.URL.Path != "/REST/2.0/ticket" {
						return false
					}
					// The server notices the client's disconnect only
					// once the body is read.
					_, _ = io.Copy(io.Discard, r.Body)
					<-r.Context().Done()
					return true
				}
			},
			cfg:       func(c *Config) { c.Timeout = rules.Duration(50 * time.Millisecond) },
			retryable: true,
			wantErr:   "create ticket: POST /ticket: timeout after 50ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRT(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			s := newSink(t, f, tt.cfg)
			retryable, err := s.Deliver(context.Background(), resolved())
			if err == nil {
				t.Fatalf("Deliver = %v, nil; want error %q", retryable, tt.wantErr)
			}
			if retryable != tt.retryable {
				t.Errorf("retryable = %v; want %v (err %v)", retryable, tt.retryable, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q; want it to contain %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "rt rt: resolved "+key+": ") {
				t.Errorf("error = %q; want the sink, change and key in front", err)
			}
			var ra retryAfterer
			var got time.Duration
			if errors.As(err, &ra) {
				got = ra.RetryAfter()
			}
			if got != tt.retryAfter {
				t.Errorf("RetryAfter = %v; want %v", got, tt.retryAfter)
			}
		})
	}
}

// A comment whose answer was lost is not posted twice: the retry finds it
// in the ticket's history.
func TestLostCommentAnswer(t *testing.T) {
	f := newFakeRT(t)
	s := newSink(t, f, nil)
	l := newLifecycle("inc-0000000000000008")
	deliver(t, s, l.next(correlator.ChangeOpened, nil))
	dropped := false
	f.inject = func(_ int, w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/comment") || dropped {
			return false
		}
		dropped = true
		// Let the fake record the comment, then lose the answer.
		f.mu.Lock()
		f.inject = nil
		f.mu.Unlock()
		f.serve(httptestDiscard{}, r)
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("response writer cannot hijack")
			return true
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
	updated := l.next(correlator.ChangeUpdated, nil)
	retryable, err := s.Deliver(context.Background(), updated)
	if err == nil || !retryable {
		t.Fatalf("first Deliver = %v, %v; want a retryable error", retryable, err)
	}
	deliver(t, s, updated)
	if n := len(f.ticket(1).comments()); n != 1 {
		t.Errorf("comments = %d; want 1", n)
	}
	if n := countPrefix(f.requests(), "GET /ticket/1/history"); n != 1 {
		t.Errorf("history reads = %d; want 1", n)
	}
	// The next change comments without reading the history.
	deliver(t, s, l.next(correlator.ChangeUpdated, nil))
	if n, h := len(f.ticket(1).comments()), countPrefix(f.requests(), "GET /ticket/1/history"); n != 2 || h != 1 {
		t.Errorf("comments, history reads = %d, %d; want 2, 1", n, h)
	}
}

// A change resumed from the outbox after a restart may have been applied
// by the previous run: its comment is looked up before it is posted, and
// not posted again when it is there.
func TestResumedCommentNotPostedTwice(t *testing.T) {
	f := newFakeRT(t)
	l := newLifecycle("inc-000000000000000b")
	updated := l.next(correlator.ChangeUpdated, nil)
	first := newSink(t, f, nil)
	deliver(t, first, l.next(correlator.ChangeOpened, nil))
	deliver(t, first, updated)
	// The previous run died before recording the delivery: a new sink
	// (a new process) gets the change again, marked resumed.
	again := newSink(t, f, nil)
	resumed := updated
	resumed.Resumed = true
	deliver(t, again, resumed)
	if n := len(f.ticket(1).comments()); n != 1 {
		t.Errorf("comments = %d; want 1 (the resumed change found its comment)", n)
	}
	// A resumed change that did not get through is applied.
	next := l.next(correlator.ChangeUpdated, nil)
	next.Resumed = true
	deliver(t, again, next)
	if n := len(f.ticket(1).comments()); n != 2 {
		t.Errorf("comments = %d; want 2", n)
	}
}

// httptestDiscard is a ResponseWriter that drops the answer.
type httptestDiscard struct{}

func (httptestDiscard) Header() http.Header         { return http.Header{} }
func (httptestDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (httptestDiscard) WriteHeader(int)             {}

func TestURLPrefix(t *testing.T) {
	for _, suffix := range []string{"", "/", "/REST/2.0", "/REST/2.0/"} {
		f := newFakeRT(t)
		s := newSink(t, f, func(c *Config) { c.URL = f.URL + suffix })
		deliver(t, s, newLifecycle("inc-000000000000000a").next(correlator.ChangeOpened, nil))
		if reqs := f.requests(); len(reqs) == 0 || reqs[0] != "GET /customfields" {
			t.Errorf("url %q: requests %q; want under /REST/2.0", f.URL+suffix, reqs)
		}
	}
}

func TestOperations(t *testing.T) {
	s, err := New("rt", Config{URL: "http://127.0.0.1:1", Auth: Auth{Token: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Operations(), []string{"create", "comment", "priority", "resolve", "reopen", "close"}; !slices.Equal(got, want) {
		t.Errorf("Operations = %q; want %q", got, want)
	}
}

// A refused connection is retryable.
func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := New("rt", Config{URL: "http://" + addr, Auth: Auth{Token: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	retryable, err := s.Deliver(context.Background(), newLifecycle("inc-000000000000000b").next(correlator.ChangeOpened, nil))
	if err == nil || !retryable {
		t.Errorf("Deliver = %v, %v; want a retryable error", retryable, err)
	}
}
