package testplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// A state file is a log: one JSON line per change, so that a change costs one append and one
// fsync whatever the table's size. Its first line is a snapshot of the whole table; the lines
// after it are changes in the order they were made. When the changes after the snapshot
// outnumber both defaultCompactMin and the users, the table is written again as a single
// snapshot (to a temporary file, fsynced, renamed over the log): that costs one pass over the
// table per as many changes, so the cost per change stays bounded on average.
//
// A crash while appending can leave a torn last line (no newline): readers ignore it, and the
// next writer cuts it off before appending. A state file written by an older version of this
// plugin (one indented JSON document) is read as a snapshot and rewritten as a log by the first
// writer.

// defaultCompactMin is the fewest change lines after which a log is compacted.
const defaultCompactMin = 1024

// change is one line of a state file; exactly one of its fields is set (User goes with Put).
type change struct {
	// Snapshot replaces the whole table (the first line of every log).
	Snapshot *table `json:"snapshot,omitempty"`
	// Root sets the root user's name.
	Root string `json:"root,omitempty"`
	// Put creates or replaces user Put with User.
	Put  string `json:"put,omitempty"`
	User *User  `json:"user,omitempty"`
	// Del drops a user.
	Del string `json:"del,omitempty"`
}

// apply makes c on t.
func (t *table) apply(c change) error {
	switch {
	case c.Snapshot != nil:
		t.RootUsername, t.Users = c.Snapshot.RootUsername, c.Snapshot.Users
		if t.Users == nil {
			t.Users = make(map[string]User)
		}
	case c.Root != "":
		t.RootUsername = c.Root
	case c.Put != "" && c.User != nil:
		t.Users[c.Put] = *c.User
	case c.Del != "":
		delete(t.Users, c.Del)
	default:
		return errors.New("a change line sets nothing")
	}
	return nil
}

// replay applies the complete lines of b (a state file from its start when full is true, or
// what was appended to it since) to t. It returns how many bytes it consumed (a torn last line
// is left unconsumed) and how many change lines it applied, snapshots not counted. A full
// file in the older single-document layout is read whole, and legacy is set.
func replay(t *table, b []byte, full bool) (consumed int64, changes int, legacy bool, err error) {
	if full {
		first, _, _ := bytes.Cut(b, []byte("\n"))
		var c change
		if json.Unmarshal(first, &c) != nil && len(bytes.TrimSpace(b)) > 0 && bytes.TrimSpace(b)[0] == '{' {
			// The older layout: one indented document, "{" alone on its first line.
			old := newTable()
			if err := json.Unmarshal(b, old); err != nil {
				return 0, 0, true, fmt.Errorf("decode: %w", err)
			}
			return int64(len(b)), 0, true, t.apply(change{Snapshot: old})
		}
	}
	line := 0
	for {
		i := bytes.IndexByte(b[consumed:], '\n')
		if i < 0 {
			return consumed, changes, false, nil // the rest, if any, is a torn last line
		}
		line++
		raw := b[consumed : consumed+int64(i)]
		var c change
		if err := json.Unmarshal(raw, &c); err != nil {
			return consumed, changes, false, fmt.Errorf("decode line %d: %w", line, err)
		}
		if err := t.apply(c); err != nil {
			return consumed, changes, false, fmt.Errorf("line %d: %w", line, err)
		}
		if c.Snapshot == nil {
			changes++
		}
		consumed += int64(i) + 1
	}
}

// readTable loads a state file; a missing file is (nil, nil): no database yet. It takes no
// lock: a reader sees every change whose append completed.
func readTable(path string) (*table, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read test database state: %w", err)
	}
	t := newTable()
	if _, _, _, err := replay(t, b, true); err != nil {
		return nil, fmt.Errorf("test database state %s: %w", path, err)
	}
	return t, nil
}

// logStore is one instance's view of a state file: the table as of the last line it read,
// and the file it read it from, kept open to append to. Another instance or process may
// append or compact between two calls; load catches up with the lines appended since (or
// reads a compacted file again), so a call reads only what is new. Every method runs under
// the state file's lock.
type logStore struct {
	path       string
	compactMin int

	f       *os.File // the log read into t, open for appending; nil when not loaded
	t       *table
	size    int64 // bytes of f read into t
	changes int   // change lines in f after its snapshot
}

func newLogStore(path string) *logStore {
	return &logStore{path: path, compactMin: defaultCompactMin}
}

// close forgets the loaded table and closes the file.
func (s *logStore) close() {
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.t, s.size, s.changes = nil, nil, 0, 0
}

// load brings the table up to date with the file; exists is false when there is no file.
func (s *logStore) load() (exists bool, err error) {
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.close()
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read test database state: %w", err)
	}
	if s.f != nil {
		// Holding the file open also keeps its inode from being reused by a later file.
		if cur, err := s.f.Stat(); err == nil && os.SameFile(cur, st) && st.Size() >= s.size {
			return true, s.catchUp(st.Size())
		}
	}
	return true, s.reload()
}

// catchUp reads the lines appended since the last load.
func (s *logStore) catchUp(size int64) error {
	if size == s.size {
		return nil
	}
	b := make([]byte, size-s.size)
	if _, err := s.f.ReadAt(b, s.size); err != nil && !errors.Is(err, io.EOF) {
		s.close()
		return fmt.Errorf("read test database state: %w", err)
	}
	n, changes, _, err := replay(s.t, b, false)
	if err != nil {
		s.close()
		return fmt.Errorf("test database state %s: %w", s.path, err)
	}
	s.size += n
	s.changes += changes
	return s.cutTornTail(size)
}

// reload reads the whole file.
func (s *logStore) reload() error {
	s.close()
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open test database state: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("read test database state: %w", err)
	}
	t := newTable()
	n, changes, legacy, err := replay(t, b, true)
	if err != nil {
		f.Close()
		return fmt.Errorf("test database state %s: %w", s.path, err)
	}
	s.f, s.t, s.size, s.changes = f, t, n, changes
	if legacy {
		// The older layout cannot be appended to: write it as a log now.
		if err := s.compact(); err != nil {
			s.close()
			return err
		}
		return nil
	}
	return s.cutTornTail(int64(len(b)))
}

// cutTornTail drops a torn last line left by a crash mid-append, so that the next line
// appended starts on a line of its own.
func (s *logStore) cutTornTail(size int64) error {
	if size == s.size {
		return nil
	}
	if err := s.f.Truncate(s.size); err != nil {
		s.close()
		return fmt.Errorf("repair test database state: %w", err)
	}
	return nil
}

// commit makes changes durable, in order, and applies them to the table. With no file yet
// (exists false from load) they create one.
func (s *logStore) commit(changes []change) error {
	if s.f == nil {
		t := newTable()
		for _, c := range changes {
			if err := t.apply(c); err != nil {
				return err
			}
		}
		s.t = t
		return s.compact()
	}
	var buf bytes.Buffer
	for _, c := range changes {
		if err := json.NewEncoder(&buf).Encode(c); err != nil { // one line each, newline included
			return fmt.Errorf("encode test database change: %w", err)
		}
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		s.close() // the next call reads the file again and cuts what was written off
		return fmt.Errorf("write test database state: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		s.close()
		return fmt.Errorf("sync test database state: %w", err)
	}
	for _, c := range changes {
		if err := s.t.apply(c); err != nil {
			return err
		}
	}
	s.size += int64(buf.Len())
	s.changes += len(changes)
	if s.changes > max(s.compactMin, len(s.t.Users)) {
		// The changes are durable already; a failed compaction is tried again next time.
		_ = s.compact()
	}
	return nil
}

// compact writes the table as a one-line log next to the state file and renames it over the
// file atomically: a crash leaves the old log or the new one, never a torn one.
func (s *logStore) compact() error {
	b, err := json.Marshal(change{Snapshot: s.t})
	if err != nil {
		return fmt.Errorf("encode test database state: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write test database state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	fail := func(err error) error {
		f.Close()
		return fmt.Errorf("write test database state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write test database state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("replace test database state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is durable on most filesystems without it
		d.Close()
	}
	// Go on appending to the new file. It is opened for appending (every write lands at the
	// end as it is then, whoever wrote last), and under the lock nobody can replace it first.
	t := s.t
	s.close()
	nf, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open test database state: %w", err)
	}
	s.f, s.t, s.size, s.changes = nf, t, int64(len(b)), 0
	return nil
}
