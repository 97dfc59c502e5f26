package alertmanager

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// chanSubmitter refuses the first busy batches with ErrBackpressure, then
// sends each batch it accepts on c.
type chanSubmitter struct {
	mu      sync.Mutex
	busy    int
	refused int
	c       chan []ingest.Event
}

func (s *chanSubmitter) Submit(ctx context.Context, events []ingest.Event) error {
	s.mu.Lock()
	if s.busy > 0 {
		s.busy--
		s.refused++
		s.mu.Unlock()
		return ingest.ErrBackpressure
	}
	s.mu.Unlock()
	select {
	case s.c <- events:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRealAlertmanager drives the receiver with the Alertmanager binary
// (Debian's prometheus-alertmanager), as a bearer-authenticated webhook
// receiver, through a 503 it must retry.
func TestRealAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Alertmanager")
	}
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil || os.Getenv("CORRD_E2E") == "off" {
		if os.Getenv("CORRD_E2E") == "require" {
			t.Fatalf("prometheus-alertmanager is required (CORRD_E2E=require) but not installed: %v", err)
		}
		t.Skip("prometheus-alertmanager is not installed")
	}
	sub := &chanSubmitter{busy: 1, c: make(chan []ingest.Event, 16)}
	reg := prometheus.NewRegistry()
	m := ingest.NewMetrics(reg)
	r, err := New("am-e2e", Config{Auth: &AuthConfig{BearerToken: "e2e-token"}}, sub, m, reg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(r.Path(), r)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	conf := fmt.Sprintf(`route:
  receiver: corrd
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: corrd
    webhook_configs:
      - url: %s%s
        send_resolved: true
        http_config:
          authorization:
            credentials: e2e-token
`, srv.URL, r.Path())
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	amAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "am.yml"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--storage.path="+filepath.Join(dir, "data"))
	var amLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &amLog, &amLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", amLog.String())
		}
	}()

	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	post := func(endsAt string) {
		t.Helper()
		body := fmt.Sprintf(`[{"labels":{"alertname":"E2ELinkDown","store":"0412","severity":"critical"},
			"annotations":{"summary":"link down"},"startsAt":%q%s}]`, start.Format(time.RFC3339), endsAt)
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Post("http://"+amAddr+"/api/v2/alerts", "application/json", bytes.NewBufferString(body))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("post alerts to Alertmanager: status %s", resp.Status)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("post alerts to Alertmanager: %v", err)
			}
			select { // Alertmanager is still starting
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	receive := func() []ingest.Event {
		t.Helper()
		select {
		case evs := <-sub.c:
			return evs
		case <-time.After(20 * time.Second):
			t.Fatal("no webhook from Alertmanager within 20s")
			return nil
		}
	}

	post("")
	evs := receive()
	if len(evs) != 1 || evs[0].Status != ingest.StatusFiring || evs[0].Labels.Get("store") != "0412" ||
		!evs[0].EventTime.Equal(start) || evs[0].Severity != ingest.SeverityCritical {
		t.Fatalf("firing events = %+v, want one firing alert of store 0412 started at %v", evs, start)
	}
	if got, want := evs[0].Fingerprint, ingest.FingerprintOf(evs[0].Labels); got != want {
		t.Errorf("fingerprint = %016x, want FingerprintOf(labels) %016x", got, want)
	}
	sub.mu.Lock()
	refused := sub.refused
	sub.mu.Unlock()
	if refused != 1 {
		t.Errorf("%d batches refused with backpressure, want 1 (then retried by Alertmanager)", refused)
	}

	ended := time.Now().UTC().Add(-time.Second).Truncate(time.Second)
	post(fmt.Sprintf(`,"endsAt":%q`, ended.Format(time.RFC3339)))
	evs = receive()
	if len(evs) != 1 || evs[0].Status != ingest.StatusResolved || !evs[0].EventTime.Equal(ended) {
		t.Fatalf("resolved events = %+v, want one resolved alert ended at %v", evs, ended)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
