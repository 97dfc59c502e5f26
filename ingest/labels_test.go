package ingest

import (
	"testing"

	"github.com/prometheus/common/model"
)

func TestFingerprintOfMatchesPrometheus(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
	}{
		{"empty", map[string]string{}},
		{"one label", map[string]string{"alertname": "Watchdog"}},
		{"store link", map[string]string{
			"alertname": "StoreLinkDown", "instance": "rtr-0412.stores.example.net:9116",
			"job": "blackbox-icmp", "region": "north", "severity": "critical", "store": "0412", "team": "netops",
		}},
		{"unsorted names, shared prefixes", map[string]string{"b": "1", "a": "2", "ab": "3", "a_b": "4", "B": "5"}},
		{"utf-8 and separator-like bytes", map[string]string{"alertname": "Überlast", "msg": "x\xffy", "quote": `a"b\c`}},
		{"value moved between names", map[string]string{"a": "bc"}},
		{"value moved between names 2", map[string]string{"ab": "c"}},
	}
	seen := map[uint64]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := make(model.LabelSet, len(tt.set))
			for k, v := range tt.set {
				ls[model.LabelName(k)] = model.LabelValue(v)
			}
			got := FingerprintOf(LabelsFromMap(tt.set))
			want := uint64(ls.Fingerprint())
			if got != want {
				t.Errorf("FingerprintOf(%v) = %016x, want %016x", tt.set, got, want)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("FingerprintOf(%v) = %016x, same as %q", tt.set, got, other)
			}
			seen[got] = tt.name
		})
	}
}

func TestLabelsFromMap(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want string
	}{
		{"nil", nil, "{}"},
		{"sorted", map[string]string{"c": "3", "a": "1", "b": "2"}, `{a="1", b="2", c="3"}`},
		{"empty values dropped", map[string]string{"a": "", "b": "2"}, `{b="2"}`},
		{"case sorts bytewise", map[string]string{"a": "1", "B": "2"}, `{B="2", a="1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LabelsFromMap(tt.in).String(); got != tt.want {
				t.Errorf("LabelsFromMap(%v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestLabelsSort(t *testing.T) {
	ls := Labels{{"b", "2"}, {"a", "1"}, {"b", "later"}, {"c", ""}}
	if got, want := ls.Sort().String(), `{a="1", b="2"}`; got != want {
		t.Errorf("Sort() = %s, want %s", got, want)
	}
}

func TestLabelsGet(t *testing.T) {
	small := LabelsFromMap(map[string]string{"a": "1", "severity": "critical"})
	big := Labels{}
	for _, c := range "abcdefghijklmnopqrst" {
		big = append(big, Label{Name: string(c), Value: string(c) + "v"})
	}
	tests := []struct {
		name   string
		ls     Labels
		label  string
		want   string
		wantOK bool
	}{
		{"small present", small, "severity", "critical", true},
		{"small absent", small, "x", "", false},
		{"big present", big, "q", "qv", true},
		{"big absent", big, "qq", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ls.Get(tt.label); got != tt.want {
				t.Errorf("Get(%q) = %q, want %q", tt.label, got, tt.want)
			}
			if got := tt.ls.Has(tt.label); got != tt.wantOK {
				t.Errorf("Has(%q) = %v, want %v", tt.label, got, tt.wantOK)
			}
		})
	}
}

func TestLabelsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		ls   Labels
		ok   bool
	}{
		{"plain", Labels{{"alertname", "x"}, {"store", "0412"}}, true},
		{"utf8 name", Labels{{"butik.nummer", "1"}, {"kassa_ö", "2"}}, true},
		{"empty name", Labels{{"", "x"}}, false},
		{"invalid name", Labels{{"a\xffb", "x"}}, false},
		{"invalid value", Labels{{"a", "\xff"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.ls.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
