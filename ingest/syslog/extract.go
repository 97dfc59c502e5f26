package syslog

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"

	"github.com/corrd/corrd/ingest"
)

// rule is a compiled ExtractRule. It is immutable and safe for concurrent
// use.
type rule struct {
	app, host, msgID *strMatcher
	sd               []sdMatcher
	facilities       uint32 // bit per facility; 0: any
	severities       uint8  // bit per severity; 0: any
	regex            *regexp.Regexp
	regexSlots       []int // slot of each subexpression of regex, -1 unnamed
	groups           []string
	labels           []templateField
	annotations      []templateField
	severity         *ingest.Severity
	status           ingest.Status
	fingerprint      []string // sorted; nil: all labels
}

type templateField struct {
	name string
	tmpl *template
}

// strMatcher is a fully anchored expression; a literal one compares
// strings.
type strMatcher struct {
	literal string
	re      *regexp.Regexp
	slots   []int
}

type sdMatcher struct {
	id, param string
	m         *strMatcher
}

// compileRule compiles r. Its errors are joined *fieldErrors naming the
// field.
func compileRule(r *ExtractRule) (*rule, error) {
	var errs []error
	fail := func(field string, err error) { errs = append(errs, &fieldError{field, err}) }
	c := &rule{}
	var err error
	slotOf := func(name string) int {
		for i, g := range c.groups {
			if g == name {
				return i
			}
		}
		c.groups = append(c.groups, name)
		return len(c.groups) - 1
	}
	compileStr := func(field, expr string) *strMatcher {
		if expr == "" {
			return nil
		}
		m, err := newStrMatcher(expr, slotOf)
		if err != nil {
			fail(field, err)
		}
		return m
	}
	c.app = compileStr("match.app", r.Match.App)
	c.host = compileStr("match.host", r.Match.Host)
	c.msgID = compileStr("match.msgid", r.Match.MsgID)
	keys := make([]string, 0, len(r.Match.SD))
	for k := range r.Match.SD {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		id, param, ok := splitSDKey(k)
		if !ok {
			fail("match.sd", fmt.Errorf("key %q must be SD-ID.PARAM, e.g. ifx@32473.ifIndex", k))
			continue
		}
		if m := compileStr(fmt.Sprintf("match.sd[%q]", k), r.Match.SD[k]); m != nil {
			c.sd = append(c.sd, sdMatcher{id, param, m})
		}
	}
	if c.facilities, err = parseFacilities(r.Match.Facility); err != nil {
		fail("match.facility", err)
	}
	if c.severities, err = parseSeverities(r.Match.Severity); err != nil {
		fail("match.severity", err)
	}
	if r.Regex != "" {
		if c.regex, err = regexp.Compile(r.Regex); err != nil {
			fail("regex", err)
		} else {
			c.regexSlots = make([]int, c.regex.NumSubexp()+1)
			for i, n := range c.regex.SubexpNames() {
				c.regexSlots[i] = -1
				if n != "" {
					c.regexSlots[i] = slotOf(n)
				}
			}
		}
	}
	compileMap := func(field string, m map[string]string) []templateField {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		out := make([]templateField, 0, len(m))
		for _, n := range names {
			if !ingest.ValidLabelName(n) {
				// As Alertmanager validates names: non-empty UTF-8.
				fail(fmt.Sprintf("%s[%q]", field, n), errors.New("not a valid label name (non-empty UTF-8)"))
				continue
			}
			t, err := parseTemplate(m[n], c.groups)
			if err != nil {
				fail(fmt.Sprintf("%s.%s", field, n), err)
				continue
			}
			out = append(out, templateField{n, t})
		}
		return out
	}
	c.labels = compileMap("labels", r.Labels)
	c.annotations = compileMap("annotations", r.Annotations)
	c.severity = r.Severity
	if r.Status != nil {
		c.status = *r.Status
	}
	if len(r.Fingerprint) > 0 {
		known := map[string]bool{"host": true, "app": true, "facility": true}
		for _, l := range c.labels {
			known[l.name] = true
		}
		for i, n := range r.Fingerprint {
			if !known[n] {
				fail(fmt.Sprintf("fingerprint[%d]", i), fmt.Errorf("%q is not a label of the rule (nor host, app, facility)", n))
			}
		}
		c.fingerprint = append([]string(nil), r.Fingerprint...)
		sort.Strings(c.fingerprint)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func newStrMatcher(expr string, slotOf func(string) int) (*strMatcher, error) {
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, err
	}
	if p, err := syntax.Parse(expr, syntax.Perl); err == nil {
		if p = p.Simplify(); p.Op == syntax.OpLiteral && p.Flags&syntax.FoldCase == 0 {
			return &strMatcher{literal: string(p.Rune)}, nil
		}
		if p.Op == syntax.OpEmptyMatch {
			return &strMatcher{}, nil
		}
	}
	m := &strMatcher{re: re, slots: make([]int, re.NumSubexp()+1)}
	for i, n := range re.SubexpNames() {
		m.slots[i] = -1
		if n != "" {
			m.slots[i] = slotOf(n)
		}
	}
	return m, nil
}

func hasNamed(slots []int) bool {
	for _, s := range slots {
		if s >= 0 {
			return true
		}
	}
	return false
}

// splitSDKey splits "ifx@32473.ifIndex" into its SD-ID and PARAM: at the
// first '.' after the '@' of a private ID, else at the first '.'.
func splitSDKey(k string) (id, param string, ok bool) {
	from := strings.IndexByte(k, '@')
	if from < 0 {
		from = 0
	}
	i := strings.IndexByte(k[from:], '.')
	if i < 0 {
		return "", "", false
	}
	i += from
	id, param = k[:i], k[i+1:]
	return id, param, id != "" && param != ""
}

func parseFacilities(s string) (uint32, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	var set uint32
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		i := indexOf(facilityNames[:], f)
		if i < 0 {
			return 0, fmt.Errorf("unknown facility %q (want %s)", f, strings.Join(facilityNames[:], ", "))
		}
		set |= 1 << i
	}
	return set, nil
}

// parseSeverities reads "err", "warning,notice", "<=err" (err or more
// severe), ">=notice" (notice or less severe), "<crit", ">info".
func parseSeverities(s string) (uint8, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	var set uint8
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		op := ""
		for _, o := range []string{"<=", ">=", "<", ">", "="} {
			if strings.HasPrefix(part, o) {
				op, part = o, strings.TrimSpace(part[len(o):])
				break
			}
		}
		i := indexOf(severityNames[:], part)
		if i < 0 {
			return 0, fmt.Errorf("unknown severity %q (want %s, optionally after <=, >=, < or >)", part, strings.Join(severityNames[:], ", "))
		}
		for v := 0; v < 8; v++ {
			in := false
			switch op {
			case "<=":
				in = v <= i
			case ">=":
				in = v >= i
			case "<":
				in = v < i
			case ">":
				in = v > i
			default:
				in = v == i
			}
			if in {
				set |= 1 << v
			}
		}
	}
	if set == 0 {
		return 0, fmt.Errorf("%q matches no severity", s)
	}
	return set, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// extractor holds a listener's compiled rules.
type extractor struct {
	rules     []*rule
	maxGroups int
}

func newExtractor(rs []ExtractRule) (*extractor, error) {
	x := &extractor{}
	var errs []error
	for i := range rs {
		r, err := compileRule(&rs[i])
		if err != nil {
			errs = append(errs, prefixErrors(fmt.Sprintf("extract[%d]", i), err))
			continue
		}
		x.rules = append(x.rules, r)
		x.maxGroups = max(x.maxGroups, len(r.groups))
	}
	return x, errors.Join(errs...)
}

// scratch is a worker's reusable state for extraction.
type scratch struct {
	groups []string
	buf    []byte
}

// match returns the first rule m matches, with its groups in s.groups.
func (x *extractor) match(m *message, s *scratch) *rule {
	if cap(s.groups) < x.maxGroups {
		s.groups = make([]string, x.maxGroups)
	}
	for _, r := range x.rules {
		g := s.groups[:len(r.groups)]
		clear(g)
		if r.matches(m, g) {
			return r
		}
	}
	return nil
}

func (r *rule) matches(m *message, groups []string) bool {
	if r.facilities != 0 && (m.facility > 31 || r.facilities&(1<<m.facility) == 0) {
		return false
	}
	if r.severities != 0 && (m.severity > 7 || r.severities&(1<<m.severity) == 0) {
		return false
	}
	if r.app != nil && !r.app.matchInto(m.app, groups) {
		return false
	}
	if r.host != nil && !r.host.matchInto(m.host, groups) {
		return false
	}
	if r.msgID != nil && !r.msgID.matchInto(m.msgID, groups) {
		return false
	}
	for i := range r.sd {
		sm := &r.sd[i]
		v, ok := m.sd[sm.id][sm.param]
		if !ok || !sm.m.matchInto(v, groups) {
			return false
		}
	}
	if r.regex != nil {
		if !hasNamed(r.regexSlots) {
			return r.regex.MatchString(m.text)
		}
		idx := r.regex.FindStringSubmatchIndex(m.text)
		if idx == nil {
			return false
		}
		putGroups(m.text, idx, r.regexSlots, groups)
	}
	return true
}

func (m *strMatcher) matchInto(s string, groups []string) bool {
	if m.re == nil {
		return s == m.literal
	}
	if !hasNamed(m.slots) {
		return m.re.MatchString(s)
	}
	idx := m.re.FindStringSubmatchIndex(s)
	if idx == nil {
		return false
	}
	putGroups(s, idx, m.slots, groups)
	return true
}

func putGroups(s string, idx, slots []int, groups []string) {
	for i, slot := range slots {
		if slot >= 0 && idx[2*i] >= 0 {
			groups[slot] = s[idx[2*i]:idx[2*i+1]]
		}
	}
}

// mapSeverity is corrd's severity for a syslog severity code.
func mapSeverity(s uint8) ingest.Severity {
	switch {
	case s <= 2:
		return ingest.SeverityCritical
	case s == 3:
		return ingest.SeverityMajor
	case s == 4:
		return ingest.SeverityWarning
	case s <= 7:
		return ingest.SeverityInfo
	}
	return ingest.SeverityUnknown
}
