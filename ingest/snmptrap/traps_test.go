package snmptrap

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corrd/corrd/ingest"
)

func TestTrapTableValidate(t *testing.T) {
	tt, err := ParseTrapTable([]byte(`
traps:
  - {name: a, oid: 1.3.6.1.6.3.1.1.5.3, severity: loud, action: toggle, fingerprint: [bad-name]}
  - {oid: 1.3.6.1.6.3.1.1.5.4}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = tt.Validate("f: ")
	for _, want := range []string{
		`f: traps[0] "a".severity: unknown "loud"`,
		`f: traps[0] "a".action: unknown "toggle"`,
		`f: traps[0] "a".fingerprint[0]: invalid label name "bad-name"`,
		`f: traps[1] "".name: must not be empty`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	if _, err := ParseTrapTable([]byte("traps:\n  - {name: a, oid: 1, sev: major}\n")); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestTrapTableLookup(t *testing.T) {
	mib, _, err := LoadMIB(nil)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := compileTraps([]TrapDef{
		{Name: "down", OID: "IF-MIB::linkDown"},
		{Name: "up", OID: "linkUp"},
		{Name: "ups", OID: "1.3.6.1.2.1.33.2.*"},
		{Name: "upsBattery", OID: "1.3.6.1.2.1.33.2.1"},
		{Name: "vendor", OID: ".1.3.6.1.4.1.*"},
		{Name: "vendor9", OID: "1.3.6.1.4.1.9.*"},
	}, mib)
	if err != nil {
		t.Fatal(err)
	}
	for oid, want := range map[string]string{
		"1.3.6.1.6.3.1.1.5.3":    "down",
		"1.3.6.1.6.3.1.1.5.4":    "up",
		"1.3.6.1.2.1.33.2.1":     "upsBattery",
		"1.3.6.1.2.1.33.2.4":     "ups",
		"1.3.6.1.4.1.9.9.41.2.1": "vendor9",
		"1.3.6.1.4.1.8072.0.1":   "vendor",
		"1.3.6.1.4.1":            "",
	} {
		got := ""
		if d := tab.lookup(oid); d != nil {
			got = d.name
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", oid, got, want)
		}
	}
	if _, err := compileTraps([]TrapDef{{Name: "x", OID: "NO-MIB::nothing"}}, mib); err == nil {
		t.Error("unknown name accepted")
	}
}

// TestExampleTrapTables loads the trap tables of examples/ against the
// bundled MIBs.
func TestExampleTrapTables(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.traps.yaml"))
	if len(files) == 0 {
		t.Fatal("no example trap tables")
	}
	mib, _, err := LoadMIB(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		defs, err := LoadTrapFiles([]string{f})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := compileTraps(defs, mib); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestGenerateTrapTable converts the bundled MIBs and decodes a linkDown
// and a linkUp with the result: one signal, raised then cleared.
func TestGenerateTrapTable(t *testing.T) {
	mib, _, err := LoadMIB(nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := GenerateTrapTable(&buf, mib, nil); err != nil {
		t.Fatal(err)
	}
	tt, err := ParseTrapTable(buf.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if err := tt.Validate(""); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	byName := map[string]TrapDef{}
	for _, d := range tt.Traps {
		byName[d.Name] = d
	}
	down, up := byName["linkDown"], byName["linkUp"]
	if down.Action != "raise" || up.Action != "clear" || down.Alert != up.Alert || down.Severity != "major" {
		t.Errorf("linkDown %+v, linkUp %+v: want one alert raised by linkDown, cleared by linkUp", down, up)
	}
	if strings.Join(down.Fingerprint, ",") != "device,ifIndex" {
		t.Errorf("linkDown fingerprint %v, want [device ifIndex]", down.Fingerprint)
	}
	if byName["upsTrapOnBattery"].Severity != "critical" {
		t.Errorf("upsTrapOnBattery %+v, want critical", byName["upsTrapOnBattery"])
	}

	traps, err := compileTraps(tt.Traps, mib)
	if err != nil {
		t.Fatal(err)
	}
	cfg := goldenConfig()
	d, err := newDecoder(&cfg, mib, traps, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	var evs []ingest.Event
	for _, c := range []string{"v2c-linkdown", "v2c-inform-linkup"} {
		pkt, err := os.ReadFile(filepath.Join("testdata", "golden", c, "packet.bin"))
		if err != nil {
			t.Fatal(err)
		}
		res := d.decode(pkt, goldenSrc, goldenNow)
		if !res.ok {
			t.Fatalf("%s: %s", c, res.reason)
		}
		evs = append(evs, res.ev)
	}
	if evs[0].Fingerprint != evs[1].Fingerprint || evs[0].Status != ingest.StatusFiring || evs[1].Status != ingest.StatusResolved {
		t.Errorf("linkDown %x %s, linkUp %x %s: want one fingerprint, firing then resolved",
			evs[0].Fingerprint, evs[0].Status, evs[1].Fingerprint, evs[1].Status)
	}
}

func TestTimelinessRefusesReplays(t *testing.T) {
	tl := timeliness{window: 150}
	id := []byte("engine1")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		boots, time int64
		at          time.Duration
		want        bool
	}{
		{5, 1000, 0, true},                  // first message sets the clock
		{5, 1000, 0, true},                  // the same second again
		{5, 900, 10 * time.Second, true},    // 110 s older than the clock: in the window
		{5, 800, 10 * time.Second, false},   // 210 s older: a replay
		{4, 99999, 20 * time.Second, false}, // an earlier boot: a replay
		{6, 1, 30 * time.Second, true},      // the engine rebooted
		{5, 1100, 40 * time.Second, false},  // the old boot is gone
	}
	for i, s := range steps {
		if got := tl.check(id, s.boots, s.time, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (boots %d, time %d): got %v, want %v", i, s.boots, s.time, got, s.want)
		}
	}
}

// TestInformOutOfTimeWindow: an INFORM with our engine ID but a stale time
// is refused with a Report, so that the sender resynchronises.
func TestInformOutOfTimeWindow(t *testing.T) {
	pkt, err := os.ReadFile(filepath.Join("testdata", "golden", "v3-inform-authpriv", "packet.bin"))
	if err != nil {
		t.Fatal(err)
	}
	d := goldenDecoder(t)
	syncEngine(d, pkt)
	d.engine.start = d.engine.start.Add(-time.Hour)
	res := d.decode(append([]byte(nil), pkt...), goldenSrc, goldenNow)
	if res.ok || res.reason != reasonTimeWindow || res.reply == nil {
		t.Errorf("got ok %v reason %q reply %d bytes; want refused as not_in_time_window with a Report", res.ok, res.reason, len(res.reply))
	}
}

func TestUnknownTraps(t *testing.T) {
	pkt, err := os.ReadFile(filepath.Join("testdata", "golden", "v3-noauthnopriv", "packet.bin"))
	if err != nil {
		t.Fatal(err)
	}
	d := goldenDecoder(t)
	res := d.decode(append([]byte(nil), pkt...), goldenSrc, goldenNow)
	if !res.ok || !res.unknown || res.ev.Labels.Get("trap") != "coldStart" || res.ev.Severity != ingest.SeverityUnknown {
		t.Errorf("unknown: raw: got ok %v unknown %v labels %s severity %s", res.ok, res.unknown, res.ev.Labels, res.ev.Severity)
	}
	d.dropUnknown = true
	if res := d.decode(append([]byte(nil), pkt...), goldenSrc, goldenNow); res.ok || res.reason != reasonUnknownTrap {
		t.Errorf("unknown: drop: got ok %v reason %q", res.ok, res.reason)
	}
}
