package core

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// unsealWith gives shares to m one by one and returns the progress after each.
func unsealWith(t *testing.T, ctx context.Context, m *Membership, shares ...string) ([]int, error) {
	t.Helper()
	var progress []int
	for _, s := range shares {
		if err := m.Unseal(ctx, s); err != nil {
			return progress, err
		}
		p, _ := m.UnsealProgress()
		progress = append(progress, p)
	}
	return progress, nil
}

// storeSecret seals plain with the barrier and keeps the ciphertext in the replicated state
// (a mount's description, base64), so that it goes through Raft and survives a restart.
func storeSecret(t *testing.T, ctx context.Context, n *Node, path, plain string) {
	t.Helper()
	ct, err := n.Barrier().Encrypt([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, state.TypeMountPut, "", command.SourceAPI, state.MountPut{Mount: state.Mount{Path: path, Type: "database", Description: base64.StdEncoding.EncodeToString(ct)}}); err != nil {
		t.Fatal(err)
	}
}

func readSecret(t *testing.T, n *Node, path string) string {
	t.Helper()
	var ct string
	n.State().View(func(d *state.Data) { ct = d.Mounts[path+"/"].Description })
	raw, _ := base64.StdEncoding.DecodeString(ct)
	plain, err := n.Barrier().Decrypt(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(plain)
}

// TestSharesRotateRekey drives one node (real Raft and boltdb) through Shamir unseal, a
// keyring rotation and a rekey, as an attacker would poke at each: a share given twice
// counts once, threshold-1 shares never unseal, a wrong share resets the progress, a rekey
// update with a wrong nonce is refused, old shares are refused after a rekey, and data
// written before a rotation reads after it and after a restart.
func TestSharesRotateRekey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	dir, addr := t.TempDir(), freeAddr(t)
	n := newNode(t, dir, addr)
	if _, err := n.InitShares(ctx, "", 5, 1); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("5 shares, threshold 1: %v", err)
	}
	res, err := n.InitShares(ctx, "", 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Keys) != 5 {
		t.Fatalf("keys = %d", len(res.Keys))
	}
	storeSecret(t, ctx, n, "before", "written under term 1")
	if st, _ := n.KeyStatus(); st.Term != 1 {
		t.Fatalf("key status after init: %+v", st)
	}
	if _, err := n.RotateKeyring(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := n.KeyStatus()
	if st.Term != 2 || st.InstallTime.IsZero() {
		t.Fatalf("key status after rotate: %+v", st)
	}
	storeSecret(t, ctx, n, "after", "written under term 2")
	if got := readSecret(t, n, "before"); got != "written under term 1" {
		t.Fatalf("old data after rotate: %q", got)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	n = newNode(t, dir, addr)
	m := NewMembership(n, nil)
	t.Cleanup(m.Close)
	if s, th := m.SealCounts(); s != 5 || th != 3 {
		t.Fatalf("sealed node's counts = %d/%d, want 5/3", s, th)
	}
	// The same share twice counts once; threshold-1 shares never unseal.
	if p, err := unsealWith(t, ctx, m, res.Keys[0], res.Keys[0], res.Keys[1]); err != nil || !n.Sealed() || p[2] != 2 {
		t.Fatalf("2 distinct shares: progress %v, %v, sealed=%v", p, err, n.Sealed())
	}
	if _, nonce := m.UnsealProgress(); nonce == "" {
		t.Fatal("no nonce while unsealing")
	}
	m.ResetUnseal()
	if p, nonce := m.UnsealProgress(); p != 0 || nonce != "" {
		t.Fatalf("after reset: %d %q", p, nonce)
	}
	// A share of another cluster (well formed) makes a wrong key: progress reset, sealed.
	otherRoot, _ := barrier.GenerateKey()
	other, _ := barrier.SplitKey(otherRoot, 5, 3)
	if _, err := unsealWith(t, ctx, m, res.Keys[0], barrier.EncodeKey(other[0]), res.Keys[2]); !errors.Is(err, ErrWrongKey) || !n.Sealed() {
		t.Fatalf("wrong share: %v sealed=%v", err, n.Sealed())
	}
	if p, _ := m.UnsealProgress(); p != 0 {
		t.Fatalf("progress after a wrong combination = %d", p)
	}
	if err := m.Unseal(ctx, barrier.EncodeKey(otherRoot)); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("a 32-byte key on a 3-of-5 cluster: %v", err)
	}
	if _, err := unsealWith(t, ctx, m, res.Keys[4], res.Keys[1], res.Keys[3]); err != nil || n.Sealed() {
		t.Fatalf("3 of 5: %v sealed=%v", err, n.Sealed())
	}
	if err := n.waitActive(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readSecret(t, n, "before"); got != "written under term 1" {
		t.Fatalf("term 1 data after restart: %q", got)
	}
	if got := readSecret(t, n, "after"); got != "written under term 2" {
		t.Fatalf("term 2 data after restart: %q", got)
	}
	if st, _ := n.KeyStatus(); st.Term != 2 {
		t.Fatalf("key status after restart: %+v", st)
	}

	// Rekey to 3 shares, threshold 2.
	rs, err := n.RekeyInit(3, 2, false)
	if err != nil || !rs.Started || rs.Required != 3 {
		t.Fatalf("rekey init: %+v %v", rs, err)
	}
	if _, err := n.RekeyInit(3, 2, false); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("second rekey init: %v", err)
	}
	if _, err := n.RekeyUpdate(ctx, res.Keys[0], "wrong-nonce"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("wrong nonce: %v", err)
	}
	if st, _ := n.RekeyStatus(); st.Progress != 0 {
		t.Fatalf("a wrong nonce counted: %+v", st)
	}
	var done RekeyStatus
	for _, k := range res.Keys[:3] {
		if done, err = n.RekeyUpdate(ctx, k, rs.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !done.Complete || len(done.Keys) != 3 {
		t.Fatalf("rekey: %+v", done)
	}
	if _, err := n.RekeyUpdate(ctx, res.Keys[0], rs.Nonce); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("replayed update after completion: %v", err)
	}
	if st, _ := n.KeyStatus(); st.Term != 2 {
		t.Fatalf("a rekey changed the keyring: %+v", st)
	}
	if err := n.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if s, th := m.SealCounts(); s != 3 || th != 2 {
		t.Fatalf("counts after rekey = %d/%d, want 3/2", s, th)
	}
	if _, err := unsealWith(t, ctx, m, res.Keys[0], res.Keys[1]); !errors.Is(err, ErrWrongKey) || !n.Sealed() {
		t.Fatalf("old shares after rekey: %v sealed=%v", err, n.Sealed())
	}
	if _, err := unsealWith(t, ctx, m, done.Keys[2], done.Keys[0]); err != nil || n.Sealed() {
		t.Fatalf("new shares: %v", err)
	}
	if err := n.waitActive(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readSecret(t, n, "before"); got != "written under term 1" {
		t.Fatalf("data after rekey: %q", got)
	}
	// A rekey whose shares do not make the root key is aborted and changes nothing.
	rs, _ = n.RekeyInit(1, 1, false)
	_, _ = n.RekeyUpdate(ctx, done.Keys[0], rs.Nonce)
	if _, err := n.RekeyUpdate(ctx, barrier.EncodeKey(other[0]), rs.Nonce); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("rekey with a wrong share: %v", err)
	}
	if st, _ := n.RekeyStatus(); st.Started {
		t.Fatal("an aborted rekey is still in progress")
	}

	// With verification, nothing changes until the new shares are given back: a wrong one
	// resets the verification progress, the right ones apply the new key.
	rs, err = n.RekeyInit(2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	var pending RekeyStatus
	for _, k := range done.Keys[:2] {
		if pending, err = n.RekeyUpdate(ctx, k, rs.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !pending.Complete || !pending.VerificationRequired || pending.VerificationNonce == "" || len(pending.Keys) != 2 {
		t.Fatalf("rekey with verification: %+v", pending)
	}
	if s, th := m.SealCounts(); s != 3 || th != 2 {
		t.Fatalf("the unverified rekey changed the counts: %d/%d", s, th)
	}
	if _, err := n.RekeyVerify(ctx, pending.Keys[0], "wrong"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("verify with a wrong nonce: %v", err)
	}
	_, _ = n.RekeyVerify(ctx, pending.Keys[0], pending.VerificationNonce)
	if _, err := n.RekeyVerify(ctx, barrier.EncodeKey(other[0]), pending.VerificationNonce); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("verify with a foreign share: %v", err)
	}
	if st, _ := n.RekeyStatus(); !st.Started || st.VerifyProgress != 0 {
		t.Fatalf("after a failed verification: %+v", st)
	}
	_, _ = n.RekeyVerify(ctx, pending.Keys[1], pending.VerificationNonce)
	if v, err := n.RekeyVerify(ctx, pending.Keys[0], pending.VerificationNonce); err != nil || !v.Complete {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if err := n.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := unsealWith(t, ctx, m, done.Keys[0], done.Keys[1]); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("shares from before the verified rekey: %v", err)
	}
	if _, err := unsealWith(t, ctx, m, pending.Keys[1], pending.Keys[0]); err != nil || n.Sealed() {
		t.Fatalf("verified shares: %v", err)
	}
}
