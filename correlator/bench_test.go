package correlator

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

type countingPublisher struct{ n atomic.Int64 }

func (c *countingPublisher) Publish(Change) { c.n.Add(1) }

func benchSet(b *testing.B) *rules.Set {
	set, err := rules.Load([]string{"../examples/retail/rules.yml", "../examples/datacenter/rules.yml"}, rules.DefaultMatrix())
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// mixedStream builds n events: a third duplicates of a recent signal, a
// third new signals into an open store incident, a third new incidents.
func mixedStream(n int) []ingest.Event {
	out := make([]ingest.Event, 0, n)
	for i := 0; len(out) < n; i++ {
		store := fmt.Sprintf("%05d", i/20)
		dev := event(map[string]string{"alertname": "ScannerDown", "chain": "ica", "firmware": fmt.Sprint(i % 7),
			"store": store, "device": fmt.Sprintf("%s-%d", store, i%20)}, 0)
		host := event(map[string]string{"alertname": "DiskFull", "instance": fmt.Sprintf("host-%d", i), "job": "node"}, 0)
		out = append(out, dev, dev, host) // new signal (into an open store after the first), duplicate, new incident
	}
	return out[:n]
}

func BenchmarkEngineMixed(b *testing.B) {
	for _, batchSize := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batchSize), func(b *testing.B) {
			set := benchSet(b)
			pub := &countingPublisher{}
			e := New(Options{QueueSize: 1 << 20}, set, pub, prometheus.NewRegistry(), zerolog.Nop())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = e.Run(ctx); close(done) }()
			for !e.isRunning() {
				runtime.Gosched()
			}
			evs := mixedStream(b.N)
			now := time.Now()
			for i := range evs {
				evs[i].ArrivalTime = now
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < len(evs); i += batchSize {
				end := min(i+batchSize, len(evs))
				for {
					err := e.Submit(context.Background(), evs[i:end])
					if errors.Is(err, ingest.ErrBackpressure) {
						runtime.Gosched()
						continue
					}
					if err != nil {
						b.Fatal(err)
					}
					break
				}
			}
			for e.QueueDepth() > 0 {
				runtime.Gosched()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			cancel()
			<-done
		})
	}
}

// BenchmarkRoute is the per-event work on the submitting goroutine: rule
// matching and the group hash.
func BenchmarkRoute(b *testing.B) {
	set := benchSet(b)
	e := New(Options{Shards: 2}, set, nil, nil, zerolog.Nop())
	ev := event(map[string]string{"alertname": "ScannerDown", "chain": "ica", "firmware": "1", "store": "00412", "device": "00412-3"}, 0)
	b.ReportAllocs()
	for b.Loop() {
		r := e.route(set, &ev)
		if r.rule == nil {
			b.Fatal("no rule")
		}
	}
}
