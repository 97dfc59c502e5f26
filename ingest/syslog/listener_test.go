package syslog

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// fakeSubmitter records events; while refuse > 0 it answers backpressure
// and counts down.
type fakeSubmitter struct {
	mu     sync.Mutex
	events []ingest.Event
	refuse int
	calls  int
}

func (f *fakeSubmitter) Submit(_ context.Context, evs []ingest.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.refuse != 0 {
		if f.refuse > 0 {
			f.refuse--
		}
		return ingest.ErrBackpressure
	}
	f.events = append(f.events, evs...)
	return nil
}

func (f *fakeSubmitter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.events)
}

// waitFor polls cond: the listeners read real sockets, which synctest
// cannot wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// startListener builds and runs a listener until the test ends.
func startListener(t *testing.T, cfg Config, sub ingest.Submitter) *Listener {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := New(cfg, ingest.NewMetrics(reg), reg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, sub) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return l
}

var registerRule = []ExtractRule{{
	Match:  Match{App: "pos"},
	Regex:  `terminal (?P<register>\d+) offline`,
	Labels: map[string]string{"alertname": "RegisterOffline", "store": "{{ .Host }}", "register": "{{ .Groups.register }}"},
}}

func TestUDPListener(t *testing.T) {
	sub := &fakeSubmitter{}
	l := startListener(t, Config{Name: "u", Address: "127.0.0.1:0", Readers: 2, Extract: registerRule}, sub)
	if len(l.udp) != 2 {
		t.Fatalf("got %d sockets, want 2 (SO_REUSEPORT)", len(l.udp))
	}
	// Several senders, so that both sockets may get some.
	for s := range 4 {
		c, err := net.Dial("udp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		for r := 1; r <= 5; r++ {
			fmt.Fprintf(c, "<131>Nov 22 07:59:58 store-%d pos: terminal %d offline", s, r)
		}
		fmt.Fprintf(c, "<134>Nov 22 07:59:58 store-%d pos: chatter", s)
		c.Close()
	}
	waitFor(t, "20 events", func() bool { return sub.count() == 20 })
	waitFor(t, "the counts", func() bool {
		return testutil.ToFloat64(l.m.messages) == 24 && testutil.ToFloat64(l.m.unmatched) == 4 &&
			testutil.ToFloat64(l.m.dropped[dropUnmatched]) == 4 && testutil.ToFloat64(l.m.emitted) == 20
	})
}

func TestUDPBackpressureDrops(t *testing.T) {
	sub := &fakeSubmitter{refuse: -1}
	l := startListener(t, Config{Name: "u", Address: "127.0.0.1:0", Readers: 1, Extract: registerRule}, sub)
	c, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for r := 1; r <= 3; r++ {
		fmt.Fprintf(c, "<131>Nov 22 07:59:58 s pos: terminal %d offline", r)
	}
	waitFor(t, "3 drops for backpressure", func() bool {
		return testutil.ToFloat64(l.m.dropped[dropBackpressure]) == 3 && testutil.ToFloat64(l.m.rejected[dropBackpressure]) == 3
	})
	if sub.count() != 0 || testutil.ToFloat64(l.m.emitted) != 0 {
		t.Errorf("got %d events accepted", sub.count())
	}
}

func TestTCPBackpressureRetries(t *testing.T) {
	sub := &fakeSubmitter{refuse: 3}
	l := startListener(t, Config{Name: "t", Protocol: TCP, Address: "127.0.0.1:0", Extract: registerRule}, sub)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for r := 1; r <= 12; r++ {
		msg := fmt.Sprintf("<131>1 2026-11-22T07:59:58Z s pos - - - terminal %d offline", r)
		fmt.Fprintf(c, "%d %s", len(msg), msg)
	}
	waitFor(t, "all 12 events after the retries", func() bool { return sub.count() == 12 })
	if got := testutil.ToFloat64(l.m.dropped[dropBackpressure]); got != 0 {
		t.Errorf("got %v dropped for backpressure, want 0 (TCP retries)", got)
	}
}

func TestTCPLimits(t *testing.T) {
	sub := &fakeSubmitter{}
	l := startListener(t, Config{Name: "t", Protocol: TCP, Address: "127.0.0.1:0", MaxConnections: 1,
		IdleTimeout: Duration(200 * time.Millisecond), MaxMessageBytes: 512, Extract: registerRule}, sub)
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	waitFor(t, "the first connection", func() bool { return testutil.ToFloat64(l.m.connections) == 1 })
	c2, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	waitFor(t, "the second connection refused", func() bool { return testutil.ToFloat64(l.m.closed[closeTooMany]) == 1 })

	// An oversized frame is skipped; the half frame after it stalls until
	// the idle timeout closes the connection.
	big := "<131>1 - s pos - - - " + string(make([]byte, 600))
	fmt.Fprintf(c1, "%d %s", len(big), big)
	ok := "<131>1 - s pos - - - terminal 1 offline"
	fmt.Fprintf(c1, "%d %s", len(ok), ok)
	fmt.Fprintf(c1, "100 <131>1 - s pos - - - half")
	waitFor(t, "the idle close", func() bool {
		return testutil.ToFloat64(l.m.closed[closeIdle]) == 1 && testutil.ToFloat64(l.m.connections) == 0
	})
	if got := testutil.ToFloat64(l.m.dropped[dropTooLarge]); got != 1 {
		t.Errorf("got %v dropped too_large, want 1", got)
	}
	if sub.count() != 1 {
		t.Errorf("got %d events, want 1", sub.count())
	}
}

func TestNewFailsOnBadAddressOrCert(t *testing.T) {
	m := ingest.NewMetrics(nil)
	if _, err := New(Config{Name: "x", Address: "192.0.2.1:1"}, m, nil, zerolog.Nop()); err == nil {
		t.Error("bound a foreign address")
	}
	_, err := New(Config{Name: "x", Protocol: TLS, Address: "127.0.0.1:0", TLS: &TLSConfig{CertFile: "missing.pem", KeyFile: "missing.pem"}}, m, nil, zerolog.Nop())
	if err == nil {
		t.Error("started without its certificate")
	}
}

// TestTCPOneSourceCannotLockOutOthers: a source that opens more idle
// connections than the listener allows in total takes only its own share;
// another source still gets its message in, and the idle ones are closed
// after the idle timeout.
func TestTCPOneSourceCannotLockOutOthers(t *testing.T) {
	sub := &fakeSubmitter{}
	const total, perSource = 8, 4
	l := startListener(t, Config{Name: "t", Protocol: TCP, Address: "127.0.0.1:0", MaxConnections: total,
		MaxConnectionsPerSource: perSource, IdleTimeout: Duration(300 * time.Millisecond), Extract: registerRule}, sub)
	var idle []net.Conn
	for range 2 * total {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	waitFor(t, "the flooding source's connections accepted or refused", func() bool {
		return testutil.ToFloat64(l.m.connections) == perSource &&
			testutil.ToFloat64(l.m.closed[closeTooManySrc]) == 2*total-perSource
	})

	// Another source address (all of 127.0.0.0/8 is loopback on Linux).
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer other.Close()
	msg := "<131>1 2026-11-22T07:59:58Z s pos - - - terminal 7 offline"
	fmt.Fprintf(other, "%d %s", len(msg), msg)
	waitFor(t, "the other source's event", func() bool { return sub.count() == 1 })

	// Nothing more is sent: every connection is closed as idle.
	waitFor(t, "the idle connections closed", func() bool {
		return testutil.ToFloat64(l.m.closed[closeIdle]) == perSource+1 && testutil.ToFloat64(l.m.connections) == 0
	})
	if got := testutil.ToFloat64(l.m.closed[closeTooMany]); got != 0 {
		t.Errorf("got %v refused as too many in total, want 0", got)
	}
}

func TestTCPDefaults(t *testing.T) {
	c := Config{Name: "t", Protocol: TCP, Address: "127.0.0.1:0"}
	c.SetDefaults()
	if c.MaxConnectionsPerSource != DefaultMaxConnectionsPerSource || time.Duration(c.IdleTimeout) != time.Minute {
		t.Errorf("got max_connections_per_source %d, idle_timeout %v; want %d, 1m", c.MaxConnectionsPerSource, time.Duration(c.IdleTimeout), DefaultMaxConnectionsPerSource)
	}
}
