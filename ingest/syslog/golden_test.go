package syslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/corrd/corrd/ingest"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// goldenArrival is when every golden message arrives.
var goldenArrival = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)

// goldenEvent is an event as the golden files show it.
type goldenEvent struct {
	EventTime   time.Time     `json:"event_time"`
	Fingerprint string        `json:"fingerprint"`
	Labels      ingest.Labels `json:"labels"`
	Annotations ingest.Labels `json:"annotations,omitempty"`
	Severity    string        `json:"severity"`
	Status      string        `json:"status"`
	Raw         string        `json:"raw"`
}

type goldenResult struct {
	Counts struct {
		Messages      int `json:"messages"`
		ParseErrors   int `json:"parse_errors"`
		Unmatched     int `json:"unmatched"`
		DropMalformed int `json:"dropped_malformed"`
		DropUnmatched int `json:"dropped_unmatched"`
		DropTooLarge  int `json:"dropped_too_large"`
	} `json:"counts"`
	// StreamEnd is how a TCP stream ended.
	StreamEnd string        `json:"stream_end,omitempty"`
	Events    []goldenEvent `json:"events"`
}

// readListenerConfig reads a listener's YAML strictly, as corrd does.
func readListenerConfig(t testing.TB, path string) Config {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg
}

// runGolden feeds input to a listener's processor as its protocol frames
// it: datagrams are the lines of input (udp), or input is one TCP stream.
func runGolden(t testing.TB, cfg Config, input []byte) goldenResult {
	t.Helper()
	l, err := newListener(cfg, ingest.NewMetrics(nil), nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	pr := l.newProcessor()
	peer := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 514}
	var res goldenResult
	if l.cfg.Protocol == UDP {
		for _, d := range bytes.Split(input, []byte("\n")) {
			if len(d) == 0 {
				continue
			}
			if len(d) > l.cfg.MaxMessageBytes {
				pr.c.messages++
				pr.c.dropTooLarge++
				continue
			}
			pr.handle(d, peer, goldenArrival)
		}
	} else {
		fr := newFrameReader(bytes.NewReader(input), l.cfg.MaxMessageBytes)
		for {
			frame, err := fr.next()
			if err == nil {
				pr.handle(frame, peer, goldenArrival)
				continue
			}
			if errors.Is(err, errFrameTooLarge) {
				pr.c.messages++
				pr.c.dropTooLarge++
				continue
			}
			res.StreamEnd = fmt.Sprintf("%s: %v", fr.mode, err)
			break
		}
	}
	c := pr.c
	res.Counts.Messages, res.Counts.ParseErrors, res.Counts.Unmatched = c.messages, c.parseErrors, c.unmatched
	res.Counts.DropMalformed, res.Counts.DropUnmatched, res.Counts.DropTooLarge = c.dropMalformed, c.dropUnmatched, c.dropTooLarge
	res.Events = []goldenEvent{}
	for _, ev := range pr.events {
		if ev.Kind != "syslog" || ev.Source != l.name || !ev.ArrivalTime.Equal(goldenArrival) {
			t.Errorf("got kind %q source %q arrival %v", ev.Kind, ev.Source, ev.ArrivalTime)
		}
		res.Events = append(res.Events, goldenEvent{
			EventTime:   ev.EventTime,
			Fingerprint: fmt.Sprintf("%016x", ev.Fingerprint),
			Labels:      ev.Labels,
			Annotations: ev.Annotations,
			Severity:    ev.Severity.String(),
			Status:      ev.Status.String(),
			Raw:         string(ev.Raw),
		})
	}
	return res
}

// TestGolden runs every case of testdata/golden: listener.yml (one
// listener's configuration), input (datagrams, one a line, for udp; a TCP
// stream otherwise), and golden.json, the events and counts expected.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg := readListenerConfig(t, filepath.Join(dir, "listener.yml"))
			input, err := os.ReadFile(filepath.Join(dir, "input"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(runGolden(t, cfg, input), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join(dir, "golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got:\n%s\nwant (%s):\n%s", got, path, want)
			}
		})
	}
}

var _ = io.EOF

func readConfigString(t testing.TB, s string) Config {
	t.Helper()
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func decodeStrict(s string, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	return dec.Decode(v)
}
