package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// churnMessage is message r of a load where every alert changes state:
// each pass over the devices flips them all between firing and resolved,
// so every event is a signal transition (incidents resolve and reopen) and
// every batch has groups to write.
func (b *bodies) churnMessage(r int64, buf []byte) []byte {
	perPass := int64(devices / alertsPerRequest)
	resolved := (r/perPass)%2 == 1
	buf = append(buf[:0], messageHead...)
	base := (r % perPass) * alertsPerRequest
	for i := range int64(alertsPerRequest) {
		if i > 0 {
			buf = append(buf, ',')
		}
		a := b.alertJSON[base+i]
		if resolved {
			a = b.resolvedJSON(base + i)
		}
		buf = append(buf, a...)
	}
	return append(buf, "]}"...)
}

func (b *bodies) resolvedJSON(d int64) []byte {
	if b.resolved == nil {
		panic("resolved bodies not built")
	}
	return b.resolved[d]
}

// withResolved builds the resolved form of every device's alert.
func (b *bodies) withResolved() *bodies {
	now := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	b.resolved = make([][]byte, len(b.alertJSON))
	for d, a := range b.alertJSON {
		r := []byte(string(a))
		r = replaceOnce(r, `"status":"firing"`, `"status":"resolved"`)
		r = replaceOnce(r, `"endsAt":"0001-01-01T00:00:00Z"`, `"endsAt":"`+now+`"`)
		b.resolved[d] = r
	}
	return b
}

func replaceOnce(b []byte, old, new string) []byte {
	s := string(b)
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return []byte(s[:i] + new + s[i+len(old):])
		}
	}
	panic("not found: " + old)
}

// BenchmarkWebhookDurable is the cost of durability: the receiver's
// ServeHTTP with the state store off (200 once the batch is queued) and on
// (200 once the batch's effect is committed to disk: group commits of
// incident state and outbox), for two loads:
//   - resend: webhook.sh's steady state, alerts re-sent unchanged
//     (deduplicated, counters written lazily);
//   - churn: every alert flips between firing and resolved, so every
//     event changes an incident.
//
// 16 senders in parallel, as webhook.sh's 16 connections. The store lives
// in the benchmark's temporary directory; run with TMPDIR on the disk the
// daemon would use.
func BenchmarkWebhookDurable(b *testing.B) {
	for _, load := range []string{"resend", "churn"} {
		for _, mode := range []string{"off", "on"} {
			b.Run(load+"/store="+mode, func(b *testing.B) {
				dir := ""
				if mode == "on" {
					dir = filepath.Join(b.TempDir(), "data")
				}
				s := newStackIn(b, dir)
				defer s.stop()
				msgs := newBodies().withResolved()
				var warm []byte
				for r := range int64(devices / alertsPerRequest) {
					warm = msgs.message(r, warm)
					serve(b, s.recv, warm, nil)
				}
				s.drain()
				var next, busy atomic.Int64
				msg := msgs.message
				if load == "churn" {
					// Start with the resolving pass: the warm-up fired all.
					next.Store(int64(devices / alertsPerRequest))
					msg = msgs.churnMessage
				}
				b.SetParallelism(16 / max(1, runtimeProcs()))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					var buf []byte
					for pb.Next() {
						buf = msg(next.Add(1)-1, buf)
						serve(b, s.recv, buf, &busy)
					}
				})
				s.drain()
				b.StopTimer()
				b.ReportMetric(float64(b.N)*alertsPerRequest/b.Elapsed().Seconds(), "alerts/s")
				b.ReportMetric(float64(busy.Load())/float64(b.N), "503/op")
			})
		}
	}
}

// restartIncidents is the open incidents of the restart benchmark; set
// CORRD_BENCH_RESTART_INCIDENTS to change it.
func restartIncidents() int {
	if n, err := strconv.Atoi(os.Getenv("CORRD_BENCH_RESTART_INCIDENTS")); err == nil && n > 0 {
		return n
	}
	return 100000
}

// donePublisher reports every change delivered, as a sink keeping up does.
type donePublisher struct {
	e         *correlator.Engine
	delivered bool
}

func (p *donePublisher) Publish(c correlator.Change) {
	if p.delivered {
		p.e.Done(c.Seq, "bench", true)
	}
}

// BenchmarkRestart measures a start over a store holding 100,000 open
// incidents (one signal each): open the store, load and re-arm every
// incident, load the outbox. The store is built once, outside the timer.
// delivered: the sinks had taken every change (an empty outbox);
// undelivered: none had (100,000 changes to resume as well).
func BenchmarkRestart(b *testing.B) {
	for _, outbox := range []string{"delivered", "undelivered"} {
		b.Run(outbox, func(b *testing.B) { benchRestart(b, outbox == "delivered") })
	}
}

func benchRestart(b *testing.B, delivered bool) {
	n := restartIncidents()
	set := restartRules(b)
	dir := filepath.Join(b.TempDir(), "data")
	{
		st, err := store.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		pub := &donePublisher{delivered: delivered}
		e := correlator.New(correlator.Options{}, set, pub, prometheus.NewRegistry(), zerolog.Nop())
		pub.e = e
		if err := e.Restore(st); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		batch := make([]ingest.Event, 0, 1000)
		for i := range n {
			ls := ingest.Labels{{Name: "alertname", Value: "HostDown"}, {Name: "instance", Value: "host-" + strconv.Itoa(i)}}
			batch = append(batch, ingest.Event{Kind: "alertmanager", Source: "alertmanager", Status: ingest.StatusFiring,
				Labels: ls, Fingerprint: ingest.FingerprintOf(ls)})
			if len(batch) == cap(batch) || i == n-1 {
				for {
					err := e.SubmitStored(context.Background(), batch)
					if err == nil {
						break
					}
					if err != correlator.ErrNotRunning {
						b.Fatal(err)
					}
					time.Sleep(time.Millisecond)
				}
				batch = batch[:0]
			}
		}
		if got := len(e.Incidents(correlator.Filter{Status: correlator.StatusOpen})); got != n {
			b.Fatalf("%d open incidents, want %d", got, n)
		}
		cancel()
		<-done
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, store.FileName))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, err := store.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		e := correlator.New(correlator.Options{}, set, nil, prometheus.NewRegistry(), zerolog.Nop())
		if err := e.Restore(st); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := len(e.Incidents(correlator.Filter{Status: correlator.StatusOpen})); got != n {
			b.Fatalf("restored %d open incidents, want %d", got, n)
		}
		if got, want := len(e.PendingChanges()), map[bool]int{true: 0, false: n}[delivered]; got != want {
			b.Fatalf("%d changes pending, want %d", got, want)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "incidents")
	b.ReportMetric(float64(fi.Size())/(1<<20), "store-MiB")
}

func restartRules(tb testing.TB) *rules.Set {
	tb.Helper()
	f, err := rules.ParseFile("restart.yml", []byte(`
rules:
  - name: host-down
    match: ['alertname="HostDown"']
    group_by: [instance]
    group_wait: 0s
`))
	if err != nil {
		tb.Fatal(err)
	}
	set, err := rules.Compile([]rules.Named{{Name: "restart.yml", File: f}}, rules.DefaultMatrix())
	if err != nil {
		tb.Fatal(fmt.Errorf("restart rules: %w", err))
	}
	return set
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
