package main

// End-to-end: the corrd binary receiving traps and INFORMs from net-snmp's
// snmptrap and snmpinform (Debian package snmp), every version and
// security level, and refusing bad ones.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// snmptrapAddress reads the trap listener's bound address from corrd's
// "listening" log line.
func snmptrapAddress(t *testing.T, p *process) string {
	t.Helper()
	var addr string
	eventually(t, 10*time.Second, "the snmptrap listening line", func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.log()))
		for sc.Scan() {
			var rec struct {
				Msg       string `json:"message"`
				Component string `json:"component"`
				Address   string `json:"address"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Component == "snmptrap" && rec.Msg == "listening" {
				addr = rec.Address
				return true
			}
		}
		return false
	})
	return addr
}

// runNetSNMP runs a net-snmp command line with no MIBs and private state.
func runNetSNMP(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=/nonexistent", "SNMP_PERSISTENT_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// metricValue returns the value of the sample whose name and labels start
// with prefix, or -1.
func metricValue(t *testing.T, base, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
				return v
			}
		}
	}
	return -1
}

func TestSNMPTrapEndToEnd(t *testing.T) {
	needPeer(t, "snmptrap")
	needPeer(t, "snmpinform")
	sink := &sinkRecorder{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	ticketing := srv.URL
	rulesPath, _ := filepath.Abs("../../examples/snmp/rules.yml")
	trapsPath, _ := filepath.Abs("../../examples/snmp/store-switch.traps.yaml")
	base, corrd := startCorrd(t, fmt.Sprintf(`
ingest:
  snmptrap:
    - name: switches
      address: 127.0.0.1:0
      communities: [public]
      allow_sources: [127.0.0.0/8]
      users:
        - {name: alice, auth_protocol: SHA-256, auth_passphrase: authpass123, priv_protocol: AES, priv_passphrase: privpass123}
        - {name: bob, auth_protocol: MD5, auth_passphrase: authpass456}
      engine_id: 0x8000000001020304
      trap_files: [%q]
rule_files: [%q]
outputs:
  sinks:
    - name: tickets
      type: webhook
      webhook: {url: %q, timeout: 5s}
`, trapsPath, rulesPath, ticketing))
	addr := snmptrapAddress(t, corrd)

	// linkDown for port N of this switch, in each version and security
	// level; every port opens its own incident.
	down := func(port int) []string {
		return []string{addr, "", "1.3.6.1.6.3.1.1.5.3",
			fmt.Sprintf("1.3.6.1.2.1.2.2.1.1.%d", port), "i", fmt.Sprint(port),
			fmt.Sprintf("1.3.6.1.2.1.2.2.1.8.%d", port), "i", "2"}
	}
	alice := []string{"-v", "3", "-u", "alice", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass123", "-x", "AES", "-X", "privpass123"}
	bob := []string{"-v", "3", "-u", "bob", "-l", "authNoPriv", "-a", "MD5", "-A", "authpass456"}
	sends := [][]string{
		// v1 generic trap 2 (linkDown) from agent 127.0.0.1.
		{"snmptrap", "-v", "1", "-c", "public", addr, "1.3.6.1.4.1.8072.2.3", "127.0.0.1", "2", "0", "",
			"1.3.6.1.2.1.2.2.1.1.1", "i", "1"},
		append([]string{"snmptrap", "-v", "2c", "-c", "public"}, down(2)...),
		append([]string{"snmpinform", "-v", "2c", "-c", "public", "-t", "2", "-r", "1"}, down(3)...),
		append(append([]string{"snmptrap", "-e", "0x8000000001aabbcc"}, bob...), down(4)...),
		append(append([]string{"snmptrap", "-e", "0x8000000001aabbcc"}, alice...), down(5)...),
		append(append([]string{"snmpinform", "-t", "2", "-r", "1"}, alice...), down(6)...),
		append(append([]string{"snmpinform", "-t", "2", "-r", "1"}, bob...), down(7)...),
	}
	for _, s := range sends {
		runNetSNMP(t, s...)
	}
	eventually(t, 15*time.Second, "7 open port incidents", func() bool {
		l := getIncidents(t, base)
		n := 0
		for _, inc := range l.Incidents {
			if inc.Rule == "switch-port-down" && inc.Status == "open" {
				n++
			}
		}
		return n == 7
	})
	m := `corrd_ingest_snmptrap_informs_acknowledged_total{source="switches"}`
	if got := metricValue(t, base, m); got != 3 {
		t.Errorf("%s = %v, want 3", m, got)
	}

	// Port 2 comes back: linkUp resolves its incident, and only it.
	runNetSNMP(t, append([]string{"snmptrap", "-v", "2c", "-c", "public", addr, "", "1.3.6.1.6.3.1.1.5.4"},
		"1.3.6.1.2.1.2.2.1.1.2", "i", "2", "1.3.6.1.2.1.2.2.1.8.2", "i", "1")...)
	var resolvedID string
	eventually(t, 15*time.Second, "port 2's incident resolved", func() bool {
		l := getIncidents(t, base)
		resolved := 0
		for _, inc := range l.Incidents {
			if inc.Status == "resolved" {
				resolved++
				resolvedID = inc.ID
				if !strings.Contains(inc.Title, "Port 2 ") {
					t.Errorf("resolved %q, want port 2's incident", inc.Title)
				}
			}
		}
		return resolved == 1 && len(l.Incidents) == 7
	})
	eventually(t, 15*time.Second, "opened and resolved at the sink", func() bool {
		return strings.Join(sink.types(resolvedID), ",") == "opened,resolved"
	})

	// Refused: a wrong community, a wrong password, and a noAuth packet
	// for a user that has authentication. Each is counted by reason.
	rejects := []struct {
		reason string
		args   []string
	}{
		{"bad_community", append([]string{"snmptrap", "-v", "2c", "-c", "private"}, down(8)...)},
		{"wrong_digest", append([]string{"snmptrap", "-v", "3", "-e", "0x8000000001aabbcc", "-u", "bob", "-l", "authNoPriv", "-a", "MD5", "-A", "wrongpass99"}, down(9)...)},
		{"unsupported_security_level", append([]string{"snmptrap", "-v", "3", "-e", "0x8000000001aabbcc", "-u", "alice", "-l", "noAuthNoPriv"}, down(10)...)},
	}
	for _, r := range rejects {
		runNetSNMP(t, r.args...)
		m := fmt.Sprintf(`corrd_ingest_snmptrap_auth_failures_total{reason=%q,source="switches"}`, r.reason)
		eventually(t, 10*time.Second, m+" = 1", func() bool { return metricValue(t, base, m) == 1 })
	}
	if n := len(getIncidents(t, base).Incidents); n != 7 {
		t.Errorf("%d incidents after the refused packets, want 7", n)
	}
}
