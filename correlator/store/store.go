// Package store is corrd's embedded durable state: one bbolt file in the
// data directory (--storage.path). This layer opens the file, recognises it
// as corrd's and of a schema this build can read, and refuses anything
// else with a clear error: it never writes over a file it did not create.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the store's file in the data directory.
const FileName = "corrd.db"

// SchemaVersion is the layout this build writes and reads.
const SchemaVersion = 1

var (
	bucketMeta = []byte("meta")
	keyMagic   = []byte("magic")
	keySchema  = []byte("schema")
	keyCreated = []byte("created")
	magic      = []byte("corrd state store")
)

// Errors of Open.
var (
	// ErrForeign: the file is a bbolt database, but not corrd's.
	ErrForeign = errors.New("not a corrd state store")
	// ErrNewerSchema: written by a newer corrd; this one cannot read it.
	ErrNewerSchema = errors.New("store written by a newer corrd")
	// ErrLocked: another process holds the store.
	ErrLocked = errors.New("store is in use by another process")
)

// Store is an open state store.
type Store struct {
	db   *bolt.DB
	path string
	// backupMu is held while a backup runs.
	backupMu       sync.Mutex
	backupsRefused atomic.Int64
}

// Open opens (or creates) the store in dir. A file that is not a bbolt
// database, a bbolt database that is not corrd's, or one of a newer schema
// is refused and left as it is.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// Backup copies a crash left behind.
	if stale, _ := filepath.Glob(filepath.Join(dir, ".backup-*.db")); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	fresh := false
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fresh = true
	}
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: time.Second})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("store %s: %w", path, ErrLocked)
	case err != nil:
		return nil, fmt.Errorf("store %s: not a readable corrd state store (corrupted, or another kind of file): %w; move it away or restore a backup, corrd will not overwrite it", path, err)
	}
	s := &Store{db: db, path: path}
	if fresh {
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if err := b.Put(keyMagic, magic); err != nil {
				return err
			}
			if err := b.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
				return err
			}
			return b.Put(keyCreated, []byte(time.Now().UTC().Format(time.RFC3339)))
		})
	} else {
		err = db.View(func(tx *bolt.Tx) error { return check(tx) })
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// check recognises the meta bucket of an existing file.
func check(tx *bolt.Tx) error {
	b := tx.Bucket(bucketMeta)
	if b == nil || string(b.Get(keyMagic)) != string(magic) {
		return fmt.Errorf("%w: it has no corrd marker; move it away, corrd will not overwrite it", ErrForeign)
	}
	v := b.Get(keySchema)
	if len(v) != 4 {
		return fmt.Errorf("%w: its schema version is unreadable", ErrForeign)
	}
	switch schema := binary.BigEndian.Uint32(v); {
	case schema > SchemaVersion:
		return fmt.Errorf("%w: schema %d, this build reads up to %d; run the newer corrd or restore a backup", ErrNewerSchema, schema, SchemaVersion)
	case schema < SchemaVersion:
		// Older schemas are migrated here as they appear; version 1 is the
		// first.
		return fmt.Errorf("%w: schema %d has no migration", ErrForeign, schema)
	}
	return nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Put stores one record (JSON) under key in the named bucket, in its own
// transaction: for the rare writes of the API (silences, known errors,
// change records) and problems.
func (s *Store) Put(bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store %s/%s: %w", bucket, key, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), data)
	})
}

// Delete removes a record; a missing one is no error.
func (s *Store) Delete(bucket, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
}

// Load calls fn for every record of the bucket, in key order.
func (s *Store) Load(bucket string, fn func(key string, data []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
	})
}

// Op is one write of a Commit: Value is stored under Key in Bucket, or, when
// Value is nil, Key is deleted.
type Op struct {
	Bucket string
	Key    string
	Value  []byte
}

// Commit applies ops in order in one transaction, synced to disk before it
// returns: all of them are stored, or none.
func (s *Store) Commit(ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		var (
			name string
			b    *bolt.Bucket
		)
		for i := range ops {
			op := &ops[i]
			if b == nil || op.Bucket != name {
				var err error
				if b, err = tx.CreateBucketIfNotExists([]byte(op.Bucket)); err != nil {
					return fmt.Errorf("store: bucket %s: %w", op.Bucket, err)
				}
				name = op.Bucket
			}
			var err error
			if op.Value == nil {
				err = b.Delete([]byte(op.Key))
			} else {
				err = b.Put([]byte(op.Key), op.Value)
			}
			if err != nil {
				return fmt.Errorf("store: %s/%x: %w", op.Bucket, op.Key, err)
			}
		}
		return nil
	})
}

// Size returns the size of the store's file in bytes. It reads the file's
// size from the file system and opens no transaction: a metrics scrape
// never waits on the writer.
func (s *Store) Size() int64 {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// ErrBackupBusy is returned by Backup while another backup runs.
var ErrBackupBusy = errors.New("another backup is running")

// BackupsRefused returns how many backups were refused with ErrBackupBusy.
func (s *Store) BackupsRefused() int64 { return s.backupsRefused.Load() }

// Backup writes a consistent copy of the whole store to w while corrd keeps
// running: the file a restore puts back as corrd.db. It returns the bytes
// written to w.
//
// The copy is first taken at disk speed into a temporary file in the data
// directory (one read transaction, released as soon as the copy is on
// disk), then streamed to w from that file, which is removed afterwards: a
// slow or stalled reader of w holds no transaction, so commits (which
// must wait for read transactions when the file grows) never wait on it.
// One backup runs at a time; another gets ErrBackupBusy.
func (s *Store) Backup(w io.Writer) (int64, error) {
	if !s.backupMu.TryLock() {
		s.backupsRefused.Add(1)
		return 0, ErrBackupBusy
	}
	defer s.backupMu.Unlock()
	f, err := os.CreateTemp(filepath.Dir(s.path), ".backup-*.db")
	if err != nil {
		return 0, fmt.Errorf("store backup: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if err := s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	}); err != nil {
		return 0, fmt.Errorf("store backup: snapshot: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("store backup: %w", err)
	}
	n, err := io.Copy(w, f)
	if err != nil {
		return n, fmt.Errorf("store backup: %w", err)
	}
	return n, nil
}
