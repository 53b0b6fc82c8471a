package barrier

import (
	"bytes"
	"errors"
	"testing"
)

func unsealed(t *testing.T) (*Barrier, []byte, []byte) {
	t.Helper()
	root, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewKeyring(root)
	if err != nil {
		t.Fatal(err)
	}
	b := New()
	if err := b.Unseal(root, ring); err != nil {
		t.Fatal(err)
	}
	return b, root, ring
}

// TestRotateKeepsOldTerms: after a rotation new ciphertexts use the new term, and what the
// old term sealed is still opened, also by a second node that syncs the rotated keyring.
func TestRotateKeepsOldTerms(t *testing.T) {
	b, root, ring := unsealed(t)
	old, _ := b.Encrypt([]byte("before"))
	rotated, err := b.Rotated()
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := b.KeyStatus(); st.Term != 1 {
		t.Fatalf("Rotated installed the new term: %+v", st)
	}
	for _, n := range []*Barrier{b, func() *Barrier { o := New(); _ = o.Unseal(root, ring); return o }()} {
		if changed, err := n.Sync(rotated, nil); err != nil || !changed {
			t.Fatalf("Sync = %v, %v", changed, err)
		}
		if st, _ := n.KeyStatus(); st.Term != 2 || st.InstallTime.IsZero() {
			t.Fatalf("after rotate: %+v", st)
		}
		got, err := n.Decrypt(old)
		if err != nil || string(got) != "before" {
			t.Fatalf("old data after rotate: %q, %v", got, err)
		}
		ct, _ := n.Encrypt([]byte("after"))
		if ct[0] != versionTerm || ct[4] != 2 {
			t.Fatalf("new ciphertext not under term 2: % x", ct[:5])
		}
	}
	// A restarted node unseals with the same root key and the rotated keyring.
	r := New()
	if err := r.Unseal(root, rotated); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Decrypt(old); err != nil || string(got) != "before" {
		t.Fatalf("old data after restart: %q, %v", got, err)
	}
	// A tampered term number is refused (the term is authenticated).
	ct, _ := b.Encrypt([]byte("x"))
	ct[4] = 1
	if _, err := b.Decrypt(ct); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("term swapped: %v", err)
	}
}

// TestRekeyChangesRootOnly: a rekey seals the same keyring under a new root key; the old root
// no longer opens it, a node holding the old root follows through the sealed new root.
func TestRekeyChangesRootOnly(t *testing.T) {
	b, oldRoot, ring := unsealed(t)
	data, _ := b.Encrypt([]byte("kept"))
	standby := New()
	if err := standby.Unseal(oldRoot, ring); err != nil {
		t.Fatal(err)
	}
	newRoot, _ := GenerateKey()
	sk, sr, err := b.Rekeyed(newRoot)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyKey(oldRoot, sk); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old root opens the rekeyed keyring: %v", err)
	}
	if err := VerifyKey(newRoot, sk); err != nil {
		t.Fatal(err)
	}
	if changed, err := standby.Sync(sk, sr); err != nil || !changed {
		t.Fatalf("standby Sync = %v, %v", changed, err)
	}
	if !standby.IsRoot(newRoot) || standby.IsRoot(oldRoot) {
		t.Fatal("standby does not hold the new root key")
	}
	if got, err := standby.Decrypt(data); err != nil || string(got) != "kept" {
		t.Fatalf("data after rekey: %q, %v", got, err)
	}
	if st, _ := standby.KeyStatus(); st.Term != 1 {
		t.Fatalf("a rekey changed the keyring: %+v", st)
	}
	// A node that missed a rotation and then the rekey (it holds term 1 only, under the old
	// root) still follows: the new root key is sealed by the first term.
	stale := New()
	if err := stale.Unseal(oldRoot, ring); err != nil {
		t.Fatal(err)
	}
	rotated, _ := standby.Rotated()
	if _, err := standby.Sync(rotated, nil); err != nil {
		t.Fatal(err)
	}
	newer, _ := GenerateKey()
	sk2, sr2, err := standby.Rekeyed(newer)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := stale.Sync(sk2, sr2); err != nil || !changed {
		t.Fatalf("stale node Sync = %v, %v", changed, err)
	}
	if st, _ := stale.KeyStatus(); st.Term != 2 || !stale.IsRoot(newer) {
		t.Fatalf("stale node after sync: %+v", st)
	}
	// A stranger's keyring and root blob are refused.
	other, _, ring2 := unsealed(t)
	_ = other
	if _, err := standby.Sync(ring2, sr); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("foreign keyring: %v", err)
	}
}

func TestShares(t *testing.T) {
	root, _ := GenerateKey()
	shares, err := SplitKey(root, 5, 3)
	if err != nil || len(shares) != 5 {
		t.Fatalf("SplitKey: %d, %v", len(shares), err)
	}
	for _, s := range shares {
		if bytes.Contains(s, root) {
			t.Fatal("a share holds the root key")
		}
		back, err := DecodeShare(EncodeKey(s))
		if err != nil || !bytes.Equal(back, s) {
			t.Fatalf("share round trip: %v", err)
		}
	}
	if k, err := CombineShares([][]byte{shares[4], shares[0], shares[2]}); err != nil || !bytes.Equal(k, root) {
		t.Fatalf("3 of 5: %v", err)
	}
	if k, _ := CombineShares(shares[:2]); bytes.Equal(k, root) {
		t.Fatal("2 of 5 recombined the root key")
	}
	one, _ := SplitKey(root, 1, 1)
	if !bytes.Equal(one[0], root) {
		t.Fatal("a single share is not the key")
	}
	for _, c := range []struct{ n, t int }{{0, 0}, {5, 1}, {3, 4}, {256, 2}, {1, 0}} {
		if err := CheckShares(c.n, c.t); err == nil {
			t.Errorf("CheckShares(%d, %d) accepted", c.n, c.t)
		}
	}
	for _, bad := range []string{"", "zz", EncodeKey([]byte("short")), EncodeKey(make([]byte, 40))} {
		if _, err := DecodeShare(bad); !errors.Is(err, ErrBadShare) {
			t.Errorf("DecodeShare(%q) = %v", bad, err)
		}
	}
}
