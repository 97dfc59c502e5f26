package ingest

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Label is one name/value pair.
type Label struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Labels is a set of labels sorted by name with unique names. It marshals to
// JSON as an object.
type Labels []Label

// LabelsFromMap builds sorted Labels from a map. Empty values are dropped, as
// Prometheus treats an empty label as an absent one.
func LabelsFromMap(m map[string]string) Labels {
	ls := make(Labels, 0, len(m))
	for k, v := range m {
		if v == "" {
			continue
		}
		ls = append(ls, Label{Name: k, Value: v})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// Sort sorts ls by name in place and removes later duplicates of a name and
// empty values. It returns the result.
func (ls Labels) Sort() Labels {
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	out := ls[:0]
	for i, l := range ls {
		if l.Value == "" || (i > 0 && l.Name == ls[i-1].Name) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// Get returns the value of the named label, or "" when absent. It does not
// allocate.
func (ls Labels) Get(name string) string {
	if len(ls) < 16 {
		for i := range ls {
			if ls[i].Name == name {
				return ls[i].Value
			}
		}
		return ""
	}
	i := sort.Search(len(ls), func(i int) bool { return ls[i].Name >= name })
	if i < len(ls) && ls[i].Name == name {
		return ls[i].Value
	}
	return ""
}

// Has reports whether the named label is present.
func (ls Labels) Has(name string) bool { return ls.Get(name) != "" }

// Map returns the labels as a new map.
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

// Equal reports whether both sets hold the same pairs.
func (ls Labels) Equal(o Labels) bool {
	if len(ls) != len(o) {
		return false
	}
	for i := range ls {
		if ls[i] != o[i] {
			return false
		}
	}
	return true
}

// String renders the set as {a="1", b="2"}.
func (ls Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(strings.ReplaceAll(l.Value, `"`, `\"`))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// MarshalJSON renders the set as a JSON object in name order.
func (ls Labels) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 16+len(ls)*24)
	b = append(b, '{')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, l.Name)
		b = append(b, ':')
		b = appendJSONString(b, l.Value)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads a JSON object of strings.
func (ls *Labels) UnmarshalJSON(data []byte) error {
	var m map[string]string
	if err := jsonUnmarshal(data, &m); err != nil {
		return err
	}
	*ls = LabelsFromMap(m)
	return nil
}

// FingerprintOf returns the 64-bit FNV-1a fingerprint of the label set, the
// same value as Prometheus' model.LabelSet.Fingerprint (and so Alertmanager's
// alert fingerprint). ls must be sorted.
func FingerprintOf(ls Labels) uint64 {
	if len(ls) == 0 {
		return offset64
	}
	h := uint64(offset64)
	for _, l := range ls {
		h = hashAdd(h, l.Name)
		h = hashAddByte(h, separatorByte)
		h = hashAdd(h, l.Value)
		h = hashAddByte(h, separatorByte)
	}
	return h
}

const (
	offset64      = 14695981039346656037
	prime64       = 1099511628211
	separatorByte = 255
)

func hashAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return h
}

func hashAddByte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	h *= prime64
	return h
}

// ValidLabelName reports whether name is a label name Alertmanager
// accepts in its UTF-8 mode: non-empty valid UTF-8.
func ValidLabelName(name string) bool {
	return name != "" && utf8.ValidString(name)
}

// Validate reports the first label whose name is not a valid label name
// or whose value is not valid UTF-8, as Alertmanager validates labels.
func (ls Labels) Validate() error {
	for _, l := range ls {
		if !ValidLabelName(l.Name) {
			return fmt.Errorf("invalid label name %q: must be non-empty UTF-8", l.Name)
		}
		if !utf8.ValidString(l.Value) {
			return fmt.Errorf("label %q: value is not valid UTF-8", l.Name)
		}
	}
	return nil
}
