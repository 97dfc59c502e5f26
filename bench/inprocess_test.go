package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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
	"github.com/corrd/corrd/ingest/alertmanager"
	"github.com/corrd/corrd/rules"
)

// The load of webhook.sh's defaults: see lib.lua.
const (
	alertsPerRequest = 100
	stores           = 500
	devices          = 50000
)

// discardPublisher counts the engine's changes and drops them, as the
// jsonl sink to /dev/null of webhook.sh does, minus the encoding.
type discardPublisher struct{ n atomic.Int64 }

func (p *discardPublisher) Publish(correlator.Change) { p.n.Add(1) }

// stack is the receiver and the engine wired as cmd/corrd wires them.
type stack struct {
	engine *correlator.Engine
	recv   *alertmanager.Receiver
	pub    *discardPublisher
	stop   func()
}

func newStack(tb testing.TB) *stack { return newStackIn(tb, "") }

// newStackIn is newStack with the state store in dir ("" for none).
func newStackIn(tb testing.TB, dir string) *stack {
	tb.Helper()
	set, err := rules.Load([]string{"rules.yml"}, rules.DefaultMatrix())
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	pub := &discardPublisher{}
	e := correlator.New(correlator.Options{}, set, pub, reg, zerolog.Nop())
	var st *store.Store
	if dir != "" {
		if st, err = store.Open(dir); err != nil {
			tb.Fatal(err)
		}
		if err := e.Restore(st); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	r, err := alertmanager.New("alertmanager", alertmanager.Config{}, e, ingest.NewMetrics(reg), reg, zerolog.Nop())
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	// Wait until the engine takes events: submit one bench alert.
	probe := []ingest.Event{{Kind: "alertmanager", Source: "alertmanager", Status: ingest.StatusFiring,
		Labels: ingest.Labels{{Name: "alertname", Value: "BenchDown"}, {Name: "chain", Value: "bench"},
			{Name: "device", Value: "0"}, {Name: "store", Value: "0"}}}}
	probe[0].Fingerprint = ingest.FingerprintOf(probe[0].Labels)
	for {
		err := e.Submit(context.Background(), probe)
		if err == nil {
			break
		}
		if !errors.Is(err, correlator.ErrNotRunning) {
			cancel()
			tb.Fatal(err)
		}
		runtime.Gosched()
	}
	return &stack{engine: e, recv: r, pub: pub, stop: func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			tb.Error(err)
		}
		if st != nil {
			if err := st.Close(); err != nil {
				tb.Error(err)
			}
		}
	}}
}

// drain waits until the engine has correlated everything queued.
func (s *stack) drain() {
	for s.engine.QueueDepth() > 0 {
		time.Sleep(time.Millisecond)
	}
}

// bodies builds the webhook messages of corrd.lua: alertJSON[d] is the
// alert of device d; message(r, buf) appends request r's message to buf.
type bodies struct{ alertJSON, resolved [][]byte }

func newBodies() *bodies {
	startsAt := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	b := &bodies{alertJSON: make([][]byte, devices)}
	for d := range devices {
		dev, store := strconv.Itoa(d), strconv.Itoa(d%stores)
		fp := ingest.FingerprintOf(ingest.Labels{{Name: "alertname", Value: "BenchDown"},
			{Name: "chain", Value: "bench"}, {Name: "device", Value: dev}, {Name: "store", Value: store}})
		b.alertJSON[d] = fmt.Appendf(nil, `{"status":"firing","labels":{"alertname":"BenchDown","chain":"bench","device":"%s","store":"%s"},`+
			`"annotations":{"summary":"Bench device %s of store %s is down"},"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z",`+
			`"generatorURL":"http://prometheus.bench:9090/graph?g0.expr=up%%3D%%3D0","fingerprint":"%016x"}`,
			dev, store, dev, store, startsAt, fp)
	}
	return b
}

const messageHead = `{"version":"4","groupKey":"{}:{chain=\"bench\"}","truncatedAlerts":0,` +
	`"status":"firing","receiver":"corrd","groupLabels":{"chain":"bench"},` +
	`"commonLabels":{"alertname":"BenchDown","chain":"bench"},"commonAnnotations":{},` +
	`"externalURL":"http://alertmanager.bench:9093","alerts":[`

func (b *bodies) message(r int64, buf []byte) []byte {
	buf = append(buf[:0], messageHead...)
	base := r * alertsPerRequest
	for i := range int64(alertsPerRequest) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, b.alertJSON[(base+i)%devices]...)
	}
	return append(buf, "]}"...)
}

// discardWriter is a ResponseWriter that keeps only the status code.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkWebhookInProcess serves webhook.sh's messages (100 alerts, the
// labels of lib.lua) to the receiver's ServeHTTP and correlates them, with
// no HTTP transport and no load generator: what corrd's own code costs per
// alert. A 503 (backpressure) is retried and counted.
func BenchmarkWebhookInProcess(b *testing.B) {
	s := newStack(b)
	defer s.stop()
	msgs := newBodies()
	// Warm up: every device once, so the run measures the steady state
	// of webhook.sh (re-sent alerts, deduplicated).
	var warm []byte
	for r := range int64(devices / alertsPerRequest) {
		warm = msgs.message(r, warm)
		serve(b, s.recv, warm, nil)
	}
	s.drain()

	var next, busy atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var buf []byte
		for pb.Next() {
			buf = msgs.message(next.Add(1)-1, buf)
			serve(b, s.recv, buf, &busy)
		}
	})
	s.drain()
	b.StopTimer()
	b.ReportMetric(float64(b.N)*alertsPerRequest/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64(busy.Load())/float64(b.N), "503/op")
}

// serve posts one message until it is accepted.
func serve(tb testing.TB, h http.Handler, body []byte, busy *atomic.Int64) {
	rd := bytes.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, alertmanager.DefaultPath, nil)
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: make(http.Header)}
	for {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		req.ContentLength = int64(len(body))
		w.code = 0
		h.ServeHTTP(w, req)
		switch w.code {
		case http.StatusOK:
			return
		case http.StatusServiceUnavailable:
			if busy != nil {
				busy.Add(1)
			}
			runtime.Gosched()
		default:
			tb.Fatalf("code = %d, want 200", w.code)
		}
	}
}

// TestLoopbackWrk serves the receiver over HTTP on loopback, as cmd/corrd
// does, and drives it with wrk and corrd.lua for $CORRD_BENCH_WRK (a
// duration): with -cpuprofile, the server side's profile with the HTTP
// transport included. wrk runs outside the profile, on the same cores.
func TestLoopbackWrk(t *testing.T) {
	dur := os.Getenv("CORRD_BENCH_WRK")
	if dur == "" {
		t.Skip("set CORRD_BENCH_WRK to a duration (10s) to run")
	}
	conns := os.Getenv("CONNS")
	if conns == "" {
		conns = "16"
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed")
	}
	s := newStack(t)
	defer s.stop()
	mux := http.NewServeMux()
	mux.Handle(s.recv.Path(), s.recv)
	srv := &http.Server{Handler: mux, ReadTimeout: 30 * time.Second, ReadHeaderTimeout: 30 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	url := "http://" + ln.Addr().String() + s.recv.Path()
	cmd := exec.Command("wrk", "-t1", "-c"+conns, "-d"+dur, "--timeout", "10s", "-s", "corrd.lua", url,
		"--", strconv.Itoa(alertsPerRequest), strconv.Itoa(stores), strconv.Itoa(devices))
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatal(err)
	}
	s.drain()
	t.Logf("incidents: %d, changes published: %d", len(s.engine.Incidents(correlator.Filter{})), s.pub.n.Load())
}
