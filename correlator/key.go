package correlator

import (
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

const (
	offset64 = 14695981039346656037
	prime64  = 1099511628211
)

func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return h
}

// hashField hashes a label name or value so that no content can pass for
// the 0xfe and 0xff separators of the group hashes: bytes 0xfd..0xff are
// hashed as 0xfd and a selector. Valid UTF-8 holds none of those bytes,
// so its hash is that of hashString (and of the stores written before).
func hashField(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0xfd {
			h = hashByte(h, 0xfd)
			c -= 0xfd
		}
		h ^= uint64(c)
		h *= prime64
	}
	return h
}

func hashByte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	return h * prime64
}

func hashUint64(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = hashByte(h, byte(v>>(8*i)))
	}
	return h
}

// groupHash identifies (rule, group key). Two groups whose 64-bit hashes
// collide would share state; with FNV-1a over the rule name and group label
// pairs the chance is about n²/2⁶⁵ for n live groups.
func groupHash(r *rules.Compiled, ls ingest.Labels, fp uint64) uint64 {
	h := hashByte(hashString(offset64, r.Name), 0xff)
	if r.GroupByAll {
		return hashUint64(h, fp)
	}
	for _, name := range r.GroupBy {
		h = hashField(h, name)
		h = hashByte(h, 0xfe)
		h = hashField(h, ls.Get(name))
		h = hashByte(h, 0xff)
	}
	return h
}

// groupHashOf hashes explicit group labels (sorted, one per group_by name)
// the way groupHash hashes an event's labels.
func groupHashOf(r *rules.Compiled, names []string, value func(name string) string) uint64 {
	h := hashByte(hashString(offset64, r.Name), 0xff)
	for _, name := range names {
		h = hashField(h, name)
		h = hashByte(h, 0xfe)
		h = hashField(h, value(name))
		h = hashByte(h, 0xff)
	}
	return h
}

// absorbHash is the group an absorb clause sends an event to; ok is false
// when the event lacks a mapped label.
func absorbHash(r *rules.Compiled, a *rules.CompiledAbsorb, ls ingest.Labels) (uint64, bool) {
	h := hashByte(hashString(offset64, r.Name), 0xff)
	for _, p := range a.On {
		v := ls.Get(p.Signal)
		if v == "" {
			return 0, false
		}
		h = hashField(h, p.Group)
		h = hashByte(h, 0xfe)
		h = hashField(h, v)
		h = hashByte(h, 0xff)
	}
	return h, true
}

// groupLabels are the labels that name a group.
func groupLabels(r *rules.Compiled, ls ingest.Labels) ingest.Labels {
	if r.GroupByAll {
		return ls
	}
	out := make(ingest.Labels, 0, len(r.GroupBy))
	for _, name := range r.GroupBy {
		if v := ls.Get(name); v != "" {
			out = append(out, ingest.Label{Name: name, Value: v})
		}
	}
	return out
}

// groupKey renders group labels as {name="value", ...}: every value is a
// quoted Go string and a name that is not a classic label name
// ([A-Za-z_][A-Za-z0-9_]*) is quoted too, so that no label set renders as
// another. For classic names and plain values it is what earlier versions
// wrote, which stored groups keep.
func groupKey(ls ingest.Labels) string {
	b := make([]byte, 0, 2+len(ls)*24)
	b = append(b, '{')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendLabelName(b, l.Name)
		b = append(b, '=')
		b = strconv.AppendQuote(b, l.Value)
	}
	return string(append(b, '}'))
}

func appendLabelName(b []byte, name string) []byte {
	if isClassicName(name) {
		return append(b, name...)
	}
	return strconv.AppendQuote(b, name)
}

// appendTitleValue appends a value to a title: as it is when it is
// printable with no space, quote, backslash or '=', else quoted.
func appendTitleValue(b []byte, v string) []byte {
	plain := v != "" && utf8.ValidString(v)
	for _, r := range v {
		if !plain {
			break
		}
		plain = strconv.IsPrint(r) && !unicode.IsSpace(r) && r != '"' && r != '\\' && r != '='
	}
	if plain {
		return append(b, v...)
	}
	return strconv.AppendQuote(b, v)
}

func isClassicName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// incidentID derives a stable id from the group and the opening time.
// incidentIDLen is the length of every incident id: "inc-" and 16 hex
// digits (store keys rely on it).
const incidentIDLen = 20

func incidentID(groupHash uint64, openedAt int64) string {
	h := hashUint64(hashUint64(offset64, groupHash), uint64(openedAt))
	return "inc-" + fingerprintString(h)
}
