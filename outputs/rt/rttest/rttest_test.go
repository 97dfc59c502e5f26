package rttest

import (
	"net/http"
	"testing"
)

// Stop makes RT unreachable; Restart brings it back on the same URL with
// the same database.
func TestStopRestart(t *testing.T) {
	rt := Start(t)
	rt.CreateCustomField(t, "IncidentKey")
	code, b, err := rt.API(http.MethodPost, "/ticket", map[string]any{
		"Queue": "General", "Subject": "before the outage",
		"CustomFields": map[string]string{"IncidentKey": "inc-1"},
	})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create ticket = %d, %v: %s", code, err, b)
	}
	ids := rt.TicketsByKey(t, "IncidentKey", "inc-1")
	if len(ids) != 1 {
		t.Fatalf("tickets by key = %v; want one", ids)
	}

	rt.Stop()
	if rt.Running() {
		t.Error("Running after Stop")
	}
	if code, _, err := rt.API(http.MethodGet, "/queues/all", nil); err == nil {
		t.Fatalf("RT answered %d after Stop; want a connection error", code)
	}
	rt.Stop() // a second Stop does nothing

	rt.Restart()
	if !rt.Running() {
		t.Error("not Running after Restart")
	}
	if got := rt.TicketsByKey(t, "IncidentKey", "inc-1"); len(got) != 1 || got[0] != ids[0] {
		t.Errorf("tickets by key after Restart = %v; want %v", got, ids)
	}
	if tk := rt.Ticket(t, ids[0]); tk.Subject != "before the outage" || tk.Status != "new" {
		t.Errorf("ticket after Restart = %+v", tk)
	}
	if h := rt.History(t, ids[0]); h.Count("Create") != 1 {
		t.Errorf("history = %q; want one Create", h)
	}
}
