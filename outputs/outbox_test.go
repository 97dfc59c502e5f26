package outputs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/correlator/store"
)

// recorder is an event log shared by fakes, to check their relative order.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// doneCall is one Outbox.Done call.
type doneCall struct {
	seq  uint64
	sink string
	last bool
}

// fakeOutbox records its Done calls.
type fakeOutbox struct {
	rec *recorder

	mu    sync.Mutex
	calls []doneCall
}

func (o *fakeOutbox) Done(seq uint64, sink string, last bool) {
	o.mu.Lock()
	o.calls = append(o.calls, doneCall{seq, sink, last})
	o.mu.Unlock()
	o.rec.add("done %d %s %v", seq, sink, last)
}

func (o *fakeOutbox) get() []doneCall {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

// checkOnce fails the test when a (seq, sink) was reported twice, or a
// seq reported with last set is reported again.
func (o *fakeOutbox) checkOnce(t *testing.T) {
	t.Helper()
	seen := map[doneCall]bool{}
	finished := map[uint64]bool{}
	for _, c := range o.get() {
		k := doneCall{seq: c.seq, sink: c.sink}
		if seen[k] || finished[c.seq] {
			t.Errorf("Done(%d, %q, %v) reported again: %v", c.seq, c.sink, c.last, o.get())
		}
		seen[k] = true
		if c.last {
			finished[c.seq] = true
		}
	}
}

// memStore is an in-memory Store.
type memStore struct {
	rec *recorder

	mu      sync.Mutex
	buckets map[string]map[string][]byte
	putErr  error
	delErr  error
}

func (s *memStore) Put(bucket, key string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if s.buckets == nil {
		s.buckets = map[string]map[string][]byte{}
	}
	if s.buckets[bucket] == nil {
		s.buckets[bucket] = map[string][]byte{}
	}
	s.buckets[bucket][key] = data
	s.rec.add("put %s/%s", bucket, key)
	return nil
}

func (s *memStore) Delete(bucket, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delErr != nil {
		return s.delErr
	}
	delete(s.buckets[bucket], key)
	s.rec.add("delete %s/%s", bucket, key)
	return nil
}

func (s *memStore) Load(bucket string, fn func(key string, data []byte) error) error {
	s.mu.Lock()
	b := maps.Clone(s.buckets[bucket])
	s.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if err := fn(k, b[k]); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) keys(bucket string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.buckets[bucket]))
}

var _ Store = (*store.Store)(nil)

// seqChange is change with a Seq and a revision.
func seqChange(id string, typ correlator.ChangeType, seq, rev uint64) correlator.Change {
	ch := change(id, typ)
	ch.Seq, ch.Incident.Revision = seq, rev
	return ch
}

// seqs returns the Seq of each change.
func seqs(chs []correlator.Change) []uint64 {
	out := make([]uint64, len(chs))
	for i, ch := range chs {
		out[i] = ch.Seq
	}
	return out
}

func (f *fakeSink) getDelivered() []correlator.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.delivered)
}

// Each sink reports each change once, in its delivery order; the sink that
// finishes a change last says so.
func TestOutboxDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fast := &fakeSink{name: "fast"}
		slow := &fakeSink{name: "slow", delay: time.Second}
		d, _ := testDispatcher(t, []Sink{fast, slow}, nil, RetryConfig{})
		ob := &fakeOutbox{}
		d.SetOutbox(ob)
		ran := start(context.Background(), d)
		d.Publish(seqChange("inc-1", correlator.ChangeOpened, 1, 1))
		d.Publish(seqChange("inc-1", correlator.ChangeResolved, 2, 2))
		d.Publish(change("inc-3", correlator.ChangeOpened)) // no Seq: not reported
		d.Publish(seqChange("inc-2", correlator.ChangeOpened, 3, 1))
		synctest.Wait()
		want := []doneCall{{1, "fast", false}, {2, "fast", false}, {3, "fast", false}}
		if got := ob.get(); !reflect.DeepEqual(got, want) {
			t.Errorf("Done calls while slow delivers the first = %v, want %v", got, want)
		}
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
		want = append(want, doneCall{1, "slow", true}, doneCall{2, "slow", true}, doneCall{3, "slow", true})
		if got := ob.get(); !reflect.DeepEqual(got, want) {
			t.Errorf("Done calls = %v, want %v", got, want)
		}
		ob.checkOnce(t)
		for _, s := range []*fakeSink{fast, slow} {
			if got, want := seqs(s.getDelivered()), []uint64{1, 2, 0, 3}; !reflect.DeepEqual(got, want) {
				t.Errorf("%s delivered seqs %v, want %v", s.name, got, want)
			}
		}
	})
}

// A change that matches no route is done at once; a dead letter is done
// for its sink; one dropped at shutdown is not done.
func TestOutboxDoneUnroutedDeadAndDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tickets := &fakeSink{name: "tickets", delay: time.Second, result: func(_ int, ch correlator.Change) (bool, error) {
			if ch.Incident.ID == "inc-bad" {
				return false, errors.New("400 bad request")
			}
			return false, nil
		}}
		routes := []Route{{Match: []string{`priority="1"`}, Sinks: []string{"tickets"}}}
		d, _ := testDispatcher(t, []Sink{tickets}, routes, RetryConfig{})
		ob := &fakeOutbox{}
		d.SetOutbox(ob)
		ran := start(context.Background(), d)

		d.Publish(seqChange("inc-low", correlator.ChangeOpened, 5, 1)) // priority 2: no route
		if got, want := ob.get(), []doneCall{{5, "", true}}; !reflect.DeepEqual(got, want) {
			t.Errorf("Done calls after an unrouted change = %v, want %v", got, want)
		}
		for i, id := range []string{"inc-bad", "inc-ok", "inc-late"} {
			ch := seqChange(id, correlator.ChangeOpened, uint64(6+i), 1)
			ch.Incident.Priority = 1
			d.Publish(ch)
		}
		// Two deliveries fit before the deadline; inc-late is dropped.
		if err := closeWithin(t, d, 2500*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want a deadline error", err)
		}
		<-ran
		want := []doneCall{{5, "", true}, {6, "tickets", true}, {7, "tickets", true}}
		if got := ob.get(); !reflect.DeepEqual(got, want) {
			t.Errorf("Done calls = %v, want %v (nothing for the dropped seq 8)", got, want)
		}
	})
}

// Resume queues a pending change for the sinks that did not finish it.
func TestResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &fakeSink{name: "a"}
		b := &fakeSink{name: "b"}
		d, _ := testDispatcher(t, []Sink{a, b}, nil, RetryConfig{})
		ob := &fakeOutbox{}
		d.SetOutbox(ob)
		d.Resume(seqChange("inc-1", correlator.ChangeOpened, 7, 1), []string{"a"})
		d.Resume(seqChange("inc-2", correlator.ChangeOpened, 8, 1), []string{"b", "a"})
		if got, want := ob.get(), []doneCall{{8, "", true}}; !reflect.DeepEqual(got, want) {
			t.Errorf("Done calls before Run = %v, want %v", got, want)
		}
		// A sink removed from the config since is ignored.
		d.Resume(seqChange("inc-3", correlator.ChangeOpened, 9, 1), []string{"gone"})
		ran := start(context.Background(), d)
		d.Publish(seqChange("inc-4", correlator.ChangeOpened, 10, 1))
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
		if got, want := seqs(a.getDelivered()), []uint64{9, 10}; !reflect.DeepEqual(got, want) {
			t.Errorf("a delivered %v, want %v", got, want)
		}
		if got, want := seqs(b.getDelivered()), []uint64{7, 9, 10}; !reflect.DeepEqual(got, want) {
			t.Errorf("b delivered %v, want %v", got, want)
		}
		got := ob.get()
		if !slices.Contains(got, doneCall{7, "b", true}) {
			t.Errorf("Done calls %v lack (7, b, last)", got)
		}
		var last9 int
		for _, c := range got {
			if c.seq == 9 && c.last {
				last9++
			}
		}
		if n := len(got); n != 6 || last9 != 1 {
			t.Errorf("Done calls = %v, want 6 with one last for seq 9", got)
		}
		ob.checkOnce(t)
	})
}

// A queued update is replaced by the next update of its incident, in its
// place; never the one in delivery, never across another change of the
// incident.
func TestCoalesceUpdates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSink{name: "s", delay: time.Second}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{})
		ob := &fakeOutbox{}
		d.SetOutbox(ob)
		ran := start(context.Background(), d)

		d.Publish(seqChange("A", correlator.ChangeOpened, 1, 1))
		synctest.Wait() // A opened is in delivery
		d.Publish(seqChange("A", correlator.ChangeUpdated, 2, 2))
		d.Publish(seqChange("B", correlator.ChangeUpdated, 3, 5))
		ke := seqChange("A", correlator.ChangeUpdated, 4, 3)
		ke.Detail = "known error KE-1"
		d.Publish(ke)
		d.Publish(seqChange("A", correlator.ChangeUpdated, 5, 4))
		d.Publish(seqChange("A", correlator.ChangeResolved, 6, 5))
		d.Publish(seqChange("A", correlator.ChangeUpdated, 7, 6)) // after the resolve: kept
		d.Publish(seqChange("B", correlator.ChangeUpdated, 8, 6))
		// A retried dead letter (no Seq) older than the queued update
		// must not replace it.
		d.Publish(seqChange("B", correlator.ChangeUpdated, 0, 4))

		if got, want := ob.get(), []doneCall{{2, "s", true}, {4, "s", true}, {3, "s", true}}; !reflect.DeepEqual(got, want) {
			t.Errorf("Done calls of superseded updates = %v, want %v", got, want)
		}
		if got := testutil.ToFloat64(d.m.depth.WithLabelValues("s")); got != 6 {
			t.Errorf("queue_depth = %v, want 6", got)
		}
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
		delivered := s.getDelivered()
		if got, want := seqs(delivered), []uint64{1, 5, 8, 6, 7, 0}; !reflect.DeepEqual(got, want) {
			t.Fatalf("delivered seqs %v, want %v", got, want)
		}
		details := []string{"", "known error KE-1 (3 updates coalesced)", "2 updates coalesced", "", "", ""}
		for i, ch := range delivered {
			if ch.Detail != details[i] {
				t.Errorf("delivered[%d] (seq %d) detail = %q, want %q", i, ch.Seq, ch.Detail, details[i])
			}
		}
		if got := testutil.ToFloat64(d.m.coalesced.WithLabelValues("s")); got != 3 {
			t.Errorf("coalesced = %v, want 3", got)
		}
		if got := testutil.ToFloat64(d.m.routed.WithLabelValues("s")); got != 9 {
			t.Errorf("routed = %v, want 9", got)
		}
		ob.checkOnce(t)
		if n := len(ob.get()); n != 8 {
			t.Errorf("Done calls = %d (%v), want 8: every seq once", n, ob.get())
		}
	})
}

// The update in delivery is never replaced, even while it waits for a
// retry; the next one behind it is.
func TestCoalesceSkipsInFlightHead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSink{name: "s", result: failN(2)}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{})
		ob := &fakeOutbox{}
		d.SetOutbox(ob)
		ran := start(context.Background(), d)
		d.Publish(seqChange("C", correlator.ChangeUpdated, 10, 2))
		synctest.Wait() // first attempt failed: in backoff
		d.Publish(seqChange("C", correlator.ChangeUpdated, 11, 3))
		d.Publish(seqChange("C", correlator.ChangeUpdated, 12, 4))
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
		if got, want := seqs(s.getDelivered()), []uint64{10, 12}; !reflect.DeepEqual(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
		var attempted []uint64
		for _, c := range s.getCalls() {
			attempted = append(attempted, c.change.Seq)
		}
		if want := []uint64{10, 10, 10, 12}; !reflect.DeepEqual(attempted, want) {
			t.Errorf("attempts %v, want %v", attempted, want)
		}
		want := []doneCall{{11, "s", true}, {10, "s", true}, {12, "s", true}}
		if got := ob.get(); !reflect.DeepEqual(got, want) {
			t.Errorf("Done calls = %v, want %v", got, want)
		}
		if got := testutil.ToFloat64(d.m.attempts.WithLabelValues("s")); got != 4 {
			t.Errorf("delivery_attempts_total = %v, want 4", got)
		}
	})
}

// A dead letter is stored before its change is reported done; when the
// store refuses it, it is kept in memory and the change stays pending.
func TestDeadLetterStoredBeforeDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		st := &memStore{rec: rec}
		ob := &fakeOutbox{rec: rec}
		refuse := true
		s := &fakeSink{name: "s", result: func(int, correlator.Change) (bool, error) {
			if refuse {
				return false, errors.New("400 bad request")
			}
			return false, nil
		}}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{}, WithStore(st))
		d.SetOutbox(ob)
		ran := start(context.Background(), d)
		d.Publish(seqChange("inc-1", correlator.ChangeOpened, 3, 1))
		synctest.Wait()
		if got, want := rec.get(), []string{"put deadletters/dl-1", "done 3 s true"}; !reflect.DeepEqual(got, want) {
			t.Errorf("events = %q, want %q", got, want)
		}

		st.mu.Lock()
		st.putErr = errors.New("disk full")
		st.mu.Unlock()
		d.Publish(seqChange("inc-2", correlator.ChangeOpened, 4, 1))
		synctest.Wait()
		if got := d.DeadLetters(); len(got) != 2 || got[1].ID != "dl-2" || got[1].Change.Seq != 4 {
			t.Errorf("dead letters = %+v, want dl-1 and dl-2 (seq 4) in memory", got)
		}
		if got := testutil.ToFloat64(d.m.deadStoreErrors.WithLabelValues("put")); got != 1 {
			t.Errorf("dead_letter_store_errors_total{op=put} = %v, want 1", got)
		}
		if got := ob.get(); len(got) != 1 {
			t.Errorf("Done calls = %v, want none for seq 4 (its dead letter is not durable)", got)
		}

		// Retried, the change goes without its Seq: the outbox is done
		// with it. Its record goes from the store.
		refuse = false
		if err := d.RetryDeadLetter("dl-1"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := s.getDelivered(); len(got) != 1 || got[0].Seq != 0 || got[0].Incident.ID != "inc-1" {
			t.Errorf("delivered = %+v, want inc-1 with Seq 0", got)
		}
		if got := st.keys(DeadLetterBucket); len(got) != 0 {
			t.Errorf("stored dead letters after retry = %q, want none", got)
		}
		if got := ob.get(); len(got) != 1 {
			t.Errorf("Done calls after the retry = %v, want still one", got)
		}

		// A failed delete keeps the dead letter.
		st.mu.Lock()
		st.putErr, st.delErr = nil, errors.New("disk gone")
		st.mu.Unlock()
		if err := d.DeleteDeadLetter("dl-2"); err == nil || !strings.Contains(err.Error(), "disk gone") {
			t.Errorf("DeleteDeadLetter with a failing store = %v, want the store's error", err)
		}
		if got := d.DeadLetters(); len(got) != 1 || got[0].ID != "dl-2" {
			t.Errorf("dead letters = %+v, want dl-2 kept", got)
		}
		if got := testutil.ToFloat64(d.m.deadLetters.WithLabelValues("s")); got != 1 {
			t.Errorf("dead_letters gauge = %v, want 1", got)
		}
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
	})
}

// Dead letters survive a restart: a new Dispatcher over the same store
// loads them, continues their ids and can retry and delete them.
func TestDeadLettersSurviveRestart(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	refuseBad := func(_ int, ch correlator.Change) (bool, error) {
		if strings.HasPrefix(ch.Incident.ID, "bad") {
			return false, errors.New("400 bad request")
		}
		return false, nil
	}
	newD := func() (*Dispatcher, *fakeSink, *fakeOutbox) {
		s := &fakeSink{name: "s", result: refuseBad}
		d, _ := testDispatcher(t, []Sink{s}, nil, RetryConfig{}, WithStore(st))
		ob := &fakeOutbox{}
		d.SetOutbox(ob)
		if err := d.LoadDeadLetters(); err != nil {
			t.Fatal(err)
		}
		return d, s, ob
	}
	flush := func(d *Dispatcher) {
		t.Helper()
		if err := closeWithin(t, d, time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	d1, _, ob1 := newD()
	var want []correlator.Change
	for i := range 3 {
		ch := seqChange(fmt.Sprintf("bad-%d", i), correlator.ChangeUpdated, uint64(i+1), 2)
		ch.Detail = "waiting on vendor"
		want = append(want, ch)
		d1.Publish(ch)
	}
	flush(d1) // Close before Run delivers the queue itself
	if n := len(ob1.get()); n != 3 {
		t.Errorf("Done calls = %d, want 3", n)
	}
	if err := d1.DeleteDeadLetter("dl-2"); err != nil {
		t.Fatal(err)
	}

	d2, s2, _ := newD()
	got := d2.DeadLetters()
	if len(got) != 2 || got[0].ID != "dl-1" || got[1].ID != "dl-3" {
		t.Fatalf("loaded dead letters = %+v, want dl-1 and dl-3", got)
	}
	for i, w := range []correlator.Change{want[0], want[2]} {
		g := got[i]
		if g.Sink != "s" || g.Reason != "permanent" || g.Error != "400 bad request" || g.Attempts != 1 ||
			g.Change.Seq != w.Seq || g.Change.Incident.ID != w.Incident.ID || g.Change.Type != w.Type ||
			g.Change.Detail != w.Detail || !g.Change.At.Equal(w.At) || g.Change.Incident.Priority != w.Incident.Priority ||
			g.Change.Incident.CommonLabels.String() != w.Incident.CommonLabels.String() {
			t.Errorf("loaded dead letter %d = %+v, want the change %+v", i, g, w)
		}
	}
	if got := testutil.ToFloat64(d2.m.deadLetters.WithLabelValues("s")); got != 2 {
		t.Errorf("dead_letters gauge = %v, want 2", got)
	}
	// A second load adds nothing.
	if err := d2.LoadDeadLetters(); err != nil || len(d2.DeadLetters()) != 2 {
		t.Errorf("second LoadDeadLetters = %v, %d dead letters; want nil, 2", err, len(d2.DeadLetters()))
	}
	d2.Publish(seqChange("bad-new", correlator.ChangeOpened, 9, 1))
	if err := d2.RetryDeadLetter("dl-1"); err != nil {
		t.Fatal(err)
	}
	flush(d2)
	var ids []string
	for _, l := range d2.DeadLetters() {
		ids = append(ids, l.ID)
	}
	if want := []string{"dl-3", "dl-4", "dl-5"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("dead letters = %q, want %q", ids, want)
	}
	// The retried one came back to the queue (and failed again as dl-5,
	// since the sink still refuses it) without its Seq.
	if calls := s2.getCalls(); len(calls) != 2 || calls[1].change.Incident.ID != "bad-0" || calls[1].change.Seq != 0 {
		t.Errorf("calls = %+v, want bad-new then bad-0 without Seq", calls)
	}

	d3, _, _ := newD()
	ids = nil
	for _, l := range d3.DeadLetters() {
		ids = append(ids, l.ID)
	}
	if want := []string{"dl-3", "dl-4", "dl-5"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("dead letters after the second restart = %q, want %q", ids, want)
	}
}

// Stored ids are ordered by number, not as text, and the sequence goes on
// after the highest.
func TestLoadDeadLettersOrder(t *testing.T) {
	st := &memStore{}
	for _, n := range []int{10, 9, 100} {
		id := fmt.Sprintf("dl-%d", n)
		if err := st.Put(DeadLetterBucket, id, DeadLetter{ID: id, Sink: "s", Change: change("inc-1", correlator.ChangeOpened)}); err != nil {
			t.Fatal(err)
		}
	}
	st.buckets[DeadLetterBucket]["dl-7"] = []byte("{not json")
	d, err := NewWithSinks([]Sink{&fakeSink{name: "s", result: func(int, correlator.Change) (bool, error) {
		return false, errors.New("no")
	}}}, nil, RetryConfig{}, nil, zerolog.Nop(), WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.LoadDeadLetters(); err != nil {
		t.Fatal(err)
	}
	d.Publish(change("inc-2", correlator.ChangeOpened))
	if err := closeWithin(t, d, time.Minute); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range d.DeadLetters() {
		ids = append(ids, l.ID)
	}
	if want := []string{"dl-9", "dl-10", "dl-100", "dl-101"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("dead letters = %q, want %q", ids, want)
	}
}

func TestNewMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &fakeSink{name: "slow", delay: time.Minute}
		flaky := &fakeSink{name: "flaky", result: failN(2)}
		d, reg := testDispatcher(t, []Sink{slow, flaky}, []Route{
			{Match: []string{`rule="fleet"`}, Sinks: []string{"slow"}},
			{Sinks: []string{"flaky"}},
		}, RetryConfig{})
		ran := start(context.Background(), d)
		t0 := time.Now()
		first := change("inc-1", correlator.ChangeOpened)
		first.At = t0.Add(-30 * time.Second)
		d.Publish(first)
		// Queued behind it but older (a resumed change, say).
		older := change("inc-2", correlator.ChangeUpdated)
		older.At = t0.Add(-90 * time.Second)
		d.Publish(older)
		newer := change("inc-2", correlator.ChangeUpdated)
		newer.At = t0.Add(-20 * time.Second)
		d.Publish(newer) // replaces the older one in the queue
		other := change("inc-3", correlator.ChangeOpened)
		other.Incident.Rule = "other"
		d.Publish(other)
		time.Sleep(10 * time.Second) // fake time: flaky retried twice and delivered
		synctest.Wait()
		const want = `
# HELP corrd_outputs_changes_coalesced_total Queued updates replaced by a newer update of the same incident before delivery, by sink.
# TYPE corrd_outputs_changes_coalesced_total counter
corrd_outputs_changes_coalesced_total{sink="flaky"} 0
corrd_outputs_changes_coalesced_total{sink="slow"} 1
# HELP corrd_outputs_delivery_attempts_total Delivery attempts (calls to the sink), retries included, by sink.
# TYPE corrd_outputs_delivery_attempts_total counter
corrd_outputs_delivery_attempts_total{sink="flaky"} 3
corrd_outputs_delivery_attempts_total{sink="slow"} 1
# HELP corrd_outputs_queue_oldest_age_seconds Age of the oldest change waiting for delivery (by the time of the change), the one in delivery included, by sink; 0 when the queue is empty.
# TYPE corrd_outputs_queue_oldest_age_seconds gauge
corrd_outputs_queue_oldest_age_seconds{sink="flaky"} 0
corrd_outputs_queue_oldest_age_seconds{sink="slow"} 40
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
			"corrd_outputs_changes_coalesced_total", "corrd_outputs_delivery_attempts_total",
			"corrd_outputs_queue_oldest_age_seconds"); err != nil {
			t.Error(err)
		}
		time.Sleep(50 * time.Second) // the first delivery to slow ends
		synctest.Wait()
		// The coalesced update, 20s old at t0, is the oldest now.
		const wantAge = `
# HELP corrd_outputs_queue_oldest_age_seconds Age of the oldest change waiting for delivery (by the time of the change), the one in delivery included, by sink; 0 when the queue is empty.
# TYPE corrd_outputs_queue_oldest_age_seconds gauge
corrd_outputs_queue_oldest_age_seconds{sink="flaky"} 0
corrd_outputs_queue_oldest_age_seconds{sink="slow"} 80
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(wantAge), "corrd_outputs_queue_oldest_age_seconds"); err != nil {
			t.Error(err)
		}
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
	})
}

// opSink is a fakeSink that declares the operations it carries out.
type opSink struct {
	*fakeSink
	ops []string
}

func (s opSink) Operations() []string { return s.ops }

// A sink that declares its operations is not given changes it does not
// carry out: they are counted, and finished for it in the outbox.
func TestUnsupportedOperations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		all := &fakeSink{name: "all"}
		tickets := opSink{fakeSink: &fakeSink{name: "tickets"}, ops: []string{OpCreate, OpResolve}}
		d, reg := testDispatcher(t, []Sink{all, tickets}, nil, RetryConfig{})
		ob := &fakeOutbox{}
		d.SetOutbox(ob)
		ran := start(context.Background(), d)
		d.Publish(seqChange("inc-1", correlator.ChangeOpened, 1, 1))
		d.Publish(seqChange("inc-1", correlator.ChangeUpdated, 2, 2))
		d.Publish(seqChange("inc-1", correlator.ChangeResolved, 3, 3))
		d.Publish(seqChange("inc-1", correlator.ChangeClosed, 4, 4))
		if err := closeWithin(t, d, time.Hour); err != nil {
			t.Fatal(err)
		}
		<-ran
		if got, want := seqs(tickets.getDelivered()), []uint64{1, 3}; !reflect.DeepEqual(got, want) {
			t.Errorf("tickets got seqs %v, want %v (create and resolve only)", got, want)
		}
		if got, want := seqs(all.getDelivered()), []uint64{1, 2, 3, 4}; !reflect.DeepEqual(got, want) {
			t.Errorf("all got seqs %v, want %v", got, want)
		}
		if got := testutil.ToFloat64(d.m.unsupported.WithLabelValues("tickets")); got != 2 {
			t.Errorf("unsupported{tickets} = %v, want 2", got)
		}
		_ = reg
		// Every seq is finished once, last by the sink that delivered it.
		ob.checkOnce(t)
		last := map[uint64]bool{}
		for _, c := range ob.get() {
			if c.last {
				last[c.seq] = true
			}
		}
		if len(last) != 4 {
			t.Errorf("seqs finished for good: %v, want all 4", last)
		}
	})
}

func TestOperationOfEveryChange(t *testing.T) {
	for typ, want := range map[correlator.ChangeType]string{
		correlator.ChangeOpened: OpCreate, correlator.ChangeUpdated: OpComment,
		correlator.ChangePriorityChanged: OpPriority, correlator.ChangeResolved: OpResolve,
		correlator.ChangeReopened: OpReopen, correlator.ChangeClosed: OpClose,
		correlator.ChangeAcknowledged: OpComment, correlator.ChangeSLABreached: OpComment,
		correlator.ChangeProblemOpened: OpComment,
	} {
		if got := Operation(typ); got != want {
			t.Errorf("Operation(%s) = %s, want %s", typ, got, want)
		}
	}
}
