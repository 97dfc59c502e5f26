package rt

import (
	"encoding/json"
	"fmt"
	"sync"
)

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

// Store is the durable key-value store StoreTicketIDs keeps its records
// in. correlator/store.Store and outputs.Store have these methods.
type Store interface {
	// Put JSON-encodes v and stores it under key in bucket.
	Put(bucket, key string, v any) error
	// Delete removes key from bucket; a missing key is no error.
	Delete(bucket, key string) error
	// Load calls fn for every record of bucket.
	Load(bucket string, fn func(key string, data []byte) error) error
}

// CreateMarker is a TicketIDs that records, durably, that a ticket create
// is about to be sent for a key: the pending-create marker. Put of the
// key's id replaces the marker, Delete removes it.
//
// With markers the sink searches RT before creating only when a create
// for the key was started before and its outcome is unknown (its answer
// was lost, or the daemon stopped before recording the id). A key without
// a record never had a create sent, so nothing can exist to be found.
type CreateMarker interface {
	// MarkCreating commits a pending-create marker for key. wasPending
	// reports whether the key already had one, or an id: a ticket may
	// exist.
	MarkCreating(key string) (wasPending bool, err error)
}

// TicketBucket returns the Store bucket of a sink's ticket ids:
// "rt_tickets/<sink>".
func TicketBucket(sink string) string { return "rt_tickets/" + sink }

// StoreTicketIDs is a TicketIDs kept in a Store, with pending-create
// markers (CreateMarker). Each key's record is JSON: {"id":123} once the
// ticket is known, {"pending":true} while a create is in flight. The
// bucket is read into memory on first use; every change is written
// through before it takes effect.
type StoreTicketIDs struct {
	st     Store
	bucket string

	mu      sync.Mutex
	loaded  bool
	records map[string]ticketRecord
}

// ticketRecord is the stored value of one key.
type ticketRecord struct {
	ID      int  `json:"id,omitempty"`
	Pending bool `json:"pending,omitempty"`
}

var (
	_ TicketIDs    = (*StoreTicketIDs)(nil)
	_ CreateMarker = (*StoreTicketIDs)(nil)
)

// NewStoreTicketIDs returns the ticket ids of the named sink in st, bucket
// TicketBucket(sink). It does not read st until first used.
func NewStoreTicketIDs(st Store, sink string) *StoreTicketIDs {
	return &StoreTicketIDs{st: st, bucket: TicketBucket(sink)}
}

// load reads the bucket once; a failure is returned and retried on the
// next call. m.mu is held.
func (m *StoreTicketIDs) load() error {
	if m.loaded {
		return nil
	}
	records := make(map[string]ticketRecord)
	err := m.st.Load(m.bucket, func(key string, data []byte) error {
		var r ticketRecord
		if err := json.Unmarshal(data, &r); err != nil || (r.ID <= 0 && !r.Pending) {
			// Unreadable: a ticket may exist, so search before creating.
			r = ticketRecord{Pending: true}
		}
		records[key] = r
		return nil
	})
	if err != nil {
		return fmt.Errorf("load ticket ids: %w", err)
	}
	m.records, m.loaded = records, true
	return nil
}

// Get implements TicketIDs: a key with only a marker is not known.
func (m *StoreTicketIDs) Get(key string) (int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.load(); err != nil {
		return 0, false, err
	}
	r := m.records[key]
	return r.ID, r.ID > 0, nil
}

// Put implements TicketIDs; it replaces key's marker.
func (m *StoreTicketIDs) Put(key string, id int) error {
	return m.put(key, ticketRecord{ID: id})
}

// MarkCreating implements CreateMarker.
func (m *StoreTicketIDs) MarkCreating(key string) (wasPending bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.load(); err != nil {
		return false, err
	}
	if r, ok := m.records[key]; ok {
		return r.Pending || r.ID > 0, nil
	}
	return false, m.putLocked(key, ticketRecord{Pending: true})
}

func (m *StoreTicketIDs) put(key string, r ticketRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.load(); err != nil {
		return err
	}
	return m.putLocked(key, r)
}

// putLocked writes r through; m.mu is held and the bucket loaded.
func (m *StoreTicketIDs) putLocked(key string, r ticketRecord) error {
	if err := m.st.Put(m.bucket, key, r); err != nil {
		return err
	}
	m.records[key] = r
	return nil
}

// Delete implements TicketIDs; it removes key's marker too.
func (m *StoreTicketIDs) Delete(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.load(); err != nil {
		return err
	}
	if _, ok := m.records[key]; !ok {
		return nil // the bucket holds what the map does
	}
	if err := m.st.Delete(m.bucket, key); err != nil {
		return err
	}
	delete(m.records, key)
	return nil
}

// Len returns the number of keys held, markers included.
func (m *StoreTicketIDs) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}
