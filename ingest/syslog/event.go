package syslog

import (
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/corrd/corrd/ingest"
)

const kind = "syslog"

// build makes the event of message m that rule r (nil: none, a raw event)
// matched; s holds r's groups.
func build(source string, m *message, r *rule, s *scratch, raw []byte, arrival time.Time) ingest.Event {
	var rl, ra []templateField
	var groups []string
	if r != nil {
		rl, ra, groups = r.labels, r.annotations, s.groups[:len(r.groups)]
	}
	// One allocation for both sets.
	n, na := len(rl)+3, len(ra)+4
	all := make(ingest.Labels, 0, n+na)
	base := [3]ingest.Label{
		{Name: "app", Value: m.app},
		{Name: "facility", Value: facilityName(m.facility)},
		{Name: "host", Value: m.host},
	}
	labels := mergeLabels(all[:0:n], rl, base[:], m, groups, &s.buf)
	baseAnn := [4]ingest.Label{
		{Name: "message", Value: m.text},
		{Name: "msgid", Value: m.msgID},
		{Name: "procid", Value: m.procID},
		{Name: "syslog_severity", Value: severityName(m.severity)},
	}
	annotations := mergeLabels(all[n:n], ra, baseAnn[:], m, groups, &s.buf)
	ev := ingest.Event{
		Kind:        kind,
		Source:      source,
		EventTime:   arrival,
		ArrivalTime: arrival,
		Labels:      labels,
		Annotations: annotations,
		Severity:    mapSeverity(m.severity),
		Raw:         ingest.TruncateRaw(raw),
	}
	if m.hasTime {
		ev.EventTime = m.time
	}
	if r != nil {
		if r.severity != nil {
			ev.Severity = *r.severity
		}
		ev.Status = r.status
	}
	if r != nil && r.fingerprint != nil {
		var buf [8]ingest.Label
		sub := buf[:0]
		for _, name := range r.fingerprint {
			if v := ev.Labels.Get(name); v != "" {
				sub = append(sub, ingest.Label{Name: name, Value: v})
			}
		}
		ev.Fingerprint = ingest.FingerprintOf(sub)
	} else {
		ev.Fingerprint = ingest.FingerprintOf(ev.Labels)
	}
	return ev
}

// buildMalformed makes the raw event of a message that did not parse.
func buildMalformed(source string, raw []byte, peer net.Addr, arrival time.Time) ingest.Event {
	host := peerIP(peer)
	text := strings.ToValidUTF8(string(trimTrailer(boundText(raw))), "\uFFFD")
	labels := ingest.Labels{{Name: "host", Value: host}, {Name: "malformed", Value: "true"}}.Sort()
	return ingest.Event{
		Kind:        kind,
		Source:      source,
		EventTime:   arrival,
		ArrivalTime: arrival,
		Labels:      labels,
		Annotations: sortLabels(ingest.Labels{{Name: "message", Value: text}}),
		Severity:    ingest.SeverityUnknown,
		Fingerprint: ingest.FingerprintOf(labels),
		Raw:         ingest.TruncateRaw(raw),
	}
}

func boundText(b []byte) []byte {
	if len(b) > ingest.MaxRaw {
		return b[:ingest.MaxRaw]
	}
	return b
}

// peerIP is the sender's address without its port.
func peerIP(peer net.Addr) string {
	switch a := peer.(type) {
	case *net.UDPAddr:
		return a.IP.String()
	case *net.TCPAddr:
		return a.IP.String()
	}
	return ""
}

// sortLabels is ingest.Labels.Sort for the few labels of an event, without
// reflection: a stable insertion sort by name, then the later duplicates
// of a name and empty values dropped.
func sortLabels(ls ingest.Labels) ingest.Labels {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	out := ls[:0]
	for i, l := range ls {
		if l.Value == "" || (i > 0 && l.Name == ls[i-1].Name) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// mergeLabels appends to dst the rule's fields (sorted by name, expanded)
// merged with the base labels (sorted by name): a rule's label replaces
// the base label of its name, and labels with empty values are left out.
// Building the set in order spares sorting it.
func mergeLabels(dst ingest.Labels, fields []templateField, base []ingest.Label, m *message, groups []string, buf *[]byte) ingest.Labels {
	i, j := 0, 0
	for i < len(fields) || j < len(base) {
		var l ingest.Label
		switch {
		case j == len(base) || (i < len(fields) && fields[i].name < base[j].Name):
			l = ingest.Label{Name: fields[i].name, Value: fields[i].tmpl.exec(m, groups, buf)}
			i++
		case i == len(fields) || base[j].Name < fields[i].name:
			l = base[j]
			j++
		default: // the same name: the rule's wins
			l = ingest.Label{Name: fields[i].name, Value: fields[i].tmpl.exec(m, groups, buf)}
			i++
			j++
		}
		if l.Value != "" {
			dst = append(dst, l)
		}
	}
	return dst
}

// cleanUTF8 replaces the invalid UTF-8 in m's fields by U+FFFD, as
// Alertmanager requires of label and annotation values, and reports
// whether there was any. Templates expand only these fields, structured
// data (whose values the parser takes only as UTF-8, as RFC 5424 says),
// regex groups of them and the configuration's own text, so the event's
// labels and annotations are valid UTF-8 after it.
func cleanUTF8(m *message) bool {
	dirty := false
	for _, s := range [...]*string{&m.host, &m.app, &m.procID, &m.msgID, &m.text} {
		if !utf8.ValidString(*s) {
			*s, dirty = strings.ToValidUTF8(*s, "\uFFFD"), true
		}
	}
	return dirty
}
