// Package barrier keeps the key that encrypts Baton's secrets at rest. Secrets (root
// passwords, connection URLs with credentials, catalog env) are sealed by the active node with
// AES-256-GCM before they are proposed to Raft, so neither the Raft log, the snapshots nor the
// replicated state ever hold them in clear. A node holds the key only while unsealed.
package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
)

// KeySize is the length of a barrier key: AES-256.
const KeySize = 32

// version prefixes every ciphertext so the format can change later.
const version byte = 1

// checkPlain is what a key check encrypts: opening it proves the key is the cluster's.
var checkPlain = []byte("baton barrier key check")

// Sentinel errors callers branch on.
var (
	// ErrSealed: the barrier holds no key.
	ErrSealed = errors.New("barrier: sealed")
	// ErrWrongKey: the key does not open the cluster's key check.
	ErrWrongKey = errors.New("barrier: the unseal key does not match this cluster")
	// ErrCorrupt: a ciphertext cannot be opened with the current key.
	ErrCorrupt = errors.New("barrier: ciphertext cannot be opened")
)

// Barrier holds the key while unsealed. It is safe for concurrent use.
type Barrier struct {
	mu   sync.RWMutex
	aead cipher.AEAD
	mac  []byte // a MAC key derived from the barrier key
}

// New returns a sealed barrier.
func New() *Barrier { return &Barrier{} }

// GenerateKey returns a fresh random key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("barrier: generate key: %w", err)
	}
	return k, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("barrier: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	return cipher.NewGCM(block)
}

// KeyCheck returns a value stored in replicated state at init; Unseal compares against it.
func KeyCheck(key []byte) ([]byte, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return seal(a, checkPlain)
}

// Unseal installs the key after proving it opens check (the cluster's key check). An empty
// check (a cluster not yet initialised) accepts the key as it is.
func (b *Barrier) Unseal(key, check []byte) error {
	a, err := newAEAD(key)
	if err != nil {
		return err
	}
	if len(check) > 0 {
		got, err := open(a, check)
		if err != nil || subtle.ConstantTimeCompare(got, checkPlain) != 1 {
			return ErrWrongKey
		}
	}
	m := sha256.Sum256(append([]byte("baton-mac\x00"), key...))
	b.mu.Lock()
	b.aead = a
	b.mac = m[:]
	b.mu.Unlock()
	return nil
}

// Seal forgets the key.
func (b *Barrier) Seal() {
	b.mu.Lock()
	b.aead = nil
	b.mac = nil
	b.mu.Unlock()
}

// MAC authenticates msg under a key derived from the barrier key: a node proves with it that
// it holds the unseal key (joining a cluster) without sending the key.
func (b *Barrier) MAC(msg []byte) ([]byte, error) {
	b.mu.RLock()
	k := b.mac
	b.mu.RUnlock()
	if k == nil {
		return nil, ErrSealed
	}
	m := hmac.New(sha256.New, k)
	m.Write(msg)
	return m.Sum(nil), nil
}

// Sealed reports whether the barrier holds no key.
func (b *Barrier) Sealed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.aead == nil
}

// Encrypt seals plain under the key.
func (b *Barrier) Encrypt(plain []byte) ([]byte, error) {
	b.mu.RLock()
	a := b.aead
	b.mu.RUnlock()
	if a == nil {
		return nil, ErrSealed
	}
	return seal(a, plain)
}

// Decrypt opens a ciphertext made by Encrypt.
func (b *Barrier) Decrypt(ct []byte) ([]byte, error) {
	b.mu.RLock()
	a := b.aead
	b.mu.RUnlock()
	if a == nil {
		return nil, ErrSealed
	}
	return open(a, ct)
}

func seal(a cipher.AEAD, plain []byte) ([]byte, error) {
	out := make([]byte, 1+a.NonceSize(), 1+a.NonceSize()+len(plain)+a.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("barrier: nonce: %w", err)
	}
	return a.Seal(out, out[1:1+a.NonceSize()], plain, nil), nil
}

func open(a cipher.AEAD, ct []byte) ([]byte, error) {
	if len(ct) < 1+a.NonceSize()+a.Overhead() || ct[0] != version {
		return nil, ErrCorrupt
	}
	n := a.NonceSize()
	plain, err := a.Open(nil, ct[1:1+n], ct[1+n:], nil)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// EncodeKey renders a key as an unseal key string (base64, as OpenBao prints them).
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// DecodeKey parses an unseal key string.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("barrier: unseal key is not base64: %w", err)
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("barrier: unseal key is %d bytes, want %d", len(k), KeySize)
	}
	return k, nil
}

// VerifyKey reports whether key is the cluster's barrier key, proved against its key check
// (ErrWrongKey otherwise). It installs nothing: sys/generate-root uses it to accept an unseal
// key share on an unsealed node.
func VerifyKey(key, check []byte) error {
	a, err := newAEAD(key)
	if err != nil {
		return ErrWrongKey
	}
	got, err := open(a, check)
	if err != nil || subtle.ConstantTimeCompare(got, checkPlain) != 1 {
		return ErrWrongKey
	}
	return nil
}
