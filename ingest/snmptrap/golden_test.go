package snmptrap

import (
	"encoding/json"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/corrd/corrd/ingest"
)

var (
	capture = flag.Bool("capture", false, "capture testdata/golden/*/packet.bin from the real net-snmp tools")
	update  = flag.Bool("update", false, "rewrite testdata/golden/*/event.golden.json")
)

// goldenSrc and goldenNow are the source and arrival time of every golden
// packet's decode.
var (
	goldenSrc = netip.MustParseAddrPort("192.0.2.10:40000")
	goldenNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// goldenCases are the packets captured from net-snmp: every version and
// security level, traps and INFORMs.
var goldenCases = []struct {
	name   string
	prog   string
	args   []string // ADDR is replaced by the address
	reject string   // the reason the packet is refused, if it is
}{
	{"v1-generic", "snmptrap", []string{"-v", "1", "-c", "public", "ADDR", "1.3.6.1.4.1.8072.2.3", "10.1.2.3", "2", "0", "", "1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.2.7", "s", "register 7"}, ""},
	{"v1-specific", "snmptrap", []string{"-v", "1", "-c", "public", "ADDR", "1.3.6.1.4.1.8072.2.3", "10.1.2.3", "6", "17", "", "1.3.6.1.2.1.1.5.0", "s", "router1"}, ""},
	{"v2c-linkdown", "snmptrap", []string{"-v", "2c", "-c", "public", "ADDR", "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.7.7", "i", "1", "1.3.6.1.2.1.2.2.1.8.7", "i", "2"}, ""},
	{"v2c-inform-linkup", "snmpinform", []string{"-v", "2c", "-c", "public", "-t", "2", "-r", "1", "ADDR", "", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.8.7", "i", "1"}, ""},
	{"v3-noauthnopriv", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "nobody", "-l", "noAuthNoPriv", "ADDR", "", "1.3.6.1.6.3.1.1.5.1"}, ""},
	{"v3-authnopriv-md5", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "bob", "-l", "authNoPriv", "-a", "MD5", "-A", "authpass456", "ADDR", "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"}, ""},
	{"v3-authpriv-sha256-aes", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "alice", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass123", "-x", "AES", "-X", "privpass123", "ADDR", "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"}, ""},
	{"v3-authpriv-sha-des", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "carol", "-l", "authPriv", "-a", "SHA", "-A", "authpass789", "-x", "DES", "-X", "privpass789", "ADDR", "", "1.3.6.1.2.1.33.2.1", "1.3.6.1.2.1.33.1.2.3.0", "i", "12"}, ""},
	{"v3-authpriv-sha512-aes256", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "dave", "-l", "authPriv", "-a", "SHA-512", "-A", "authpass000", "-x", "AES-256", "-X", "privpass000", "ADDR", "", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"}, ""},
	{"v3-inform-authpriv", "snmpinform", []string{"-v", "3", "-u", "alice", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass123", "-x", "AES", "-X", "privpass123", "-t", "2", "-r", "1", "ADDR", "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"}, ""},
	{"v3-inform-authnopriv", "snmpinform", []string{"-v", "3", "-u", "bob", "-l", "authNoPriv", "-a", "MD5", "-A", "authpass456", "-t", "2", "-r", "1", "ADDR", "", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"}, ""},
	// Refused packets.
	{"reject-v2c-wrong-community", "snmptrap", []string{"-v", "2c", "-c", "private", "ADDR", "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"}, reasonCommunity},
	{"reject-v1-wrong-community", "snmptrap", []string{"-v", "1", "-c", "private", "ADDR", "1.3.6.1.4.1.8072.2.3", "10.1.2.3", "2", "0", ""}, reasonCommunity},
	{"reject-v3-wrong-password", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "bob", "-l", "authNoPriv", "-a", "MD5", "-A", "wrongpass99", "ADDR", "", "1.3.6.1.6.3.1.1.5.3"}, reasonDigest},
	{"reject-v3-wrong-priv-password", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "alice", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass123", "-x", "AES", "-X", "wrongpriv99", "ADDR", "", "1.3.6.1.6.3.1.1.5.3"}, reasonDecrypt},
	{"reject-v3-noauth-for-auth-user", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "alice", "-l", "noAuthNoPriv", "ADDR", "", "1.3.6.1.6.3.1.1.5.3"}, reasonSecLevel},
	{"reject-v3-unknown-user", "snmptrap", []string{"-v", "3", "-e", "0x8000000001aabbcc", "-u", "mallory", "-l", "authNoPriv", "-a", "MD5", "-A", "authpass456", "ADDR", "", "1.3.6.1.6.3.1.1.5.3"}, reasonUnknownUser},
}

func goldenConfig() Config {
	return Config{
		Name:        "golden",
		Communities: []Secret{"public"},
		Users:       testUsers,
		EngineID:    testEngineID,
		TrapFiles:   []string{"testdata/traps.yaml"},
	}
}

// proxy forwards datagrams between a sender and the listener and keeps
// the last one the sender sent.
func proxy(t *testing.T, to net.Addr) (string, func() []byte) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.Dial("udp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var last []byte
	var sender net.Addr
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			last, sender = append([]byte(nil), buf[:n]...), from
			mu.Unlock()
			_, _ = up.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			s := sender
			mu.Unlock()
			_, _ = pc.WriteTo(buf[:n], s)
		}
	}()
	t.Cleanup(func() { pc.Close(); up.Close() })
	return pc.LocalAddr().String(), func() []byte { mu.Lock(); defer mu.Unlock(); return last }
}

func TestCaptureGolden(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to capture packets from net-snmp")
	}
	l := startListener(t, goldenConfig())
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			addr, last := proxy(t, l.Addr())
			args := append([]string(nil), c.args...)
			for i := range args {
				if args[i] == "ADDR" {
					args[i] = addr
				}
			}
			before := len(l.sub.snapshot())
			var rejected float64
			if c.reject != "" {
				rejected = testutil.ToFloat64(l.m.rejected[c.reject])
			}
			if out, err := netSNMP(t, c.prog, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if c.reject != "" {
				waitFor(t, c.reject, func() bool { return testutil.ToFloat64(l.m.rejected[c.reject]) > rejected })
			} else {
				waitFor(t, "event", func() bool { return len(l.sub.snapshot()) > before })
			}
			dir := filepath.Join("testdata", "golden", c.name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "packet.bin"), last(), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// goldenEvent is what a golden file records of an event and reply.
type goldenEvent struct {
	Event  *ingest.Event `json:"event,omitempty"`
	Reason string        `json:"reason,omitempty"`
	Reply  bool          `json:"reply"`
}

// goldenDecoder builds the decoder golden packets are decoded with.
func goldenDecoder(t testing.TB) *decoder {
	t.Helper()
	cfg := goldenConfig()
	mib, _, err := LoadMIB(nil)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := LoadTrapFiles(cfg.TrapFiles)
	if err != nil {
		t.Fatal(err)
	}
	traps, err := compileTraps(defs, mib)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDecoder(&cfg, mib, traps, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// syncEngine sets d's engine clock to that of a captured INFORM, whose
// boots and time were our engine's at capture.
func syncEngine(d *decoder, pkt []byte) {
	h, err := parseHeader(pkt)
	if err == nil && h.version == 3 && string(h.engineID) == string(d.engine.id) {
		d.engine.boots = int32(h.boots)
		d.engine.start = goldenNow.Add(-time.Duration(h.engineTime) * time.Second)
	}
}

func TestGoldenDecode(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if len(dirs) == 0 {
		t.Fatal("no golden cases; capture them with -capture")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pkt, err := os.ReadFile(filepath.Join(dir, "packet.bin"))
			if err != nil {
				t.Fatal(err)
			}
			d := goldenDecoder(t)
			syncEngine(d, pkt)
			res := d.decode(append([]byte(nil), pkt...), goldenSrc, goldenNow)
			g := goldenEvent{Reason: res.reason, Reply: res.reply != nil}
			if res.ok {
				res.ev.Raw = nil
				g.Event = &res.ev
			}
			got, _ := json.MarshalIndent(g, "", "  ")
			got = append(got, '\n')
			path := filepath.Join(dir, "event.golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
