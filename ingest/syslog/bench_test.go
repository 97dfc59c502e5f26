package syslog

import (
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// benchRules are the extraction rules of the benchmarks: the register
// scenario first, then a link rule on structured data, as in
// examples/retail/corrd-syslog.yml.
const benchRules = `
name: bench
protocol: udp
address: 127.0.0.1:0
timezone: Europe/Stockholm
extract:
  - match: {app: pos, severity: "<=err"}
    regex: 'terminal (?P<register>\d+) offline'
    labels: {alertname: RegisterOffline, chain: ica, store: '{{ .Host }}', register: '{{ .Groups.register }}'}
    severity: critical
    fingerprint: [alertname, chain, store, register]
  - match: {msgid: LINKDOWN, sd: {"ifx@32473.ifIndex": '\d+'}}
    labels: {alertname: LinkDown, role: access-switch, switch: '{{ .Host }}', interface: '{{ .SD.ifx@32473.ifIndex }}'}
    fingerprint: [alertname, switch, interface]
  - match: {app: '%LINK-3-UPDOWN'}
    regex: 'Interface (?P<ifname>\S+), changed state to down'
    labels: {alertname: LinkDown, role: access-switch, switch: '{{ .Host }}', interface: '{{ .Groups.ifname }}'}
`

var benchInputs = []struct{ name, msg string }{
	{"rfc3164", "<131>Nov 22 07:59:58 ica-0412-pos pos[812]: terminal 7 offline"},
	{"rfc3164-rfc3339", "<131>2026-11-22T07:59:58.123456+01:00 ica-0412-pos pos[812]: terminal 7 offline"},
	{"rfc5424", "<131>1 2026-11-22T07:59:58.001234Z ica-0412-pos pos 812 - - terminal 7 offline"},
	{"rfc5424-sd", `<28>1 2026-11-22T07:59:58.001234Z sw-dc1-07 ifmgr 4711 LINKDOWN [ifx@32473 ifIndex="7" ifName="Gi0/7"][meta sequenceId="12"] link down`},
	{"cisco", "<187>237: Nov 22 07:59:58.295: %LINK-3-UPDOWN: Interface GigabitEthernet0/7, changed state to down"},
	{"unmatched-rfc3164", "<134>Nov 22 07:59:58 web-01 nginx[311]: 10.1.2.3 - - \"GET /index.html HTTP/1.1\" 200 512"},
	{"unmatched-rfc5424", "<134>1 2026-11-22T07:59:58.001234Z web-01 nginx 311 - - 10.1.2.3 - - \"GET /index.html HTTP/1.1\" 200 512"},
	{"malformed", "\x00\x01binary garbage \xff\xfe"},
}

// BenchmarkProcess is parse + extract + event building of one message, as
// a UDP worker or TCP connection runs it.
func BenchmarkProcess(b *testing.B) {
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) {
			cfg := readConfigString(b, benchRules)
			if in.name == "cisco" {
				cfg.CiscoIOS = []string{"message_counter"}
			}
			l, err := newListener(cfg, ingest.NewMetrics(nil), nil, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			pr := l.newProcessor()
			peer := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 514}
			msg := []byte(in.msg)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				pr.handle(msg, peer, goldenArrival)
				pr.resetEvents()
			}
		})
	}
}

// BenchmarkParse compares the hand-written parser with go-syslog alone on
// the messages the fast path takes.
func BenchmarkParse(b *testing.B) {
	for _, in := range benchInputs[:3] {
		for _, fast := range []bool{true, false} {
			name := in.name + "/go-syslog"
			if fast {
				name = in.name + "/fast"
			}
			b.Run(name, func(b *testing.B) {
				p := newParser(parserOptions{format: FormatAuto, loc: time.UTC})
				p.noFast = !fast
				msg := []byte(in.msg)
				var m message
				b.ReportAllocs()
				for b.Loop() {
					if ok, _ := p.parse(msg, goldenArrival, &m); !ok {
						b.Fatal("not parsed")
					}
				}
			})
		}
	}
}
