package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator/store"
)

const testAlert = `{"version":"4","status":"firing","receiver":"corrd","groupKey":"{}:{}",
"alerts":[{"status":"firing","labels":{"alertname":"RegisterDown","store":"s1","register":"r1"},
"annotations":{"summary":"register down"},"startsAt":"2025-01-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]}`

// TestDaemonLifecycle starts the daemon on an ephemeral loopback port,
// feeds it one alert, reloads it good and bad, and stops it: the change the
// alert caused must have been flushed to the jsonl sink by then.
func TestDaemonLifecycle(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "changes.jsonl")
	files := writeFiles(t, map[string]string{
		"corrd.yml": `
web: {listen_address: "127.0.0.1:0"}
rule_files: [rules/*.yml]
outputs:
  sinks:
    - name: file
      type: jsonl
      jsonl: {path: "` + out + `"}
`,
		"rules/store.yml": validRules,
	})
	storage := filepath.Join(dir, "data")
	d, err := newDaemon(daemonOptions{
		src:             source{file: filepath.Join(files, "corrd.yml")},
		storagePath:     storage,
		shutdownTimeout: 5 * time.Second,
		flushTimeout:    5 * time.Second,
	}, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(storage); err != nil || !fi.IsDir() {
		t.Errorf("storage path not created: %v", err)
	}
	base := "http://" + d.addr().String()
	if !strings.HasPrefix(d.addr().String(), "127.0.0.1:") {
		t.Errorf("listening on %s, want loopback", d.addr())
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hup := make(chan os.Signal)
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, hup) }()
	<-d.started

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, _ := get("/-/ready"); code != http.StatusOK {
		t.Errorf("ready: %d, want 200", code)
	}
	code, body := get("/metrics")
	for _, want := range []string{"corrd_config_last_reload_successful 1", "go_goroutines", "process_start_time_seconds"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics (%d) lack %q", code, want)
		}
	}
	if code, body := post("/api/v1/ingest/alertmanager", testAlert); code != http.StatusOK {
		t.Errorf("webhook: %d %s", code, body)
	}
	// A hot backup of the store is a store holding the incident the
	// alert opened (the webhook answered after its commit).
	code, body = get("/api/v1/store/backup")
	backup := t.TempDir()
	if err := os.WriteFile(filepath.Join(backup, store.FileName), []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	if bs, err := store.Open(backup); err != nil {
		t.Errorf("backup (%d, %d bytes) does not open: %v", code, len(body), err)
	} else {
		groups := 0
		_ = bs.Load("groups", func(string, []byte) error { groups++; return nil })
		bs.Close()
		if groups != 1 {
			t.Errorf("backup holds %d groups, want the alert's one", groups)
		}
	}
	_, body = get("/metrics")
	for _, want := range []string{"corrd_store_size_bytes", "corrd_store_recovery_seconds", "corrd_store_commit_duration_seconds_count",
		"corrd_store_commit_records_count", "corrd_store_commit_bytes_total", "corrd_outputs_queue_oldest_age_seconds"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, body := get("/api/v1/incidents?status=bogus"); code != http.StatusBadRequest {
		t.Errorf("bad status: %d %s", code, body)
	}

	// A failed reload keeps the running rules and flips the gauge.
	rulesFile := filepath.Join(files, "rules", "store.yml")
	if err := os.WriteFile(rulesFile, []byte(brokenRules), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := post("/-/reload", ""); code != http.StatusInternalServerError || !strings.Contains(body, `rules[1] "store-power"`) {
		t.Errorf("bad reload: %d %q", code, body)
	}
	if got := testutil.ToFloat64(d.reloader.successful); got != 0 {
		t.Errorf("successful after a bad reload: %v", got)
	}
	if err := os.WriteFile(rulesFile, []byte(validRules), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := post("/-/reload", ""); code != http.StatusOK {
		t.Errorf("good reload: %d %q", code, body)
	}
	if got := testutil.ToFloat64(d.reloader.successful); got != 1 {
		t.Errorf("successful after a good reload: %v", got)
	}

	// SIGHUP: break the rules again; the unbuffered send returns once the
	// reload loop has the signal, and run waits for that reload to end.
	if err := os.WriteFile(rulesFile, []byte(brokenRules), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := testutil.ToFloat64(d.reloader.successful); got != 0 {
		t.Errorf("successful after a bad SIGHUP reload: %v", got)
	}
	// The data directory holds the store and the dedup set saved on stop.
	for _, name := range []string{store.FileName, filepath.Join("dedup", "metadata.bin")} {
		if _, err := os.Stat(filepath.Join(storage, name)); err != nil {
			t.Errorf("data directory after shutdown: %v", err)
		}
	}
	if _, err := http.Get(base + "/-/healthy"); err == nil {
		t.Error("server still answering after shutdown")
	}
	// Every change reached the sink before the stop, and the sink's
	// reports were stored: nothing is left in the outbox.
	if st, err := store.Open(storage); err != nil {
		t.Errorf("reopen the store: %v", err)
	} else {
		left := 0
		_ = st.Load("outbox", func(string, []byte) error { left++; return nil })
		st.Close()
		if left != 0 {
			t.Errorf("%d changes left in the outbox after a clean stop", left)
		}
	}

	// The engine drained, then the outputs flushed.
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("no output: %v", err)
	}
	defer f.Close()
	var types []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		types = append(types, sc.Text())
	}
	if len(types) == 0 || !strings.Contains(types[0], "store-power") {
		t.Errorf("output %q, want the store-power incident's change", types)
	}
}

func TestNewDaemonListenError(t *testing.T) {
	dir := writeFiles(t, map[string]string{"corrd.yml": "rule_files: []\noutputs: {sinks: []}\n"})
	_, err := newDaemon(daemonOptions{
		src:           source{file: filepath.Join(dir, "corrd.yml")},
		listenAddress: "127.0.0.1:-1",
		flushTimeout:  time.Second,
	}, zerolog.Nop())
	if err == nil {
		t.Fatal("newDaemon succeeded on a bad listen address")
	}
}

// A file in the data directory that is not corrd's state store stops the
// start with a clear error and is left as it was.
func TestStartRefusesForeignStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)
	notes := []byte("not a database\n")
	if err := os.WriteFile(path, notes, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := cli(context.Background(), nil, []string{"--web.listen-address=127.0.0.1:0", "--storage.path=" + dir}, io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "will not overwrite it") {
		t.Errorf("got exit %d and %q, want a failure saying the file is left alone", code, stderr.String())
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, notes) {
		t.Error("the foreign file was changed")
	}
}
