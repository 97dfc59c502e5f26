package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// goldenInputs are the inputs of testdata/golden, the seeds of the fuzz
// targets.
func goldenInputs(f *testing.F) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("testdata", "golden", "*", "input"))
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzFrameReader: any stream ends in a bounded number of frames, none
// over the maximum, and octet-counted frames come back as sent.
func FuzzFrameReader(f *testing.F) {
	for _, in := range goldenInputs(f) {
		f.Add(in, uint16(512))
	}
	f.Add([]byte("5 hello3 abc"), uint16(4))
	f.Add([]byte("<13>a\n<13>b\r\n\n<13>c"), uint16(480))
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		limit := int(max%2048) + 1
		fr := newFrameReader(bytes.NewReader(in), limit)
		for calls := 0; ; calls++ {
			if calls > len(in)+1 {
				t.Fatalf("more than %d frames from %d bytes", calls, len(in))
			}
			frame, err := fr.next()
			if errors.Is(err, errFrameTooLarge) {
				continue
			}
			if err != nil {
				break
			}
			if len(frame) == 0 || len(frame) > limit {
				t.Fatalf("got a frame of %d bytes, limit %d", len(frame), limit)
			}
		}
		// Round trip: the fuzzed bytes, split in three, as octet-counted
		// frames (each frame non-empty and starting with '<').
		var frames [][]byte
		var stream bytes.Buffer
		for _, part := range bytes.SplitN(in, []byte{0xff}, 3) {
			msg := append([]byte("<13>"), part...)
			frames = append(frames, msg)
			fmt.Fprintf(&stream, "%d %s", len(msg), msg)
		}
		fr = newFrameReader(&stream, 1<<16)
		for i, want := range frames {
			got, err := fr.next()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("frame %d: got %q, %v; want %q", i, got, err, want)
			}
		}
		if _, err := fr.next(); err != io.EOF {
			t.Fatalf("after the frames: got %v, want EOF", err)
		}
	})
}

// FuzzExtract: any message parses and extracts without panicking into
// events whose labels are sorted and unique, with Raw bounded.
func FuzzExtract(f *testing.F) {
	for _, in := range goldenInputs(f) {
		for _, line := range bytes.Split(in, []byte("\n")) {
			f.Add(line)
		}
	}
	for _, in := range benchInputs {
		f.Add([]byte(in.msg))
	}
	cfg := readConfigString(f, benchRules)
	cfg.Unmatched, cfg.Malformed = PolicyRaw, PolicyRaw
	l, err := newListener(cfg, ingest.NewMetrics(nil), nil, zerolog.Nop())
	if err != nil {
		f.Fatal(err)
	}
	peer := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 514}
	f.Fuzz(func(t *testing.T, msg []byte) {
		pr := l.newProcessor()
		pr.handle(msg, peer, goldenArrival)
		if len(pr.events) != 1 {
			t.Fatalf("got %d events, want 1 (raw policies)", len(pr.events))
		}
		ev := pr.events[0]
		if len(ev.Raw) > ingest.MaxRaw {
			t.Errorf("raw of %d bytes", len(ev.Raw))
		}
		for _, ls := range []ingest.Labels{ev.Labels, ev.Annotations} {
			for i := range ls {
				if ls[i].Value == "" || (i > 0 && ls[i-1].Name >= ls[i].Name) {
					t.Fatalf("labels not sorted, unique and non-empty: %v", ls)
				}
			}
		}
		if ev.EventTime.IsZero() {
			t.Error("zero event time")
		}
	})
}

// FuzzFastParse: whatever the hand-written parser takes, go-syslog parses
// without error into the same fields.
func FuzzFastParse(f *testing.F) {
	for _, in := range goldenInputs(f) {
		for _, line := range bytes.Split(in, []byte("\n")) {
			f.Add(line, uint8(0))
		}
	}
	for _, in := range benchInputs {
		f.Add([]byte(in.msg), uint8(0))
	}
	f.Add([]byte("<13>1 2026-02-29T07:59:58+01:00 h a p m - x"), uint8(0))
	f.Add([]byte("<13>Feb 30 07:59:58 h a: x"), uint8(2))
	sto, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		sto = time.UTC
	}
	formats := []Format{FormatAuto, FormatRFC5424, FormatRFC3164}
	f.Fuzz(func(t *testing.T, msg []byte, format uint8) {
		o := parserOptions{format: formats[int(format)%len(formats)], loc: sto}
		fast, slow := newParser(o), newParser(o)
		slow.noFast = true
		var a, b message
		b2 := trimTrailer(msg)
		if len(b2) == 0 || !fast.fastParse(b2, goldenArrival, &a) {
			return
		}
		a.text = trimBOM(a.text)
		ok, partial := slow.parse(msg, goldenArrival, &b)
		if !ok || partial {
			t.Fatalf("fast parser took %q, go-syslog: ok %v partial %v", msg, ok, partial)
		}
		_, offA := a.time.Zone()
		_, offB := b.time.Zone()
		if !a.time.Equal(b.time) || offA != offB || a.hasTime != b.hasTime {
			t.Fatalf("%q: time: fast %v, go-syslog %v", msg, a.time, b.time)
		}
		a.time, b.time = time.Time{}, time.Time{}
		if len(b.sd) == 0 {
			b.sd = nil
		}
		if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
			t.Fatalf("%q:\nfast     %+v\ngo-syslog %+v", msg, a, b)
		}
	})
}
