package snmptrap

import "testing"

func TestLoadMIBBundled(t *testing.T) {
	m, warns, err := LoadMIB(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Error(w)
	}
	for oid, want := range map[string]string{
		"1.3.6.1.6.3.1.1.5.3":    "linkDown",
		"1.3.6.1.6.3.1.1.5.4":    "linkUp",
		"1.3.6.1.6.3.1.1.5.1":    "coldStart",
		"1.3.6.1.2.1.2.2.1.1":    "ifIndex",
		"1.3.6.1.2.1.33.2.1":     "upsTrapOnBattery",
		"1.3.6.1.2.1.1.5":        "sysName",
		"1.3.6.1.2.1.31.1.1.1.1": "ifName",
	} {
		if o := m.Exact(oid); o == nil || o.Name != want {
			t.Errorf("%s: got %+v, want %s", oid, o, want)
		}
	}
	o, inst := m.Lookup("1.3.6.1.2.1.2.2.1.8.7")
	if o == nil || o.Name != "ifOperStatus" || inst != "7" || o.Enum[2] != "down" {
		t.Errorf("ifOperStatus.7: got %+v %q", o, inst)
	}
	if o := m.ByName("ifIndex"); o == nil {
		t.Error("ifIndex by name")
	}
}

func TestLoadMIBNetSNMP(t *testing.T) {
	m, warns, err := LoadMIB([]string{"/usr/share/snmp/mibs"})
	if err != nil {
		t.Skip(err)
	}
	for _, w := range warns {
		t.Log(w)
	}
	t.Logf("%d notifications", len(m.Notifications))
	for _, n := range m.Notifications {
		t.Log(n.Module, n.Name, n.OID)
	}
}
