package snmptrap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/corrd/corrd/ingest"
)

// TrapTable is a file of trap definitions, in the spirit of SNMPTT's
// `EVENT name OID "category" severity`:
//
//	traps:
//	  - name: linkDown
//	    oid: 1.3.6.1.6.3.1.1.5.3     # dotted, a MIB name (IF-MIB::linkDown
//	                                 # or linkDown), or a prefix ending in .*
//	    severity: major
//	    category: network
//	    alert: LinkDown              # alertname; traps sharing it are one signal
//	    action: raise                # raise (firing) or clear (resolved)
//	    fingerprint: [device, ifIndex]
//	    labels: {role: access-switch}
type TrapTable struct {
	Traps []TrapDef `yaml:"traps"`
}

// TrapDef defines what one trap OID (or OID prefix) means.
type TrapDef struct {
	Name string `yaml:"name"`
	OID  string `yaml:"oid"`
	// Severity is one of ingest's severity names; default unknown.
	Severity string `yaml:"severity,omitempty"`
	Category string `yaml:"category,omitempty"`
	// Alert is the alertname label; traps with the same Alert and
	// fingerprint labels are one signal, raised by one and cleared by
	// another. Default Name.
	Alert string `yaml:"alert,omitempty"`
	// Action is raise (default) or clear.
	Action string `yaml:"action,omitempty"`
	// Fingerprint names the labels (besides alertname) that identify the
	// signal; empty takes every label.
	Fingerprint []string `yaml:"fingerprint,omitempty"`
	// Labels are added to the event.
	Labels map[string]string `yaml:"labels,omitempty"`
	// Description is added as an annotation.
	Description string `yaml:"description,omitempty"`
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseTrapTable decodes a trap table strictly.
func ParseTrapTable(data []byte) (*TrapTable, error) {
	var t TrapTable
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &t, nil
}

// Validate reports every problem of t, each with its path.
func (t *TrapTable) Validate(path string) error {
	var errs []error
	for i, d := range t.Traps {
		p := fmt.Sprintf("%straps[%d] %q", path, i, d.Name)
		add := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s%s: %s", p, field, fmt.Sprintf(format, args...)))
		}
		if d.Name == "" {
			add(".name", "must not be empty")
		}
		if d.OID == "" {
			add(".oid", "must not be empty")
		}
		if _, ok := ingest.ParseSeverity(d.Severity); !ok {
			add(".severity", "unknown %q", d.Severity)
		}
		switch d.Action {
		case "", "raise", "clear":
		default:
			add(".action", "unknown %q (want raise or clear)", d.Action)
		}
		for j, l := range d.Fingerprint {
			if !labelName.MatchString(l) {
				add(fmt.Sprintf(".fingerprint[%d]", j), "invalid label name %q", l)
			}
		}
		for k := range d.Labels {
			if !labelName.MatchString(k) {
				add(".labels", "invalid label name %q", k)
			}
		}
	}
	return errors.Join(errs...)
}

// LoadTrapFiles reads and validates trap tables, in order: an OID defined
// twice takes the first definition.
func LoadTrapFiles(paths []string) ([]TrapDef, error) {
	var defs []TrapDef
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t, err := ParseTrapTable(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		if err := t.Validate(""); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		defs = append(defs, t.Traps...)
	}
	return defs, errors.Join(errs...)
}

// trapDef is a compiled TrapDef.
type trapDef struct {
	name, alert, category string
	severity              ingest.Severity
	clear                 bool
	fingerprint           []string // sorted, alertname included
	labels                ingest.Labels
	description           string
}

// trapTable maps trap OIDs to compiled definitions: exact OIDs first, then
// the longest matching wildcard prefix.
type trapTable struct {
	exact    map[string]*trapDef
	prefixes []prefixDef // longest first
}

type prefixDef struct {
	prefix string // with trailing '.'
	def    *trapDef
}

// compileTraps resolves the OIDs of defs (names through mib).
func compileTraps(defs []TrapDef, mib *MIB) (*trapTable, error) {
	t := &trapTable{exact: map[string]*trapDef{}}
	var errs []error
	for i, d := range defs {
		sev, _ := ingest.ParseSeverity(d.Severity)
		cd := &trapDef{name: d.Name, alert: d.Alert, category: d.Category, severity: sev,
			clear: d.Action == "clear", description: d.Description}
		if cd.alert == "" {
			cd.alert = d.Name
		}
		if len(d.Fingerprint) > 0 {
			cd.fingerprint = append([]string{"alertname"}, d.Fingerprint...)
			sort.Strings(cd.fingerprint)
		}
		cd.labels = ingest.LabelsFromMap(d.Labels)
		oid := strings.TrimPrefix(d.OID, ".")
		wild := strings.HasSuffix(oid, ".*")
		oid = strings.TrimSuffix(oid, ".*")
		if !isDotted(oid) {
			name := oid
			if _, n, ok := strings.Cut(oid, "::"); ok {
				name = n
			}
			o := mib.ByName(name)
			if o == nil {
				errs = append(errs, fmt.Errorf("traps[%d] %q: oid %q: not a dotted OID nor a name the MIBs define", i, d.Name, d.OID))
				continue
			}
			oid = o.OID
		}
		if wild {
			t.prefixes = append(t.prefixes, prefixDef{prefix: oid + ".", def: cd})
			continue
		}
		if _, dup := t.exact[oid]; !dup {
			t.exact[oid] = cd
		}
	}
	sort.SliceStable(t.prefixes, func(i, j int) bool { return len(t.prefixes[i].prefix) > len(t.prefixes[j].prefix) })
	return t, errors.Join(errs...)
}

func isDotted(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

func (t *trapTable) lookup(oid string) *trapDef {
	if t == nil {
		return nil
	}
	if d := t.exact[oid]; d != nil {
		return d
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(oid, p.prefix) {
			return p.def
		}
	}
	return nil
}
