package rt

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/outputs/rt/rttest"
)

// The sink against a real Request Tracker 5: one start, several cases.
func TestRealRT(t *testing.T) {
	rt := rttest.Start(t)
	rt.CreateCustomField(t, DefaultCustomField)
	rootAuth := Auth{Basic: &Basic{Username: rt.Username, Password: rt.Password}}
	newRealSink := func(t *testing.T, edit func(*Config), opts ...Option) *Sink {
		t.Helper()
		cfg := Config{URL: rt.URL, Auth: rootAuth}
		if edit != nil {
			edit(&cfg)
		}
		s, err := New("rt", cfg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("lifecycle", func(t *testing.T) {
		s := newRealSink(t, nil)
		const key = "inc-00000000000000e1"
		l := newLifecycle(key)
		resolve := func(inc *correlator.Incident, _ *correlator.Change) { inc.Status = correlator.StatusResolved }
		changes := []correlator.Change{
			l.next(correlator.ChangeOpened, nil),
			l.next(correlator.ChangeUpdated, func(inc *correlator.Incident, _ *correlator.Change) { inc.SignalCount = 2 }),
			l.next(correlator.ChangePriorityChanged, func(inc *correlator.Incident, ch *correlator.Change) {
				ch.PreviousPriority, inc.Priority, inc.PriorityName = inc.Priority, 1, "critical"
			}),
			l.next(correlator.ChangeResolved, resolve),
			l.next(correlator.ChangeReopened, func(inc *correlator.Incident, _ *correlator.Change) { inc.Status = correlator.StatusOpen }),
			l.next(correlator.ChangeResolved, resolve),
		}
		var id int
		for i, ch := range changes {
			deliver(t, s, ch)
			if i == 0 {
				ids := rt.TicketsByKey(t, DefaultCustomField, key)
				if len(ids) != 1 {
					t.Fatalf("tickets with key after opened = %v; want one", ids)
				}
				id = ids[0]
				if tk := rt.Ticket(t, id); tk.Status != "new" || tk.Priority != "50" || tk.Subject != "Store s042 down" {
					t.Errorf("ticket after opened = %+v; want new, 50, the title", tk)
				}
			}
			if ch.Type == correlator.ChangeReopened {
				if tk := rt.Ticket(t, id); tk.Status != "open" {
					t.Errorf("status after reopened = %q; want open", tk.Status)
				}
			}
		}
		tk := rt.Ticket(t, id)
		if tk.Status != "resolved" || tk.Priority != "90" {
			t.Errorf("ticket at the end = %+v; want resolved, priority 90", tk)
		}
		h := rt.History(t, id)
		if n := h.Count("Comment"); n != 5 {
			t.Errorf("comments = %d; want 5 (updated, priority_changed, resolved, reopened, resolved): %q", n, h)
		}
		var statuses int
		for _, tx := range h {
			if tx.Type == "Status" {
				statuses++
			}
		}
		if statuses != 3 {
			t.Errorf("status transactions = %d; want 3 (resolved, open, resolved): %q", statuses, h)
		}
		if got := rt.TicketsByKey(t, DefaultCustomField, key); len(got) != 1 {
			t.Errorf("tickets with key at the end = %v; want one", got)
		}
	})

	t.Run("idempotent create", func(t *testing.T) {
		const key = "inc-00000000000000e2"
		opened := newLifecycle(key).next(correlator.ChangeOpened, nil)
		s := newRealSink(t, nil)
		deliver(t, s, opened)
		deliver(t, s, opened)
		// A restarted daemon forgot the ticket id: it finds it by key.
		deliver(t, newRealSink(t, nil), opened)
		if got := rt.TicketsByKey(t, DefaultCustomField, key); len(got) != 1 {
			t.Errorf("tickets with key = %v; want one", got)
		}
	})

	t.Run("lost comment answer is not repeated", func(t *testing.T) {
		const key = "inc-00000000000000e3"
		s := newRealSink(t, nil)
		l := newLifecycle(key)
		deliver(t, s, l.next(correlator.ChangeOpened, nil))
		updated := l.next(correlator.ChangeUpdated, nil)
		deliver(t, s, updated)
		id := rt.TicketsByKey(t, DefaultCustomField, key)[0]
		// As if the answer to the comment had been lost: the retry must
		// find the comment in the real history.
		s.setUnsure(strconv.Itoa(id)+" "+commentSubject(&updated), true)
		deliver(t, s, updated)
		if n := rt.History(t, id).Count("Comment"); n != 1 {
			t.Errorf("comments = %d; want 1", n)
		}
	})

	t.Run("unknown ticket is recreated", func(t *testing.T) {
		const key = "inc-00000000000000e4"
		ids := &MemoryTicketIDs{}
		_ = ids.Put(key, 99999)
		s := newRealSink(t, nil, WithTicketIDs(ids))
		deliver(t, s, newLifecycle(key).next(correlator.ChangeUpdated, nil))
		got := rt.TicketsByKey(t, DefaultCustomField, key)
		if id, _, _ := ids.Get(key); len(got) != 1 || got[0] != id {
			t.Errorf("tickets with key = %v, remembered %d; want one, remembered", got, id)
		}
	})

	t.Run("refused update answered 200", func(t *testing.T) {
		const key = "inc-00000000000000e5"
		s := newRealSink(t, nil)
		deliver(t, s, newLifecycle(key).next(correlator.ChangeOpened, nil))
		id := rt.TicketsByKey(t, DefaultCustomField, key)[0]
		err := s.setField(context.Background(), id, "Status", "bogus")
		if err == nil || isRetryable(err) || !strings.Contains(err.Error(), "isn't a valid status") {
			t.Errorf("set Status bogus = %v (retryable %v); want a permanent error with RT's message", err, isRetryable(err))
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		s := newRealSink(t, func(c *Config) { c.Auth.Basic = &Basic{Username: "root", Password: "wrong"} })
		retryable, err := s.Deliver(context.Background(), newLifecycle("inc-00000000000000e6").next(correlator.ChangeOpened, nil))
		if err == nil || retryable || !strings.Contains(err.Error(), "401") {
			t.Errorf("Deliver = %v, %v; want a permanent 401", retryable, err)
		}
	})

	t.Run("create_custom_field", func(t *testing.T) {
		const key = "inc-00000000000000e7"
		s := newRealSink(t, func(c *Config) { c.CustomField = "CorrdKey"; c.CreateCustomField = true })
		deliver(t, s, newLifecycle(key).next(correlator.ChangeOpened, nil))
		if got := rt.TicketsByKey(t, "CorrdKey", key); len(got) != 1 {
			t.Errorf("tickets with CorrdKey = %v; want one", got)
		}
	})
}
