package main

// End-to-end tests of the syslog listeners: the real corrd binary fed by
// util-linux's logger (UDP and TCP, RFC 3164 and 5424, both framings) and
// by rsyslog forwarding over TLS (rsyslog-gnutls).

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syslogAddrs waits for every named syslog listener's "listening" log line
// and returns their bound addresses by name.
func syslogAddrs(t *testing.T, p *process, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	eventually(t, 20*time.Second, "syslog listeners "+strings.Join(names, ", "), func() bool {
		for _, line := range strings.Split(p.log(), "\n") {
			var rec struct {
				Component, Source, Message, Address string
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Component == "ingest/syslog" && rec.Message == "listening" {
				out[rec.Source] = rec.Address
			}
		}
		for _, n := range names {
			if out[n] == "" {
				return false
			}
		}
		return true
	})
	return out
}

// runSyslogLogger runs logger to addr with args, the message lines on stdin.
func runSyslogLogger(t *testing.T, logger, addr string, stdin string, args ...string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(logger, append([]string{"-n", host, "-P", port}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger %v: %v\n%s", args, err, out)
	}
}

func syslogMetricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// syslogMetric is the value of the sample named exactly series, -1 if none.
func syslogMetric(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

type syslogIncident struct {
	ID          string            `json:"id"`
	Rule        string            `json:"rule"`
	Status      string            `json:"status"`
	SignalCount int               `json:"signal_count"`
	Title       string            `json:"title"`
	GroupLabels map[string]string `json:"group_labels"`
}

func syslogIncidents(t *testing.T, base, rule string) []syslogIncident {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/incidents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Incidents []syslogIncident `json:"incidents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	var out []syslogIncident
	for _, inc := range l.Incidents {
		if inc.Rule == rule {
			out = append(out, inc)
		}
	}
	return out
}

// syslogRegisterListener is the extraction rule of the register scenario: the chain
// names the transport, so that each transport makes its own incident.
func syslogRegisterListener(name, protocol, extra string) string {
	return fmt.Sprintf(`
    - name: %[1]s
      protocol: %[2]s
      address: 127.0.0.1:0
      idle_timeout: 2s
%[3]s
      extract:
        - match: {app: pos, severity: "<=err"}
          regex: 'terminal (?P<register>\d+) offline'
          labels: {alertname: RegisterOffline, chain: %[1]s, store: '{{ .Host }}', register: '{{ .Groups.register }}'}
          severity: critical
          fingerprint: [alertname, chain, store, register]
`, name, protocol, extra)
}

func syslogRulePaths(t *testing.T) string {
	t.Helper()
	retail, _ := filepath.Abs("../../examples/retail/rules.yml")
	dc, _ := filepath.Abs("../../examples/datacenter/rules.yml")
	return fmt.Sprintf("[%q, %q]", retail, dc)
}

// syslogTerminals are the lines of 12 registers going offline.
func syslogTerminals() string {
	var b strings.Builder
	for r := 1; r <= 12; r++ {
		fmt.Fprintf(&b, "terminal %d offline\n", r)
	}
	return b.String()
}

// TestSyslogLoggerEndToEnd: the 12-register burst sent by logger over each
// transport and format becomes exactly one store incident per transport;
// a switch's link down and link up over RFC 5424 structured data open and
// resolve a switch incident.
func TestSyslogLoggerEndToEnd(t *testing.T) {
	logger := needPeer(t, "logger")
	cfg := fmt.Sprintf(`
rule_files: %s
ingest:
  syslog:%s%s%s%s
    - name: network
      protocol: udp
      address: 127.0.0.1:0
      format: rfc5424
      extract:
        - match: {msgid: LINKDOWN}
          labels: {alertname: LinkDown, role: access-switch, switch: '{{ .Host }}', interface: '{{ .SD.ifx@32473.ifIndex }}'}
          fingerprint: [alertname, switch, interface]
        - match: {msgid: LINKUP}
          labels: {alertname: LinkDown, role: access-switch, switch: '{{ .Host }}', interface: '{{ .SD.ifx@32473.ifIndex }}'}
          status: resolved
          fingerprint: [alertname, switch, interface]
outputs:
  sinks: [{name: out, type: jsonl, jsonl: {path: "-"}}]
  routes: [{sinks: [out]}]
`, syslogRulePaths(t),
		syslogRegisterListener("udp3164", "udp", ""),
		syslogRegisterListener("udp5424", "udp", ""),
		syslogRegisterListener("tcpoctet", "tcp", ""),
		syslogRegisterListener("tcplf", "tcp", ""))
	base, corrd := startCorrd(t, cfg)
	addrs := syslogAddrs(t, corrd, "udp3164", "udp5424", "tcpoctet", "tcplf", "network")

	burst := syslogTerminals()
	runSyslogLogger(t, logger, addrs["udp3164"], burst, "--udp", "--rfc3164", "-t", "pos", "-p", "local0.err")
	runSyslogLogger(t, logger, addrs["udp5424"], burst, "--udp", "--rfc5424", "-t", "pos", "-p", "local0.crit")
	runSyslogLogger(t, logger, addrs["tcpoctet"], burst, "--tcp", "--rfc5424", "--octet-count", "-t", "pos", "-p", "local0.err")
	runSyslogLogger(t, logger, addrs["tcplf"], burst, "--tcp", "--rfc3164", "-t", "pos", "-p", "local0.err")

	chains := []string{"udp3164", "udp5424", "tcpoctet", "tcplf"}
	eventually(t, 30*time.Second, "one store-registers incident of 12 signals per transport", func() bool {
		incs := syslogIncidents(t, base, "store-registers")
		got := map[string]int{}
		for _, inc := range incs {
			got[inc.GroupLabels["chain"]] = inc.SignalCount
		}
		for _, c := range chains {
			if got[c] != 12 {
				return false
			}
		}
		return true
	})
	incs := syslogIncidents(t, base, "store-registers")
	if len(incs) != len(chains) {
		t.Errorf("got %d store-registers incidents, want %d (one per transport): %+v", len(incs), len(chains), incs)
	}
	if n := len(syslogIncidents(t, base, "register")); n != 0 {
		t.Errorf("got %d single-register incidents, want 0", n)
	}

	// A switch port goes down, then up.
	link := func(msgid, text string) {
		runSyslogLogger(t, logger, addrs["network"], text+"\n", "--udp", "--rfc5424", "-t", "ifmgr", "-p", "daemon.warning",
			"--msgid", msgid, "--sd-id", "ifx@32473", "--sd-param", `ifIndex="7"`)
	}
	link("LINKDOWN", "link down")
	eventually(t, 20*time.Second, "an open switch-down incident", func() bool {
		l := syslogIncidents(t, base, "switch-down")
		return len(l) == 1 && l[0].Status == "open"
	})
	link("LINKUP", "link up")
	eventually(t, 20*time.Second, "the switch-down incident to resolve", func() bool {
		l := syslogIncidents(t, base, "switch-down")
		return len(l) == 1 && l[0].Status == "resolved"
	})

	m := syslogMetricsText(t, base)
	for _, c := range chains {
		if got := syslogMetric(m, fmt.Sprintf(`corrd_ingest_syslog_events_emitted_total{source=%q}`, c)); got != 12 {
			t.Errorf("source %s: got %v events emitted, want 12", c, got)
		}
	}
	if got := syslogMetric(m, `corrd_ingest_syslog_events_emitted_total{source="network"}`); got != 2 {
		t.Errorf("network: got %v events emitted, want 2", got)
	}
}

// TestSyslogBadInputEndToEnd: garbage, oversized frames, a stalled half
// frame and a TLS client without a certificate are bounded and counted,
// and the daemon goes on serving.
func TestSyslogBadInputEndToEnd(t *testing.T) {
	logger := needPeer(t, "logger")
	dir := t.TempDir()
	pki := newSyslogPKI(t, dir)
	cfg := fmt.Sprintf(`
rule_files: %s
ingest:
  syslog:%s%s
    - name: tls
      protocol: tls
      address: 127.0.0.1:0
      idle_timeout: 2s
      tls: {cert_file: %q, key_file: %q, client_ca_file: %q, client_auth: require}
outputs:
  sinks: [{name: out, type: jsonl, jsonl: {path: "-"}}]
  routes: [{sinks: [out]}]
`, syslogRulePaths(t),
		syslogRegisterListener("udp", "udp", "      max_message_bytes: 1024"),
		syslogRegisterListener("tcp", "tcp", "      max_message_bytes: 1024\n      max_connections: 4"),
		pki.serverCert, pki.serverKey, pki.caFile)
	base, corrd := startCorrd(t, cfg)
	addrs := syslogAddrs(t, corrd, "udp", "tcp", "tls")

	// UDP: binary garbage and a datagram over max_message_bytes.
	u, err := net.Dial("udp", addrs["udp"])
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 300)
	_, _ = rand.Read(garbage)
	_, _ = u.Write(garbage)
	_, _ = u.Write(append([]byte("<131>Nov 22 07:59:58 h pos: "), bytes.Repeat([]byte("x"), 2000)...))
	u.Close()

	// TCP: an oversized octet-counted frame (skipped), then a client that
	// sends half a frame and stalls (closed after idle_timeout), and more
	// clients than max_connections.
	c1, err := net.Dial("tcp", addrs["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	big := "<131>1 - h pos - - - " + strings.Repeat("y", 5000)
	fmt.Fprintf(c1, "%d %s", len(big), big)
	fmt.Fprintf(c1, "100 <131>1 - h pos - - - half a fr")
	var extra []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", addrs["tcp"])
		if err == nil {
			extra = append(extra, c)
		}
	}

	// TLS: a client without a certificate is refused.
	tc, err := tls.Dial("tcp", addrs["tls"], &tls.Config{RootCAs: pki.pool, ServerName: "localhost"})
	if err == nil {
		// TLS 1.3 reports the refusal on the first read.
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = tc.Write([]byte("12 <13>1 - - x"))
		_, err = tc.Read(make([]byte, 1))
		tc.Close()
	}
	if err == nil {
		t.Error("a TLS client without a certificate was served")
	}

	eventually(t, 20*time.Second, "the bad input to be counted", func() bool {
		m := syslogMetricsText(t, base)
		return syslogMetric(m, `corrd_ingest_syslog_dropped_total{reason="too_large",source="udp"}`) == 1 &&
			syslogMetric(m, `corrd_ingest_syslog_dropped_total{reason="malformed",source="udp"}`) == 1 &&
			syslogMetric(m, `corrd_ingest_syslog_dropped_total{reason="too_large",source="tcp"}`) == 1 &&
			syslogMetric(m, `corrd_ingest_syslog_connections_closed_total{reason="idle_timeout",source="tcp"}`) >= 1 &&
			syslogMetric(m, `corrd_ingest_syslog_connections_closed_total{reason="too_many_connections",source="tcp"}`) >= 1 &&
			syslogMetric(m, `corrd_ingest_syslog_connections_closed_total{reason="tls_handshake",source="tls"}`) == 1
	})
	for _, c := range extra {
		c.Close()
	}

	// The daemon still serves: a register burst still makes its incident.
	runSyslogLogger(t, logger, addrs["udp"], syslogTerminals(), "--udp", "--rfc3164", "-t", "pos", "-p", "local0.err")
	eventually(t, 20*time.Second, "the udp store incident", func() bool {
		for _, inc := range syslogIncidents(t, base, "store-registers") {
			if inc.GroupLabels["chain"] == "udp" && inc.SignalCount == 12 {
				return true
			}
		}
		return false
	})
}

// TestSyslogRsyslogTLSEndToEnd: rsyslog receives the register burst from
// logger and forwards it to corrd over TLS (RFC 5425, octet counting),
// authenticating with a client certificate corrd requires.
func TestSyslogRsyslogTLSEndToEnd(t *testing.T) {
	rsyslogd := needPeer(t, "rsyslogd")
	logger := needPeer(t, "logger")
	if m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so"); len(m) == 0 {
		if os.Getenv("CORRD_E2E") == "require" {
			t.Fatal("rsyslog-gnutls is required (CORRD_E2E=require) but not installed")
		}
		t.Skip("rsyslog-gnutls not installed")
	}
	dir := t.TempDir()
	pki := newSyslogPKI(t, dir)
	base, corrd := startCorrd(t, fmt.Sprintf(`
rule_files: %s
ingest:
  syslog:
    - name: relay
      protocol: tls
      address: 127.0.0.1:0
      tls: {cert_file: %q, key_file: %q, client_ca_file: %q, client_auth: require}
      extract:
        - match: {app: pos}
          regex: 'terminal (?P<register>\d+) offline'
          labels: {alertname: RegisterOffline, chain: relay, store: '{{ .Host }}', register: '{{ .Groups.register }}'}
outputs:
  sinks: [{name: out, type: jsonl, jsonl: {path: "-"}}]
  routes: [{sinks: [out]}]
`, syslogRulePaths(t), pki.serverCert, pki.serverKey, pki.caFile))
	tlsAddr := syslogAddrs(t, corrd, "relay")["relay"]
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)

	// The UDP port is picked free and released before rsyslog binds it, so
	// another process may take it meanwhile: rsyslog then reports it could
	// not bind, and is started again on another port.
	var inAddr string
	for attempt := 1; ; attempt++ {
		inAddr = syslogFreeUDPPort(t)
		if startRsyslog(t, rsyslogd, dir, pki, inAddr, tlsPort) {
			break
		}
		if attempt == 3 {
			t.Fatal("rsyslog could not bind a UDP port in 3 attempts")
		}
	}
	runSyslogLogger(t, logger, inAddr, syslogTerminals(), "--udp", "--rfc3164", "-t", "pos", "-p", "local0.err")
	eventually(t, 30*time.Second, "one relay store incident of 12 signals", func() bool {
		l := syslogIncidents(t, base, "store-registers")
		return len(l) == 1 && l[0].SignalCount == 12
	})
	if l := syslogIncidents(t, base, "store-registers"); l[0].GroupLabels["chain"] != "relay" {
		t.Errorf("got group labels %v, want chain relay", l[0].GroupLabels)
	}
	if got := syslogMetric(syslogMetricsText(t, base), `corrd_ingest_syslog_connections{source="relay"}`); got != 1 {
		t.Errorf("got %v active connections, want rsyslog's 1", got)
	}
}

// startRsyslog runs rsyslogd with a UDP input on inAddr forwarding over TLS
// to tlsPort, and waits until the input is bound. It reports false (and
// stops rsyslogd) when the input could not bind.
func startRsyslog(t *testing.T, rsyslogd, dir string, pki syslogPKI, inAddr, tlsPort string) bool {
	t.Helper()
	_, inPort, _ := net.SplitHostPort(inAddr)
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
global(workDirectory=%[1]q
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile=%[2]q
       DefaultNetstreamDriverCertFile=%[3]q
       DefaultNetstreamDriverKeyFile=%[4]q)
module(load="imudp")
input(type="imudp" address="127.0.0.1" port=%[5]q)
action(type="omfwd" target="127.0.0.1" port=%[6]q protocol="tcp"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
       StreamDriverPermittedPeers="localhost" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
`, dir, pki.caFile, pki.clientCert, pki.clientKey, inPort, tlsPort)), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := startProcess(t, rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslog.pid"))
	// rsyslogd stops on SIGTERM, not on the interrupt startProcess sends;
	// this cleanup runs first.
	t.Cleanup(func() { _ = rs.cmd.Process.Signal(syscall.SIGTERM) })
	// Ready once the UDP input is bound, read from /proc/net/udp: probing by
	// binding the port ourselves could take it from rsyslog as it starts.
	port, _ := strconv.Atoi(inPort)
	bound := false
	eventually(t, 20*time.Second, "rsyslog's UDP input", func() bool {
		if strings.Contains(rs.log(), "Could not create udp listener") {
			return true
		}
		bound = udpPortBound(t, port)
		return bound
	})
	if !bound {
		_ = rs.cmd.Process.Signal(syscall.SIGTERM)
		t.Logf("rsyslog could not bind %s; trying another port", inAddr)
	}
	return bound
}

// udpPortBound reports whether some socket is bound to the loopback UDP
// port, from /proc/net/udp, without touching the port.
func udpPortBound(t *testing.T, port int) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatalf("read /proc/net/udp: %v", err)
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && f[1] == want {
			return true
		}
	}
	return false
}

// syslogFreeUDPPort returns a loopback UDP address that was free a moment ago.
func syslogFreeUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// syslogPKI is a CA with a server certificate for localhost and a client
// certificate, written as PEM files.
type syslogPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
}

func newSyslogPKI(t *testing.T, dir string) syslogPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "corrd test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := syslogPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = syslogWritePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "localhost"},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return syslogWritePEM(t, dir, name+".pem", "CERTIFICATE", der), syslogWritePEM(t, dir, name+"-key.pem", "PRIVATE KEY", kder)
	}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func syslogWritePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
