package correlator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// durableRules: registers grouped by store, opened at once.
func durableRules(t testing.TB) *rules.Set {
	t.Helper()
	return compileRules(t, `
rules:
  - name: store-registers
    match: ['alertname="RegisterDown"']
    group_by: [store]
    group_wait: 0s
    update_interval: 1h
`)
}

// closingRules close a resolved store incident 10 minutes later.
const closingRules = `
rules:
  - name: store-registers
    match: ['alertname="RegisterDown"']
    group_by: [store]
    group_wait: 0s
    reopen_within: 1m
    close_after: 10m
`

// durableEngine is an engine over a real store file, in real time or in a
// synctest bubble.
type durableEngine struct {
	e      *Engine
	st     *store.Store
	rec    *recorder
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func openDurable(t *testing.T, dir string, set *rules.Set, shards int) *durableEngine {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &durableEngine{st: st, rec: &recorder{}, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	d.e = New(Options{Shards: shards}, set, d.rec, d.reg, zerolog.Nop())
	if err := d.e.Restore(st); err != nil {
		t.Fatal(err)
	}
	if !d.e.Durable() {
		t.Fatal("engine over a store is not durable")
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { _ = d.e.Run(ctx); close(d.done) }()
	for !d.e.isRunning() {
		runtime.Gosched()
	}
	return d
}

// stop stops the engine gracefully and closes the store.
func (d *durableEngine) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	<-d.done
	if err := d.st.Close(); err != nil {
		t.Fatal(err)
	}
}

// crash copies the store file as it is on disk now, as a machine losing
// power would leave it, into a new directory; the engine keeps running.
func (d *durableEngine) crash(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.Open(d.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func register(storeID string, r int, status ingest.Status) ingest.Event {
	return event(map[string]string{"alertname": "RegisterDown", "store": storeID, "register": fmt.Sprint(r)}, status)
}

// What SubmitStored acknowledged is in the store at that moment: a copy of
// the file taken right after (a crash) restores every incident with its
// signals, and the changes not yet reported done come back as pending.
func TestSubmitStoredIsOnDisk(t *testing.T) {
	set := durableRules(t)
	d := openDurable(t, t.TempDir(), set, 2)
	defer d.stop(t)
	ctx := context.Background()
	var batch []ingest.Event
	for s := 1; s <= 20; s++ {
		for r := 1; r <= 3; r++ {
			batch = append(batch, register(fmt.Sprintf("%04d", s), r, ingest.StatusFiring))
		}
	}
	if err := d.e.SubmitStored(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// Store 0001 recovers; its incident resolves.
	var resolve []ingest.Event
	for r := 1; r <= 3; r++ {
		resolve = append(resolve, register("0001", r, ingest.StatusResolved))
	}
	if err := d.e.SubmitStored(ctx, resolve); err != nil {
		t.Fatal(err)
	}
	before := d.e.Incidents(Filter{})
	if len(before) != 20 {
		t.Fatalf("%d incidents before the crash, want 20", len(before))
	}
	published := d.rec.all()
	for _, c := range published {
		if c.Seq == 0 {
			t.Fatalf("change %s of %s published without an outbox sequence", c.Type, c.Incident.ID)
		}
	}
	// Sinks finished everything of store 0002's incident.
	var inc0002 string
	for _, c := range published {
		if c.Incident.GroupLabels.Get("store") == "0002" {
			inc0002 = c.Incident.ID
			d.e.Done(c.Seq, "tickets", true)
		}
	}
	// Done reports are written with the next commit.
	if err := d.e.SubmitStored(ctx, []ingest.Event{register("0003", 1, ingest.StatusFiring)}); err != nil {
		t.Fatal(err)
	}

	crashed := d.crash(t)
	r := openDurable(t, crashed, set, 3) // a different shard count: groups are found by hash
	defer r.stop(t)
	after := r.e.Incidents(Filter{})
	if len(after) != len(before) {
		t.Fatalf("%d incidents after the crash, want %d", len(after), len(before))
	}
	for _, b := range before {
		a, ok := r.e.Incident(b.ID)
		if !ok {
			t.Fatalf("incident %s lost", b.ID)
		}
		full, _ := d.e.Incident(b.ID)
		if a.Status != full.Status || a.SignalCount != full.SignalCount || a.FiringCount != full.FiringCount || a.Revision != full.Revision {
			t.Errorf("%s restored as %s/%d signals/%d firing/rev %d, want %s/%d/%d/rev %d", b.ID,
				a.Status, a.SignalCount, a.FiringCount, a.Revision, full.Status, full.SignalCount, full.FiringCount, full.Revision)
		}
		if len(a.Signals) != len(full.Signals) {
			t.Errorf("%s: %d signals restored, want %d", b.ID, len(a.Signals), len(full.Signals))
		}
		// Store 0003's repeat only counted (written lazily, lost by a
		// crash): every other incident is restored exactly.
		if aj, fj := mustJSON(t, a), mustJSON(t, full); aj != fj && b.GroupLabels.Get("store") != "0003" {
			t.Errorf("%s restored differs:\n got %s\nwant %s", b.ID, aj, fj)
		}
	}
	pending := r.e.PendingChanges()
	if len(pending) != len(published)-1 {
		t.Errorf("%d changes pending after the crash, want %d (all but store 0002's)", len(pending), len(published)-1)
	}
	for i, p := range pending {
		if p.Change.Incident.ID == inc0002 {
			t.Errorf("change of %s pending though reported done", inc0002)
		}
		if i > 0 && p.Change.Seq <= pending[i-1].Change.Seq {
			t.Errorf("pending changes out of order: %d after %d", p.Change.Seq, pending[i-1].Change.Seq)
		}
	}

	// The restored engine carries on: store 0004 recovers, its incident
	// resolves with the next revision, with a sequence after the old ones.
	var id0004 string
	var rev uint64
	for _, a := range after {
		if a.GroupLabels.Get("store") == "0004" {
			id0004, rev = a.ID, a.Revision
		}
	}
	var rec []ingest.Event
	for i := 1; i <= 3; i++ {
		rec = append(rec, register("0004", i, ingest.StatusResolved))
	}
	if err := r.e.SubmitStored(ctx, rec); err != nil {
		t.Fatal(err)
	}
	cs := r.rec.all()
	if len(cs) != 1 || cs[0].Type != ChangeResolved || cs[0].Incident.ID != id0004 || cs[0].Incident.Revision != rev+1 {
		t.Fatalf("after restore got %+v, want one resolved change of %s at revision %d", cs, id0004, rev+1)
	}
	if last := pending[len(pending)-1].Change.Seq; cs[0].Seq <= last {
		t.Errorf("new change has sequence %d, not after the restored outbox's %d", cs[0].Seq, last)
	}
	if got := testutil.ToFloat64(r.e.m.open.WithLabelValues("store-registers")); got != 18 {
		t.Errorf("open incidents gauge %v after restore, want 18", got)
	}
}

// Repeats are written lazily: after a graceful stop their counters are
// there too, and the outbox keeps what no sink finished.
func TestGracefulStopKeepsCounters(t *testing.T) {
	set := durableRules(t)
	dir := t.TempDir()
	d := openDurable(t, dir, set, 2)
	ctx := context.Background()
	ev := register("0412", 1, ingest.StatusFiring)
	ev.ArrivalTime = time.Now()
	if err := d.e.SubmitStored(ctx, []ingest.Event{ev}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		dup := ev
		dup.ArrivalTime = time.Now()
		if err := d.e.SubmitStored(ctx, []ingest.Event{dup}); err != nil {
			t.Fatal(err)
		}
	}
	want := d.e.Incidents(Filter{})[0]
	d.stop(t)

	r := openDurable(t, dir, set, 1)
	defer r.stop(t)
	got, ok := r.e.Incident(want.ID)
	if !ok || got.EventCount != 6 || got.Signals[0].Count != 6 {
		t.Fatalf("after a graceful stop: ok=%v events=%d, want 6 events of one signal", ok, got.EventCount)
	}
	if n := len(r.e.PendingChanges()); n != 1 {
		t.Errorf("%d pending changes, want the one opened change no sink reported done", n)
	}
}

// An acknowledgement is stored before Ack returns.
func TestAckIsStored(t *testing.T) {
	set := durableRules(t)
	d := openDurable(t, t.TempDir(), set, 1)
	defer d.stop(t)
	if err := d.e.SubmitStored(context.Background(), []ingest.Event{register("0001", 1, ingest.StatusFiring)}); err != nil {
		t.Fatal(err)
	}
	id := d.e.Incidents(Filter{})[0].ID
	if _, err := d.e.Ack(id, "alice"); err != nil {
		t.Fatal(err)
	}
	r := openDurable(t, d.crash(t), set, 1)
	defer r.stop(t)
	got, ok := r.e.Incident(id)
	if !ok || got.AckedBy != "alice" {
		t.Fatalf("acknowledgement lost: ok=%v acked_by=%q", ok, got.AckedBy)
	}
}

// A closed incident's records leave the store with it: the group record
// and every signal record.
func TestClosedIncidentLeavesTheStore(t *testing.T) {
	set := compileRules(t, closingRules)
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		d := openDurable(t, dir, set, 2)
		defer d.stop(t)
		e, ctx := d.e, context.Background()
		synctest.Wait()
		count := func(bucket string) int {
			n := 0
			_ = d.st.Load(bucket, func(string, []byte) error { n++; return nil })
			return n
		}
		var fire, clear []ingest.Event
		for r := 1; r <= 4; r++ {
			fire = append(fire, register("0001", r, ingest.StatusFiring))
			clear = append(clear, register("0001", r, ingest.StatusResolved))
		}
		if err := e.SubmitStored(ctx, fire); err != nil {
			t.Fatal(err)
		}
		if g, s := count(bucketGroups), count(bucketSignals); g != 1 || s != 4 {
			t.Fatalf("open: %d group and %d signal records, want 1 and 4", g, s)
		}
		time.Sleep(time.Minute)
		if err := e.SubmitStored(ctx, clear); err != nil {
			t.Fatal(err)
		}
		time.Sleep(11 * time.Minute)
		synctest.Wait()
		if n := len(e.Incidents(Filter{})); n != 0 {
			t.Fatalf("%d incidents after close_after, want 0", n)
		}
		// The close was committed by the timer's step.
		if g, s := count(bucketGroups), count(bucketSignals); g != 0 || s != 0 {
			t.Errorf("closed: %d group and %d signal records left, want none", g, s)
		}
	})
}

// A change-marker signal's change record is written with the event's
// commit: a crash right after SubmitStored keeps it.
func TestChangeMarkerIsStored(t *testing.T) {
	set := compileRules(t, `
rules:
  - name: deployments
    match: ['alertname="FirmwareDeployment"']
    change:
      scope: [chain, firmware]
      id_label: change_id
`)
	d := openDurable(t, t.TempDir(), set, 2)
	defer d.stop(t)
	ev := event(map[string]string{"alertname": "FirmwareDeployment", "chain": "ica", "firmware": "7.1.0", "change_id": "CHG-88"}, ingest.StatusFiring)
	if err := d.e.SubmitStored(context.Background(), []ingest.Event{ev}); err != nil {
		t.Fatal(err)
	}
	r := openDurable(t, d.crash(t), set, 2)
	defer r.stop(t)
	cs := r.e.Changes()
	if len(cs) != 1 || cs[0].ID != "CHG-88" || cs[0].Scope["firmware"] != "7.1.0" {
		t.Fatalf("change records after a crash: %+v, want CHG-88", cs)
	}
}

// refusingCommitter refuses its first commits, as a full disk would.
type refusingCommitter struct {
	*memStore
	mu      sync.Mutex
	refuse  int
	commits int
}

func (f *refusingCommitter) Commit(ops []store.Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse > 0 {
		f.refuse--
		return errors.New("no space left on device")
	}
	f.commits++
	return nil
}

// A store that refuses a commit holds the batch back: the webhook's
// SubmitStored does not return (its sender gets no 200 and retries) and
// no change is published until the store takes it; then both happen and
// the refusals are counted.
func TestCommitRefusedIsHeldAndRetried(t *testing.T) {
	set := durableRules(t)
	synctest.Test(t, func(t *testing.T) {
		st := &refusingCommitter{memStore: newMemStore(), refuse: 3}
		rec := &recorder{}
		e := New(Options{Shards: 1}, set, rec, prometheus.NewRegistry(), zerolog.Nop())
		if err := e.Restore(st); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		synctest.Wait()

		stored := make(chan error, 1)
		go func() { stored <- e.SubmitStored(ctx, []ingest.Event{register("0001", 1, ingest.StatusFiring)}) }()
		synctest.Wait()
		select {
		case err := <-stored:
			t.Fatalf("SubmitStored returned %v while the store refuses", err)
		default:
		}
		if n := len(rec.all()); n != 0 {
			t.Fatalf("%d changes published before their commit", n)
		}
		if got := testutil.ToFloat64(e.m.commitErrors); got < 1 {
			t.Errorf("commit errors = %v, want counted", got)
		}
		// The retries back off (100ms, 200ms, 400ms): within a few
		// seconds the store takes the batch.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		select {
		case err := <-stored:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("SubmitStored still waiting after the store took the batch")
		}
		if got := testutil.ToFloat64(e.m.commitErrors); got != 3 {
			t.Errorf("commit errors = %v, want 3", got)
		}
		if cs := rec.all(); len(cs) != 1 || cs[0].Type != ChangeOpened {
			t.Errorf("published %v, want the opened change", cs)
		}
		cancel()
		<-done
	})
}

// A sender that gives up while its batch waits for the store gets an
// error (no 200), counted; the batch is still committed later.
func TestSubmitStoredSenderGivesUp(t *testing.T) {
	set := durableRules(t)
	synctest.Test(t, func(t *testing.T) {
		st := &refusingCommitter{memStore: newMemStore(), refuse: 2}
		e := New(Options{Shards: 1}, set, &recorder{}, prometheus.NewRegistry(), zerolog.Nop())
		if err := e.Restore(st); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		synctest.Wait()
		reqCtx, giveUp := context.WithTimeout(ctx, 50*time.Millisecond)
		defer giveUp()
		err := e.SubmitStored(reqCtx, []ingest.Event{register("0001", 1, ingest.StatusFiring)})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SubmitStored = %v, want the deadline", err)
		}
		if got := testutil.ToFloat64(e.m.storedWaitAborted); got != 1 {
			t.Errorf("aborted waits = %v, want 1", got)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		st.mu.Lock()
		commits := st.commits
		st.mu.Unlock()
		if commits == 0 || len(e.Incidents(Filter{})) != 1 {
			t.Errorf("commits %d, incidents %d: the batch was not committed later", commits, len(e.Incidents(Filter{})))
		}
		cancel()
		<-done
	})
}

// A closed incident can still be read (API, report) after a restart.
func TestClosedIncidentReadableAfterRestart(t *testing.T) {
	set := compileRules(t, closingRules)
	dir := t.TempDir()
	var id string
	synctest.Test(t, func(t *testing.T) {
		d := openDurable(t, dir, set, 2)
		e, ctx := d.e, context.Background()
		synctest.Wait()
		if err := e.SubmitStored(ctx, []ingest.Event{register("0001", 1, ingest.StatusFiring)}); err != nil {
			t.Fatal(err)
		}
		id = e.Incidents(Filter{})[0].ID
		if err := e.SubmitStored(ctx, []ingest.Event{register("0001", 1, ingest.StatusResolved)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(11 * time.Minute)
		synctest.Wait()
		if inc, ok := e.Incident(id); !ok || inc.Status != StatusClosed {
			t.Fatalf("before the restart: %v %v, want closed", ok, inc.Status)
		}
		d.stop(t)
	})
	r := openDurable(t, dir, set, 3)
	defer r.stop(t)
	inc, ok := r.e.Incident(id)
	if !ok || inc.Status != StatusClosed || len(inc.Timeline) != 3 {
		t.Fatalf("after the restart: found %v, status %s, %d timeline entries; want closed with opened, resolved, closed", ok, inc.Status, len(inc.Timeline))
	}
	if got := r.e.Incidents(Filter{Status: StatusClosed}); len(got) != 1 || got[0].ID != id {
		t.Errorf("closed list after the restart: %+v", got)
	}
}
