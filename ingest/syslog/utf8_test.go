package syslog

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// TestInvalidUTF8Cleaned: a message with bytes that are not UTF-8 (a
// Latin-1 device) gives an event whose labels and annotations are valid
// UTF-8, as Alertmanager requires, and is counted.
func TestInvalidUTF8Cleaned(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := newListener(Config{Name: "u", Address: "127.0.0.1:0", Extract: []ExtractRule{{
		Regex:  `site (?P<site>\S+) down`,
		Labels: map[string]string{"alertname": "SiteDown", "site": "{{ .Groups.site }}", "sdsite": "{{ .SD.meta.site }}"},
	}}}, ingest.NewMetrics(reg), reg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	peer := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 514}
	for _, tc := range []struct{ name, raw string }{
		{"rfc3164", "<131>Nov 22 07:59:58 reseau pos: site caf\xe9 down"},
		{"rfc5424", "<131>1 2026-11-22T07:59:58Z reseau pos - - [meta site=\"caf\xc3\xa9\"] site caf\xe9 down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := l.newProcessor()
			before := testutil.ToFloat64(l.m.invalidUTF8)
			pr.handle([]byte(tc.raw), peer, time.Now())
			pr.flushCounts()
			if len(pr.events) != 1 {
				t.Fatalf("got %d events, want 1", len(pr.events))
			}
			ev := pr.events[0]
			if err := ev.Labels.Validate(); err != nil {
				t.Errorf("labels %v: %v", ev.Labels, err)
			}
			if err := ev.Annotations.Validate(); err != nil {
				t.Errorf("annotations %v: %v", ev.Annotations, err)
			}
			if got := ev.Labels.Get("site"); got != "caf\uFFFD" {
				t.Errorf("got site %q, want %q", got, "caf\uFFFD")
			}
			if got, want := ev.Labels.Get("sdsite"), map[string]string{"rfc3164": "", "rfc5424": "café"}[tc.name]; got != want {
				t.Errorf("got sdsite %q, want %q", got, want)
			}
			if got := ev.Annotations.Get("message"); !strings.Contains(got, "caf\uFFFD") {
				t.Errorf("got message %q, want the invalid byte replaced", got)
			}
			if got := testutil.ToFloat64(l.m.invalidUTF8) - before; got != 1 {
				t.Errorf("got %v counted as invalid UTF-8, want 1", got)
			}
		})
	}
	// Valid UTF-8 is left alone and not counted.
	pr := l.newProcessor()
	before := testutil.ToFloat64(l.m.invalidUTF8)
	pr.handle([]byte("<131>Nov 22 07:59:58 réseau pos: site café down"), peer, time.Now())
	pr.flushCounts()
	if len(pr.events) != 1 || pr.events[0].Labels.Get("site") != "café" || testutil.ToFloat64(l.m.invalidUTF8) != before {
		t.Errorf("valid UTF-8 changed or counted: %v", pr.events)
	}
}
