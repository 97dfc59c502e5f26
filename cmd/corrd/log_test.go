package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogLinesNameOneComponent starts and stops the daemon with every kind
// of component and checks that no log line carries the component key
// twice.
func TestLogLinesNameOneComponent(t *testing.T) {
	dir := t.TempDir()
	files := writeFiles(t, map[string]string{
		"corrd.yml": `
web: {listen_address: "127.0.0.1:0"}
rule_files: [rules/*.yml]
ingest:
  syslog:
    - {name: udp, address: "127.0.0.1:0"}
outputs:
  sinks:
    - name: file
      type: jsonl
      jsonl: {path: "` + filepath.Join(dir, "changes.jsonl") + `"}
`,
		"rules/store.yml": validRules,
	})
	var out syncBuffer
	d, err := newDaemon(daemonOptions{
		src:             source{file: filepath.Join(files, "corrd.yml")},
		storagePath:     filepath.Join(dir, "data"),
		shutdownTimeout: 5 * time.Second,
		flushTimeout:    5 * time.Second,
	}, zerolog.New(&out))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, make(chan os.Signal)) }()
	<-d.started
	// A bad webhook body is logged by the receiver.
	resp, err := http.Post("http://"+d.addr().String()+"/api/v1/ingest/alertmanager", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	components := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		line := sc.Text()
		if n := strings.Count(line, `"component":`); n > 1 {
			t.Errorf("line has the component key %d times: %s", n, line)
		}
		if i := strings.Index(line, `"component":"`); i >= 0 {
			rest := line[i+len(`"component":"`):]
			components[rest[:strings.IndexByte(rest, '"')]] = true
		}
	}
	for _, want := range []string{"correlator", "ingest/syslog", "ingest/alertmanager"} {
		if !components[want] {
			t.Errorf("no log line from component %q; got %v", want, components)
		}
	}
}
