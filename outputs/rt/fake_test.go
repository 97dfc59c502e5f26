package rt

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeRT is an in-memory REST2 server with the answers of RT 5.0.3 (as
// recorded from the Debian package): ids as strings, errors as
// {"message": ...}, updates answered 200 with an array of messages even when
// refused. inject, when set, sees every request first and may answer it
// itself (returning true).
type fakeRT struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	auth     string // the Authorization header expected
	cfName   string // the custom field, "" when it does not exist
	cfGlobal bool   // whether the custom field applies to the queue
	tickets  map[int]*fakeTicket
	nextID   int
	log      []string // "METHOD /path", without the API prefix and query
	statuses []string // the lifecycle's valid statuses
	inject   func(n int, w http.ResponseWriter, r *http.Request) bool
}

type fakeTicket struct {
	Queue    string
	Subject  string
	Content  string
	Status   string
	Priority int
	CF       map[string]string
	History  []fakeTxn
}

type fakeTxn struct {
	Type    string
	Data    string
	Content string
}

func (t fakeTicket) comments() []fakeTxn {
	var out []fakeTxn
	for _, h := range t.History {
		if h.Type == "Comment" {
			out = append(out, h)
		}
	}
	return out
}

const fakeAuth = "token 1-14-secret"

func newFakeRT(t *testing.T) *fakeRT {
	t.Helper()
	f := &fakeRT{
		t:        t,
		auth:     fakeAuth,
		cfName:   DefaultCustomField,
		cfGlobal: true,
		tickets:  map[int]*fakeTicket{},
		nextID:   1,
		statuses: []string{"new", "open", "stalled", "resolved", "rejected", "deleted"},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRT) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeRT) ticket(id int) fakeTicket {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tickets[id]
	if !ok {
		f.t.Fatalf("fake RT has no ticket %d", id)
	}
	cp := *t
	cp.History = slices.Clone(t.History)
	return cp
}

func (f *fakeRT) ticketCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tickets)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func rtError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
}

var (
	ticketPath  = regexp.MustCompile(`^/ticket/(\d+)(/comment|/history)?$`)
	cfQuery     = regexp.MustCompile(`^CF\.\{([^}]*)\} = '((?:[^'\\]|\\.)*)'$`)
	unescapeSQL = strings.NewReplacer(`\\`, `\`, `\'`, `'`)
)

func (f *fakeRT) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/REST/2.0")
	f.mu.Lock()
	n := len(f.log)
	f.log = append(f.log, r.Method+" "+path)
	inject := f.inject
	f.mu.Unlock()
	if inject != nil && inject(n, w, r) {
		return
	}
	if r.Header.Get("Authorization") != f.auth {
		rtError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && path == "/customfields":
		var q []map[string]string
		if err := json.Unmarshal([]byte(r.URL.Query().Get("query")), &q); err != nil {
			rtError(w, http.StatusBadRequest, "bad query")
			return
		}
		items := []map[string]string{}
		if f.cfName != "" && slices.ContainsFunc(q, func(m map[string]string) bool {
			return m["field"] == "Name" && m["value"] == f.cfName
		}) {
			items = append(items, map[string]string{"id": "2", "type": "customfield"})
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items, "count": len(items), "total": len(items), "page": 1, "pages": len(items)})
	case r.Method == http.MethodPost && path == "/customfield":
		var cf map[string]any
		_ = json.Unmarshal(body, &cf)
		f.cfName, _ = cf["Name"].(string)
		_, f.cfGlobal = cf["Queue"]
		writeJSON(w, http.StatusCreated, map[string]string{"id": "2", "type": "customfield"})
	case r.Method == http.MethodGet && path == "/tickets":
		m := cfQuery.FindStringSubmatch(r.URL.Query().Get("query"))
		if m == nil {
			rtError(w, http.StatusBadRequest, "Incomplete query")
			return
		}
		items := []map[string]string{}
		for _, id := range slices.Sorted(func(yield func(int) bool) {
			for id := range f.tickets {
				if !yield(id) {
					return
				}
			}
		}) {
			if m[1] == f.cfName && f.tickets[id].CF[m[1]] == unescapeSQL.Replace(m[2]) {
				items = append(items, map[string]string{"id": strconv.Itoa(id), "type": "ticket", "Status": f.tickets[id].Status})
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items, "count": len(items), "total": len(items), "page": 1, "pages": len(items)})
	case r.Method == http.MethodPost && path == "/ticket":
		var in struct {
			Queue, Subject, Content string
			Priority                int
			CustomFields            map[string]string
		}
		if err := json.Unmarshal(body, &in); err != nil {
			rtError(w, http.StatusBadRequest, "bad JSON")
			return
		}
		t := &fakeTicket{Queue: in.Queue, Subject: in.Subject, Content: in.Content, Status: "new", Priority: in.Priority, CF: map[string]string{}}
		for k, v := range in.CustomFields {
			if k == f.cfName && f.cfGlobal {
				t.CF[k] = v
			}
		}
		t.History = append(t.History, fakeTxn{Type: "Create"})
		id := f.nextID
		f.nextID++
		f.tickets[id] = t
		writeJSON(w, http.StatusCreated, map[string]string{"id": strconv.Itoa(id), "type": "ticket"})
	default:
		m := ticketPath.FindStringSubmatch(path)
		if m == nil {
			rtError(w, http.StatusNotFound, "Not Found")
			return
		}
		id, _ := strconv.Atoi(m[1])
		t, ok := f.tickets[id]
		switch {
		case !ok && m[2] == "/comment":
			// RT loads the ticket and fails to record the message.
			rtError(w, http.StatusBadRequest, "Message could not be recorded")
			return
		case !ok:
			rtError(w, http.StatusNotFound, "Resource does not exist")
			return
		}
		switch {
		case r.Method == http.MethodGet && m[2] == "":
			// RT renders a ticket's id as a number and its Priority as a
			// string.
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "Subject": t.Subject, "Status": t.Status,
				"Priority": strconv.Itoa(t.Priority), "Queue": map[string]string{"id": "1"}})
		case r.Method == http.MethodPut && m[2] == "":
			var in map[string]any
			if err := json.Unmarshal(body, &in); err != nil {
				rtError(w, http.StatusBadRequest, "bad JSON")
				return
			}
			msgs := []string{}
			if s, ok := in["Status"].(string); ok && s != t.Status {
				if !slices.Contains(f.statuses, s) {
					msgs = append(msgs, fmt.Sprintf("Ticket %d: Status '%s' isn't a valid status for this ticket.", id, s))
				} else {
					msgs = append(msgs, fmt.Sprintf("Ticket %d: Status changed from '%s' to '%s'", id, t.Status, s))
					t.History = append(t.History, fakeTxn{Type: "Status"})
					t.Status = s
				}
			}
			if p, ok := in["Priority"].(float64); ok && int(p) != t.Priority {
				msgs = append(msgs, fmt.Sprintf("Ticket %d: Priority changed from %d to %d", id, t.Priority, int(p)))
				t.History = append(t.History, fakeTxn{Type: "Set"})
				t.Priority = int(p)
			}
			writeJSON(w, http.StatusOK, msgs)
		case r.Method == http.MethodPost && m[2] == "/comment":
			var in struct{ Subject, Content, ContentType string }
			if err := json.Unmarshal(body, &in); err != nil || in.ContentType == "" {
				rtError(w, http.StatusBadRequest, "ContentType is a required field for application/json")
				return
			}
			t.History = append(t.History, fakeTxn{Type: "Comment", Data: in.Subject + "\n", Content: in.Content})
			writeJSON(w, http.StatusCreated, []string{"Comments added"})
		case r.Method == http.MethodGet && m[2] == "/history":
			items := []map[string]string{}
			for i, h := range t.History {
				items = append(items, map[string]string{"id": strconv.Itoa(100 + i), "type": "transaction", "Type": h.Type, "Data": h.Data})
			}
			writeJSON(w, http.StatusOK, map[string]any{"items": items, "count": len(items), "total": len(items), "page": 1, "pages": 1})
		default:
			rtError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		}
	}
}
