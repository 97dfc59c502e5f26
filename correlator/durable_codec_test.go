package correlator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// memStore is an in-memory Persister: silences, known errors, change
// records and problems of an engine, cloned for the restored one.
type memStore struct {
	mu sync.Mutex
	b  map[string]map[string][]byte
}

func newMemStore() *memStore { return &memStore{b: map[string]map[string][]byte{}} }

func (m *memStore) Put(bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b[bucket] == nil {
		m.b[bucket] = map[string][]byte{}
	}
	m.b[bucket][key] = data
	return nil
}

func (m *memStore) Delete(bucket, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.b[bucket], key)
	return nil
}

func (m *memStore) Load(bucket string, fn func(key string, data []byte) error) error {
	m.mu.Lock()
	keys := make([]string, 0, len(m.b[bucket]))
	for k := range m.b[bucket] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	datas := make([][]byte, len(keys))
	for i, k := range keys {
		datas[i] = m.b[bucket][k]
	}
	m.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, datas[i]); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) clone() *memStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemStore()
	for b, kv := range m.b {
		c.b[b] = map[string][]byte{}
		for k, v := range kv {
			c.b[b][k] = v
		}
	}
	return c
}

// image is what the durable store would hold of an engine's shards: one
// record per group and per recurrence entry, by shard.
type image struct {
	groups []map[uint64][]byte
	recur  []map[uint64][]byte
	store  *memStore
	dedup  string
}

// encodeShard encodes every group and recurrence entry of s, checking that
// the records hold every incident the shard has.
func encodeShard(t *testing.T, s *shard) (groups, recur map[uint64][]byte) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	groups, recur = map[uint64][]byte{}, map[uint64][]byte{}
	held := 0
	for h, g := range s.groups {
		b, err := encodeGroup(g)
		if err != nil {
			t.Fatalf("encode group %s: %v", g.key, err)
		}
		groups[h] = b
		held += len(g.open) + len(g.closing)
		if g.lastResolved != nil {
			held++
		}
	}
	for id, inc := range s.byID {
		if s.groups[inc.g.hash] != inc.g {
			t.Errorf("shard %d: incident %s (%s) belongs to no group of the shard", s.idx, id, inc.status)
		}
	}
	if held != len(s.byID) {
		t.Errorf("shard %d: group records hold %d incidents, the shard %d", s.idx, held, len(s.byID))
	}
	for h, r := range s.recur {
		b, err := encodeRecurrence(r)
		if err != nil {
			t.Fatal(err)
		}
		recur[h] = b
	}
	return groups, recur
}

func takeImage(t *testing.T, e *Engine, st *memStore) *image {
	t.Helper()
	img := &image{store: st.clone(), dedup: filepath.Join(t.TempDir(), "dedup")}
	for _, s := range e.shards {
		g, r := encodeShard(t, s)
		img.groups = append(img.groups, g)
		img.recur = append(img.recur, r)
	}
	if err := e.dedup.SaveToFileConcurrent(img.dedup, 1); err != nil {
		t.Fatal(err)
	}
	return img
}

// durEngine is a running engine with its publisher and state store.
type durEngine struct {
	e      *Engine
	rec    *recorder
	st     *memStore
	cancel context.CancelFunc
	done   chan struct{}
}

// startDurable starts an engine; with an image it is rebuilt from it
// first (decode and install before Run, as the daemon does), checked to
// encode to the image's bytes.
func startDurable(t *testing.T, shards int, set *rules.Set, img *image) *durEngine {
	t.Helper()
	d := &durEngine{rec: &recorder{}, st: newMemStore(), done: make(chan struct{})}
	opts := Options{Shards: shards}
	if img != nil {
		d.st = img.store.clone()
		// Saved on stop only: a save every 5m over days of fake time
		// would only cost time.
		opts.DedupPath, opts.DedupSaveInterval = img.dedup, rules.Duration(1000*time.Hour)
	}
	d.e = New(opts, set, d.rec, prometheus.NewRegistry(), zerolog.Nop())
	if err := d.e.Restore(d.st); err != nil {
		t.Fatal(err)
	}
	if img != nil {
		installImage(t, d.e, set, img)
		for i, s := range d.e.shards {
			g, r := encodeShard(t, s)
			sameRecords(t, fmt.Sprintf("shard %d groups after install", i), img.groups[i], g)
			sameRecords(t, fmt.Sprintf("shard %d recurrence after install", i), img.recur[i], r)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	// Run arms the hints install put in the heap; those already past
	// fire at once.
	go func() { _ = d.e.Run(ctx); close(d.done) }()
	synctest.Wait()
	return d
}

func installImage(t *testing.T, e *Engine, set *rules.Set, img *image) {
	t.Helper()
	now := time.Now()
	for i, s := range e.shards {
		hs := make([]uint64, 0, len(img.groups[i]))
		for h := range img.groups[i] {
			hs = append(hs, h)
		}
		sort.Slice(hs, func(a, b int) bool { return hs[a] < hs[b] })
		for _, h := range hs {
			if e.shardOf(h) != i {
				t.Fatalf("group %x recorded on shard %d belongs to shard %d", h, i, e.shardOf(h))
			}
			g, err := s.decodeGroup(img.groups[i][h], set)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if g.hash != h {
				t.Fatalf("decoded group hash %x, recorded under %x", g.hash, h)
			}
			s.install(g, now)
		}
		for h, b := range img.recur[i] {
			r, err := decodeRecurrence(b)
			if err != nil {
				t.Fatal(err)
			}
			s.recur[h] = r
		}
	}
}

func (d *durEngine) stop() {
	d.cancel()
	<-d.done
}

func (d *durEngine) submit(t *testing.T, evs ...ingest.Event) {
	t.Helper()
	batch := append([]ingest.Event(nil), evs...)
	now := time.Now()
	for i := range batch {
		batch[i].ArrivalTime = now
	}
	if err := d.e.Submit(context.Background(), batch); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

func sameRecords(t *testing.T, what string, want, got map[uint64][]byte) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d records, want %d", what, len(got), len(want))
	}
	for h, w := range want {
		if g, ok := got[h]; !ok {
			t.Errorf("%s: record %x missing", what, h)
		} else if !bytes.Equal(w, g) {
			t.Errorf("%s: record %x differs:\n got %s\nwant %s", what, h, g, w)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameIncidents compares the snapshots (with signals and timeline) of
// every live incident of a with b's.
func sameIncidents(t *testing.T, what string, a, b *Engine) {
	t.Helper()
	var ids []string
	for _, s := range a.shards {
		s.mu.RLock()
		for id := range s.byID {
			ids = append(ids, id)
		}
		s.mu.RUnlock()
	}
	sort.Strings(ids)
	for _, id := range ids {
		ai, _ := a.Incident(id)
		bi, ok := b.Incident(id)
		if !ok {
			t.Errorf("%s: incident %s missing", what, id)
			continue
		}
		if aj, bj := mustJSON(t, ai), mustJSON(t, bi); aj != bj {
			t.Errorf("%s: incident %s differs:\n got %s\nwant %s", what, id, bj, aj)
		}
		if !reflect.DeepEqual(normalise(t, ai), normalise(t, bi)) {
			t.Errorf("%s: incident %s differs after normalising times", what, id)
		}
	}
	if aj, bj := mustJSON(t, a.Incidents(Filter{})), mustJSON(t, b.Incidents(Filter{})); aj != bj {
		t.Errorf("%s: incident lists differ:\n got %s\nwant %s", what, bj, aj)
	}
}

// normalise strips what a snapshot's times carry besides the instant (the
// monotonic reading, the location pointer) for reflect.DeepEqual.
func normalise(t *testing.T, inc Incident) Incident {
	t.Helper()
	var out Incident
	if err := json.Unmarshal([]byte(mustJSON(t, inc)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sortChanges orders changes by time, incident, revision and type: shards
// publish concurrently.
func sortChanges(cs []Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if a.Incident.ID != b.Incident.ID {
			return a.Incident.ID < b.Incident.ID
		}
		if a.Incident.Revision != b.Incident.Revision {
			return a.Incident.Revision < b.Incident.Revision
		}
		return a.Type < b.Type
	})
}

func changeLine(c Change) string {
	return fmt.Sprintf("%s %s %s rev=%d %s", c.At.Format(time.TimeOnly), c.Incident.ID, c.Type, c.Incident.Revision, c.Detail)
}

// sameChanges compares two engines' changes one by one, whole.
func sameChanges(t *testing.T, what string, want, got []Change) {
	t.Helper()
	want, got = append([]Change(nil), want...), append([]Change(nil), got...)
	sortChanges(want)
	sortChanges(got)
	var wl, gl []string
	for _, c := range want {
		wl = append(wl, changeLine(c))
	}
	for _, c := range got {
		gl = append(gl, changeLine(c))
	}
	if len(want) != len(got) {
		t.Errorf("%s: %d changes, want %d:\n got %s\nwant %s", what, len(got), len(want), strings.Join(gl, "\n     "), strings.Join(wl, "\n     "))
		return
	}
	for i := range want {
		if wj, gj := mustJSON(t, want[i]), mustJSON(t, got[i]); wj != gj {
			t.Errorf("%s: change %d differs:\n got %s\nwant %s", what, i, gj, wj)
		}
	}
}

// Every golden case, restored before each of its lines: the restored
// engine holds the same incidents, encodes to the same records, and from
// there on publishes exactly the changes the original does, through the
// rest of the case and two days beyond it.
func TestDurableGoldenRestore(t *testing.T) {
	eachGoldenRestore(t, 1,
		func(t *testing.T, set *rules.Set) goldenRun {
			a := startDurable(t, 3, set, nil)
			return goldenRun{e: a.e, rec: a.rec, stop: a.stop, st: a.st}
		},
		func(t *testing.T, set *rules.Set, a goldenRun, line int) goldenRun {
			img := takeImage(t, a.e, a.st)
			b := startDurable(t, 3, set, img)
			sameIncidents(t, fmt.Sprintf("restored before line %d", line), a.e, b.e)
			for i, s := range b.e.shards {
				g, r := encodeShard(t, s)
				sameRecords(t, fmt.Sprintf("line %d: shard %d groups after the restored engine's first timer check", line, i), img.groups[i], g)
				sameRecords(t, fmt.Sprintf("line %d: shard %d recurrence after the first timer check", line, i), img.recur[i], r)
			}
			return goldenRun{e: b.e, rec: b.rec, stop: b.stop}
		})
}

// goldenRun is an engine of eachGoldenRestore.
type goldenRun struct {
	e    *Engine
	rec  *recorder
	stop func()
	// st or store is the first engine's state, whichever it keeps.
	st    *memStore
	store *durableEngine
}

// eachGoldenRestore runs every golden case on the engine start makes and,
// before every every-th line, starts another from the first's state with
// restore. Each restored engine gets the rest of the case's lines as the
// first does; two days after the last line, each must hold the same
// incidents and have published the same changes (outbox sequences aside:
// they are each engine's own) as the first did from its restore on.
func eachGoldenRestore(t *testing.T, every int, start func(*testing.T, *rules.Set) goldenRun, restore func(t *testing.T, set *rules.Set, a goldenRun, line int) goldenRun) {
	dirs, err := filepath.Glob("testdata/*/rules.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, rf := range dirs {
		dir := filepath.Dir(rf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			set, err := rules.Load([]string{rf}, rules.DefaultMatrix())
			if err != nil {
				t.Fatal(err)
			}
			lines := readLines(t, filepath.Join(dir, "events.jsonl"))
			synctest.Test(t, func(t *testing.T) {
				begin := time.Now()
				a := start(t, set)
				type restored struct {
					r    goldenRun
					from int
					line int
				}
				var bs []restored
				for k, l := range lines {
					if d := begin.Add(mustDur(t, l.At)).Sub(time.Now()); d > 0 {
						<-time.After(d)
					}
					synctest.Wait()
					if k%every == 0 {
						b := restore(t, set, a, k+1)
						bs = append(bs, restored{r: b, from: len(a.rec.all()), line: k + 1})
					}
					applyLine(t, a.e, l, begin)
					for _, r := range bs {
						applyLine(t, r.r.e, l, begin)
					}
					synctest.Wait()
				}
				<-time.After(49 * time.Hour)
				synctest.Wait()
				for _, r := range bs {
					sameIncidents(t, fmt.Sprintf("restored before line %d, at the end", r.line), a.e, r.r.e)
				}
				a.stop()
				noSeq := func(cs []Change) []Change {
					out := append([]Change(nil), cs...)
					for i := range out {
						out[i].Seq = 0
					}
					return out
				}
				for _, r := range bs {
					r.r.stop()
					sameChanges(t, fmt.Sprintf("restored before line %d", r.line), noSeq(a.rec.all()[r.from:]), noSeq(r.r.rec.all()))
				}
			})
		})
	}
}

// scenarioRules exercise every kind of state a group holds.
const scenarioRules = `
major: {status_every: 30m}
sla:
  targets:
    1: {response: 10m, resolution: 1h}
    2: {response: 20m, resolution: 2h}
    3: {response: 24h, resolution: 48h}
    4: {response: 48h, resolution: 96h}
services:
  - name: pos
    match: ['app="pos"']
    category: point-of-sale
    escalation:
      - {group: desk, within: 15m}
      - {group: support, within: 15m}
      - {group: vendor}
known_errors:
  - {id: KE-1, title: Log rotation off, match: ['instance="db2"'], workaround: Rotate the logs}
problems:
  recurrence: {count: 2, within: 1h}
rules:
  - name: regs
    match: ['alertname="RegisterDown"']
    group_by: [store]
    threshold: {count: 3}
    window: 10m
  - name: disk
    match: ['alertname="DiskFull"']
    group_by: [instance]
    update_interval: 5m
    reopen_within: 5m
    close_after: 1h
    flapping: {disabled: true}
  - name: link
    match: ['alertname="LinkFlap"']
    group_by: [device]
    reopen_within: 30m
    flapping: {count: 2, within: 1h, stable_for: 5m}
  - name: pos
    match: ['app="pos"']
    group_by: [store]
    impact: low
    urgency: high
  - name: late
    match: ['alertname="Late"']
    group_by: [host]
    group_wait: 2h
  - name: quiet
    match: ['app="syslog"']
    group_by: [host]
    resolve_after: 30m
  - name: host
    match: ['alertname="HostDown"']
    group_by: [host]
    flapping: {disabled: true}
  - name: site
    rollup: {rule: host, group_by: [site], min_children: 2, within: 10m}
    breadth: [host]
    flapping: {disabled: true}
`

func sev(ev ingest.Event, s ingest.Severity, ann map[string]string) ingest.Event {
	ev.Severity = s
	ev.Annotations = ingest.LabelsFromMap(ann)
	return ev
}

var (
	scDB1   = sev(event(map[string]string{"alertname": "DiskFull", "instance": "db1"}, 0), ingest.SeverityMajor, map[string]string{"summary": "Disk full on db1"})
	scDB2a  = event(map[string]string{"alertname": "DiskFull", "instance": "db2", "mount": "/"}, 0)
	scDB2b  = event(map[string]string{"alertname": "DiskFull", "instance": "db2", "mount": "/var"}, 0)
	scDB2c  = event(map[string]string{"alertname": "DiskFull", "instance": "db2", "mount": "/srv"}, 0)
	scDB3   = event(map[string]string{"alertname": "DiskFull", "instance": "db3"}, 0)
	scLink  = event(map[string]string{"alertname": "LinkFlap", "device": "sw1"}, 0)
	scPOS1  = sev(event(map[string]string{"app": "pos", "store": "1"}, 0), ingest.SeverityCritical, nil)
	scPOS2  = event(map[string]string{"app": "pos", "store": "2"}, 0)
	scLate  = event(map[string]string{"alertname": "Late", "host": "x"}, 0)
	scQuiet = event(map[string]string{"app": "syslog", "host": "y", "msg": "link down"}, 0)
)

func scReg(n int) ingest.Event {
	return event(map[string]string{"alertname": "RegisterDown", "store": "1", "register": fmt.Sprint(n)}, 0)
}

func scHost(site, host string) ingest.Event {
	return event(map[string]string{"alertname": "HostDown", "site": site, "host": host}, 0)
}

func resolved(ev ingest.Event) ingest.Event {
	ev.Status = ingest.StatusResolved
	return ev
}

func openOf(t *testing.T, e *Engine, rule, key string) Incident {
	t.Helper()
	for _, inc := range e.Incidents(Filter{Rule: rule, Status: StatusOpen}) {
		if strings.Contains(inc.GroupKey, key) {
			return inc
		}
	}
	t.Fatalf("no open %s incident %s: %+v", rule, key, e.Incidents(Filter{}))
	return Incident{}
}

// buildScenario drives an engine 8 minutes into the scenario: a threshold
// window still pending, an open incident with a coalesced update due, two
// resolved incidents waiting to close that their groups no longer point
// to, a flapping incident held open until stable, a rollup parent with
// children and a rollup group waiting for its second child, incidents with
// service, SLA clocks and escalation (one acknowledged, one waiting on a
// vendor), incidents in a silence (one with a problem change held back),
// one with a known error, one inside its group_wait, one with
// resolve_after.
func buildScenario(t *testing.T, a *durEngine) {
	t.Helper()
	step := func(d time.Duration) {
		<-time.After(d)
		synctest.Wait()
	}
	if _, err := a.e.AddSilence(Silence{Matchers: []string{`instance="db3"`}, EndsAt: time.Now().Add(3 * time.Hour), CreatedBy: "anna", Comment: "disk swap"}); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	a.submit(t, scDB1, scDB2a, scDB3, scLink, scPOS1, scPOS2, scLate, scQuiet, scHost("s1", "h1"), scHost("s1", "h2"))
	synctest.Wait()
	step(time.Minute) // 1m
	a.submit(t, resolved(scDB1), resolved(scDB3), resolved(scLink), scDB2b, scReg(1))
	synctest.Wait()
	step(time.Minute) // 2m
	a.submit(t, scLink, resolved(scHost("s1", "h1")))
	synctest.Wait()
	step(time.Minute) // 3m
	a.submit(t, resolved(scLink), scHost("s2", "h3"))
	synctest.Wait()
	step(time.Minute)   // 4m
	a.submit(t, scLink) // second reopen within the hour: flapping
	synctest.Wait()
	step(time.Minute) // 5m
	a.submit(t, resolved(scLink))
	synctest.Wait()
	if _, err := a.e.Ack(openOf(t, a.e, "pos", `store="1"`).ID, "bob"); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	step(time.Minute) // 6m
	a.submit(t, scReg(2))
	synctest.Wait()
	if _, err := a.e.Wait(openOf(t, a.e, "pos", `store="2"`).ID, "vendor"); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	step(time.Minute) // 7m: db1 and db3 open anew, past reopen_within
	a.submit(t, scDB1, scDB3)
	synctest.Wait()
	step(30 * time.Second)
	a.submit(t, scDB2c) // an update due at 10m
	synctest.Wait()
	step(30 * time.Second) // 8m
}

// checkScenario asserts the scenario built what it should.
func checkScenario(t *testing.T, e *Engine) {
	t.Helper()
	kinds := map[string]int{}
	for _, s := range e.shards {
		s.mu.RLock()
		for _, g := range s.groups {
			if g.pending != nil && len(g.pending.sigs) > 0 {
				kinds["pending"]++
			}
			if len(g.waitingChildren) > 0 {
				kinds["waiting children"]++
			}
		}
		for _, inc := range s.byID {
			switch {
			case inc.status == StatusResolved && inc.g.lastResolved != inc:
				kinds["closing, superseded"]++
			case inc.status == StatusResolved:
				kinds["resolved"]++
			}
			if inc.status != StatusOpen {
				continue
			}
			if inc.dirty && !inc.updateDue.IsZero() {
				kinds["update due"]++
			}
			if inc.flapping && !inc.stableAt.IsZero() {
				kinds["flapping"]++
			}
			if inc.isParent && len(inc.children) > 0 {
				kinds["parent"]++
			}
			if inc.service != nil && !inc.ackedAt.IsZero() && !inc.levelDue.IsZero() {
				kinds["service, acked"]++
			}
			if inc.waiting != "" {
				kinds["waiting"]++
			}
			if inc.maint {
				kinds["maintenance"]++
			}
			if inc.pendingProblem != nil {
				kinds["problem held"]++
			}
			if len(inc.knownErrors) > 0 {
				kinds["known error"]++
			}
			if !inc.announced {
				kinds["group_wait"]++
			}
			if !inc.quietAt.IsZero() {
				kinds["resolve_after"]++
			}
		}
		s.mu.RUnlock()
	}
	for _, k := range []string{"pending", "waiting children", "closing, superseded", "update due", "flapping", "parent",
		"service, acked", "waiting", "maintenance", "problem held", "known error", "group_wait", "resolve_after"} {
		if kinds[k] == 0 {
			t.Errorf("scenario built no %s state: %v", k, kinds)
		}
	}
}

// The scenario restored at 8m continues exactly like the original: the
// threshold met, the rollup completed, signals resolving with the right
// revisions, the coalesced update, SLA warnings, breaches and escalation,
// status updates, resolve_after, group_wait, the silence ending with its
// held problem change, and close_after.
func TestDurableScenarioContinues(t *testing.T) {
	set := compileRules(t, scenarioRules)
	synctest.Test(t, func(t *testing.T) {
		a := startDurable(t, 3, set, nil)
		buildScenario(t, a)
		checkScenario(t, a.e)
		img := takeImage(t, a.e, a.st)
		from := len(a.rec.all())
		b := startDurable(t, 3, set, img)
		sameIncidents(t, "restored", a.e, b.e)
		both := func(evs ...ingest.Event) {
			a.submit(t, evs...)
			b.submit(t, evs...)
			synctest.Wait()
		}
		step := func(d time.Duration) {
			<-time.After(d)
			synctest.Wait()
		}
		db1 := openOf(t, a.e, "disk", "db1")
		step(time.Minute) // 9m
		both(scReg(3), scHost("s2", "h4"), resolved(scDB1))
		got, ok := b.e.Incident(db1.ID)
		if !ok || got.Status != StatusResolved || got.Revision != db1.Revision+1 {
			t.Errorf("db1 after its signal resolved in the restored engine: %s rev %d, want resolved rev %d", got.Status, got.Revision, db1.Revision+1)
		}
		step(2 * time.Minute) // 11m
		both(resolved(scPOS1), resolved(scDB2a))
		sameIncidents(t, "at 11m", a.e, b.e)
		step(3 * time.Hour)
		sameIncidents(t, "3h later", a.e, b.e)
		a.stop()
		b.stop()
		sameChanges(t, "after the restore", a.rec.all()[from:], b.rec.all())
		t.Logf("%d changes before the restore, %d after", from, len(b.rec.all()))
		seen := map[ChangeType]bool{}
		for _, c := range b.rec.all() {
			seen[c.Type] = true
			if c.Problem != nil {
				seen["problem"] = true
			}
		}
		for _, ct := range []ChangeType{ChangeOpened, ChangeUpdated, ChangeResolved, ChangeClosed, ChangeSLAWarning,
			ChangeSLABreached, ChangeEscalated, ChangeStatusUpdate, "problem"} {
			if !seen[ct] {
				t.Errorf("the restored engine published no %s change", ct)
			}
		}
	})
}

// A daemon down for three hours catches up when restored: what fell due
// meanwhile fires at once, each incident's revisions going on from where
// they were.
func TestDurableScenarioAfterDowntime(t *testing.T) {
	set := compileRules(t, scenarioRules)
	synctest.Test(t, func(t *testing.T) {
		a := startDurable(t, 3, set, nil)
		buildScenario(t, a)
		img := takeImage(t, a.e, a.st)
		revs := map[string]uint64{}
		states := map[string]Incident{}
		for _, inc := range a.e.Incidents(Filter{}) {
			revs[inc.ID] = inc.Revision
			states[inc.ID] = inc
		}
		pos2 := openOf(t, a.e, "pos", `store="2"`)
		pos1 := openOf(t, a.e, "pos", `store="1"`)
		a.stop() // the daemon goes down
		<-time.After(3 * time.Hour)
		b := startDurable(t, 3, set, img)
		defer b.stop()
		byInc := map[string][]Change{}
		for _, c := range b.rec.all() {
			byInc[c.Incident.ID] = append(byInc[c.Incident.ID], c)
			// A problem change held back keeps the time it was raised.
			if !c.At.Equal(time.Now()) && c.Problem == nil {
				t.Errorf("%s at %v, want at the restore", changeLine(c), c.At)
			}
		}
		for id, cs := range byInc {
			rev, known := revs[id]
			if !known {
				t.Errorf("%s: an incident that was not there", id)
			}
			for _, c := range cs {
				if c.Problem != nil {
					continue
				}
				if rev++; c.Incident.Revision != rev {
					t.Errorf("%s: revision %d, want %d", changeLine(c), c.Incident.Revision, rev)
				}
			}
		}
		typesOf := func(id string) string {
			var out []string
			for _, c := range byInc[id] {
				s := string(c.Type)
				if c.Detail != "" {
					s += "(" + c.Detail + ")"
				}
				out = append(out, s)
			}
			return strings.Join(out, ",")
		}
		want := map[string]string{}
		for id, inc := range states {
			switch {
			case inc.Rule == "disk" && inc.Status == StatusResolved && strings.Contains(inc.GroupKey, "db3"):
				want[id] = "" // never out of the silence: its closing is withheld too
			case inc.Rule == "disk" && inc.Status == StatusResolved:
				want[id] = "closed"
			case inc.Rule == "disk" && strings.Contains(inc.GroupKey, "db3"):
				want[id] = "opened(maintenance ended),problem_opened"
			case inc.Rule == "disk":
				want[id] = "updated" // the coalesced update due meanwhile
			case inc.Rule == "late":
				want[id] = "opened"
			case inc.Rule == "quiet":
				want[id] = "resolved"
			case inc.Rule == "link":
				// The update its flapping resolve marked, then stable.
				want[id] = "updated,resolved"
			}
		}
		// Unacknowledged: both clocks warn and breach, it becomes major,
		// and the ladder climbs one level (the next in 15m).
		want[pos2.ID] = "sla_warning(response),sla_breached(response),sla_warning(resolution),sla_breached(resolution),escalated(support)"
		// Acknowledged: the response clock and the ladder stopped.
		want[pos1.ID] = "sla_warning(resolution),sla_breached(resolution)"
		for id, w := range want {
			if got := typesOf(id); got != w {
				t.Errorf("%s (%s %s): got %q, want %q", id, states[id].Rule, states[id].GroupKey, got, w)
			}
		}
		// The silence ended: the new db3 incident is forwarded, then the
		// problem change held for it.
		var db3 []string
		for _, c := range b.rec.all() {
			if c.Incident.Rule == "disk" && strings.Contains(c.Incident.GroupKey, "db3") && c.Incident.Status == StatusOpen {
				db3 = append(db3, string(c.Type))
			}
		}
		if got := strings.Join(db3, ","); got != "opened,problem_opened" {
			t.Errorf("db3 after the silence: %s, want opened,problem_opened", got)
		}
		p2, _ := b.e.Incident(pos2.ID)
		if !p2.Major || p2.EscalationLevel != 1 || p2.AssignmentGroup != "support" {
			t.Errorf("pos store 2 after restore: major %v, level %d, group %q", p2.Major, p2.EscalationLevel, p2.AssignmentGroup)
		}
		// The window's signals and the waiting child expired.
		for _, s := range b.e.shards {
			s.mu.RLock()
			for _, g := range s.groups {
				if g.pending != nil || len(g.waitingChildren) > 0 {
					t.Errorf("group %s %s still waits after the downtime", g.rule.Name, g.key)
				}
			}
			s.mu.RUnlock()
		}
		if got := testutil.ToFloat64(b.e.m.expired.WithLabelValues("regs")); got != 2 {
			t.Errorf("got %v expired window signals, want 2", got)
		}
		if got := testutil.ToFloat64(b.e.m.open.WithLabelValues("pos")); got != 2 {
			t.Errorf("open gauge for pos: %v, want 2", got)
		}
		// The ladder goes on from the restore.
		<-time.After(15 * time.Minute)
		synctest.Wait()
		if p2, _ := b.e.Incident(pos2.ID); p2.EscalationLevel != 2 || p2.AssignmentGroup != "vendor" {
			t.Errorf("pos store 2 15m after restore: level %d, group %q; want 2, vendor", p2.EscalationLevel, p2.AssignmentGroup)
		}
	})
}

// Records that do not read, or name a rule the set has no more, are
// errors, never panics; the rule's absence is errRuleGone.
func TestDurableDecodeErrors(t *testing.T) {
	set := compileRules(t, scenarioRules)
	other := compileRules(t, "rules:\n  - name: other\n    match: ['a=\"b\"']\n")
	synctest.Test(t, func(t *testing.T) {
		a := startDurable(t, 1, set, nil)
		defer a.stop()
		buildScenario(t, a)
		img := takeImage(t, a.e, a.st)
		e := New(Options{Shards: 1}, set, nil, prometheus.NewRegistry(), zerolog.Nop())
		s := e.shards[0]
		var some []byte
		for _, b := range img.groups[0] {
			some = b
			if _, err := s.decodeGroup(b, other); !errors.Is(err, errRuleGone) {
				t.Errorf("decode against a set without the rule: %v, want errRuleGone", err)
			}
		}
		bad := [][]byte{
			nil, []byte(""), []byte("garbage"), []byte("{"), []byte("[]"), []byte("null"), []byte("{}"),
			[]byte(`{"v":2,"r":"disk"}`), []byte(`{"v":1}`), []byte(`{"v":1,"r":"disk","o":[null]}`),
			[]byte(`{"v":1,"r":"disk","o":[{"id":"x","st":"resolved"}]}`),
			[]byte(`{"v":1,"r":"disk","lr":{"id":"x","st":"open"}}`),
			[]byte(`{"v":1,"r":"disk","o":[{"id":"x","st":"open"}],"lr":{"id":"x","st":"resolved"}}`),
			[]byte(`{"v":1,"r":"disk","o":[{"id":"x","st":"open","sg":[{"fp":"nope"}]}]}`),
			[]byte(`{"v":1,"r":"disk","l":{"a":"b"}}`),
			some[:len(some)/2],
		}
		for _, b := range bad {
			if g, err := s.decodeGroup(b, set); err == nil {
				t.Errorf("decode %q: got a group (%+v), want an error", b, g)
			}
		}
		if _, err := s.decodeGroup(some, nil); err == nil {
			t.Error("decode without a rule set: no error")
		}
		for _, b := range [][]byte{nil, []byte("x"), []byte(`{"v":9}`), []byte(`{"v":1,"o":[{"t":1}]}`)} {
			if _, err := decodeRecurrence(b); err == nil {
				t.Errorf("decodeRecurrence(%q): no error", b)
			}
		}
		if _, err := encodeGroup(nil); err == nil {
			t.Error("encodeGroup(nil): no error")
		}
		if _, err := encodeRecurrence(nil); err == nil {
			t.Error("encodeRecurrence(nil): no error")
		}
	})
}

// A record written under an older rule set decodes against the new one
// without leaving what the engine would trip over: a rollup that is no
// rollup any more, a parent rule that is gone, a service that is gone.
func TestDurableDecodeAgainstChangedRules(t *testing.T) {
	set := compileRules(t, scenarioRules)
	base := `
rules:
  - name: pos
    match: ['app="pos"']
    group_by: [store]
  - name: host
    match: ['alertname="HostDown"']
    group_by: [host]
`
	for name, changed := range map[string]*rules.Set{
		"site no rollup": compileRules(t, base+"  - name: site\n    match: ['alertname=\"Site\"']\n    group_by: [site]\n"),
		"site gone":      compileRules(t, base),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := startDurable(t, 1, set, nil)
				buildScenario(t, a)
				img := takeImage(t, a.e, a.st)
				a.stop()
				e := New(Options{Shards: 1}, changed, &recorder{}, prometheus.NewRegistry(), zerolog.Nop())
				s := e.shards[0]
				now := time.Now()
				installed := map[string]int{}
				for _, b := range img.groups[0] {
					g, err := s.decodeGroup(b, changed)
					if errors.Is(err, errRuleGone) {
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					if g.rule.Name == "site" && (len(g.waitingChildren) > 0 || g.breadth != nil) {
						t.Errorf("site is no rollup any more, yet its group keeps waiting children")
					}
					for _, inc := range g.open {
						if inc.service != nil || inc.cal != rules.AlwaysOpen || !inc.levelDue.IsZero() {
							t.Errorf("%s: service %v, calendar %v, level due %v; want none, 24x7, none", inc.id, inc.service, inc.cal, inc.levelDue)
						}
						if changed.Rule("site") == nil && len(inc.parents) > 0 {
							t.Errorf("%s: parents %+v of a rule that is gone", inc.id, inc.parents)
						}
						for _, p := range inc.parents {
							if p.rule == nil {
								t.Errorf("%s: a parent without rule", inc.id)
							}
						}
					}
					s.install(g, now)
					installed[g.rule.Name]++
				}
				if installed["pos"] != 2 || installed["host"] != 3 {
					t.Errorf("installed groups by rule: %v, want 2 pos and 3 host", installed)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { _ = e.Run(ctx); close(done) }()
				synctest.Wait()
				if err := e.Submit(context.Background(), []ingest.Event{resolved(scHost("s1", "h2")), scHost("s1", "h1"), resolved(scPOS2)}); err != nil {
					t.Fatal(err)
				}
				<-time.After(5 * time.Hour)
				synctest.Wait()
				cancel()
				<-done
			})
		})
	}
}

// Every field of the state is either in the record or rebuilt on decode:
// adding a field to the state without the codec fails here.
func TestDurableCodecCoversEveryField(t *testing.T) {
	check := func(typ reflect.Type, handled string) {
		t.Helper()
		want := map[string]bool{}
		for _, f := range strings.Fields(handled) {
			want[f] = true
		}
		var walk func(typ reflect.Type)
		walk = func(typ reflect.Type) {
			for i := 0; i < typ.NumField(); i++ {
				f := typ.Field(i)
				if f.Anonymous {
					walk(f.Type)
					continue
				}
				if !want[f.Name] {
					t.Errorf("%s.%s is neither encoded nor rebuilt by the durable codec", typ.Name(), f.Name)
				}
				delete(want, f.Name)
			}
		}
		walk(typ)
		for f := range want {
			t.Errorf("%s has no field %s any more", typ.Name(), f)
		}
	}
	check(reflect.TypeOf(group{}), "hash rule set labels key open pending lastResolved closing waitingChildren breadth checkAt")
	check(reflect.TypeOf(incState{}), `id rule matrix g shard status openedAt resolvedAt closedAt firstSeen lastSeen lastArrive
		signals order untracked ownSignals firing events common commonAnn breadth severity priority impact urgency
		parent children childOpen openKids isParent parents firstArrive knownErrors suspects problem previous reopenTimes
		reopens flapping stableAt ackedAt ackedBy timeline revision announced announceAt dirty lastEmit updateDue closeAt quietAt
		service cal category assignment respDue respWarn resDue resWarn respWarned respBreached resWarned resBreached level levelDue
		major nextStatus maint maintBy pauseStart paused withheld forwarded lastForwarded maintCheckAt pendingProblem waiting`)
	check(reflect.TypeOf(sigState{}), "fp kind source labels annotations severity status startsAt lastSeen resolvedAt count absorbed idx")
	check(reflect.TypeOf(pendingWindow{}), "sigs")
	check(reflect.TypeOf(pendingSig{}), "ev absorbed expires")
	check(reflect.TypeOf(childRef{}), "id shard at severity first resolved")
	check(reflect.TypeOf(parentTarget{}), "rule hash")
	check(reflect.TypeOf(recurrence{}), "opens")
	check(reflect.TypeOf(opening{}), "at id")
	check(reflect.TypeOf(ingest.Event{}), "Kind Source EventTime ArrivalTime Fingerprint Labels Annotations Severity Status Raw")
	// encoding/json drops both fields of a duplicated name silently.
	for _, typ := range []reflect.Type{reflect.TypeOf(groupRec{}), reflect.TypeOf(incRec{}), reflect.TypeOf(sigRec{}),
		reflect.TypeOf(eventRec{}), reflect.TypeOf(childRec{}), reflect.TypeOf(pendSigRec{}), reflect.TypeOf(recurRec{})} {
		seen := map[string]string{}
		for i := 0; i < typ.NumField(); i++ {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				t.Errorf("%s.%s has no json name", typ.Name(), typ.Field(i).Name)
			}
			if prev, ok := seen[name]; ok {
				t.Errorf("%s: json name %q on %s and %s", typ.Name(), name, prev, typ.Field(i).Name)
			}
			seen[name] = typ.Field(i).Name
		}
	}
}

// filler sets every field of a value to a distinct non-zero value.
type filler struct{ n int }

var (
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(time.Duration(0))
)

func (f *filler) next() int { f.n++; return f.n }

func (f *filler) fill(v reflect.Value, skip map[string]bool) {
	switch {
	case v.Type() == timeType:
		n := f.next()
		v.Set(reflect.ValueOf(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Add(time.Duration(n)*time.Hour + time.Duration(n))))
		return
	case v.Type() == durationType:
		v.SetInt(int64(f.next()) * int64(time.Second))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", f.next()))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(f.next()))
	case reflect.Uint8:
		v.SetUint(uint64(f.next() % 250))
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		v.SetUint(uint64(f.next()) * 0x9e3779b97f4a7c15)
	case reflect.Float64:
		v.SetFloat(float64(f.next()) + 1.0/3)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			f.fill(s.Index(i), skip)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k, skip)
			f.fill(e, skip)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), skip)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if skip[v.Type().Field(i).Name] {
				continue
			}
			fv := v.Field(i)
			fv = reflect.NewAt(fv.Type(), unsafe.Pointer(fv.UnsafeAddr())).Elem()
			f.fill(fv, skip)
		}
	}
}

// sameState compares two values field by field, times by instant, and
// skips the pointers decode rebuilds (checked by the caller).
func sameState(t *testing.T, path string, a, b reflect.Value, skip map[string]bool) {
	t.Helper()
	if a.Type() == timeType {
		at, bt := a.Interface().(time.Time), b.Interface().(time.Time)
		if !at.Equal(bt) {
			t.Errorf("%s: %v, want %v", path, bt, at)
		}
		return
	}
	switch a.Kind() {
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			name := a.Type().Field(i).Name
			if skip[name] {
				continue
			}
			// Fields read through reflect.NewAt are not read-only.
			fa, fb := a.Field(i), b.Field(i)
			fa = reflect.NewAt(fa.Type(), unsafe.Pointer(fa.UnsafeAddr())).Elem()
			fb = reflect.NewAt(fb.Type(), unsafe.Pointer(fb.UnsafeAddr())).Elem()
			sameState(t, path+"."+name, fa, fb, skip)
		}
	case reflect.Pointer:
		if a.IsNil() != b.IsNil() {
			t.Errorf("%s: nil %v, want %v", path, b.IsNil(), a.IsNil())
			return
		}
		if !a.IsNil() {
			sameState(t, path, a.Elem(), b.Elem(), skip)
		}
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			t.Errorf("%s: nil %v len %d, want nil %v len %d", path, b.IsNil(), b.Len(), a.IsNil(), a.Len())
			return
		}
		for i := 0; i < a.Len(); i++ {
			sameState(t, fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i), skip)
		}
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			t.Errorf("%s: nil %v len %d, want nil %v len %d", path, b.IsNil(), b.Len(), a.IsNil(), a.Len())
			return
		}
		it := a.MapRange()
		for it.Next() {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() {
				t.Errorf("%s: key %v missing", path, it.Key())
				continue
			}
			av := reflect.New(it.Value().Type()).Elem()
			av.Set(it.Value())
			bc := reflect.New(bv.Type()).Elem()
			bc.Set(bv)
			sameState(t, fmt.Sprintf("%s[%v]", path, it.Key()), av, bc, skip)
		}
	case reflect.Interface:
		t.Errorf("%s: interface not compared", path)
	case reflect.Float64:
		if a.Float() != b.Float() && !(math.IsNaN(a.Float()) && math.IsNaN(b.Float())) {
			t.Errorf("%s: %v, want %v", path, b.Float(), a.Float())
		}
	case reflect.String:
		if a.String() != b.String() {
			t.Errorf("%s: %q, want %q", path, b.String(), a.String())
		}
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			t.Errorf("%s: %v, want %v", path, b.Bool(), a.Bool())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			t.Errorf("%s: %d, want %d", path, b.Int(), a.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if a.Uint() != b.Uint() {
			t.Errorf("%s: %d, want %d", path, b.Uint(), a.Uint())
		}
	default:
		t.Errorf("%s: kind %s not compared", path, a.Kind())
	}
}

// A group whose every field, and every field of its incidents, holds a
// distinct non-zero value decodes to the same values and encodes to the
// same bytes.
func TestDurableCodecEveryFieldRoundTrips(t *testing.T) {
	set := compileRules(t, scenarioRules)
	e := New(Options{Shards: 2}, set, nil, prometheus.NewRegistry(), zerolog.Nop())
	s := e.shards[1]
	rebuilt := map[string]bool{"rule": true, "set": true, "matrix": true, "g": true, "service": true, "cal": true,
		"signals": true, "parents": true, "pendingProblem": true, "shard": true, "Raw": true, "idx": true}
	f := &filler{}
	g := &group{}
	f.fill(reflect.ValueOf(g).Elem(), map[string]bool{"rule": true, "set": true, "open": true, "lastResolved": true, "closing": true})
	g.rule, g.set = set.Rule("site"), set
	for i := range g.waitingChildren {
		g.waitingChildren[i].shard = i % 2
	}
	mkInc := func(st Status) *incState {
		inc := &incState{}
		f.fill(reflect.ValueOf(inc).Elem(), rebuilt)
		inc.status, inc.rule, inc.matrix, inc.g, inc.shard = st, g.rule, &set.Matrix, g, s.idx
		inc.service = set.Service("pos")
		inc.cal = inc.service.Calendar
		inc.level = 0
		inc.signals = map[uint64]*sigState{}
		for _, sg := range inc.order {
			inc.signals[sg.fp] = sg
		}
		inc.parents = []parentTarget{{rule: set.Rule("site"), hash: uint64(f.next())}, {rule: set.Rule("pos"), hash: uint64(f.next())}}
		pc := &Change{}
		f.fill(reflect.ValueOf(pc).Elem(), map[string]bool{"Incident": true})
		pc.Incident.ID, pc.Incident.GroupLabels = inc.id, ingest.Labels{{Name: "a", Value: "b"}}
		inc.pendingProblem = pc
		return inc
	}
	g.open = []*incState{mkInc(StatusOpen), mkInc(StatusOpen)}
	g.lastResolved = mkInc(StatusResolved)
	closing := []*incState{mkInc(StatusResolved)}
	g.closing = closing
	data, err := encodeGroup(g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.decodeGroup(data, set)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "group", reflect.ValueOf(g).Elem(), reflect.ValueOf(got).Elem(), rebuilt)
	if cs := got.closing; len(cs) != 1 {
		t.Fatalf("decoded %d closing incidents, want 1", len(cs))
	} else {
		sameState(t, "closing", reflect.ValueOf(closing[0]).Elem(), reflect.ValueOf(cs[0]).Elem(), rebuilt)
	}
	if got.rule != g.rule || got.set != set {
		t.Errorf("group rule or set not rebuilt")
	}
	for i, inc := range append(append([]*incState(nil), got.open...), got.lastResolved) {
		if inc.rule != g.rule || inc.matrix != &set.Matrix || inc.g != got || inc.shard != s.idx ||
			inc.service != set.Service("pos") || inc.cal != set.Service("pos").Calendar {
			t.Errorf("incident %d: pointers not rebuilt", i)
		}
		if len(inc.signals) != len(inc.order) {
			t.Errorf("incident %d: %d signals in the map, %d in order", i, len(inc.signals), len(inc.order))
		}
		for _, sg := range inc.order {
			if inc.signals[sg.fp] != sg {
				t.Errorf("incident %d: map and order disagree on %x", i, sg.fp)
			}
		}
		if len(inc.parents) != 2 || inc.parents[0].rule != set.Rule("site") || inc.parents[1].rule != set.Rule("pos") {
			t.Errorf("incident %d: parents %+v", i, inc.parents)
		}
		var want Change
		if err := json.Unmarshal([]byte(mustJSON(t, g.open[0].pendingProblem)), &want); err != nil {
			t.Fatal(err)
		}
		if mustJSON(t, inc.pendingProblem) == "" || inc.pendingProblem.Problem == nil {
			t.Errorf("incident %d: pending problem lost", i)
		}
	}
	for i, inc := range g.open {
		if a, b := mustJSON(t, inc.pendingProblem), mustJSON(t, got.open[i].pendingProblem); a != b {
			t.Errorf("pending problem: got %s, want %s", b, a)
		}
	}
	again, err := encodeGroup(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Errorf("re-encoded record differs:\n got %s\nwant %s", again, data)
	}
	// Installing registers every incident and arms their hints.
	s.install(got, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, inc := range append(append(append([]*incState(nil), got.open...), got.lastResolved), got.closing...) {
		if s.byID[inc.id] != inc {
			t.Errorf("incident %s not registered", inc.id)
		}
	}
	if s.groups[got.hash] != got || len(s.timers) == 0 {
		t.Errorf("group not registered or no hints armed (%d)", len(s.timers))
	}
	// Nil and empty stay apart.
	g2 := &group{hash: 1, rule: set.Rule("disk"), set: set, labels: ingest.Labels{}, pending: &pendingWindow{sigs: []pendingSig{}},
		open: []*incState{}, waitingChildren: nil, breadth: map[string]map[string]struct{}{}}
	d2, err := encodeGroup(g2)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := s.decodeGroup(d2, set)
	if err != nil {
		t.Fatal(err)
	}
	if got2.labels == nil || got2.pending == nil || got2.pending.sigs == nil || got2.open == nil || got2.breadth != nil {
		// disk is no rollup: its breadth is dropped.
		t.Errorf("nil and empty mixed up: %+v", got2)
	}
	if again, _ := encodeGroup(got2); string(again) != strings.Replace(string(d2), `,"b":{}`, "", 1) {
		t.Errorf("re-encoded %s, want %s", again, d2)
	}
}

// The recurrence memory round-trips.
func TestDurableRecurrenceRoundTrips(t *testing.T) {
	at := time.Date(2000, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, r := range []*recurrence{{}, {opens: []opening{}}, {opens: []opening{{at: at, id: "inc-1"}, {at: at.Add(time.Hour), id: "inc-2"}}}} {
		b, err := encodeRecurrence(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecurrence(b)
		if err != nil {
			t.Fatal(err)
		}
		if (got.opens == nil) != (r.opens == nil) || len(got.opens) != len(r.opens) {
			t.Fatalf("got %+v, want %+v", got, r)
		}
		for i := range r.opens {
			if !got.opens[i].at.Equal(r.opens[i].at) || got.opens[i].id != r.opens[i].id {
				t.Errorf("opening %d: got %+v, want %+v", i, got.opens[i], r.opens[i])
			}
		}
		if again, _ := encodeRecurrence(got); !bytes.Equal(again, b) {
			t.Errorf("re-encoded %s, want %s", again, b)
		}
	}
}

// The cost of writing a large group: one incident with 1000 signals and a
// timeline of 100 entries.
func BenchmarkDurableEncodeGroup(b *testing.B) {
	set, err := rules.Compile(nil, rules.DefaultMatrix())
	if err != nil {
		b.Fatal(err)
	}
	g := &group{hash: 1, rule: set.Default, set: set, labels: ingest.Labels{{Name: "store", Value: "0412"}}, key: `{store="0412"}`}
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	inc := &incState{id: "inc-1", rule: g.rule, matrix: &set.Matrix, g: g, status: StatusOpen, openedAt: now,
		signals: map[uint64]*sigState{}, breadth: map[string]map[string]struct{}{}}
	for i := 0; i < 1000; i++ {
		ls := ingest.LabelsFromMap(map[string]string{"alertname": "RegisterDown", "store": "0412", "register": fmt.Sprint(i)})
		sg := &sigState{fp: ingest.FingerprintOf(ls), kind: "alertmanager", source: "am", labels: ls,
			annotations: ingest.Labels{{Name: "summary", Value: "Register down"}}, startsAt: now, lastSeen: now, count: 3}
		inc.signals[sg.fp], inc.order = sg, append(inc.order, sg)
	}
	for i := 0; i < 100; i++ {
		inc.timeline = append(inc.timeline, TimelineEntry{At: now, Type: ChangeUpdated, Priority: 3, Signals: i, Firing: i})
	}
	g.open = []*incState{inc}
	e := New(Options{Shards: 1}, set, nil, prometheus.NewRegistry(), zerolog.Nop())
	var size int
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			data, err := encodeGroup(g)
			if err != nil {
				b.Fatal(err)
			}
			size = len(data)
		}
		b.ReportMetric(float64(size), "bytes/record")
	})
	data, _ := encodeGroup(g)
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.shards[0].decodeGroup(data, set); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A resolved incident restored and then reopened keeps the hints its
// clocks had while open: the SLA warning and breach and the maintenance
// boundary still come when due.
func TestDurableReopenedAfterRestoreKeepsItsClocks(t *testing.T) {
	set := compileRules(t, scenarioRules+`
maintenance:
  - {name: swap, match: ['store="1"'], start: "2000-01-01T00:40:00Z", end: "2000-01-01T01:00:00Z"}
`)
	synctest.Test(t, func(t *testing.T) {
		a := startDurable(t, 2, set, nil)
		a.submit(t, scPOS1)
		synctest.Wait()
		<-time.After(time.Minute)
		a.submit(t, resolved(scPOS1))
		synctest.Wait()
		<-time.After(time.Minute)
		img := takeImage(t, a.e, a.st)
		from := len(a.rec.all())
		b := startDurable(t, 2, set, img)
		sameIncidents(t, "restored", a.e, b.e)
		<-time.After(time.Minute)
		a.submit(t, scPOS1)
		b.submit(t, scPOS1)
		synctest.Wait()
		<-time.After(2 * time.Hour)
		synctest.Wait()
		sameIncidents(t, "2h later", a.e, b.e)
		a.stop()
		b.stop()
		sameChanges(t, "after the restore", a.rec.all()[from:], b.rec.all())
		if got := types(b.rec.all()); !strings.Contains(got, "sla_breached") || !strings.Contains(got, "escalated") {
			t.Errorf("restored engine published %s, want the breach and escalation after the reopening", got)
		}
		// The maintenance window at 00:40-01:00 paused the clocks 20m.
		inc := b.e.Incidents(Filter{})[0]
		if inc.SLA == nil || !inc.SLA.ResolutionDue.Equal(time.Date(2000, 1, 1, 2, 20, 0, 0, time.UTC)) {
			t.Errorf("resolution due %+v, want 02:20 (paused 20m in maintenance)", inc.SLA)
		}
	})
}

// Minimal records (only what names the group and its incidents) install
// and run without panics as events and time reach them.
func TestDurableMinimalRecordsRun(t *testing.T) {
	set := compileRules(t, scenarioRules)
	synctest.Test(t, func(t *testing.T) {
		e := New(Options{Shards: 1}, set, &recorder{}, prometheus.NewRegistry(), zerolog.Nop())
		s := e.shards[0]
		disk := e.ownRoute(set, &scDB1).hash
		site := groupHashOf(set.Rule("site"), []string{"site"}, func(string) string { return "s9" })
		now := time.Now()
		for _, rec := range []string{
			fmt.Sprintf(`{"v":1,"h":%d,"r":"disk","k":"db1","o":[{"id":"inc-a","st":"open","oa":%d}]}`, disk, now.UnixNano()),
			fmt.Sprintf(`{"v":1,"h":%d,"r":"site","k":"s9","o":[{"id":"inc-b","st":"open","ip":true,"oa":%d}],"w":[{"i":"inc-c","sh":7}]}`, site, now.UnixNano()),
		} {
			g, err := s.decodeGroup([]byte(rec), set)
			if err != nil {
				t.Fatalf("%s: %v", rec, err)
			}
			s.install(g, now)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		synctest.Wait()
		if err := e.Submit(context.Background(), []ingest.Event{scDB1, scHost("s9", "h9"), scHost("s9", "h8")}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := e.Submit(context.Background(), []ingest.Event{resolved(scDB1), resolved(scHost("s9", "h9"))}); err != nil {
			t.Fatal(err)
		}
		<-time.After(50 * time.Hour)
		synctest.Wait()
		cancel()
		<-done
	})
}
