package correlator

import (
	"github.com/corrd/corrd/rules"
)

// The open-incident cap (max_open_incidents) bounds the groups the shards
// hold: groups with an open or resolved incident or a pending window, over
// all shards. At the cap a new group of the default rule (events no rule
// matched) is refused; a new group of a configured rule still opens until
// the hard ceiling, 10% above the cap, and is refused beyond it, counted
// and logged. A refused group's event is shed: counted by rule, not kept.
// Roll-up parents and groups restored from the store are never refused.

// hardCeiling is the group count beyond which rule groups are refused.
func hardCeiling(limit int) int64 { return int64(limit) + int64(limit)/10 }

// groupsHeld counts the groups of every shard.
func (e *Engine) groupsHeld() int64 {
	var n int64
	for _, s := range e.shards {
		n += s.groupCount.Load()
	}
	return n
}

// addGroup makes g the shard's group of its hash.
func (s *shard) addGroup(g *group) {
	if s.groups[g.hash] == nil {
		s.groupCount.Add(1)
		s.e.m.openIncidents.Inc()
	}
	s.groups[g.hash] = g
}

// dropGroup forgets g.
func (s *shard) dropGroup(g *group) {
	if s.groups[g.hash] == nil {
		return
	}
	delete(s.groups, g.hash)
	s.groupCount.Add(-1)
	s.e.m.openIncidents.Dec()
}

// admitGroup tells whether a new group of rule r may open now; when not,
// the refusal and the shed event are counted, and a refused rule group is
// logged (sampled).
func (s *shard) admitGroup(r *rules.Compiled, set *rules.Set) bool {
	limit := s.e.opts.MaxOpenIncidents
	held := s.e.groupsHeld()
	isDefault := r == set.Default
	switch {
	case isDefault && held >= int64(limit):
		s.e.m.incidentsRefused.WithLabelValues("default").Inc()
	case !isDefault && held >= hardCeiling(limit):
		s.e.m.incidentsRefused.WithLabelValues("rule").Inc()
		s.refusedLog.Error().Str("rule", r.Name).Int64("groups", held).Int("max_open_incidents", limit).
			Msg("open-incident ceiling reached: new group of a rule refused, its event shed")
	default:
		return true
	}
	s.e.m.eventsShed.WithLabelValues(r.Name).Inc()
	return false
}
