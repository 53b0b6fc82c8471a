package state

import (
	"bytes"
	"errors"
	"testing"
)

func (a *applier) auditSalt(path string) []byte {
	a.t.Helper()
	var out []byte
	a.s.View(func(d *Data) { out = append([]byte(nil), d.AuditSalts[path]...) })
	return out
}

// TestAuditSaltFirstWins: the first salt committed for a device stays (a second proposal, a
// race lost, changes nothing), a bad command is refused, and salts survive a snapshot.
func TestAuditSaltFirstWins(t *testing.T) {
	a := newApplier(t)
	a.must(TypeAuditSaltPut, AuditSaltPut{Path: "file/", Sealed: []byte("sealed-1")})
	a.must(TypeAuditSaltPut, AuditSaltPut{Path: "file/", Sealed: []byte("sealed-2")})
	if got := a.auditSalt("file/"); !bytes.Equal(got, []byte("sealed-1")) {
		t.Fatalf("salt %q, want the first one", got)
	}
	for _, bad := range []AuditSaltPut{{Path: "", Sealed: []byte("x")}, {Path: "x/"}} {
		if _, err := a.apply(TypeAuditSaltPut, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: want ErrInvalid, got %v", bad, err)
		}
	}
	if got := a.auditSalt("x/"); got != nil {
		t.Fatalf("a refused command stored %q", got)
	}
	snap, err := a.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := newApplier(t)
	if err := b.s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if got := b.auditSalt("file/"); !bytes.Equal(got, []byte("sealed-1")) {
		t.Fatalf("after a snapshot: %q", got)
	}
}
