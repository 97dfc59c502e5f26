package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator/store"
)

// storeAlerts is a webhook body with one firing alert per store name.
func storeAlerts(stores ...string) string {
	var alerts []string
	for _, s := range stores {
		alerts = append(alerts, `{"status":"firing","labels":{"alertname":"RegisterDown","store":"`+s+`","register":"r1"},`+
			`"annotations":{"summary":"register down"},"startsAt":"2025-01-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z"}`)
	}
	return `{"version":"4","status":"firing","receiver":"corrd","groupKey":"{}:{}","alerts":[` + strings.Join(alerts, ",") + `]}`
}

// wedgeDaemon runs a daemon over storage with the correlator options
// given (YAML) and returns its base URL; it is stopped at cleanup.
func wedgeDaemon(t *testing.T, storage, correlatorYAML string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "changes.jsonl")
	files := writeFiles(t, map[string]string{
		"corrd.yml": "web: {listen_address: \"127.0.0.1:0\"}\nrule_files: [rules/*.yml]\n" +
			"outputs: {sinks: [{name: file, type: jsonl, jsonl: {path: \"" + out + "\"}}]}\n" + correlatorYAML,
		"rules/store.yml": validRules,
	})
	d, err := newDaemon(daemonOptions{
		src:             source{file: filepath.Join(files, "corrd.yml")},
		storagePath:     storage,
		shutdownTimeout: 5 * time.Second,
		flushTimeout:    5 * time.Second,
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, make(chan os.Signal)) }()
	<-d.started
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop within 30s")
		}
	})
	return "http://" + d.addr().String()
}

// call makes one request with a client timeout and returns the status,
// the Retry-After header and the body; a timeout is status 0.
func call(t *testing.T, c *http.Client, method, url, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// A client that starts a backup and stops reading holds up nothing: during
// a storm of webhook posts that grow the store, every post is committed
// (200) with a p99 under 100ms, and /metrics and /-/ready still answer.
func TestBackupStalledReaderDuringStorm(t *testing.T) {
	storage := t.TempDir()
	// Some megabytes already stored, so that the backup cannot fit in the
	// socket buffers.
	st, err := store.Open(storage)
	if err != nil {
		t.Fatal(err)
	}
	var ops []store.Op
	for i := range 2000 {
		v := make([]byte, 4096)
		rand.Read(v)
		ops = append(ops, store.Op{Bucket: "filler", Key: fmt.Sprint(i), Value: v})
	}
	if err := st.Commit(ops); err != nil {
		t.Fatal(err)
	}
	st.Close()
	base := wedgeDaemon(t, storage, "")

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /api/v1/store/backup HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	status, err := bufio.NewReaderSize(conn, 16).ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("backup status line %q: %v", status, err)
	}
	// From here on the backup's reader reads nothing.

	c := &http.Client{Timeout: 5 * time.Second}
	before, _ := os.Stat(filepath.Join(storage, store.FileName))
	const posts = 3000
	lat := make([]time.Duration, 0, posts)
	for i := range posts {
		start := time.Now()
		code, _, body := call(t, c, "POST", base+"/api/v1/ingest/alertmanager", storeAlerts(fmt.Sprintf("s%05d", i)))
		lat = append(lat, time.Since(start))
		if code != http.StatusOK {
			t.Fatalf("post %d: %d %s (a stalled backup reader holds up the commits)", i, code, body)
		}
		if i%500 == 0 {
			for _, path := range []string{"/metrics", "/-/ready"} {
				if code, _, body := call(t, c, "GET", base+path, ""); code != http.StatusOK {
					t.Fatalf("%s during the storm: %d %s", path, code, body)
				}
			}
		}
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("webhook latency with a stalled backup reader: p50 %v, p99 %v, max %v", lat[len(lat)/2], p99, lat[len(lat)-1])
	if p99 > 100*time.Millisecond {
		t.Errorf("webhook p99 %v, want under 100ms", p99)
	}
	after, _ := os.Stat(filepath.Join(storage, store.FileName))
	if after.Size() <= before.Size() {
		t.Errorf("store did not grow (%d -> %d bytes)", before.Size(), after.Size())
	}
	// A second backup while the first one streams is refused.
	if code, retry, _ := call(t, c, "GET", base+"/api/v1/store/backup", ""); code != http.StatusTooManyRequests || retry == "" {
		t.Errorf("second backup: %d (Retry-After %q), want 429 with Retry-After", code, retry)
	}
}

// A store on a small tmpfs that fills up: the webhook answers 503 with
// Retry-After within commit_timeout, /-/ready says why, the API shows a
// batch whole or not at all; once space is freed the store commits again,
// /-/ready is 200 and a retry lands. Needs root to mount; skips otherwise.
func TestStoreOnFullDisk(t *testing.T) {
	storage := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", storage).Run(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", storage).Run() })
	const bound = 2 * time.Second
	base := wedgeDaemon(t, storage, "correlator: {commit_timeout: 2s, dedup_save_timeout: 1s}\n")
	c := &http.Client{Timeout: 10 * time.Second}
	if code, _, body := call(t, c, "POST", base+"/api/v1/ingest/alertmanager", storeAlerts("a1")); code != http.StatusOK {
		t.Fatalf("first post: %d %s", code, body)
	}
	// Fill the file system.
	filler := filepath.Join(storage, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()

	var refused bool
	for i := 0; i < 200 && !refused; i++ {
		start := time.Now()
		batch := []string{fmt.Sprintf("b%03d-1", i), fmt.Sprintf("b%03d-2", i)}
		code, retry, body := call(t, c, "POST", base+"/api/v1/ingest/alertmanager", storeAlerts(batch...))
		took := time.Since(start)
		if took > bound+time.Second {
			t.Fatalf("post took %v, want within commit_timeout %v", took, bound)
		}
		if code == http.StatusOK {
			continue // bbolt still had free pages
		}
		if code != http.StatusServiceUnavailable || retry == "" {
			t.Fatalf("post on a full disk: %d (Retry-After %q) %s, want 503 with Retry-After", code, retry, body)
		}
		refused = true
		_, _, list := call(t, c, "GET", base+"/api/v1/incidents", "")
		if strings.Contains(list, batch[0]) != strings.Contains(list, batch[1]) {
			t.Errorf("batch half applied: %s", list)
		}
	}
	if !refused {
		t.Fatal("the store never refused a write on a full tmpfs")
	}
	code, _, body := call(t, c, "GET", base+"/-/ready", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "refuses writes") {
		t.Errorf("ready on a full disk: %d %q, want 503 with the commit error", code, body)
	}
	code, retry, _ := call(t, c, "POST", base+"/api/v1/ingest/alertmanager", storeAlerts("c1", "c2"))
	if code != http.StatusServiceUnavailable || retry == "" {
		t.Errorf("post while failing: %d (Retry-After %q), want 503", code, retry)
	}
	_, _, list := call(t, c, "GET", base+"/api/v1/incidents", "")
	if strings.Contains(list, `"c1"`) || strings.Contains(list, `"c2"`) {
		t.Errorf("a refused batch was applied: %s", list)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The committer retries with a backoff of at most 5s.
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if code, _, _ := call(t, c, "GET", base+"/-/ready", ""); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready 20s after space was freed")
		}
		<-tick.C
	}
	if code, _, body := call(t, c, "POST", base+"/api/v1/ingest/alertmanager", storeAlerts("c1", "c2")); code != http.StatusOK {
		t.Errorf("retry after recovery: %d %s", code, body)
	}
	_, _, list = call(t, c, "GET", base+"/api/v1/incidents", "")
	if !strings.Contains(list, `"c1"`) || !strings.Contains(list, `"c2"`) {
		t.Errorf("the retry did not land: %s", list)
	}
}
