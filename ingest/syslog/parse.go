package syslog

import (
	"bytes"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/ciscoios"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// message is one parsed syslog message, in the fields extraction reads.
type message struct {
	facility, severity uint8
	hasTime            bool
	time               time.Time
	host, app, procID  string
	msgID, text        string
	sd                 map[string]map[string]string
}

// parser parses messages of one listener. It is not safe for concurrent
// use: each worker or connection has its own.
type parser struct {
	m      gosyslog.Machine
	loc    *time.Location
	format Format
	noFast bool // go-syslog only: Cisco headers, or to compare in tests
	zones  map[int]*time.Location
	buf    []byte
	yearAt int64
	year   int
	// The last RFC 3164 stamp and where fillYear put it.
	lastStamp [15]byte
	lastYear  int
	lastTime  time.Time
}

// parserOptions are what a listener's config says about parsing.
type parserOptions struct {
	format   Format
	loc      *time.Location
	cisco    []string
	framed   bool // octet counting may carry newlines inside a message
	maxBytes int
}

func newParser(o parserOptions) *parser {
	// The Stamp is read in UTC, year 0, and placed in o.loc by fillYear:
	// zone lookups in year 0 scan a zone's whole history.
	opts3164 := []gosyslog.MachineOption{
		rfc3164.WithRFC3339(),
		rfc3164.WithLenientDay(),
		rfc3164.WithEmbeddedNewlines(),
		rfc3164.WithBestEffort(),
	}
	if len(o.cisco) > 0 {
		flags := ciscoios.DisableMessageCounter | ciscoios.DisableSequenceNumber | ciscoios.DisableHostname
		for _, c := range o.cisco {
			switch c {
			case "message_counter":
				flags &^= ciscoios.DisableMessageCounter
			case "sequence_number":
				flags &^= ciscoios.DisableSequenceNumber
			case "hostname":
				flags &^= ciscoios.DisableHostname
			}
		}
		opts3164 = append(opts3164, rfc3164.WithCiscoIOSComponents(flags))
	} else {
		opts3164 = append(opts3164, rfc3164.WithSecondFractions())
	}
	opts5424 := []gosyslog.MachineOption{rfc5424.WithBestEffort()}
	p := &parser{loc: o.loc, format: o.format, noFast: len(o.cisco) > 0}
	switch o.format {
	case FormatRFC5424:
		p.m = rfc5424.NewMachine(opts5424...)
	case FormatRFC3164:
		p.m = rfc3164.NewMachine(opts3164...)
	default:
		p.m = auto.NewMachine(auto.WithRFC3164Options(opts3164...), auto.WithRFC5424Options(opts5424...))
	}
	return p
}

// parse parses b into m. ok is false when b has no usable header (not even
// a valid PRI): the message is malformed. partial is true when the parser
// reported an error but recovered the header fields before it.
func (p *parser) parse(b []byte, arrival time.Time, m *message) (ok, partial bool) {
	*m = message{}
	b = trimTrailer(b)
	if len(b) == 0 || b[0] != '<' {
		return false, false
	}
	if p.fastParse(b, arrival, m) {
		m.text = trimBOM(m.text)
		return true, false
	}
	*m = message{}
	in, stamp := b, time.Time{}
	if i, j := rfc3339Frac(b); j > 0 {
		// go-syslog's RFC 3164 machine takes RFC 3339 timestamps only
		// without fractions of seconds, which rsyslog's forwarding formats
		// send: parse the stamp here and give it the rest without them.
		end := j
		for end < len(b) && b[end] != ' ' {
			end++
		}
		if t, err := time.Parse(time.RFC3339Nano, string(b[i:end])); err == nil {
			stamp = t
			p.buf = append(append(p.buf[:0], b[:j-1]...), b[j+fracLen(b[j:]):]...)
			in = p.buf
		}
	}
	msg, err := p.m.Parse(in)
	if msg == nil || !msg.Valid() {
		return false, false
	}
	partial = err != nil
	switch v := msg.(type) {
	case *rfc5424.SyslogMessage:
		p.base(&v.Base, m)
		if v.StructuredData != nil {
			m.sd = *v.StructuredData
		}
	case *rfc3164.SyslogMessage:
		p.base(&v.Base, m)
		if m.hasTime && m.time.Year() == 0 {
			m.time = fillYearIn(m.time, arrival, p.arrivalYear(arrival), p.loc)
		}
	default:
		return false, false
	}
	if !stamp.IsZero() && m.hasTime {
		m.time = stamp
	}
	if partial && m.text == "" && m.host == "" {
		// Only the PRI was understood: keep the rest as the text, as
		// devices that send "<13>some text" mean it.
		if i := bytes.IndexByte(b, '>'); i > 0 {
			m.text = string(b[i+1:])
		}
	}
	m.text = trimBOM(m.text)
	return true, partial
}

// rfc3339Frac finds an RFC 3339 timestamp with a fraction of a second
// right after the PRI: i is where the stamp starts, j where the fraction's
// digits start (after the '.'); j is 0 when there is none.
func rfc3339Frac(b []byte) (i, j int) {
	k := bytes.IndexByte(b, '>')
	if k < 0 || k > 4 {
		return 0, 0
	}
	i = k + 1
	const layout = "dddd-dd-ddTdd:dd:dd."
	if len(b) < i+len(layout)+1 {
		return 0, 0
	}
	for n := 0; n < len(layout); n++ {
		c := b[i+n]
		if layout[n] == 'd' {
			if c < '0' || c > '9' {
				return 0, 0
			}
		} else if c != layout[n] {
			return 0, 0
		}
	}
	return i, i + len(layout)
}

func fracLen(b []byte) int {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}

func (p *parser) base(b *gosyslog.Base, m *message) {
	if b.Facility != nil {
		m.facility = *b.Facility
	}
	if b.Severity != nil {
		m.severity = *b.Severity
	}
	if b.Timestamp != nil && !b.Timestamp.IsZero() {
		m.hasTime, m.time = true, *b.Timestamp
	}
	if b.Hostname != nil {
		m.host = *b.Hostname
	}
	if b.Appname != nil {
		m.app = *b.Appname
	}
	if b.ProcID != nil {
		m.procID = *b.ProcID
	}
	if b.MsgID != nil {
		m.msgID = *b.MsgID
	}
	if b.Message != nil {
		m.text = *b.Message
	}
}

// fillYear gives an RFC 3164 timestamp (year 0, its wall clock read in
// UTC) the zone loc and the year that puts it closest to the arrival time,
// so that a December message read in January (or a sender's clock a little
// ahead across New Year) lands in the right year.
func fillYear(t, arrival time.Time, loc *time.Location) time.Time {
	return fillYearIn(t, arrival, arrival.In(loc).Year(), loc)
}

// fillYearIn is fillYear with the arrival's year in loc given.
func fillYearIn(t, arrival time.Time, year int, loc *time.Location) time.Time {
	best := time.Time{}
	var bestD time.Duration
	for _, y := range [...]int{year, year - 1, year + 1} {
		c := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
		if c.Month() != t.Month() { // 29 February in a common year
			continue
		}
		d := c.Sub(arrival)
		if d < 0 {
			d = -d
		}
		if d <= halfYear {
			return c
		}
		if best.IsZero() || d < bestD {
			best, bestD = c, d
		}
	}
	if best.IsZero() {
		return arrival
	}
	return best
}

// halfYear: a stamp this close to the arrival is in the arrival's year.
const halfYear = 183 * 24 * time.Hour

// arrivalYear is the year of arrival in the parser's zone, cached per
// second of arrival.
func (p *parser) arrivalYear(arrival time.Time) int {
	if sec := arrival.Unix(); sec != p.yearAt || p.year == 0 {
		p.yearAt, p.year = sec, arrival.In(p.loc).Year()
	}
	return p.year
}

// trimTrailer drops the line ends and NULs senders put after a message.
func trimTrailer(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

var bom = "\xef\xbb\xbf"

func trimBOM(s string) string {
	if len(s) >= 3 && s[:3] == bom {
		return s[3:]
	}
	return s
}

// The facility keywords by code, as rsyslog and logger spell them.
var facilityNames = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// The severity keywords by code.
var severityNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

func facilityName(f uint8) string {
	if int(f) < len(facilityNames) {
		return facilityNames[f]
	}
	return ""
}

func severityName(s uint8) string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return ""
}
