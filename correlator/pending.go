package correlator

import (
	"sort"
	"time"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// maxPendingSignals bounds a group's signals waiting for its threshold; the
// oldest are let go (and counted as expired) beyond it.
const maxPendingSignals = 4096

// pendingWindow holds a group's signals while its threshold is not met.
type pendingWindow struct {
	sigs []pendingSig
}

type pendingSig struct {
	ev       ingest.Event
	absorbed bool
	// expires is the processing time after which the signal can no longer
	// count: its arrival plus the window plus the allowed lateness.
	expires time.Time
}

// add records a firing signal (replacing an earlier event of the same
// fingerprint) and returns how many were let go to stay within bounds.
func (p *pendingWindow) add(ev *ingest.Event, absorbed bool, r *rules.Compiled, now time.Time) (dropped int) {
	exp := now.Add(r.Window + r.MaxLateness)
	for i := range p.sigs {
		if p.sigs[i].ev.Fingerprint == ev.Fingerprint {
			first := p.sigs[i].ev.EventTime
			p.sigs[i].ev = *ev
			if first.Before(ev.EventTime) {
				p.sigs[i].ev.EventTime = first
			}
			p.sigs[i].expires = exp
			return 0
		}
	}
	if len(p.sigs) >= maxPendingSignals {
		p.sigs = append(p.sigs[:0], p.sigs[1:]...)
		dropped = 1
	}
	p.sigs = append(p.sigs, pendingSig{ev: *ev, absorbed: absorbed, expires: exp})
	return dropped
}

// remove drops the signal fp (it resolved before the threshold was met).
func (p *pendingWindow) remove(fp uint64) bool {
	for i := range p.sigs {
		if p.sigs[i].ev.Fingerprint == fp {
			p.sigs = append(p.sigs[:i], p.sigs[i+1:]...)
			return true
		}
	}
	return false
}

// touch extends the life of a pending signal seen again.
func (p *pendingWindow) touch(fp uint64, r *rules.Compiled, now time.Time) bool {
	for i := range p.sigs {
		if p.sigs[i].ev.Fingerprint == fp {
			p.sigs[i].expires = now.Add(r.Window + r.MaxLateness)
			return true
		}
	}
	return false
}

// expire lets go of the signals whose time is up and returns how many.
func (p *pendingWindow) expire(now time.Time) int {
	kept := p.sigs[:0]
	for _, s := range p.sigs {
		if now.Before(s.expires) {
			kept = append(kept, s)
		}
	}
	n := len(p.sigs) - len(kept)
	clear(p.sigs[len(kept):])
	p.sigs = kept
	return n
}

// nextExpiry is the earliest expiry among the signals.
func (p *pendingWindow) nextExpiry() time.Time {
	var t time.Time
	for _, s := range p.sigs {
		if t.IsZero() || s.expires.Before(t) {
			t = s.expires
		}
	}
	return t
}

// met reports whether some span of event time no longer than the rule's
// window holds enough signals (or distinct values) to open an incident.
func (p *pendingWindow) met(r *rules.Compiled) bool {
	need := r.ThresholdCount
	if r.DistinctLabel != "" {
		need = r.DistinctCount
	}
	if len(p.sigs) < need {
		return false
	}
	idx := make([]int, len(p.sigs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		return p.sigs[idx[a]].ev.EventTime.Before(p.sigs[idx[b]].ev.EventTime)
	})
	values := map[string]int{}
	lo := 0
	for hi := range idx {
		t := p.sigs[idx[hi]].ev.EventTime
		if r.DistinctLabel != "" {
			values[p.sigs[idx[hi]].ev.Labels.Get(r.DistinctLabel)]++
		}
		for t.Sub(p.sigs[idx[lo]].ev.EventTime) > r.Window {
			if r.DistinctLabel != "" {
				v := p.sigs[idx[lo]].ev.Labels.Get(r.DistinctLabel)
				if values[v]--; values[v] == 0 {
					delete(values, v)
				}
			}
			lo++
		}
		if r.DistinctLabel != "" {
			n := len(values)
			if _, ok := values[""]; ok {
				n-- // a signal without the label is no distinct value
			}
			if n >= need {
				return true
			}
		} else if hi-lo+1 >= need {
			return true
		}
	}
	return false
}
