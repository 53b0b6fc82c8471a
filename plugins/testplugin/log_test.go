package testplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

// lines counts the complete lines of a state file.
func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// initCompacting is initDB with a state file compacted after compactMin changes.
func initCompacting(t *testing.T, path, password string, compactMin int) *DB {
	t.Helper()
	d := New(DefaultKnobs())
	d.compactMin = compactMin
	if _, err := d.Initialize(context.Background(), dbplugin.InitializeRequest{Config: rootConfig(path, password), VerifyConnection: true}); err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// TestStateSurvivesRestartAndCompaction makes users, changes and drops some from two
// instances sharing one state file while it is compacted many times, then restarts and checks
// that every user, password, expiration and revocation is as it was made, and that the file
// stays bounded.
func TestStateSurvivesRestartAndCompaction(t *testing.T) {
	const compactMin = 8
	ctx := context.Background()
	path := statePath(t)
	a := initCompacting(t, path, rootPass, compactMin)
	b := initCompacting(t, path, rootPass, compactMin)

	passwords := map[string]string{} // the users that must exist, with their passwords
	changes := 0
	for i := 0; i < 40; i++ {
		d := a
		if i%3 == 0 {
			d = b // the other instance appends between a's calls and sees a's compactions
		}
		pw := fmt.Sprintf("pw-%d", i)
		passwords[newUser(t, d, pw)] = pw
		changes++
	}
	var revoked []string
	updated := 0
	for u := range passwords {
		switch {
		case len(revoked) < 10:
			// Revoked by the instance that did not necessarily create it.
			if _, err := b.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: u}); err != nil {
				t.Fatal(err)
			}
			revoked = append(revoked, u)
			delete(passwords, u)
			changes++
		case updated < 10:
			if err := setPassword(a, u, "changed-"+passwords[u]); err != nil {
				t.Fatal(err)
			}
			passwords[u] = "changed-" + passwords[u]
			updated++
			changes++
		}
	}
	var expiring string
	for u := range passwords {
		expiring = u
		break
	}
	expiry := time.Now().Add(45 * time.Minute).UTC().Truncate(time.Second)
	if _, err := a.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: expiring, Expiration: &dbplugin.ChangeExpiration{NewExpiration: expiry}}); err != nil {
		t.Fatal(err)
	}
	const newRoot = "r0tated-r00t-Pa55"
	if err := setPassword(a, rootUser, newRoot); err != nil {
		t.Fatal(err)
	}
	changes += 2

	// Bounded: the snapshot line plus at most max(compactMin, users) changes; compacted
	// many times, since far more changes than that were made.
	if n, bound := lines(t, path), 1+max(compactMin, len(passwords)+1); n > bound || changes <= bound {
		t.Fatalf("state file has %d lines after %d changes, want at most %d (and fewer than the changes)", n, changes, bound)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted plugin, and a reader of the file, see exactly what was made.
	restarted := initCompacting(t, path, newRoot, compactMin)
	for u, pw := range passwords {
		if err := Login(path, u, pw); err != nil {
			t.Errorf("Login(%s) after restart: %v", u, err)
		}
	}
	for _, u := range revoked {
		if err := Login(path, u, "anything"); !errors.Is(err, ErrLoginFailed) {
			t.Errorf("Login(revoked %s) = %v, want ErrLoginFailed", u, err)
		}
	}
	if err := Login(path, rootUser, rootPass); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("Login(root, old password) = %v, want ErrLoginFailed", err)
	}
	want := []string{rootUser}
	for u := range passwords {
		want = append(want, u)
	}
	slices.Sort(want)
	if got, err := Users(path); err != nil || !slices.Equal(got, want) {
		t.Errorf("Users after restart = %v, %v; want %v", got, err, want)
	}
	if u, err := ReadUser(path, expiring); err != nil || !u.Expiration.Equal(expiry) {
		t.Errorf("ReadUser(%s) = %+v, %v; want expiration %s", expiring, u, err, expiry)
	}
	// The restarted instance can change what the others made.
	if err := setPassword(restarted, expiring, "after-restart"); err != nil {
		t.Errorf("UpdateUser after restart: %v", err)
	}
}

// TestTornLastLineIsIgnoredAndCut plays a crash in the middle of an append: readers ignore the
// torn line, and the next change starts on a line of its own.
func TestTornLastLineIsIgnoredAndCut(t *testing.T) {
	path := statePath(t)
	d := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), true)
	first := newUser(t, d, "pw-1")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"put":"v-torn","user":{"passw`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if users, err := Users(path); err != nil || len(users) != 2 {
		t.Fatalf("Users with a torn last line = %v, %v; want root and %s", users, err, first)
	}
	second := newUser(t, d, "pw-2")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	restarted := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), true)
	for u, pw := range map[string]string{first: "pw-1", second: "pw-2"} {
		if err := Login(path, u, pw); err != nil {
			t.Errorf("Login(%s): %v", u, err)
		}
	}
	newUser(t, restarted, "pw-3")
	if users, err := Users(path); err != nil || len(users) != 4 {
		t.Errorf("Users = %v, %v; want 4", users, err)
	}
}

// TestNewUserAppendsOneLine checks the cost structure the benchmark measures: a change on a
// large database appends one line to the same file instead of rewriting it.
func TestNewUserAppendsOneLine(t *testing.T) {
	path := statePath(t)
	seedTable(t, path, 2000) // the older one-document layout, as a dev node of before left it
	d := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), true)
	first := newUser(t, d, "pw-1")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	second := newUser(t, d, "pw-2")
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("NewUser replaced the state file; want an append to it")
	}
	if grew := after.Size() - before.Size(); grew <= 0 || grew > 1024 {
		t.Errorf("NewUser grew the state file by %d bytes; want one line", grew)
	}
	for u, pw := range map[string]string{first: "pw-1", second: "pw-2", "v-token-readonly-seed00001999": "seed-password-00001999"} {
		if err := Login(path, u, pw); err != nil {
			t.Errorf("Login(%s): %v", u, err)
		}
	}
}
