package correlator

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// Every golden case, through the store as the daemon writes it (groups,
// signals and timeline entries as their own records, group commits): an
// engine started from a copy of the store file taken before each line
// holds the same incidents, and from there on emits the same changes as
// the engine that kept running.
//
// Repeats inside the dedup window are written lazily (with the group's
// next write, or at stop); they are written before each copy here so that
// event counts compare exactly.
func TestDurableGoldenStoreRestore(t *testing.T) {
	every := 1
	if raceEnabled {
		every = 8 // the race detector slows this about tenfold
	}
	eachGoldenRestore(t, every,
		func(t *testing.T, set *rules.Set) goldenRun {
			a := openDurable(t, t.TempDir(), set, 3)
			synctest.Wait()
			return goldenRun{e: a.e, rec: a.rec, stop: func() { a.stop(t) }, store: a}
		},
		func(t *testing.T, set *rules.Set, a goldenRun, line int) goldenRun {
			for _, s := range a.e.shards {
				if req := s.persistTouched(); req != nil {
					<-req.sync
				}
			}
			synctest.Wait()
			b := openDurable(t, a.store.crash(t), set, 3)
			synctest.Wait()
			sameIncidents(t, fmt.Sprintf("restored from the store before line %d", line), a.e, b.e)
			return goldenRun{e: b.e, rec: b.rec, stop: func() { b.stop(t) }}
		})
}

// A crash between a child's commit and its rollup parent's (they may be
// on different shards) loses the parent's notice of the child; the start
// re-sends every restored child's state to its parents, so the parent
// counts it again.
func TestRestoreResyncsRollupParents(t *testing.T) {
	set := compileRules(t, `
rules:
  - name: host
    match: ['alertname="HostDown"']
    group_by: [host]
  - name: site
    rollup: {rule: host, group_by: [site], min_children: 2, within: 10m}
    breadth: [host]
`)
	host := func(h string) ingest.Event {
		return event(map[string]string{"alertname": "HostDown", "host": h, "site": "s1"}, ingest.StatusFiring)
	}
	synctest.Test(t, func(t *testing.T) {
		a := openDurable(t, t.TempDir(), set, 3)
		defer a.stop(t)
		ctx := context.Background()
		if err := a.e.SubmitStored(ctx, []ingest.Event{host("h1"), host("h2")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		before := a.crash(t) // the parent counts h1 and h2
		if err := a.e.SubmitStored(ctx, []ingest.Event{host("h3")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		parent := a.e.Incidents(Filter{Rule: "site"})
		if len(parent) != 1 || parent[0].Breadth["host"] != 3 {
			t.Fatalf("parents %+v, want one counting 3 hosts", parent)
		}
		after := a.crash(t)

		// The crash: h3 committed, the parent's step that took it not.
		// Put the parent's group record and breadth as they were before.
		old, err := store.Open(before)
		if err != nil {
			t.Fatal(err)
		}
		var ops []store.Op
		_ = old.Load(bucketGroups, func(k string, v []byte) error {
			var rec groupRec
			if json.Unmarshal(v, &rec) == nil && rec.Rule == "site" {
				ops = append(ops, store.Op{Bucket: bucketGroups, Key: k, Value: append([]byte(nil), v...)})
			}
			return nil
		})
		old.Close()
		ops = append(ops, store.Op{Bucket: bucketBreadth, Key: breadthKey(parent[0].ID, "host", "h3")})
		if len(ops) != 2 {
			t.Fatalf("parent group record not found")
		}
		st, err := store.Open(after)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Commit(ops); err != nil {
			t.Fatal(err)
		}
		st.Close()

		b := openDurable(t, after, set, 3)
		defer b.stop(t)
		time.Sleep(time.Second)
		synctest.Wait()
		got, ok := b.e.Incident(parent[0].ID)
		if !ok || len(got.Children) != 3 || got.Breadth["host"] != 3 {
			t.Fatalf("restored parent: found %v, children %v, breadth %v; want the 3 hosts again", ok, got.Children, got.Breadth)
		}
		// The notices are idempotent: the other children are counted once.
		if got.FiringCount != 3 {
			t.Errorf("restored parent counts %d open children, want 3", got.FiringCount)
		}
	})
}
