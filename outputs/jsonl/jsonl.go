// Package jsonl writes incident changes as JSON lines: one document per
// change, in the schema the webhook backend posts by default (see package
// webhook), followed by a newline.
//
// The output is standard output (path "-") or a file opened for appending,
// created with mode 0640 when absent. Since every line is written with one
// write to a file opened with O_APPEND, logrotate's copytruncate works;
// rotation by renaming needs a restart (or a config reload) to reopen.
package jsonl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/outputs/internal/schema"
)

// Stdout is the path that means standard output.
const Stdout = "-"

// Config is the `jsonl:` block of a sink.
type Config struct {
	// Path of the file to append to, or "-" for standard output.
	Path string `yaml:"path"`
}

// Validate reports every problem of c, each prefixed with path and the
// field's name: `<path>.path is required`.
func (c *Config) Validate(path string) error {
	if c.Path == "" {
		return fmt.Errorf("%s.path is required (a file, or \"-\" for standard output)", path)
	}
	return nil
}

// Sink writes changes as lines to a writer. It is safe for concurrent use;
// lines are never interleaved.
type Sink struct {
	name   string
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer // nil for writers the sink does not own
}

// New opens the output of cfg.
func New(name string, cfg Config) (*Sink, error) {
	if err := cfg.Validate("jsonl"); err != nil {
		return nil, err
	}
	if cfg.Path == Stdout {
		return NewWriter(name, os.Stdout), nil
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("jsonl %s: %w", name, err)
	}
	s := NewWriter(name, f)
	s.closer = f
	return s, nil
}

// NewWriter returns a sink that writes to w and does not close it.
func NewWriter(name string, w io.Writer) *Sink {
	return &Sink{name: name, w: w}
}

// Name returns the sink's name from the config.
func (s *Sink) Name() string { return s.name }

// Deliver writes change as one line. Only write errors are retryable.
func (s *Sink) Deliver(ctx context.Context, change correlator.Change) (retryable bool, err error) {
	if err := ctx.Err(); err != nil {
		return true, fmt.Errorf("jsonl %s: %w", s.name, err)
	}
	b, err := schema.Marshal(change)
	if err != nil {
		return false, fmt.Errorf("jsonl %s: encode: %w", s.name, err)
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return false, fmt.Errorf("jsonl %s: %w", s.name, errClosed)
	}
	if _, err := s.w.Write(b); err != nil {
		return true, fmt.Errorf("jsonl %s: write: %w", s.name, err)
	}
	return false, nil
}

var errClosed = errors.New("sink is closed")

// Close closes the file the sink opened; standard output and writers given
// to NewWriter stay open.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.closer
	s.w, s.closer = nil, nil
	if c == nil {
		return nil
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("jsonl %s: close: %w", s.name, err)
	}
	return nil
}
