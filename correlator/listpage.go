package correlator

import "container/heap"

// listPage keeps the first limit incidents, in the listing order, of those
// offered after a cursor: a max-heap on position, so a shard of n
// incidents picks a page in O(n log limit) without copying any incident.
// With limit 0 it keeps every one offered.
type listPage struct {
	limit int
	items pageItems
}

type pageItem struct {
	pos Cursor
	// inc is an open or resolved incident; closed, when inc is nil, the
	// index of a closed one in the shard's ring.
	inc    *incState
	closed int
}

func (p *listPage) offer(pos Cursor, after *Cursor, inc *incState, closed int) {
	if after != nil && !after.before(pos) {
		return
	}
	it := pageItem{pos: pos, inc: inc, closed: closed}
	switch {
	case p.limit <= 0:
		p.items = append(p.items, it) // every one: the caller sorts
	case len(p.items) < p.limit:
		heap.Push(&p.items, it)
	case pos.before(p.items[0].pos):
		p.items[0] = it
		heap.Fix(&p.items, 0)
	}
}

// pageItems is a heap whose root is the last position.
type pageItems []pageItem

func (h pageItems) Len() int           { return len(h) }
func (h pageItems) Less(i, j int) bool { return h[j].pos.before(h[i].pos) }
func (h pageItems) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pageItems) Push(x any)        { *h = append(*h, x.(pageItem)) }
func (h *pageItems) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
