package correlator

import (
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
		h = hashString(h, name)
		h = hashByte(h, 0xfe)
		h = hashString(h, ls.Get(name))
		h = hashByte(h, 0xff)
	}
	return h
}

// groupHashOf hashes explicit group labels (sorted, one per group_by name)
// the way groupHash hashes an event's labels.
func groupHashOf(r *rules.Compiled, names []string, value func(name string) string) uint64 {
	h := hashByte(hashString(offset64, r.Name), 0xff)
	for _, name := range names {
		h = hashString(h, name)
		h = hashByte(h, 0xfe)
		h = hashString(h, value(name))
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
		h = hashString(h, p.Group)
		h = hashByte(h, 0xfe)
		h = hashString(h, v)
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

// incidentID derives a stable id from the group and the opening time.
// incidentIDLen is the length of every incident id: "inc-" and 16 hex
// digits (store keys rely on it).
const incidentIDLen = 20

func incidentID(groupHash uint64, openedAt int64) string {
	h := hashUint64(hashUint64(offset64, groupHash), uint64(openedAt))
	return "inc-" + fingerprintString(h)
}
