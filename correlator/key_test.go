package correlator

import (
	"testing"
	"testing/synctest"

	"github.com/corrd/corrd/ingest"
)

// Label sets that rendered as the same group key, the same title or the
// same group hash before names and values were quoted (and separator bytes
// escaped in the hash) now give distinct ones.
func TestGroupKeysCannotBeForged(t *testing.T) {
	set := compileRules(t, `
rules:
  - name: pair
    match: ['alertname="Pair"']
    group_by: [a, b]
    group_wait: 0s
`)
	r := set.Rules[0]
	lm := ingest.LabelsFromMap
	for _, c := range []struct {
		name string
		x, y ingest.Labels
	}{
		// Values were escaped before too (these two did not collide);
		// names were not.
		{"backslash against quote", lm(map[string]string{"a": `x\`}), lm(map[string]string{"a": `x"`})},
		{"a name holding a pair", lm(map[string]string{`a="x", b`: "y"}), lm(map[string]string{"a": "x", "b": "y"})},
		{"a name with a quote", lm(map[string]string{`a"`: "x"}), lm(map[string]string{"a": `"x`})},
		{"a value holding a comma and a pair", lm(map[string]string{"a": `1", b="2`}), lm(map[string]string{"a": "1", "b": "2"})},
	} {
		if kx, ky := groupKey(c.x), groupKey(c.y); kx == ky {
			t.Errorf("%s: both keys are %s", c.name, kx)
		}
	}
	// Separator bytes inside values (invalid UTF-8, as a raw syslog field
	// may hold) no longer shift the pairs of the hash.
	x := lm(map[string]string{"a": "1", "b": "2\xffb\xfe3"})
	y := lm(map[string]string{"a": "1\xffb\xfe2", "b": "3"})
	if hx, hy := groupHash(r, x, 0), groupHash(r, y, 0); hx == hy {
		t.Errorf("hashes of %v and %v are both %x", x, y, hx)
	}
	// For valid UTF-8 the hash is the one stores already hold.
	plain := lm(map[string]string{"a": "0412", "b": "é"})
	old := hashByte(hashString(offset64, r.Name), 0xff)
	for _, n := range []string{"a", "b"} {
		old = hashByte(hashString(hashByte(hashString(old, n), 0xfe), plain.Get(n)), 0xff)
	}
	if got := groupHash(r, plain, 0); got != old {
		t.Errorf("hash of %v changed: got %x, want %x", plain, got, old)
	}

	// Through the engine: a value holding a space and '=' opens its own
	// incident, whose title and key differ from the pair's.
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, set)
		defer h.stop()
		h.submit(event(map[string]string{"alertname": "Pair", "a": "1 b=2"}, 0),
			event(map[string]string{"alertname": "Pair", "a": "1", "b": "2"}, 0))
		incs := h.e.Incidents(Filter{})
		if len(incs) != 2 {
			t.Fatalf("got %d incidents, want 2", len(incs))
		}
		if incs[0].Title == incs[1].Title || incs[0].GroupKey == incs[1].GroupKey {
			t.Errorf("titles %q, %q and keys %s, %s: want distinct", incs[0].Title, incs[1].Title, incs[0].GroupKey, incs[1].GroupKey)
		}
		for _, inc := range incs {
			if inc.GroupKey != `{a="1", b="2"}` && inc.GroupKey != `{a="1 b=2"}` {
				t.Errorf("got group key %s", inc.GroupKey)
			}
		}
	})
}
