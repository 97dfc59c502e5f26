package syslog

import (
	"time"
)

// A hand-written parser for the shapes nearly all senders use, in front of
// go-syslog: profiling corrd at line rate put go-syslog's machines (their
// time.Parse, and one string and one pointer per field) at a fifth of the
// CPU. It takes only messages that go-syslog parses without error and
// reads them into the same fields; anything else (structured data, Cisco
// headers, odd spacing, control characters, errors) goes to go-syslog.
// FuzzFastParse checks the two agree.
//
//	RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOST SP APP SP PROCID SP MSGID SP - [SP MSG]
//	RFC 3164: <PRI>Mmm dd hh:mm:ss SP HOST SP TAG[PID]: SP MSG
//	          <PRI>YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm) SP HOST SP TAG[PID]: SP MSG
//
// All fields are substrings of one string copied from the input: one
// allocation per message.

// fastParse parses b into m; it reports false, with m in any state, when
// b is not one of its shapes.
func (p *parser) fastParse(b []byte, arrival time.Time, m *message) bool {
	if p.noFast {
		return false
	}
	pri, i, ok := parsePRI(b)
	if !ok {
		return false
	}
	m.facility, m.severity = uint8(pri/8), uint8(pri%8)
	if v := versionEnd(b, i); v > 0 {
		if p.format == FormatRFC3164 {
			return false
		}
		return p.fast5424(b, v+1, m)
	}
	if p.format == FormatRFC5424 {
		return false
	}
	return p.fast3164(b, i, arrival, m)
}

// parsePRI reads "<PRI>"; i is the index after '>'.
func parsePRI(b []byte) (pri, i int, ok bool) {
	if len(b) < 3 || b[0] != '<' {
		return 0, 0, false
	}
	i = 1
	for i < len(b) && i <= 4 && isDigit(b[i]) {
		pri = pri*10 + int(b[i]-'0')
		i++
	}
	if i == 1 || i > 4 || i >= len(b) || b[i] != '>' || pri > 191 || (b[1] == '0' && i > 2) {
		return 0, 0, false
	}
	return pri, i + 1, true
}

// versionEnd returns the index of the SP after an RFC 5424 VERSION at i,
// 0 when there is none.
func versionEnd(b []byte, i int) int {
	j := i
	for j < len(b) && j-i < 3 && isDigit(b[j]) {
		j++
	}
	if j == i || b[i] == '0' || j >= len(b) || b[j] != ' ' {
		return 0
	}
	return j
}

func (p *parser) fast5424(b []byte, i int, m *message) bool {
	// TIMESTAMP
	if i < len(b) && b[i] == '-' {
		i++
	} else {
		t, n, ok := p.parseRFC3339(b[i:], 6)
		if !ok {
			return false
		}
		m.hasTime, m.time = true, t
		i += n
	}
	if i >= len(b) || b[i] != ' ' {
		return false
	}
	i++
	// One string holds every field.
	s := string(b[i:])
	j := 0
	var fields [4]string
	for f, maxLen := range [4]int{255, 48, 128, 32} {
		start := j
		for j < len(s) && isGraph(s[j]) {
			j++
		}
		if j == start || j-start > maxLen || j >= len(s) || s[j] != ' ' {
			return false
		}
		if v := s[start:j]; v != "-" {
			fields[f] = v
		}
		j++
	}
	m.host, m.app, m.procID, m.msgID = fields[0], fields[1], fields[2], fields[3]
	// Structured data: only the nil value; go-syslog reads the rest.
	if j >= len(s) || s[j] != '-' {
		return false
	}
	j++
	if j == len(s) {
		return true
	}
	if s[j] != ' ' {
		return false
	}
	m.text = s[j+1:]
	return true
}

// daysIn0 are the days of the months of year 0, a leap year, in which
// go-syslog reads the stamp.
var daysIn0 = [12]int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func (p *parser) fast3164(b []byte, i int, arrival time.Time, m *message) bool {
	if i+16 > len(b) {
		return false
	}
	if isDigit(b[i]) {
		t, n, ok := p.parseRFC3339(b[i:], 9)
		if !ok || t.Year() == 0 { // year 0 is the year-less Stamp's
			return false
		}
		m.hasTime, m.time = true, t
		i += n
	} else {
		t, ok := p.stamp3164(b[i:i+15], arrival)
		if !ok {
			return false
		}
		m.hasTime, m.time = true, t
		i += 15
	}
	if i >= len(b) || b[i] != ' ' {
		return false
	}
	i++
	s := string(b[i:])
	// HOST
	j := 0
	for j < len(s) && isGraph(s[j]) && s[j] != ':' && s[j] != '[' && s[j] != ']' {
		j++
	}
	if j == 0 || j > 255 || j >= len(s) || s[j] != ' ' {
		return false
	}
	m.host = nilDash(s[:j])
	j++
	// TAG, [PID], ':' SP
	start := j
	for j < len(s) && s[j] > ' ' && s[j] < 0x7f && s[j] != ':' && s[j] != '[' && s[j] != ']' {
		j++
	}
	if j == start || j-start > 48 || j >= len(s) {
		return false
	}
	m.app = nilDash(s[start:j])
	if s[j] == '[' {
		j++
		start = j
		for j < len(s) && s[j] != ']' && s[j] != '[' && visible(s[j]) {
			j++
		}
		if j >= len(s) || s[j] != ']' {
			return false
		}
		m.procID = nilDash(s[start:j])
		j++
	}
	if j+2 > len(s) || s[j] != ':' || s[j+1] != ' ' {
		return false
	}
	j += 2
	if j >= len(s) {
		return false
	}
	for k := j; k < len(s); k++ {
		if !visible(s[k]) {
			return false
		}
	}
	m.text = s[j:]
	return true
}

// stamp3164 reads "Mmm dd hh:mm:ss" (the day space- or zero-padded) and
// places it by fillYear. The last stamp is cached: a burst shares its
// seconds, and placing a stamp in a zone costs more than parsing it.
func (p *parser) stamp3164(b []byte, arrival time.Time) (time.Time, bool) {
	year := p.arrivalYear(arrival)
	if string(b) == string(p.lastStamp[:]) && year == p.lastYear && p.lastTime.Year() == year && within(p.lastTime.Sub(arrival), halfYear) {
		// fillYearIn would give the same: its first candidate, this year.
		return p.lastTime, true
	}
	mon := month(b[0], b[1], b[2])
	if mon == 0 || b[3] != ' ' || b[6] != ' ' {
		return time.Time{}, false
	}
	// "dd", " d" or, lenient, "0d"
	d1, d2 := b[4], b[5]
	if !isDigit(d2) || (d1 != ' ' && !isDigit(d1)) {
		return time.Time{}, false
	}
	day := int(d2 - '0')
	if d1 != ' ' {
		day += 10 * int(d1-'0')
	}
	if day < 1 || (d1 == ' ' && d2 == '0') || day > daysIn0[mon-1] {
		return time.Time{}, false
	}
	hh, mm, ss, ok := parseHMS(b[7:])
	if !ok {
		return time.Time{}, false
	}
	t := fillYearIn(time.Date(0, time.Month(mon), day, hh, mm, ss, 0, time.UTC), arrival, year, p.loc)
	copy(p.lastStamp[:], b)
	p.lastYear, p.lastTime = year, t
	return t, true
}

// month is the number of a month's English abbreviation, 0 for none.
func month(a, b, c byte) int {
	switch uint32(a)<<16 | uint32(b)<<8 | uint32(c) {
	case 'J'<<16 | 'a'<<8 | 'n':
		return 1
	case 'F'<<16 | 'e'<<8 | 'b':
		return 2
	case 'M'<<16 | 'a'<<8 | 'r':
		return 3
	case 'A'<<16 | 'p'<<8 | 'r':
		return 4
	case 'M'<<16 | 'a'<<8 | 'y':
		return 5
	case 'J'<<16 | 'u'<<8 | 'n':
		return 6
	case 'J'<<16 | 'u'<<8 | 'l':
		return 7
	case 'A'<<16 | 'u'<<8 | 'g':
		return 8
	case 'S'<<16 | 'e'<<8 | 'p':
		return 9
	case 'O'<<16 | 'c'<<8 | 't':
		return 10
	case 'N'<<16 | 'o'<<8 | 'v':
		return 11
	case 'D'<<16 | 'e'<<8 | 'c':
		return 12
	}
	return 0
}

// parseRFC3339 reads YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm) with at
// most maxFrac digits of fraction; n is its length.
func (p *parser) parseRFC3339(b []byte, maxFrac int) (t time.Time, n int, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' {
		return t, 0, false
	}
	year, ok1 := digits(b[0:4])
	mon, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hh, mm, ss, ok4 := parseHMS(b[11:])
	if !ok1 || !ok2 || !ok3 || !ok4 || mon < 1 || mon > 12 || day < 1 {
		return t, 0, false
	}
	i := 19
	ns := 0
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && isDigit(b[i]) && i-start < maxFrac {
			ns = ns*10 + int(b[i]-'0')
			i++
		}
		if i == start || (i < len(b) && isDigit(b[i])) {
			return t, 0, false
		}
		for k := i - start; k < 9; k++ {
			ns *= 10
		}
	}
	if i >= len(b) {
		return t, 0, false
	}
	loc := time.UTC
	switch b[i] {
	case 'Z':
		i++
	case '+', '-':
		if i+6 > len(b) || b[i+3] != ':' {
			return t, 0, false
		}
		oh, okh := digits(b[i+1 : i+3])
		om, okm := digits(b[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return t, 0, false
		}
		off := oh*3600 + om*60
		if b[i] == '-' {
			off = -off
		}
		loc = p.zone(off)
		i += 6
	default:
		return t, 0, false
	}
	t = time.Date(year, time.Month(mon), day, hh, mm, ss, ns, loc)
	if t.Day() != day || t.IsZero() { // 31 April and the like; the zero time is "none"
		return t, 0, false
	}
	return t, i, true
}

// zone returns a fixed zone of the offset, cached: time.FixedZone
// allocates.
func (p *parser) zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if l, ok := p.zones[off]; ok {
		return l
	}
	if p.zones == nil || len(p.zones) > 64 {
		p.zones = map[int]*time.Location{}
	}
	l := time.FixedZone("", off)
	p.zones[off] = l
	return l
}

// parseHMS reads "hh:mm:ss".
func parseHMS(b []byte) (hh, mm, ss int, ok bool) {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return 0, 0, 0, false
	}
	hh, ok1 := digits(b[0:2])
	mm, ok2 := digits(b[3:5])
	ss, ok3 := digits(b[6:8])
	return hh, mm, ss, ok1 && ok2 && ok3 && hh < 24 && mm < 60 && ss < 60
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isGraph: PRINTUSASCII of RFC 5424, %d33-126.
func isGraph(c byte) bool { return c > ' ' && c < 0x7f }

// visible: the bytes go-syslog's RFC 3164 machine takes in a message.
func visible(c byte) bool { return c >= ' ' && c != 0x7f || c == '\t' }

// nilDash: go-syslog reads "-" as no value.
func nilDash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func within(d, limit time.Duration) bool { return d <= limit && d >= -limit }
