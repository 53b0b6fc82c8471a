package state

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/wal"
)

// legacySnapshot is the state as format 1 wrote it (Snapshot before format 2): the whole
// Data as one JSON document.
func legacySnapshot(s *State) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(s.d)
}

// richState is a state with something in every part a snapshot carries: a catalog, a mount,
// a connection with its redacted config, roles, leases (renewed, revoking, owned, with
// statements), a WAL entry, machines, policies, tokens, reloads and applied ids.
func richState(t *testing.T, leases int) *applier {
	t.Helper()
	a := base(t)
	a.must(TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "ro", DBName: "db1", DefaultTTL: time.Hour, CreationStatements: []string{"CREATE"}}})
	a.must(TypeConnPut, ConnPut{Connection: Connection{Mount: "database", Name: "db2", PluginName: "pg", Config: []byte("c"), Redacted: map[string]any{"url": "x", "n": 3.5, "list": []any{"a", true}}}})
	a.must(TypeLifecycleAll, LifecycleBroadcast{Kind: fsm.KindPlugin, Event: fsm.EventRequest})
	a.must(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db2", Entry: wal.Entry{ID: "w"}})
	a.must(TypePluginReload, PluginReload{PluginName: "pg", ReloadID: "r1"})
	for i := range leases {
		l := Lease{
			ID: fmt.Sprintf("database/creds/ro/%06d", i), Mount: "database", Role: "ro", DBName: "db1",
			Username: fmt.Sprintf("v-ro-%d", i), Issued: epoch, Expires: epoch.Add(time.Hour), MaxExpires: epoch.Add(24 * time.Hour),
			Renewable: i%2 == 0, TTL: time.Hour,
		}
		if i%3 == 0 {
			l.RevocationStatements = []string{"DROP ROLE {{name}}"}
			l.RenewStatements = []string{"ALTER ROLE"}
		}
		a.must(TypeLeasePut, LeasePut{Lease: l})
	}
	if leases > 1 {
		a.must(TypeLeaseRenew, LeaseRenew{ID: "database/creds/ro/000001", Expires: epoch.Add(2 * time.Hour).Format(time.RFC3339Nano)})
		a.must(TypeLeaseRevokeMark, LeaseRevokeMark{Prefix: "database/creds/ro/000000", Force: true})
	}
	return a
}

// TestSnapshotFormats: a format-2 snapshot and a format-1 one (what Snapshot wrote before)
// both restore to exactly the state they were taken of, and either restored state writes the
// same format-2 bytes as the original (nodes restoring either end identical).
func TestSnapshotFormats(t *testing.T) {
	for _, leases := range []int{0, 1, snapshotChunk + 3} {
		t.Run(fmt.Sprint(leases, "-leases"), func(t *testing.T) {
			a := richState(t, leases)
			want, err := legacySnapshot(a.s)
			if err != nil {
				t.Fatal(err)
			}
			v2 := a.snapshot()
			if !bytes.HasPrefix(v2, snapshotMagic2) {
				t.Fatalf("Snapshot wrote no format-2 magic: %q", v2[:min(len(v2), 20)])
			}
			if leases > 1000 && len(v2) >= len(want) {
				t.Errorf("format 2 is %d bytes, format 1 %d: not smaller", len(v2), len(want))
			}
			for name, body := range map[string][]byte{"format-2": v2, "format-1": want} {
				r := New()
				if err := r.Restore(bytes.NewReader(body)); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got, err := legacySnapshot(r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s restored a different state:\n got %.400s\nwant %.400s", name, got, want)
				}
				if back, _ := r.Snapshot(); !bytes.Equal(back, v2) {
					t.Fatalf("%s: the restored state snapshots to different bytes", name)
				}
				a.s.View(func(d *Data) {
					r.View(func(rd *Data) {
						if !reflect.DeepEqual(rd.Leases, d.Leases) || !reflect.DeepEqual(rd.Applied, d.Applied) || !reflect.DeepEqual(rd.Log, d.Log) {
							t.Fatalf("%s: leases or applied ids differ after restore", name)
						}
					})
				})
			}
		})
	}
}

// TestSnapshotLeaseKeyKept: a lease stored under a key other than its ID (leasePut never does
// this, but format 1 kept whatever the map held) comes back under the same key.
func TestSnapshotLeaseKeyKept(t *testing.T) {
	a := richState(t, 2)
	a.s.mu.Lock()
	a.s.d.Leases["odd-key"] = Lease{ID: "database/creds/ro/x", Mount: "database"}
	a.s.mu.Unlock()
	r := New()
	if err := r.Restore(bytes.NewReader(a.snapshot())); err != nil {
		t.Fatal(err)
	}
	r.View(func(d *Data) {
		if l, ok := d.Leases["odd-key"]; !ok || l.ID != "database/creds/ro/x" || len(d.Leases) != 3 {
			t.Fatalf("leases after restore: %v", d.Leases)
		}
	})
}

// TestSnapshotMalformedRefused: a format-2 body cut short, with bytes after its end, with a
// header that promises more or fewer than follow, or with a lease twice is refused, and the
// state it was to replace is unchanged.
func TestSnapshotMalformedRefused(t *testing.T) {
	a := richState(t, 3)
	good := a.snapshot()
	d := a.s.d
	encode := func(h snapshotHeader, leases []snapshotLease, log []AppliedEvent) []byte {
		var b bytes.Buffer
		b.Write(snapshotMagic2)
		enc := gob.NewEncoder(&b)
		for _, v := range []any{h, leases, log} {
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}
	rest, err := json.Marshal(&Data{Nodes: d.Nodes, Seal: d.Seal, Catalog: d.Catalog})
	if err != nil {
		t.Fatal(err)
	}
	l := []snapshotLease{{Lease: Lease{ID: "a"}}, {Lease: Lease{ID: "b"}}}
	ev := []AppliedEvent{{ID: "x", Index: 1}}
	for name, body := range map[string][]byte{
		"cut short":        good[:len(good)-10],
		"trailing bytes":   append(bytes.Clone(good), 0),
		"magic only":       snapshotMagic2,
		"more leases":      encode(snapshotHeader{Rest: rest, Leases: 1, Log: 1}, l, ev),
		"fewer leases":     encode(snapshotHeader{Rest: rest, Leases: 3, Log: 1}, l, ev),
		"negative count":   encode(snapshotHeader{Rest: rest, Leases: -1, Log: 1}, l, ev),
		"lease twice":      encode(snapshotHeader{Rest: rest, Leases: 2, Log: 1}, []snapshotLease{l[0], l[0]}, ev),
		"applied id twice": encode(snapshotHeader{Rest: rest, Leases: 2, Log: 2}, l, []AppliedEvent{ev[0], ev[0]}),
		"rest not JSON":    encode(snapshotHeader{Rest: []byte("{"), Leases: 2, Log: 1}, l, ev),
	} {
		t.Run(name, func(t *testing.T) {
			r := richState(t, 3)
			before, _ := legacySnapshot(r.s)
			if err := r.s.Restore(bytes.NewReader(body)); err == nil {
				t.Fatal("restored")
			}
			if after, _ := legacySnapshot(r.s); !bytes.Equal(before, after) {
				t.Fatal("a refused restore changed the state")
			}
		})
	}
	// The well-formed body of the same helper restores, so the refusals above are the
	// defects', not the helper's.
	if err := New().Restore(bytes.NewReader(encode(snapshotHeader{Rest: rest, Leases: 2, Log: 1}, l, ev))); err != nil {
		t.Fatalf("well-formed hand-made body: %v", err)
	}
}

// BenchmarkSnapshotFormats compares, in the same run, encoding and decoding 100k leases and a
// full log of applied ids in format 1 (the whole state as JSON) and format 2.
func BenchmarkSnapshotFormats(b *testing.B) {
	s := New()
	for i := range 100_000 {
		id := fmt.Sprintf("database/creds/ro/%024d", i)
		s.d.Leases[id] = Lease{
			ID: id, Mount: "database", Role: "ro", DBName: "pg", Username: fmt.Sprintf("v-root-ro-%020d", i),
			Issued: epoch, Expires: epoch.Add(time.Hour), MaxExpires: epoch.Add(24 * time.Hour), Renewable: true, TTL: time.Hour,
		}
		s.d.remember(AppliedEvent{ID: fmt.Sprintf("lease-put-%d", i), Type: string(TypeLeasePut), Index: uint64(i/1000 + 1)})
	}
	v1, err := legacySnapshot(s)
	if err != nil {
		b.Fatal(err)
	}
	v2, err := s.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name   string
		encode func() ([]byte, error)
		body   []byte
	}{{"format-1", func() ([]byte, error) { return legacySnapshot(s) }, v1}, {"format-2", s.Snapshot, v2}} {
		b.Run(f.name+"/encode", func(b *testing.B) {
			for b.Loop() {
				if _, err := f.encode(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(f.body)), "bytes")
		})
		b.Run(f.name+"/decode", func(b *testing.B) {
			for b.Loop() {
				if err := New().Restore(bytes.NewReader(f.body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
