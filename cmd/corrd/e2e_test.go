package main

// End-to-end tests: the real corrd binary driven by the real clients users
// run. They need Debian's prometheus-alertmanager; .ci/run installs it and
// sets CORRD_E2E=require so that a missing peer fails instead of skipping.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// needPeer skips (or, under CORRD_E2E=require, fails) when a peer program
// is missing. CORRD_E2E=off makes every peer count as missing, as on a
// machine with Go alone (.ci/run proves the suite passes that way).
func needPeer(t *testing.T, prog string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	p, err := exec.LookPath(prog)
	if os.Getenv("CORRD_E2E") == "off" {
		err = errors.New("CORRD_E2E=off")
	}
	if err != nil {
		if os.Getenv("CORRD_E2E") == "require" {
			t.Fatalf("%s is required (CORRD_E2E=require) but not installed: %v", prog, err)
		}
		t.Skipf("%s not installed (apt-get install the package; .ci/run does)", prog)
	}
	return p
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// corrdBinary builds the daemon once per test run.
func corrdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "corrd-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "corrd")
		out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// freePort returns a loopback address that was free a moment ago, for peers
// that cannot report the port they bound.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// process is a started peer or daemon, stopped at test cleanup.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	output bytes.Buffer
	lines  chan string
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.Write(b)
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), lines: make(chan string, 1024)}
	pr, pw := io.Pipe()
	p.cmd.Stdout = p
	p.cmd.Stderr = io.MultiWriter(p, pw)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		pw.Close()
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(name), p.log())
		}
	})
	return p
}

// eventually polls cond until it holds or the deadline passes. It waits on
// real external processes, so it needs wall-clock time.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// startCorrd runs the binary on cfg and returns its HTTP base URL, read from
// its "corrd started" log line.
func startCorrd(t *testing.T, cfg string) (string, *process) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "corrd.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, corrdBinary(t), "--config.file="+path, "--web.listen-address=127.0.0.1:0",
		"--log.format=json", "--storage.path="+filepath.Join(dir, "data"))
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line := <-p.lines:
			var rec struct {
				Msg     string `json:"message"`
				Address string `json:"address"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "corrd started" && rec.Address != "" {
				return "http://" + rec.Address, p
			}
		case <-timeout:
			t.Fatalf("corrd did not start:\n%s", p.log())
		}
	}
}

// sinkRecorder is the ticketing side: it records what corrd's webhook sink
// delivers.
type sinkRecorder struct {
	mu      sync.Mutex
	changes []map[string]any
	keys    []string
}

func (s *sinkRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c map[string]any
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.changes = append(s.changes, c)
	s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *sinkRecorder) types(incidentID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.changes {
		inc, _ := c["incident"].(map[string]any)
		if inc["id"] == incidentID {
			out = append(out, c["type"].(string))
		}
	}
	return out
}

type incidentList struct {
	Incidents []struct {
		ID          string `json:"id"`
		Rule        string `json:"rule"`
		Status      string `json:"status"`
		SignalCount int    `json:"signal_count"`
		FiringCount int    `json:"firing_count"`
		Title       string `json:"title"`
		Priority    int    `json:"priority"`
	} `json:"incidents"`
}

func getIncidents(t *testing.T, base string) incidentList {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/incidents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l incidentList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

// postAlerts sends alerts to Alertmanager's own API, as Prometheus does.
func postAlerts(t *testing.T, amURL string, alerts []map[string]any) {
	t.Helper()
	body, _ := json.Marshal(alerts)
	resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("alertmanager answered %s: %s", resp.Status, b)
	}
}

// startAlertmanager runs Debian's Alertmanager with a webhook receiver that
// points at corrd (group_wait 1s, group_interval 1s, send_resolved) and
// returns its URL once it is ready.
func startAlertmanager(t *testing.T, corrdBase string) string {
	t.Helper()
	amBin := needPeer(t, "prometheus-alertmanager")
	amAddr := freePort(t)
	amDir := t.TempDir()
	amCfg := filepath.Join(amDir, "am.yml")
	if err := os.WriteFile(amCfg, []byte(fmt.Sprintf(`
route:
  receiver: corrd
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: corrd
    webhook_configs:
      - url: %s/api/v1/ingest/alertmanager
        send_resolved: true
`, corrdBase)), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, amBin, "--config.file="+amCfg, "--web.listen-address="+amAddr,
		"--cluster.listen-address=", "--storage.path="+filepath.Join(amDir, "data"))
	amURL := "http://" + amAddr
	eventually(t, 20*time.Second, "alertmanager to be ready", func() bool {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return amURL
}

func TestAlertmanagerEndToEnd(t *testing.T) {
	needPeer(t, "prometheus-alertmanager")
	sink := &sinkRecorder{}
	ticketing := httptest.NewServer(sink)
	defer ticketing.Close()
	rulesPath, _ := filepath.Abs("../../examples/retail/rules.yml")
	base, corrd := startCorrd(t, fmt.Sprintf(`
rule_files: [%q]
outputs:
  sinks:
    - name: tickets
      type: webhook
      webhook: {url: %q, timeout: 5s}
`, rulesPath, ticketing.URL))

	amURL := startAlertmanager(t, base)

	// Twelve registers of store 0412 failed in the same second, a few
	// seconds ago (so that the resolve below can carry an endsAt in the past
	// and after startsAt).
	now := time.Now().UTC().Add(-5 * time.Second)
	alerts := func(endsAt time.Time) []map[string]any {
		var out []map[string]any
		for r := 1; r <= 12; r++ {
			a := map[string]any{
				"labels": map[string]string{"alertname": "RegisterDown", "chain": "ica", "store": "0412",
					"register": fmt.Sprint(r), "severity": "critical"},
				"annotations": map[string]string{"summary": "register offline"},
				"startsAt":    now.Add(time.Duration(r) * 10 * time.Millisecond).Format(time.RFC3339Nano),
			}
			if !endsAt.IsZero() {
				a["endsAt"] = endsAt.Format(time.RFC3339Nano)
			}
			out = append(out, a)
		}
		return out
	}
	postAlerts(t, amURL, alerts(time.Time{}))

	var id string
	eventually(t, 30*time.Second, "one incident with 12 signals", func() bool {
		l := getIncidents(t, base)
		if len(l.Incidents) == 1 && l.Incidents[0].SignalCount == 12 {
			id = l.Incidents[0].ID
			return true
		}
		return false
	})
	l := getIncidents(t, base)
	if inc := l.Incidents[0]; inc.Rule != "store-registers" || inc.Status != "open" {
		t.Fatalf("got %+v, want an open store-registers incident", inc)
	}

	// The registers come back: Alertmanager sends the resolved alerts.
	postAlerts(t, amURL, alerts(time.Now().UTC().Add(-100*time.Millisecond)))
	eventually(t, 30*time.Second, "the incident to resolve", func() bool {
		l := getIncidents(t, base)
		return len(l.Incidents) == 1 && l.Incidents[0].Status == "resolved"
	})
	eventually(t, 15*time.Second, "the resolved change at the sink", func() bool {
		ts := sink.types(id)
		return len(ts) > 0 && ts[len(ts)-1] == "resolved"
	})
	got := sink.types(id)
	if strings.Join(got, ",") != "opened,resolved" {
		t.Errorf("got sink changes %v for incident %s, want [opened resolved] (one per transition)", got, id)
	}
	sink.mu.Lock()
	for _, k := range sink.keys {
		if !strings.HasPrefix(k, id+"-") {
			t.Errorf("got Idempotency-Key %q, want %s-<revision>", k, id)
		}
	}
	sink.mu.Unlock()

	// corrd counted what it received.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Twelve firing and twelve resolved alerts at least: Alertmanager
	// sends a notification again when an answer was slow, and those are
	// folded in as duplicates.
	if n := metricValue(t, base, `corrd_ingest_events_received_total{kind="alertmanager",source="alertmanager"} `); n < 24 {
		t.Errorf("got %v events received, want at least 24", n)
	}
	for _, want := range []string{
		`corrd_correlator_incidents_opened_total{priority="2",rule="store-registers"} 1`,
		`corrd_correlator_incidents_resolved_total{priority="2",rule="store-registers"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	_ = corrd
}
