package core

import (
	"context"
	"crypto/hmac"
	"fmt"
	"sync"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// The barrier's keys on the active node: rotating the keyring (sys/rotate), reading its
// status (sys/key-status) and rekeying the unseal key shares (sys/rekey/*). Each change is
// one TypeSealUpdate naming the seal's next generation, so that two changes made from the
// same keyring never both apply; every node installs it on apply (syncSeal).

// KeyStatus is the keyring's active term and its install time.
type KeyStatus = barrier.KeyStatus

// keyOps serialises the seal changes this node proposes and holds the rekey attempt.
type keyOps struct {
	mu    sync.Mutex
	rekey *rekeyAttempt
}

// rekeyAttempt is a rekey in progress, in memory on the active node only, as OpenBao's: a
// failover or a seal cancels it (an attempt from before this node's current term as active
// node is forgotten).
type rekeyAttempt struct {
	epoch             time.Time
	nonce             string
	shares, threshold int
	progress          [][]byte
	// verify: the new key is applied only once threshold of its shares are given back
	// (require_verification); pending holds it meanwhile, vnonce and vprogress the check.
	verify    bool
	pending   []byte
	vnonce    string
	vprogress [][]byte
}

// RekeyStatus is sys/rekey/init's and sys/rekey/update's answer. Keys (base64) are set once,
// in the answer to the update that completed the rekey.
type RekeyStatus struct {
	Started           bool
	Nonce             string
	Shares, Threshold int // of the new key
	Progress          int
	Required          int // shares of the current key needed
	Complete          bool
	Keys              []string
	// VerificationRequired: the new shares must be given back to sys/rekey/verify, under
	// VerificationNonce, before the new key replaces the old; VerifyProgress counts them.
	VerificationRequired bool
	VerificationNonce    string
	VerifyProgress       int
}

func (n *Node) sealGeneration() (gen uint64, threshold int) {
	n.state.View(func(d *state.Data) { gen, threshold = d.Seal.Generation, d.Seal.Threshold })
	return gen, max(threshold, 1)
}

func (n *Node) requireActive() error {
	if n.barrier.Sealed() {
		return ErrSealed
	}
	if !n.IsActive() {
		id, addr := n.LeaderAPIAddr()
		return &NotActiveError{LeaderID: id, LeaderAPIAddr: addr}
	}
	return nil
}

// KeyStatus is the keyring's active term and its install time (sys/key-status).
func (n *Node) KeyStatus() (barrier.KeyStatus, error) {
	st, err := n.barrier.KeyStatus()
	if err != nil {
		return st, ErrSealed
	}
	return st, nil
}

// RotateKeyring adds a fresh term to the barrier's keyring through Raft: new writes are
// sealed under it, what older terms sealed stays readable (sys/rotate). Active node only.
func (n *Node) RotateKeyring(ctx context.Context) (barrier.KeyStatus, error) {
	if err := n.requireActive(); err != nil {
		return barrier.KeyStatus{}, err
	}
	n.keys.mu.Lock()
	defer n.keys.mu.Unlock()
	gen, _ := n.sealGeneration()
	ring, err := n.barrier.Rotated()
	if err != nil {
		return barrier.KeyStatus{}, err
	}
	if _, err := n.Propose(ctx, state.TypeSealUpdate, "", command.SourceAPI, state.SealUpdate{KeyCheck: ring, Generation: gen + 1}); err != nil {
		return barrier.KeyStatus{}, fmt.Errorf("core: rotate: %w", err)
	}
	return n.KeyStatus()
}

// current is the rekey attempt in progress, nil when none or when it began before this
// node's current term as the active node. Called with keys.mu held.
func (n *Node) currentRekey() *rekeyAttempt {
	if a := n.keys.rekey; a != nil && !a.epoch.Equal(n.ActiveSince()) {
		n.keys.rekey = nil
	}
	return n.keys.rekey
}

func (n *Node) rekeyStatusLocked() RekeyStatus {
	_, required := n.sealGeneration()
	st := RekeyStatus{Required: required}
	if a := n.currentRekey(); a != nil {
		st.Started, st.Nonce, st.Shares, st.Threshold, st.Progress = true, a.nonce, a.shares, a.threshold, len(a.progress)
		st.VerificationRequired, st.VerificationNonce, st.VerifyProgress = a.verify, a.vnonce, len(a.vprogress)
	}
	return st
}

// RekeyStatus reports the rekey attempt in progress, if any.
func (n *Node) RekeyStatus() (RekeyStatus, error) {
	if err := n.requireActive(); err != nil {
		return RekeyStatus{}, err
	}
	n.keys.mu.Lock()
	defer n.keys.mu.Unlock()
	return n.rekeyStatusLocked(), nil
}

// RekeyInit starts a rekey to shares shares of which threshold unseal; one at a time. With
// verify, the new key is applied only after sys/rekey/verify (OpenBao's
// require_verification).
func (n *Node) RekeyInit(shares, threshold int, verify bool) (RekeyStatus, error) {
	if err := barrier.CheckShares(shares, threshold); err != nil {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "%v", err)
	}
	if err := n.requireActive(); err != nil {
		return RekeyStatus{}, err
	}
	n.keys.mu.Lock()
	defer n.keys.mu.Unlock()
	if n.currentRekey() != nil {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "rekey already in progress")
	}
	n.keys.rekey = &rekeyAttempt{epoch: n.ActiveSince(), nonce: newNonce(), shares: shares, threshold: threshold, verify: verify}
	return n.rekeyStatusLocked(), nil
}

// RekeyCancel forgets the rekey attempt in progress (none is not an error).
func (n *Node) RekeyCancel() error {
	if err := n.requireActive(); err != nil {
		return err
	}
	n.keys.mu.Lock()
	n.keys.rekey = nil
	n.keys.mu.Unlock()
	return nil
}

// RekeyUpdate gives one share of the current unseal key to the attempt named by nonce. With
// the threshold reached the shares are recombined; if they make the root key, a new root key
// is made, split as asked, and the keyring re-sealed under it through Raft (the keyring
// itself is unchanged), and the new shares are answered once. The attempt ends either way: a
// wrong combination aborts it, as OpenBao's does.
func (n *Node) RekeyUpdate(ctx context.Context, keyText, nonce string) (RekeyStatus, error) {
	share, err := barrier.DecodeShare(keyText)
	if err != nil {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "key: %v", err)
	}
	if err := n.requireActive(); err != nil {
		return RekeyStatus{}, err
	}
	n.keys.mu.Lock()
	defer n.keys.mu.Unlock()
	a := n.currentRekey()
	if a == nil {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "no rekey in progress")
	}
	if !hmac.Equal([]byte(nonce), []byte(a.nonce)) {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "incorrect nonce supplied")
	}
	if a.pending != nil {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "the new key is made; give its shares to sys/rekey/verify")
	}
	for _, p := range a.progress {
		if hmac.Equal(p, share) {
			return RekeyStatus{}, refuse(ErrInvalidRequest, "given key has already been provided during this rekey operation")
		}
	}
	a.progress = append(a.progress, share)
	gen, required := n.sealGeneration()
	if len(a.progress) < required {
		return n.rekeyStatusLocked(), nil
	}
	root, err := barrier.CombineShares(a.progress)
	a.progress = nil
	if err != nil || !n.barrier.IsRoot(root) {
		n.keys.rekey = nil
		return RekeyStatus{}, refuse(ErrWrongKey, "rekey aborted: the key shares do not make this cluster's unseal key")
	}
	clear(root)
	newRoot, err := barrier.GenerateKey()
	if err != nil {
		n.keys.rekey = nil
		return RekeyStatus{}, err
	}
	parts, err := barrier.SplitKey(newRoot, a.shares, a.threshold)
	if err != nil {
		n.keys.rekey = nil
		return RekeyStatus{}, err
	}
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = barrier.EncodeKey(p)
	}
	done := RekeyStatus{Nonce: a.nonce, Shares: a.shares, Threshold: a.threshold, Required: a.threshold, Complete: true, Keys: keys}
	if a.verify {
		// Nothing changes until the holders prove they have the new shares.
		a.pending, a.vnonce = newRoot, newNonce()
		done.VerificationRequired, done.VerificationNonce = true, a.vnonce
		return done, nil
	}
	n.keys.rekey = nil
	defer clear(newRoot)
	if err := n.applyRekey(ctx, gen, newRoot, a); err != nil {
		return RekeyStatus{}, err
	}
	return done, nil
}

// applyRekey re-seals the keyring under newRoot through Raft.
func (n *Node) applyRekey(ctx context.Context, gen uint64, newRoot []byte, a *rekeyAttempt) error {
	ring, sealedRoot, err := n.barrier.Rekeyed(newRoot)
	if err != nil {
		return err
	}
	if _, err := n.Propose(ctx, state.TypeSealUpdate, "", command.SourceAPI, state.SealUpdate{
		KeyCheck: ring, RootKey: sealedRoot, Generation: gen + 1, Shares: a.shares, Threshold: a.threshold,
	}); err != nil {
		return fmt.Errorf("core: rekey: %w", err)
	}
	return nil
}

// RekeyVerify gives back one share of the new key (sys/rekey/verify) under the verification
// nonce. With the new threshold reached, the shares must recombine to the new key: then it
// replaces the old through Raft and the rekey ends; otherwise the verification progress is
// reset (the new shares stay pending, as in OpenBao).
func (n *Node) RekeyVerify(ctx context.Context, keyText, nonce string) (RekeyStatus, error) {
	share, err := barrier.DecodeShare(keyText)
	if err != nil {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "key: %v", err)
	}
	if err := n.requireActive(); err != nil {
		return RekeyStatus{}, err
	}
	n.keys.mu.Lock()
	defer n.keys.mu.Unlock()
	a := n.currentRekey()
	if a == nil || a.pending == nil {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "no rekey verification in progress")
	}
	if !hmac.Equal([]byte(nonce), []byte(a.vnonce)) {
		return RekeyStatus{}, refuse(ErrInvalidRequest, "incorrect nonce supplied")
	}
	for _, p := range a.vprogress {
		if hmac.Equal(p, share) {
			return RekeyStatus{}, refuse(ErrInvalidRequest, "given key has already been provided during this verify operation")
		}
	}
	a.vprogress = append(a.vprogress, share)
	if len(a.vprogress) < a.threshold {
		return n.rekeyStatusLocked(), nil
	}
	got, err := barrier.CombineShares(a.vprogress)
	a.vprogress = nil
	if err != nil || !hmac.Equal(got, a.pending) {
		return RekeyStatus{}, refuse(ErrWrongKey, "rekey verification failed: the shares do not make the new key; verification progress reset")
	}
	gen, _ := n.sealGeneration()
	if err := n.applyRekey(ctx, gen, a.pending, a); err != nil {
		return RekeyStatus{}, err
	}
	clear(a.pending)
	n.keys.rekey = nil
	return RekeyStatus{Nonce: a.vnonce, Shares: a.shares, Threshold: a.threshold, Complete: true}, nil
}
