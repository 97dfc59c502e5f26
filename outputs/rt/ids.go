package rt

import "sync"

// TicketIDs remembers which RT ticket holds which incident (or problem): the
// sink's cache of the custom field search. A durable implementation lets a
// restarted daemon skip the search; losing an entry costs one search, never
// a duplicate ticket, since the custom field is the source of truth.
//
// Implementations must be safe for concurrent use.
type TicketIDs interface {
	// Get returns the ticket of key, ok false when it is not known.
	Get(key string) (id int, ok bool, err error)
	// Put records that key's ticket is id.
	Put(key string, id int) error
	// Delete forgets key: its incident is closed, or its ticket is gone.
	Delete(key string) error
}

// MemoryTicketIDs is a TicketIDs held in memory, the default. The zero
// value is ready to use.
type MemoryTicketIDs struct {
	mu  sync.Mutex
	ids map[string]int
}

var _ TicketIDs = (*MemoryTicketIDs)(nil)

// Get implements TicketIDs.
func (m *MemoryTicketIDs) Get(key string) (int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.ids[key]
	return id, ok, nil
}

// Put implements TicketIDs.
func (m *MemoryTicketIDs) Put(key string, id int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids == nil {
		m.ids = make(map[string]int)
	}
	m.ids[key] = id
	return nil
}

// Delete implements TicketIDs.
func (m *MemoryTicketIDs) Delete(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ids, key)
	return nil
}

// Len returns the number of keys held.
func (m *MemoryTicketIDs) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ids)
}
