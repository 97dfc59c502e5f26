package syslog

import (
	"fmt"
	"strings"
)

// template is a compiled label or annotation template: literal text and
// {{ .Field }} references, without text/template's reflection.
//
//	.Host .App .ProcID .MsgID .Message .Facility .Severity
//	.Groups.NAME        a named group of the rule's regex or matchers
//	.SD.ID.PARAM        a structured data parameter, e.g. .SD.ifx@32473.ifIndex
type template struct {
	parts []tpart
}

type tfield uint8

const (
	tLiteral tfield = iota
	tHost
	tApp
	tProcID
	tMsgID
	tMessage
	tFacility
	tSeverity
	tGroup
	tSD
)

var tfieldNames = map[string]tfield{
	".Host": tHost, ".App": tApp, ".ProcID": tProcID, ".MsgID": tMsgID,
	".Message": tMessage, ".Facility": tFacility, ".Severity": tSeverity,
}

type tpart struct {
	field     tfield
	lit       string
	slot      int
	id, param string
}

// parseTemplate compiles s; groups are the named groups the rule defines.
func parseTemplate(s string, groups []string) (*template, error) {
	t := &template{}
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			t.parts = append(t.parts, tpart{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tpart{lit: s[:i]})
		}
		s = s[i+2:]
		j := strings.Index(s, "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed {{")
		}
		ref := strings.TrimSpace(s[:j])
		s = s[j+2:]
		p, err := parseRef(ref, groups)
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, p)
	}
	return t, nil
}

func parseRef(ref string, groups []string) (tpart, error) {
	if f, ok := tfieldNames[ref]; ok {
		return tpart{field: f}, nil
	}
	if name, ok := strings.CutPrefix(ref, ".Groups."); ok {
		if i := indexOf(groups, name); i >= 0 {
			return tpart{field: tGroup, slot: i}, nil
		}
		return tpart{}, fmt.Errorf("{{ %s }}: no named group %q in the rule's regex or matchers (have %v)", ref, name, groups)
	}
	if key, ok := strings.CutPrefix(ref, ".SD."); ok {
		id, param, ok := splitSDKey(key)
		if !ok {
			return tpart{}, fmt.Errorf("{{ %s }}: want .SD.ID.PARAM, e.g. .SD.ifx@32473.ifIndex", ref)
		}
		return tpart{field: tSD, id: id, param: param}, nil
	}
	return tpart{}, fmt.Errorf("{{ %s }}: unknown field (want .Host, .App, .ProcID, .MsgID, .Message, .Facility, .Severity, .Groups.NAME or .SD.ID.PARAM)", ref)
}

// exec expands t. A template of one part allocates nothing.
func (t *template) exec(m *message, groups []string, buf *[]byte) string {
	if len(t.parts) == 1 {
		return t.parts[0].value(m, groups)
	}
	b := (*buf)[:0]
	for i := range t.parts {
		b = append(b, t.parts[i].value(m, groups)...)
	}
	*buf = b
	return string(b)
}

func (p *tpart) value(m *message, groups []string) string {
	switch p.field {
	case tLiteral:
		return p.lit
	case tHost:
		return m.host
	case tApp:
		return m.app
	case tProcID:
		return m.procID
	case tMsgID:
		return m.msgID
	case tMessage:
		return m.text
	case tFacility:
		return facilityName(m.facility)
	case tSeverity:
		return severityName(m.severity)
	case tGroup:
		return groups[p.slot]
	case tSD:
		return m.sd[p.id][p.param]
	}
	return ""
}
