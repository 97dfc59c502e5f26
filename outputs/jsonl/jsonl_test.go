package jsonl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corrd/corrd/correlator"
)

func change(id string, rev uint64) correlator.Change {
	return correlator.Change{
		Type: correlator.ChangeOpened,
		At:   time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Incident: correlator.Incident{
			ID: id, Rule: "fleet", Status: correlator.StatusOpen, Priority: 2,
			Title: "a \"quoted\"\nmultiline title", Revision: rev,
		},
	}
}

func TestFileAppendConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "changes.jsonl")
	if err := os.WriteFile(path, []byte("{\"existing\":true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New("file", Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if retryable, err := s.Deliver(context.Background(), change(fmt.Sprintf("inc-%d", w), uint64(i))); err != nil {
					t.Errorf("Deliver = %v, %v", retryable, err)
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		lines++
		if lines == 1 {
			continue // the line that was there before
		}
		var doc struct {
			Version  string `json:"version"`
			Type     string `json:"type"`
			Incident struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			} `json:"incident"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %d %q: %v", lines, sc.Text(), err)
		}
		if doc.Version != "1" || doc.Type != "opened" || !strings.HasPrefix(doc.Incident.ID, "inc-") || doc.Incident.Title != "a \"quoted\"\nmultiline title" {
			t.Errorf("line %d = %+v", lines, doc)
		}
	}
	if lines != 1+writers*each {
		t.Errorf("got %d lines, want %d", lines, 1+writers*each)
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.jsonl")
	s, err := New("file", Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
		t.Errorf("mode %v, want at most 0640", perm)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorIsRetryable(t *testing.T) {
	s := NewWriter("w", failWriter{})
	retryable, err := s.Deliver(context.Background(), change("inc-1", 1))
	if err == nil || !retryable {
		t.Fatalf("Deliver = %v, %v; want retryable error", retryable, err)
	}
	if got, want := err.Error(), "jsonl w: write: disk full"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

func TestDeliverAfterClose(t *testing.T) {
	s, err := New("file", Config{Path: filepath.Join(t.TempDir(), "x.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if retryable, err := s.Deliver(context.Background(), change("inc-1", 1)); err == nil || retryable {
		t.Errorf("Deliver after Close = %v, %v; want permanent error", retryable, err)
	}
}

func TestStdoutIsNotClosed(t *testing.T) {
	s, err := New("out", Config{Path: Stdout})
	if err != nil {
		t.Fatal(err)
	}
	if s.w != os.Stdout || s.closer != nil {
		t.Fatalf("sink writes to %v, closer %v; want os.Stdout, nil", s.w, s.closer)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stdout.Stat(); err != nil {
		t.Errorf("stdout closed: %v", err)
	}
}

func TestValidate(t *testing.T) {
	c := Config{}
	if err := c.Validate("p"); err == nil || err.Error() != `p.path is required (a file, or "-" for standard output)` {
		t.Errorf("Validate = %v", err)
	}
	if _, err := New("x", Config{Path: filepath.Join(t.TempDir(), "no", "such", "dir")}); err == nil {
		t.Error("New with a missing directory succeeded")
	}
}
