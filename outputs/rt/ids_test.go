package rt

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/correlator/store"
)

var _ Store = (*store.Store)(nil)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// records returns the raw stored records of a bucket.
func records(t *testing.T, st Store, bucket string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := st.Load(bucket, func(k string, v []byte) error {
		out[k] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStoreTicketIDs(t *testing.T) {
	st := openStore(t)
	bucket := TicketBucket("rt")
	if bucket != "rt_tickets/rt" {
		t.Errorf("TicketBucket = %q", bucket)
	}
	ids := NewStoreTicketIDs(st, "rt")
	if was, err := ids.MarkCreating("inc-1"); was || err != nil {
		t.Errorf("first MarkCreating = %v, %v; want false, nil", was, err)
	}
	if got := records(t, st, bucket); got["inc-1"] != `{"pending":true}` {
		t.Errorf("stored after MarkCreating = %q; want a pending marker", got)
	}
	if _, ok, err := ids.Get("inc-1"); ok || err != nil {
		t.Errorf("Get of a key with only a marker = %v, %v; want unknown", ok, err)
	}
	// A new instance over the same store (a restart) sees the marker.
	if was, err := NewStoreTicketIDs(st, "rt").MarkCreating("inc-1"); !was || err != nil {
		t.Errorf("MarkCreating after a restart = %v, %v; want true, nil", was, err)
	}
	if err := ids.Put("inc-1", 42); err != nil {
		t.Fatal(err)
	}
	if got := records(t, st, bucket); got["inc-1"] != `{"id":42}` {
		t.Errorf("stored after Put = %q; want the id replacing the marker", got)
	}
	again := NewStoreTicketIDs(st, "rt")
	if id, ok, err := again.Get("inc-1"); id != 42 || !ok || err != nil {
		t.Errorf("Get after a restart = %d, %v, %v; want 42", id, ok, err)
	}
	if err := again.Delete("inc-1"); err != nil {
		t.Fatal(err)
	}
	if got := records(t, st, bucket); len(got) != 0 {
		t.Errorf("stored after Delete = %q; want nothing", got)
	}
	if was, _ := NewStoreTicketIDs(st, "rt").MarkCreating("inc-1"); was {
		t.Error("MarkCreating after Delete reports a pending create")
	}
	// Another sink's bucket is its own.
	if _, ok, _ := NewStoreTicketIDs(st, "other").Get("inc-1"); ok {
		t.Error("another sink sees the key")
	}
	// An unreadable record counts as a possible ticket: search first.
	if err := st.Put(bucket, "inc-2", "garbage"); err != nil {
		t.Fatal(err)
	}
	if was, _ := NewStoreTicketIDs(st, "rt").MarkCreating("inc-2"); !was {
		t.Error("MarkCreating of an unreadable record = false; want true")
	}
}

// A key with no record was never created: the sink creates it without
// searching first (one search checks the custom field on the sink's first
// create), and a restarted sink uses the stored id.
func TestStoreNoMarkerNoSearch(t *testing.T) {
	f := newFakeRT(t)
	st := openStore(t)
	s := newSink(t, f, nil, WithStore(st))
	a, b := newLifecycle("inc-00000000000000a1"), newLifecycle("inc-00000000000000b1")

	deliver(t, s, a.next(correlator.ChangeOpened, nil))
	if got, want := f.requests(), []string{"GET /customfields", "POST /ticket", "GET /tickets"}; !slices.Equal(got, want) {
		t.Errorf("requests of the first create = %q; want %q", got, want)
	}
	n := len(f.requests())
	deliver(t, s, b.next(correlator.ChangeOpened, nil))
	deliver(t, s, b.next(correlator.ChangeUpdated, nil))
	if got, want := f.requests()[n:], []string{"POST /ticket", "POST /ticket/2/comment"}; !slices.Equal(got, want) {
		t.Errorf("requests of a second incident = %q; want %q (no search)", got, want)
	}
	if got := records(t, st, TicketBucket("rt")); got["inc-00000000000000b1"] != `{"id":2}` {
		t.Errorf("stored = %q; want b's id", got)
	}

	// Restarted: the stored id is used as it is.
	n = len(f.requests())
	deliver(t, newSink(t, f, nil, WithStore(st)), b.next(correlator.ChangeUpdated, nil))
	if got, want := f.requests()[n:], []string{"GET /customfields", "POST /ticket/2/comment"}; !slices.Equal(got, want) {
		t.Errorf("requests after a restart = %q; want %q", got, want)
	}
	// Closed forgets the record.
	deliver(t, s, b.next(correlator.ChangeClosed, nil))
	if got := records(t, st, TicketBucket("rt")); len(got) != 1 {
		t.Errorf("stored after closed = %q; want only a's id", got)
	}
	if f.ticketCount() != 2 {
		t.Errorf("tickets = %d; want 2", f.ticketCount())
	}
}

// loseCreateAnswer makes the fake create the next ticket, then drop the
// connection before answering.
func loseCreateAnswer(t *testing.T, f *fakeRT) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = func(_ int, w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || strings.TrimPrefix(r.URL.Path, "/REST/2.0") != "/ticket" {
			return false
		}
		f.mu.Lock()
		f.inject = nil
		f.mu.Unlock()
		f.serve(httptestDiscard{}, r)
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("response writer cannot hijack")
			return true
		}
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
		}
		return true
	}
}

// A create whose answer was lost left its marker: the next attempt, in the
// same process or after a crash, searches and adopts the ticket.
func TestStoreLostCreateAnswer(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "retry"
		if restart {
			name = "crash and restart"
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeRT(t)
			st := openStore(t)
			s := newSink(t, f, nil, WithStore(st))
			l := newLifecycle("inc-00000000000000c1")
			opened := l.next(correlator.ChangeOpened, nil)
			loseCreateAnswer(t, f)
			retryable, err := s.Deliver(context.Background(), opened)
			if err == nil || !retryable {
				t.Fatalf("Deliver with the create's answer lost = %v, %v; want a retryable error", retryable, err)
			}
			if f.ticketCount() != 1 {
				t.Fatalf("tickets = %d; want the one created", f.ticketCount())
			}
			if got := records(t, st, TicketBucket("rt")); got["inc-00000000000000c1"] != `{"pending":true}` {
				t.Errorf("stored after the lost answer = %q; want the marker", got)
			}
			if restart {
				s = newSink(t, f, nil, WithStore(st))
			}
			n := len(f.requests())
			deliver(t, s, opened)
			deliver(t, s, l.next(correlator.ChangeUpdated, nil))
			reqs := f.requests()[n:]
			if countPrefix(reqs, "GET /tickets") != 1 || countPrefix(reqs, "POST /ticket") != 1 {
				t.Errorf("requests after the lost answer = %q; want one search and only the comment posted", reqs)
			}
			if n, c := f.ticketCount(), len(f.ticket(1).comments()); n != 1 || c != 1 {
				t.Errorf("tickets, comments = %d, %d; want 1, 1", n, c)
			}
			if got := records(t, st, TicketBucket("rt")); got["inc-00000000000000c1"] != `{"id":1}` {
				t.Errorf("stored = %q; want the adopted id", got)
			}
		})
	}
}

// A stored ticket that RT no longer has is forgotten, and the key is
// searched (another ticket may hold it) before a new one is created.
func TestStoreRememberedTicketGone(t *testing.T) {
	f := newFakeRT(t)
	st := openStore(t)
	ids := NewStoreTicketIDs(st, "rt")
	const key = "inc-00000000000000d1"
	if err := ids.Put(key, 77); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, f, nil, WithTicketIDs(ids))
	deliver(t, s, newLifecycle(key).next(correlator.ChangeUpdated, nil))
	want := []string{"GET /customfields", "POST /ticket/77/comment", "GET /ticket/77", "GET /tickets", "POST /ticket", "GET /tickets", "POST /ticket/1/comment"}
	if got := f.requests(); !slices.Equal(got, want) {
		t.Errorf("requests = %q; want %q", got, want)
	}
	if id, _, _ := ids.Get(key); id != 1 {
		t.Errorf("stored id = %d; want 1", id)
	}
}
