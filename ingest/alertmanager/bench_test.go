package alertmanager

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

type discardSubmitter struct{}

func (discardSubmitter) Submit(context.Context, []ingest.Event) error { return nil }

// discardWriter is a ResponseWriter that keeps only the status code.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkReceiver100Alerts serves a webhook message of 100 alerts as
// Alertmanager 0.25 sent it, from the handler's entry to its answer.
func BenchmarkReceiver100Alerts(b *testing.B) {
	body := []byte(readTestdata(b, "firing100.json"))
	reg := prometheus.NewRegistry()
	r, err := New("bench", Config{}, discardSubmitter{}, ingest.NewMetrics(reg), reg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	const alerts = 100
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rd := bytes.NewReader(body)
		req := httptest.NewRequest(http.MethodPost, r.Path(), nil)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(body))
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			rd.Reset(body)
			req.Body = io.NopCloser(rd)
			w.code = 0
			r.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Fatalf("code = %d, want 200", w.code)
			}
		}
	})
	b.ReportMetric(float64(b.N)*alerts/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkDecode100Alerts measures the decoding alone, on one goroutine.
func BenchmarkDecode100Alerts(b *testing.B) {
	body := []byte(readTestdata(b, "firing100.json"))
	var d decoder
	arrival := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.decode(body, "bench", arrival); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkDecodeReference100Alerts is the same decoding done by
// encoding/json (decode_test.go), for comparison.
func BenchmarkDecodeReference100Alerts(b *testing.B) {
	body := []byte(readTestdata(b, "firing100.json"))
	arrival := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := refDecode(body, "bench", arrival); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "alerts/s")
}
