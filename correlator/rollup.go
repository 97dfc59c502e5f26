package correlator

import (
	"time"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// parentTarget is a rollup group a child incident reports to.
type parentTarget struct {
	rule *rules.Compiled
	hash uint64
}

// notifyParentsOpened tells every rollup rule over inc's rule that a child
// opened. The parent group is keyed by the rollup's group_by labels, taken
// from the child's group labels or, failing that, its common labels.
func (s *shard) notifyParentsOpened(inc *incState, now time.Time) {
	for _, p := range inc.rule.Parents {
		ls, h, ok := parentGroup(inc, p)
		if !ok {
			continue
		}
		inc.parents = append(inc.parents, parentTarget{rule: p, hash: h})
		s.postChildOpened(inc, p, h, ls, now)
	}
}

// parentGroup is the group of rollup rule p that inc is a child of: its
// labels and hash; ok is false when inc lacks one of its group_by labels.
func parentGroup(inc *incState, p *rules.Compiled) (ls ingest.Labels, h uint64, ok bool) {
	value := func(name string) string {
		if v := inc.g.labels.Get(name); v != "" {
			return v
		}
		return inc.common.Get(name)
	}
	ls = make(ingest.Labels, 0, len(p.Rollup.GroupBy))
	for _, name := range p.Rollup.GroupBy {
		v := value(name)
		if v == "" {
			return nil, 0, false
		}
		ls = append(ls, ingest.Label{Name: name, Value: v})
	}
	return ls, groupHashOf(p, p.Rollup.GroupBy, value), true
}

// postChildOpened tells the shard of parent group h that inc opened at.
func (s *shard) postChildOpened(inc *incState, p *rules.Compiled, h uint64, ls ingest.Labels, at time.Time) {
	var breadth []ingest.Label
	for _, b := range p.Breadth {
		for v := range inc.breadth[b] {
			breadth = append(breadth, ingest.Label{Name: b, Value: v})
		}
	}
	s.e.shards[s.e.shardOf(h)].post(note{
		kind: noteChildOpened, parent: p, set: inc.g.set, hash: h, labels: ls, breadth: breadth,
		child: childRef{id: inc.id, shard: s.idx, at: at, severity: inc.severity, first: inc.firstSeen},
	})
}

// resyncParents tells the rollup parents of every restored child where it
// stands: open (with its breadth), or resolved. A crash can come between a
// child's commit and its parent's (they may live on different shards), so
// the parent may have missed the last notice; each of these notices is
// idempotent at the parent. Called after a restore, before Run.
func (s *shard) resyncParents() {
	for _, inc := range s.byID {
		for _, t := range inc.parents {
			dst := s.e.shards[s.e.shardOf(t.hash)]
			switch inc.status {
			case StatusOpen:
				if ls, h, ok := parentGroup(inc, t.rule); ok && h == t.hash {
					s.postChildOpened(inc, t.rule, h, ls, inc.openedAt)
				}
				dst.post(note{kind: noteChildReopened, hash: t.hash, child: childRef{id: inc.id}})
			case StatusResolved:
				dst.post(note{kind: noteChildResolved, hash: t.hash, child: childRef{id: inc.id}})
			}
		}
	}
}

func (s *shard) notifyParentsBreadth(inc *incState, fresh []ingest.Label) {
	if len(fresh) == 0 {
		return
	}
	for _, t := range inc.parents {
		var mine []ingest.Label
		for _, l := range fresh {
			if containsStr(t.rule.Breadth, l.Name) {
				mine = append(mine, l)
			}
		}
		if len(mine) > 0 {
			s.e.shards[s.e.shardOf(t.hash)].post(note{kind: noteChildBreadth, hash: t.hash, breadth: mine, child: childRef{id: inc.id}})
		}
	}
}

func (s *shard) notifyParentsResolved(inc *incState) {
	for _, t := range inc.parents {
		s.e.shards[s.e.shardOf(t.hash)].post(note{kind: noteChildResolved, hash: t.hash, child: childRef{id: inc.id}})
	}
}

// childOpened counts a child towards its parent, opening the parent once
// min_children children opened within the rollup's window.
func (s *shard) childOpened(n *note, now time.Time) {
	g := s.groups[n.hash]
	if g != nil && g.knowsChild(n.child.id) {
		// A repeated notice (resyncParents after a restart): only its
		// breadth may be news.
		for _, inc := range g.open {
			if _, ok := inc.childOpen[n.child.id]; ok {
				if fresh := addPairs(inc.breadth, n.breadth, nil); len(fresh) > 0 {
					s.putBreadth(inc, fresh)
					s.afterChange(inc, now)
				}
			}
		}
		return
	}
	if g == nil {
		g = &group{hash: n.hash, rule: n.parent, set: n.set, labels: n.labels, key: groupKey(n.labels)}
		s.addGroup(g) // a roll-up parent is never refused
	}
	if inc := g.accepting(now); inc != nil {
		s.putBreadth(inc, addPairs(inc.breadth, n.breadth, nil))
		s.linkChild(inc, n.child, now)
		s.afterChange(inc, now)
		return
	}
	if g.breadth == nil {
		g.breadth = map[string]map[string]struct{}{}
	}
	addPairs(g.breadth, n.breadth, nil)
	g.waitingChildren = append(g.waitingChildren, n.child)
	s.expireChildren(g, now)
	if len(g.waitingChildren) < g.rule.Rollup.MinChildren {
		// A notice re-sent after a restart may be out of the window
		// already, and the group then holds nothing.
		s.forgetIfIdle(g)
		return
	}
	previous := g.supersede()
	inc := &incState{
		previous: previous,
		rule:     g.rule, matrix: &g.set.Matrix, g: g, shard: s.idx,
		id: incidentID(g.hash, now.UnixNano()), status: StatusOpen, openedAt: now, lastArrive: now,
		signals: map[uint64]*sigState{}, breadth: g.breadth, isParent: true, childOpen: map[string]bool{},
		common: g.labels,
	}
	waiting := g.waitingChildren
	g.waitingChildren, g.breadth = nil, nil
	s.putAllBreadth(inc)
	for _, c := range waiting {
		s.linkChild(inc, c, now)
	}
	s.opened(g, inc, now)
	if inc.openKids == 0 {
		s.resolve(inc, now)
	}
}

// linkChild makes c a child of the parent inc and tells c's shard.
func (s *shard) linkChild(inc *incState, c childRef, now time.Time) {
	inc.children = append(inc.children, c.id)
	if !c.resolved {
		inc.childOpen[c.id] = true
		inc.openKids++
	}
	if c.severity > inc.severity {
		inc.severity = c.severity
	}
	if inc.firstSeen.IsZero() || (!c.first.IsZero() && c.first.Before(inc.firstSeen)) {
		inc.firstSeen = c.first
	}
	inc.lastSeen = now
	inc.lastArrive = now
	s.e.shards[c.shard].post(note{kind: noteLinkParent, child: c, parentID: inc.id})
}

// expireChildren lets go of waiting children older than the rollup window.
func (s *shard) expireChildren(g *group, now time.Time) {
	kept := g.waitingChildren[:0]
	for _, c := range g.waitingChildren {
		if now.Sub(c.at) <= g.rule.Rollup.Within {
			kept = append(kept, c)
		}
	}
	g.waitingChildren = kept
	if len(kept) > 0 {
		s.schedule(kept[0].at.Add(g.rule.Rollup.Within+time.Nanosecond), g, nil)
	} else {
		g.breadth = nil
	}
}

func (s *shard) childResolved(n *note, now time.Time) {
	g := s.groups[n.hash]
	if g == nil {
		return
	}
	for i := range g.waitingChildren {
		if g.waitingChildren[i].id == n.child.id {
			g.waitingChildren[i].resolved = true
		}
	}
	for _, inc := range g.open {
		if inc.childOpen[n.child.id] {
			inc.childOpen[n.child.id] = false
			inc.openKids--
			if inc.openKids <= 0 {
				s.resolve(inc, now)
			} else {
				s.markDirty(inc, now)
			}
			return
		}
	}
}

func (s *shard) childBreadth(n *note, now time.Time) {
	g := s.groups[n.hash]
	if g == nil {
		return
	}
	for _, inc := range g.open {
		if _, ok := inc.childOpen[n.child.id]; ok {
			if fresh := addPairs(inc.breadth, n.breadth, nil); len(fresh) > 0 {
				s.putBreadth(inc, fresh)
				inc.lastSeen = now
				s.afterChange(inc, now)
			}
			return
		}
	}
	if g.breadth != nil {
		addPairs(g.breadth, n.breadth, nil)
	}
}

// addPairs records label pairs in a breadth set and returns the new ones.
func addPairs(b map[string]map[string]struct{}, pairs []ingest.Label, fresh []ingest.Label) []ingest.Label {
	for _, l := range pairs {
		fresh = addBreadth(b, []string{l.Name}, ingest.Labels{l}, fresh)
	}
	return fresh
}

func (s *shard) notifyParentsReopened(inc *incState) {
	for _, t := range inc.parents {
		s.e.shards[s.e.shardOf(t.hash)].post(note{kind: noteChildReopened, hash: t.hash, child: childRef{id: inc.id}})
	}
}

// childReopened counts a reopened child as open again in its parent,
// reopening the parent if it resolved within its reopen_within.
func (s *shard) childReopened(n *note, now time.Time) {
	g := s.groups[n.hash]
	if g == nil {
		return
	}
	for i := range g.waitingChildren {
		if g.waitingChildren[i].id == n.child.id {
			g.waitingChildren[i].resolved = false
		}
	}
	for _, inc := range g.open {
		if open, ok := inc.childOpen[n.child.id]; ok && !open {
			inc.childOpen[n.child.id] = true
			inc.openKids++
			s.markDirty(inc, now)
			return
		}
	}
	if p := g.reopenable(now); p != nil && p.isParent {
		if open, ok := p.childOpen[n.child.id]; ok && !open {
			p.childOpen[n.child.id] = true
			p.openKids++
			s.reopenParent(p, now)
		}
	}
}

// reopenParent reopens a resolved parent incident whose child reopened.
func (s *shard) reopenParent(inc *incState, now time.Time) {
	g := inc.g
	if g.lastResolved != inc {
		g.unclose(inc)
		g.supersede()
	}
	g.lastResolved = nil
	inc.status = StatusOpen
	inc.resolvedAt, inc.closeAt = time.Time{}, time.Time{}
	inc.lastArrive, inc.lastSeen = now, now
	inc.reopens++
	g.open = append(g.open, inc)
	s.setOpen(g.hash, true)
	s.e.m.reopened.WithLabelValues(inc.rule.Name).Inc()
	s.e.m.open.WithLabelValues(inc.rule.Name).Inc()
	inc.dirty, inc.updateDue, inc.withheld = false, time.Time{}, false
	s.evalMaintenance(inc, now)
	s.emit(inc, ChangeReopened, now, 0)
}
