package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-module", "IF-MIB"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"- name: linkDown\n    oid: 1.3.6.1.6.3.1.1.5.3", "- name: linkUp", "alert: linkDown\n    action: clear"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "coldStart") {
		t.Error("-module IF-MIB printed SNMPv2-MIB's coldStart")
	}
	if code := run([]string{"/nonexistent"}, &out, &errb); code != 1 {
		t.Errorf("missing directory: exit %d, want 1", code)
	}
}
