package snmptrap

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sleepinggenius2/gosmi/parser"
)

// bundledMIBs are the standard modules generic traps need, written from
// their RFCs (see mibs/README).
//
//go:embed mibs/*.txt
var bundledMIBs embed.FS

// MIB is a loaded set of MIB modules: OIDs to names, object syntaxes' enum
// values, and the notifications they define. It is immutable once built
// and safe for concurrent use.
type MIB struct {
	byOID  map[string]*Object
	byName map[string]*Object // first definition of a name wins
	// Notifications in OID order: NOTIFICATION-TYPE, and TRAP-TYPE
	// mapped to their SNMPv2 OIDs (RFC 3584).
	Notifications []*Object
}

// Object is one named OID of a MIB.
type Object struct {
	Name, Module string
	OID          string
	// Enum maps the integer values of an enumerated syntax to names.
	Enum map[int64]string
	// Objects are the varbinds a notification names (OBJECTS or
	// VARIABLES).
	Objects []string
	// Description of a notification.
	Description string
	// Trap is set on notifications.
	Trap bool
	// label is Name as a label name.
	label string
}

// builtinRoots are the OIDs the base SMI modules (SNMPv2-SMI,
// RFC1155-SMI) define; their text is ASN.1 macro definitions, which a
// trap receiver does not need.
var builtinRoots = map[string]string{
	"ccitt": "0", "iso": "1", "joint-iso-ccitt": "2", "zeroDotZero": "0.0",
	"org": "1.3", "dod": "1.3.6", "internet": "1.3.6.1",
	"directory": "1.3.6.1.1", "mgmt": "1.3.6.1.2", "mib-2": "1.3.6.1.2.1",
	"transmission": "1.3.6.1.2.1.10", "experimental": "1.3.6.1.3",
	"private": "1.3.6.1.4", "enterprises": "1.3.6.1.4.1", "security": "1.3.6.1.5",
	"snmpV2": "1.3.6.1.6", "snmpDomains": "1.3.6.1.6.1", "snmpProxys": "1.3.6.1.6.2",
	"snmpModules": "1.3.6.1.6.3",
}

// builtinEnums are enumerated textual conventions of SNMPv2-TC.
var builtinEnums = map[string]map[int64]string{
	"TruthValue":  {1: "true", 2: "false"},
	"RowStatus":   {1: "active", 2: "notInService", 3: "notReady", 4: "createAndGo", 5: "createAndWait", 6: "destroy"},
	"StorageType": {1: "other", 2: "volatile", 3: "nonVolatile", 4: "permanent", 5: "readOnly"},
}

// LoadMIB parses the bundled modules and every file in dirs (files that
// are not MIB modules are skipped and reported in the returned warnings;
// a directory that cannot be read is an error). Later definitions of a
// module name replace earlier ones, so a directory can override a
// bundled module.
func LoadMIB(dirs []string) (*MIB, []error, error) {
	var warns []error
	mods := map[string]*parser.Module{}
	var order []string
	addMod := func(m *parser.Module) {
		name := string(m.Name)
		if _, ok := mods[name]; !ok {
			order = append(order, name)
		}
		mods[name] = m
	}
	ents, _ := fs.ReadDir(bundledMIBs, "mibs")
	for _, e := range ents {
		b, err := fs.ReadFile(bundledMIBs, "mibs/"+e.Name())
		if err != nil {
			return nil, nil, err
		}
		m, err := parser.Parse(bytes.NewReader(b))
		if err != nil {
			return nil, nil, fmt.Errorf("bundled %s: %w", e.Name(), err)
		}
		addMod(m)
	}
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("mib dir: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				warns = append(warns, err)
				continue
			}
			m, err := parseModule(b)
			if err != nil {
				warns = append(warns, fmt.Errorf("%s: %w", p, err))
				continue
			}
			addMod(m)
		}
	}
	mib, w := buildMIB(mods, order)
	return mib, append(warns, w...), nil
}

// parseModule parses one module, recovering from parser panics on odd
// input.
func parseModule(b []byte) (m *parser.Module, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("parse: %v", r)
		}
	}()
	if !bytes.Contains(b, []byte("DEFINITIONS")) {
		return nil, errors.New("not a MIB module")
	}
	return parser.Parse(bytes.NewReader(b))
}

// def is one OID assignment before resolution.
type def struct {
	module  string
	name    string
	parent  string   // name of the first sub-identifier, "" if numeric
	arcs    []uint32 // the remaining sub-identifiers (all of them when parent is "")
	trapV1  bool     // TRAP-TYPE: parent is the enterprise, arcs {0, n}
	obj     *Object
	imports map[string]string // name -> module, of def's module
}

func buildMIB(mods map[string]*parser.Module, order []string) (*MIB, []error) {
	var warns []error
	defs := map[string]*def{}          // module.name -> def
	firstByName := map[string]string{} // name -> module of its first definition
	types := map[string]map[int64]string{}
	for k, v := range builtinEnums {
		types[k] = v
	}
	var all []*def
	for _, mn := range order {
		m := mods[mn]
		imports := map[string]string{}
		for _, im := range m.Body.Imports {
			for _, n := range im.Names {
				imports[string(n)] = string(im.Module)
			}
		}
		for _, t := range m.Body.Types {
			var st *parser.SyntaxType
			switch {
			case t.TextualConvention != nil:
				st = &t.TextualConvention.Syntax
			case t.Syntax != nil:
				st = t.Syntax
			}
			if st != nil && len(st.Enum) > 0 {
				types[string(t.Name)] = enumOf(st.Enum)
			}
		}
		add := func(name string, oid *parser.Oid, obj *Object) {
			if oid == nil || len(oid.SubIdentifiers) == 0 {
				return
			}
			d := &def{module: mn, name: name, obj: obj, imports: imports}
			subs := oid.SubIdentifiers
			if subs[0].Number == nil && subs[0].Name != nil {
				d.parent = string(*subs[0].Name)
				subs = subs[1:]
			}
			for _, s := range subs {
				if s.Number == nil {
					warns = append(warns, fmt.Errorf("%s.%s: sub-identifier without a number", mn, name))
					return
				}
				d.arcs = append(d.arcs, uint32(*s.Number))
			}
			defs[mn+"."+name] = d
			if _, ok := firstByName[name]; !ok {
				firstByName[name] = mn
			}
			all = append(all, d)
		}
		if id := m.Body.Identity; id != nil {
			add(string(id.Name), &id.Oid, &Object{})
		}
		for i := range m.Body.Nodes {
			n := &m.Body.Nodes[i]
			name := string(n.Name)
			obj := &Object{Name: name, Module: mn}
			switch {
			case n.ObjectType != nil:
				if st := n.ObjectType.Syntax.Type; st != nil {
					if len(st.Enum) > 0 {
						obj.Enum = enumOf(st.Enum)
					} else {
						obj.Enum = types[string(st.Name)] // resolved again below
					}
				}
			case n.NotificationType != nil:
				obj.Trap = true
				obj.Description = n.NotificationType.Description
				for _, o := range n.NotificationType.Objects {
					obj.Objects = append(obj.Objects, string(o))
				}
			case n.TrapType != nil:
				obj.Trap = true
				obj.Description = n.TrapType.Description
				for _, o := range n.TrapType.Objects {
					obj.Objects = append(obj.Objects, string(o))
				}
				if n.SubIdentifier == nil {
					continue
				}
				d := &def{module: mn, name: name, obj: obj, imports: imports,
					parent: string(n.TrapType.Enterprise), arcs: []uint32{0, uint32(*n.SubIdentifier)}, trapV1: true}
				defs[mn+"."+name] = d
				if _, ok := firstByName[name]; !ok {
					firstByName[name] = mn
				}
				all = append(all, d)
				continue
			}
			if n.SubIdentifier != nil && n.Oid == nil {
				continue
			}
			add(name, n.Oid, obj)
		}
		// Enum syntaxes naming a type of a later module.
		for i := range m.Body.Nodes {
			n := &m.Body.Nodes[i]
			if n.ObjectType == nil || n.ObjectType.Syntax.Type == nil || len(n.ObjectType.Syntax.Type.Enum) > 0 {
				continue
			}
			if d := defs[mn+"."+string(n.Name)]; d != nil && d.obj.Enum == nil {
				d.obj.Enum = types[string(n.ObjectType.Syntax.Type.Name)]
			}
		}
	}

	resolved := map[*def]string{}
	var resolve func(d *def, depth int) (string, bool)
	lookup := func(from *def, name string) *def {
		if d := defs[from.module+"."+name]; d != nil {
			return d
		}
		if mod, ok := from.imports[name]; ok {
			if d := defs[mod+"."+name]; d != nil {
				return d
			}
		}
		if mod, ok := firstByName[name]; ok {
			return defs[mod+"."+name]
		}
		return nil
	}
	resolve = func(d *def, depth int) (string, bool) {
		if s, ok := resolved[d]; ok {
			return s, s != ""
		}
		if depth > 64 {
			return "", false
		}
		var base string
		switch {
		case d.parent == "":
		case builtinRoots[d.parent] != "" && lookup(d, d.parent) == nil:
			base = builtinRoots[d.parent]
		default:
			p := lookup(d, d.parent)
			if p == nil {
				if r, ok := builtinRoots[d.parent]; ok {
					base = r
					break
				}
				resolved[d] = ""
				return "", false
			}
			var ok bool
			if base, ok = resolve(p, depth+1); !ok {
				resolved[d] = ""
				return "", false
			}
		}
		var b strings.Builder
		b.WriteString(base)
		for _, a := range d.arcs {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strconv.FormatUint(uint64(a), 10))
		}
		resolved[d] = b.String()
		return b.String(), true
	}

	mib := &MIB{byOID: map[string]*Object{}, byName: map[string]*Object{}}
	for _, d := range all {
		oid, ok := resolve(d, 0)
		if !ok {
			warns = append(warns, fmt.Errorf("%s.%s: cannot resolve parent %q", d.module, d.name, d.parent))
			continue
		}
		if d.obj.Name == "" {
			d.obj.Name, d.obj.Module = d.name, d.module
		}
		d.obj.OID = oid
		d.obj.label = sanitizeLabel(d.obj.Name)
		mib.byOID[oid] = d.obj
		if _, ok := mib.byName[d.name]; !ok {
			mib.byName[d.name] = d.obj
		}
		if d.obj.Trap {
			mib.Notifications = append(mib.Notifications, d.obj)
		}
	}
	sort.Slice(mib.Notifications, func(i, j int) bool {
		return oidLess(mib.Notifications[i].OID, mib.Notifications[j].OID)
	})
	return mib, warns
}

func enumOf(nn []parser.NamedNumber) map[int64]string {
	m := make(map[int64]string, len(nn))
	for _, n := range nn {
		if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			m[v] = string(n.Name)
		}
	}
	return m
}

// oidLess orders dotted OIDs arc by arc.
func oidLess(a, b string) bool {
	for a != "" && b != "" {
		var x, y string
		x, a, _ = strings.Cut(a, ".")
		y, b, _ = strings.Cut(b, ".")
		if x != y {
			if len(x) != len(y) {
				return len(x) < len(y)
			}
			return x < y
		}
	}
	return a == "" && b != ""
}

// Exact returns the object with exactly this OID.
func (m *MIB) Exact(oid string) *Object {
	if m == nil {
		return nil
	}
	return m.byOID[oid]
}

// ByName returns the first object defined with this name.
func (m *MIB) ByName(name string) *Object {
	if m == nil {
		return nil
	}
	return m.byName[name]
}

// Lookup returns the object an instance OID belongs to (the longest known
// prefix, at most 16 arcs shorter) and the instance suffix.
func (m *MIB) Lookup(oid string) (*Object, string) {
	if m == nil {
		return nil, ""
	}
	p := oid
	for range 16 {
		if o := m.byOID[p]; o != nil {
			if len(p) == len(oid) {
				return o, ""
			}
			return o, oid[len(p)+1:]
		}
		i := strings.LastIndexByte(p, '.')
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return nil, ""
}
