package snmptrap

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// collector is a Submitter that keeps what it is given.
type collector struct {
	mu     sync.Mutex
	events []ingest.Event
	full   bool
}

func (c *collector) Submit(_ context.Context, evs []ingest.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full {
		return ingest.ErrBackpressure
	}
	c.events = append(c.events, evs...)
	return nil
}

func (c *collector) snapshot() []ingest.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ingest.Event(nil), c.events...)
}

const testEngineID = "0x8000000001020304"

// testUsers covers every auth and privacy protocol.
var testUsers = []User{
	{Name: "alice", AuthProtocol: "SHA-256", AuthPassphrase: "authpass123", PrivProtocol: "AES", PrivPassphrase: "privpass123"},
	{Name: "bob", AuthProtocol: "MD5", AuthPassphrase: "authpass456"},
	{Name: "carol", AuthProtocol: "SHA", AuthPassphrase: "authpass789", PrivProtocol: "DES", PrivPassphrase: "privpass789"},
	{Name: "dave", AuthProtocol: "SHA-512", AuthPassphrase: "authpass000", PrivProtocol: "AES-256", PrivPassphrase: "privpass000"},
	{Name: "erin", AuthProtocol: "SHA-224", AuthPassphrase: "authpass111", PrivProtocol: "AES-192", PrivPassphrase: "privpass111"},
	{Name: "nobody"},
}

type testListener struct {
	*Listener
	sub *collector
	reg *prometheus.Registry
}

func startListener(t *testing.T, cfg Config) *testListener {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:0"
	}
	reg := prometheus.NewRegistry()
	l, err := New(cfg, ingest.NewMetrics(reg), reg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	sub := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, sub) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &testListener{Listener: l, sub: sub, reg: reg}
}

// netSNMP runs a net-snmp tool with no MIBs loaded and a private state
// directory.
func netSNMP(t *testing.T, prog string, args ...string) (string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs net-snmp; skipped in -short mode")
	}
	if _, err := exec.LookPath(prog); err != nil || os.Getenv("CORRD_E2E") == "off" {
		if os.Getenv("CORRD_E2E") == "require" {
			t.Fatalf("%s is required: %v", prog, err)
		}
		t.Skipf("%s not installed (apt-get install -y snmp)", prog)
	}
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=/nonexistent", "SNMP_PERSISTENT_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func authFailures(t *testing.T, l *testListener, reason string) float64 {
	return testutil.ToFloat64(l.m.authFailures[reason])
}

func TestRealSenders(t *testing.T) {
	l := startListener(t, Config{
		Communities: []Secret{"public"},
		Users:       testUsers,
		EngineID:    testEngineID,
		TrapFiles:   []string{"testdata/traps.yaml"},
	})
	addr := l.Addr().String()
	v3 := func(user, level, a, A, x, X string) []string {
		args := []string{"-v", "3", "-u", user, "-l", level}
		if a != "" {
			args = append(args, "-a", a, "-A", A)
		}
		if x != "" {
			args = append(args, "-x", x, "-X", X)
		}
		return args
	}
	linkDown := []string{"", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.8.7", "i", "2"}
	cases := []struct {
		name string
		prog string
		args []string
		ver  string
	}{
		{"v1", "snmptrap", []string{"-v", "1", "-c", "public", addr, "1.3.6.1.4.1.8072.2.3", "10.1.2.3", "2", "0", "", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"}, "v1"},
		{"v2c", "snmptrap", append([]string{"-v", "2c", "-c", "public", addr}, linkDown...), "v2c"},
		{"v2c-inform", "snmpinform", append([]string{"-v", "2c", "-c", "public", "-t", "2", "-r", "1", addr}, linkDown...), "v2c"},
		{"v3-noauth", "snmptrap", append(append([]string{"-e", "0x8000000001aabbcc"}, v3("nobody", "noAuthNoPriv", "", "", "", "")...), append([]string{addr}, linkDown...)...), "v3"},
		{"v3-authnopriv-md5", "snmptrap", append(append([]string{"-e", "0x8000000001aabbcc"}, v3("bob", "authNoPriv", "MD5", "authpass456", "", "")...), append([]string{addr}, linkDown...)...), "v3"},
		{"v3-authpriv-sha256-aes", "snmptrap", append(append([]string{"-e", "0x8000000001aabbcc"}, v3("alice", "authPriv", "SHA-256", "authpass123", "AES", "privpass123")...), append([]string{addr}, linkDown...)...), "v3"},
		{"v3-authpriv-sha-des", "snmptrap", append(append([]string{"-e", "0x8000000001aabbcc"}, v3("carol", "authPriv", "SHA", "authpass789", "DES", "privpass789")...), append([]string{addr}, linkDown...)...), "v3"},
		{"v3-authpriv-sha512-aes256", "snmptrap", append(append([]string{"-e", "0x8000000001aabbcc"}, v3("dave", "authPriv", "SHA-512", "authpass000", "AES-256", "privpass000")...), append([]string{addr}, linkDown...)...), "v3"},
		{"v3-inform-alice", "snmpinform", append(append([]string{"-t", "2", "-r", "1"}, v3("alice", "authPriv", "SHA-256", "authpass123", "AES", "privpass123")...), append([]string{addr}, linkDown...)...), "v3"},
		{"v3-inform-bob", "snmpinform", append(append([]string{"-t", "2", "-r", "1"}, v3("bob", "authNoPriv", "MD5", "authpass456", "", "")...), append([]string{addr}, linkDown...)...), "v3"},
		{"v3-inform-erin", "snmpinform", append(append([]string{"-t", "2", "-r", "1"}, v3("erin", "authPriv", "SHA-224", "authpass111", "AES-192", "privpass111")...), append([]string{addr}, linkDown...)...), "v3"},
	}
	// informs counts the INFORMs sent and acknowledged: without net-snmp
	// every sub-test skips and none is expected.
	informs, v3Informs := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(l.sub.snapshot())
			out, err := netSNMP(t, c.prog, c.args...)
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.prog, err, out)
			}
			if c.prog == "snmpinform" {
				informs++
				if c.ver == "v3" {
					v3Informs++
				}
			}
			waitFor(t, "event", func() bool { return len(l.sub.snapshot()) > before })
			ev := l.sub.snapshot()[before]
			if got := ev.Annotations.Get("snmp_version"); got != c.ver {
				t.Errorf("version %q, want %q", got, c.ver)
			}
			if got := ev.Labels.Get("ifIndex"); got != "7" {
				t.Errorf("ifIndex %q, want 7 (labels %s)", got, ev.Labels)
			}
			if got := ev.Labels.Get("trap"); got != "linkDown" {
				t.Errorf("trap %q, want linkDown (labels %s)", got, ev.Labels)
			}
		})
	}
	// snmpinform returns once acknowledged; the counter follows the send.
	waitFor(t, fmt.Sprintf("%d informs acknowledged", informs), func() bool { return testutil.ToFloat64(l.m.informsAcked) >= float64(informs) })
	if got := testutil.ToFloat64(l.m.informsAcked); got != float64(informs) {
		t.Errorf("informs acknowledged %v, want %d", got, informs)
	}
	if got := testutil.ToFloat64(l.m.discoveries); got < float64(v3Informs) {
		t.Errorf("engine discoveries %v, want >= %d (one per v3 INFORM)", got, v3Informs)
	}
}

func TestRealSendersRejected(t *testing.T) {
	l := startListener(t, Config{
		Communities: []Secret{"public"},
		Users:       testUsers,
		EngineID:    testEngineID,
	})
	addr := l.Addr().String()
	trap := []string{addr, "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"}
	cases := []struct {
		name, reason string
		args         []string
	}{
		{"wrong-community", reasonCommunity, append([]string{"-v", "2c", "-c", "private"}, trap...)},
		{"wrong-password", reasonDigest, append([]string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "bob", "-l", "authNoPriv", "-a", "MD5", "-A", "wrongpass99"}, trap...)},
		{"noauth-for-auth-user", reasonSecLevel, append([]string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "alice", "-l", "noAuthNoPriv"}, trap...)},
		{"unknown-user", reasonUnknownUser, append([]string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "mallory", "-l", "authNoPriv", "-a", "MD5", "-A", "authpass456"}, trap...)},
		{"wrong-priv-password", reasonDecrypt, append([]string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "alice", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass123", "-x", "AES", "-X", "wrongpriv99"}, trap...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := authFailures(t, l, c.reason)
			if out, err := netSNMP(t, "snmptrap", c.args...); err != nil {
				t.Fatalf("snmptrap: %v\n%s", err, out)
			}
			waitFor(t, c.reason, func() bool { return authFailures(t, l, c.reason) > before })
		})
	}
	if n := len(l.sub.snapshot()); n != 0 {
		t.Errorf("%d events from rejected packets: %v", n, l.sub.snapshot())
	}
}

func TestSourceAllowList(t *testing.T) {
	l := startListener(t, Config{Communities: []Secret{"public"}, AllowSources: []string{"10.0.0.0/8"}})
	if out, err := netSNMP(t, "snmptrap", "-v", "2c", "-c", "public", l.Addr().String(), "", "1.3.6.1.6.3.1.1.5.1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	waitFor(t, "source_not_allowed", func() bool { return testutil.ToFloat64(l.m.rejected[reasonSource]) == 1 })
	if n := len(l.sub.snapshot()); n != 0 {
		t.Errorf("%d events from a refused source", n)
	}
}

// TestBackpressure: when the correlator refuses, the traps are counted as
// drops and INFORMs are not acknowledged, so that the sender retries.
func TestBackpressure(t *testing.T) {
	l := startListener(t, Config{Communities: []Secret{"public"}})
	l.sub.mu.Lock()
	l.sub.full = true
	l.sub.mu.Unlock()
	out, err := netSNMP(t, "snmpinform", "-v", "2c", "-c", "public", "-t", "1", "-r", "0", l.Addr().String(), "", "1.3.6.1.6.3.1.1.5.1")
	if err == nil {
		t.Fatalf("snmpinform succeeded without an acknowledgement:\n%s", out)
	}
	waitFor(t, "backpressure drop", func() bool { return testutil.ToFloat64(l.m.drops[reasonBackpressure]) >= 1 })
	if got := testutil.ToFloat64(l.m.informsAcked); got != 0 {
		t.Errorf("informs acknowledged %v, want 0", got)
	}
}

func TestIPv6(t *testing.T) {
	cfg := Config{Name: "v6", Communities: []Secret{"public"}}
	cfg.Address = "[::1]:0"
	reg := prometheus.NewRegistry()
	l, err := New(cfg, ingest.NewMetrics(reg), reg, zerolog.Nop())
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	sub := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, sub) }()
	defer func() { cancel(); <-done }()
	if out, err := netSNMP(t, "snmptrap", "-v", "2c", "-c", "public", "udp6:"+l.Addr().String(), "", "1.3.6.1.6.3.1.1.5.1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	waitFor(t, "an event over IPv6", func() bool { return len(sub.snapshot()) == 1 })
	if got := sub.snapshot()[0].Labels.Get("device"); got != "::1" {
		t.Errorf("device %q, want ::1", got)
	}
}

func TestSocketDrops(t *testing.T) {
	if _, err := os.Stat("/proc/net/udp"); err != nil {
		t.Skip("no /proc/net/udp")
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, ok := socketDrops(c.LocalAddr().(*net.UDPAddr).Port)
	if !ok || n != 0 {
		t.Errorf("got %d, %v; want 0 drops of a found socket", n, ok)
	}
}
