package store

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesAndReopens(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s.Close()
}

// A corrupted or foreign file is refused with a clear error and left
// byte for byte as it was.
func TestOpenRefusesWithoutOverwriting(t *testing.T) {
	cases := []struct {
		name  string
		write func(t *testing.T, path string)
		want  []string
		is    error
	}{
		{"text file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("this is someone's notes, not a database\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"not a readable corrd state store", "will not overwrite"}, nil},
		{"truncated corrd store", func(t *testing.T, path string) {
			s, err := Open(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := os.Truncate(path, 1000); err != nil {
				t.Fatal(err)
			}
		}, []string{"not a readable corrd state store"}, nil},
		{"another program's bbolt file", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o644, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("consul")); return err }); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, []string{"not a corrd state store", "no corrd marker"}, ErrForeign},
		{"newer schema", func(t *testing.T, path string) {
			s, err := Open(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
			}); err != nil {
				t.Fatal(err)
			}
			s.Close()
		}, []string{"written by a newer corrd", "schema 2"}, ErrNewerSchema},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			tc.write(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir)
			if err == nil {
				s.Close()
				t.Fatal("got no error, want the file refused")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want errors.Is %v", err, tc.is)
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Error("the refused file was changed")
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("second open: got %v, want ErrLocked", err)
	}
}

func TestRecords(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ A string }
	for _, k := range []string{"b", "a", "c"} {
		if err := s.Put("silences", k, rec{A: k}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete("silences", "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("nothing", "x"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var keys []string
	if err := s.Load("silences", func(k string, data []byte) error {
		keys = append(keys, k+"="+string(data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, " "); got != `a={"A":"a"} b={"A":"b"}` {
		t.Errorf("got %s after reopen", got)
	}
}

// Commit applies puts and deletes in order, in one transaction, and what
// it wrote is there after a reopen.
func TestCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ops := []Op{
		{Bucket: "a", Key: "k1", Value: []byte("v1")},
		{Bucket: "a", Key: "k2", Value: []byte("v2")},
		{Bucket: "b", Key: "k1", Value: []byte("b1")},
		{Bucket: "a", Key: "k1", Value: []byte("v1b")}, // later write wins
		{Bucket: "a", Key: "k2"},                       // delete
		{Bucket: "a", Key: "missing"},                  // deleting nothing is fine
	}
	if err := s.Commit(ops); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(nil); err != nil {
		t.Fatalf("empty commit: %v", err)
	}
	if s.Size() <= 0 {
		t.Errorf("Size = %d", s.Size())
	}
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[string]string{}
	for _, b := range []string{"a", "b"} {
		if err := s.Load(b, func(k string, v []byte) error {
			got[b+"/"+k] = string(v)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"a/k1": "v1b", "b/k1": "b1"}
	if len(got) != len(want) || got["a/k1"] != want["a/k1"] || got["b/k1"] != want["b/k1"] {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
}

// A commit that fails half way leaves nothing of it behind.
func TestCommitAllOrNothing(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Commit([]Op{
		{Bucket: "a", Key: "k1", Value: []byte("v1")},
		{Bucket: "a", Key: "", Value: []byte("empty key is refused")},
	})
	if err == nil {
		t.Fatal("commit with an empty key succeeded")
	}
	n := 0
	_ = s.Load("a", func(string, []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d records left by a failed commit", n)
	}
}

// A backup taken while the store is open is a store of its own, with
// everything committed before it.
func TestBackup(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Commit([]Op{{Bucket: "groups", Key: "g1", Value: []byte("state")}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(f)
	if err != nil || n <= 0 {
		t.Fatalf("Backup = %d, %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer b.Close()
	var got string
	_ = b.Load("groups", func(k string, v []byte) error { got = k + "=" + string(v); return nil })
	if got != "g1=state" {
		t.Errorf("backup holds %q, want g1=state", got)
	}
}
