package syslog

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each a line of the joined error; none for valid
	}{
		{"minimal", "name: pos\naddress: :5514", nil},
		{"full tls", `
name: relay
protocol: tls
address: 127.0.0.1:6514
tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem, client_auth: require}
max_message_bytes: 65536
max_connections: 10
idle_timeout: 1m
unmatched: raw
malformed: raw
extract:
  - match: {app: pos, host: 'h\d+', msgid: X, facility: "local0,local7", severity: "<=err", sd: {"a@1.b": v}}
    regex: 'terminal (?P<register>\d+)'
    labels: {alertname: A, register: '{{ .Groups.register }}', x: '{{ .SD.a@1.b }}-{{ .Host }}'}
    annotations: {summary: '{{ .Message }}'}
    severity: critical
    status: resolved
    fingerprint: [alertname, register, host]
`, nil},
		{"missing", "protocol: udp", []string{
			`P: name: required`,
			`P: address: required`,
		}},
		{"tls without tls", "name: x\nprotocol: tls\naddress: :1", []string{`P: tls: required with protocol tls`}},
		{"tls on udp", "name: x\naddress: :1\ntls: {cert_file: a, key_file: b}", []string{`P: tls: only with protocol tls`}},
		{"client auth without ca", "name: x\nprotocol: tls\naddress: :1\ntls: {cert_file: a, key_file: b, client_auth: require}",
			[]string{`P: tls.client_ca_file: required with client_auth require`}},
		{"bad values", `
name: "a b"
address: nope
timezone: Mars/Olympus
cisco_ios: [serial]
max_message_bytes: 100
readers: -1
`, []string{
			`P: name: "a b" must be letters, digits, '_', '-' or '.'`,
			`P: address: address nope: missing port in address`,
			`P: timezone: unknown time zone Mars/Olympus`,
			`P: cisco_ios[0]: unknown component "serial" (want message_counter, sequence_number, hostname)`,
			`P: max_message_bytes: must be at least 480 (RFC 5426), got 100`,
			`P: readers: must be between 0 and 256, got -1`,
		}},
		{"bad rules", `
name: x
address: :1
extract:
  - regex: 'a'
  - match: {app: '(', facility: locl0, severity: "<=bad", sd: {nodot: x}}
    regex: '(?P<g>'
    labels: {"": x, "dotted.name": y, a: '{{ .Groups.missing }}', b: '{{ .Nope }}', c: '{{ .Host'}
    fingerprint: [zzz]
`, []string{
			"P: extract[1].match.app: error parsing regexp: missing closing ): `^(?:()$`",
			`P: extract[1].match.sd: key "nodot" must be SD-ID.PARAM, e.g. ifx@32473.ifIndex`,
			`P: extract[1].match.facility: unknown facility "locl0" (want kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron, local0, local1, local2, local3, local4, local5, local6, local7)`,
			`P: extract[1].match.severity: unknown severity "bad" (want emerg, alert, crit, err, warning, notice, info, debug, optionally after <=, >=, < or >)`,
			"P: extract[1].regex: error parsing regexp: missing closing ): `(?P<g>`",
			`P: extract[1].labels[""]: not a valid label name (non-empty UTF-8)`,
			`P: extract[1].labels.a: {{ .Groups.missing }}: no named group "missing" in the rule's regex or matchers (have [])`,
			`P: extract[1].labels.b: {{ .Nope }}: unknown field (want .Host, .App, .ProcID, .MsgID, .Message, .Facility, .Severity, .Groups.NAME or .SD.ID.PARAM)`,
			`P: extract[1].labels.c: unclosed {{`,
			`P: extract[1].fingerprint[0]: "zzz" is not a label of the rule (nor host, app, facility)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := readConfigString(t, tt.yaml)
			err := cfg.Validate("P")
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestConfigEnums(t *testing.T) {
	for _, s := range []string{"protocol: sctp", "format: rfc9999", "unmatched: keep", "tls: {client_auth: maybe}", "idle_timeout: soon"} {
		var cfg Config
		if err := decodeStrict(s, &cfg); err == nil {
			t.Errorf("%q: got no error", s)
		}
	}
}

func TestValidateAll(t *testing.T) {
	cfgs := []Config{
		{Name: "a", Address: "127.0.0.1:5514"},
		{Name: "a", Address: "127.0.0.1:5514", Protocol: TCP},
		{Name: "b", Address: "127.0.0.1:5514"},
	}
	err := ValidateAll("ingest.syslog", cfgs)
	want := `ingest.syslog[1] "a": name: duplicate of ingest.syslog[0]` + "\n" +
		`ingest.syslog[2] "b": address: 127.0.0.1:5514 also used by ingest.syslog[0]`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want:\n%s", err, want)
	}
}

func TestFillYear(t *testing.T) {
	stamp := func(m time.Month, d int) time.Time { return time.Date(0, m, d, 23, 59, 0, 0, time.UTC) }
	utc := time.UTC
	tests := []struct {
		name    string
		t       time.Time
		arrival time.Time
		want    time.Time
	}{
		{"same year", stamp(11, 22), time.Date(2026, 11, 22, 23, 59, 1, 0, utc), time.Date(2026, 11, 22, 23, 59, 0, 0, utc)},
		{"december read in january", stamp(12, 31), time.Date(2027, 1, 1, 0, 0, 5, 0, utc), time.Date(2026, 12, 31, 23, 59, 0, 0, utc)},
		{"sender ahead over new year", stamp(1, 1), time.Date(2026, 12, 31, 23, 58, 0, 0, utc), time.Date(2027, 1, 1, 23, 59, 0, 0, utc)},
		{"29 february in a common year", stamp(2, 29), time.Date(2027, 3, 1, 0, 0, 0, 0, utc), time.Date(2028, 2, 29, 23, 59, 0, 0, utc)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fillYear(tt.t, tt.arrival, utc); !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The zone applies to the wall clock of the stamp.
	sto, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Skip(err)
	}
	got := fillYear(time.Date(0, 7, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 10, 0, 0, 0, utc), sto)
	if want := time.Date(2026, 7, 1, 10, 0, 0, 0, utc); !got.Equal(want) {
		t.Errorf("Stockholm: got %v, want %v", got, want)
	}
}
