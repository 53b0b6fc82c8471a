// Package barrier keeps the keys that encrypt Baton's secrets at rest, as OpenBao's barrier
// does: a root key (the unseal key, split into Shamir shares at init) encrypts the keyring,
// and the keyring's terms (data keys) encrypt the secrets. Secrets (root passwords,
// connection URLs with credentials, catalog env) are sealed by the active node with
// AES-256-GCM under the keyring's active term before they are proposed to Raft, so neither
// the Raft log, the snapshots nor the replicated state ever hold them in clear. The root key
// is never a data key: a rekey replaces it (and the shares) without touching the keyring,
// and a rotation adds a term without touching the root key; old terms stay, so data written
// under them stays readable. A node holds the keys only while unsealed.
package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// KeySize is the length of a root key and of a keyring term's key: AES-256.
const KeySize = 32

// Ciphertext versions: version 1 (the first format) carries no term and is opened with term
// 1; version 2 carries the term (4 bytes, big-endian) and authenticates it as additional data.
const (
	versionNoTerm byte = 1
	versionTerm   byte = 2
)

// Sentinel errors callers branch on.
var (
	// ErrSealed: the barrier holds no key.
	ErrSealed = errors.New("barrier: sealed")
	// ErrWrongKey: the root key does not open the cluster's keyring.
	ErrWrongKey = errors.New("barrier: the unseal key does not match this cluster")
	// ErrCorrupt: a ciphertext cannot be opened with the keyring.
	ErrCorrupt = errors.New("barrier: ciphertext cannot be opened")
)

// Term is one data key of the keyring.
type Term struct {
	Term        uint32    `json:"term"`
	Key         []byte    `json:"key"`
	InstallTime time.Time `json:"install_time"`
}

// keyring is what the root key seals: every term, the newest active.
type keyring struct {
	Terms []Term `json:"terms"`
}

func (k keyring) active() Term { return k.Terms[len(k.Terms)-1] }

func (k keyring) firstTerm() uint32 {
	if len(k.Terms) == 0 {
		return 0
	}
	return k.Terms[0].Term
}

// KeyStatus is the active term of the keyring and when it was installed (sys/key-status).
type KeyStatus struct {
	Term        uint32
	InstallTime time.Time
}

// Barrier holds the root key and the keyring while unsealed. It is safe for concurrent use.
type Barrier struct {
	mu     sync.RWMutex
	root   []byte
	ring   keyring
	aeads  map[uint32]cipher.AEAD
	active uint32
	sealed []byte // the keyring as the root key sealed it (what the state keeps)
	mac    []byte // a MAC key derived from the root key
	// rootSeal is an AEAD key derived from the root key (RootEncrypt).
	rootSeal []byte
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

// NewKeyring makes a keyring of one fresh term and returns it sealed by root: what the
// cluster keeps (state Seal.KeyCheck and the local seal file); opening it proves root.
func NewKeyring(root []byte) ([]byte, error) {
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	return sealKeyring(root, keyring{Terms: []Term{{Term: 1, Key: k, InstallTime: time.Now().UTC()}}})
}

func sealKeyring(root []byte, k keyring) ([]byte, error) {
	a, err := newAEAD(root)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("barrier: keyring: %w", err)
	}
	return seal(a, b)
}

func openKeyring(root, sealed []byte) (keyring, error) {
	a, err := newAEAD(root)
	if err != nil {
		return keyring{}, ErrWrongKey
	}
	b, err := open(a, sealed)
	if err != nil {
		return keyring{}, ErrWrongKey
	}
	var k keyring
	if err := json.Unmarshal(b, &k); err != nil || len(k.Terms) == 0 {
		return keyring{}, ErrWrongKey
	}
	return k, nil
}

// Unseal installs root and the keyring it seals, after opening it (ErrWrongKey when root
// does not). An empty sealedKeyring (a node with no cluster state yet, joining one) installs
// root with a fresh keyring of its own: Sync replaces it with the cluster's once replicated.
func (b *Barrier) Unseal(root, sealedKeyring []byte) error {
	if len(sealedKeyring) == 0 {
		s, err := NewKeyring(root)
		if err != nil {
			return err
		}
		sealedKeyring = s
	}
	k, err := openKeyring(root, sealedKeyring)
	if err != nil {
		return err
	}
	return b.install(root, k, sealedKeyring)
}

func (b *Barrier) install(root []byte, k keyring, sealed []byte) error {
	aeads := make(map[uint32]cipher.AEAD, len(k.Terms))
	for _, t := range k.Terms {
		a, err := newAEAD(t.Key)
		if err != nil {
			return err
		}
		aeads[t.Term] = a
	}
	m := sha256.Sum256(append([]byte("baton-mac\x00"), root...))
	rs := sha256.Sum256(append([]byte("baton-root-seal\x00"), root...))
	b.mu.Lock()
	b.root = append([]byte(nil), root...)
	b.ring = k
	b.aeads = aeads
	b.active = k.active().Term
	b.sealed = append([]byte(nil), sealed...)
	b.mac = m[:]
	b.rootSeal = rs[:]
	b.mu.Unlock()
	return nil
}

// Seal forgets the keys.
func (b *Barrier) Seal() {
	b.mu.Lock()
	clear(b.root)
	b.root, b.ring, b.aeads, b.active, b.sealed, b.mac, b.rootSeal = nil, keyring{}, nil, 0, nil, nil, nil
	b.mu.Unlock()
}

// MAC authenticates msg under a key derived from the root key: a node proves with it that
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

// RootEncrypt seals plain under a key derived from the root key (not a keyring term): what a
// node that holds only the root key can open, as a node joining a cluster does before it
// has the cluster's keyring (the join challenge and the cluster CA key in the join answer).
func (b *Barrier) RootEncrypt(plain []byte) ([]byte, error) {
	a, err := b.rootAEAD()
	if err != nil {
		return nil, err
	}
	return seal(a, plain)
}

// RootDecrypt opens what RootEncrypt sealed under the same root key (ErrCorrupt otherwise).
func (b *Barrier) RootDecrypt(ct []byte) ([]byte, error) {
	a, err := b.rootAEAD()
	if err != nil {
		return nil, err
	}
	return open(a, ct)
}

func (b *Barrier) rootAEAD() (cipher.AEAD, error) {
	b.mu.RLock()
	k := b.rootSeal
	b.mu.RUnlock()
	if k == nil {
		return nil, ErrSealed
	}
	return newAEAD(k)
}

// Sealed reports whether the barrier holds no key.
func (b *Barrier) Sealed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.aeads == nil
}

// KeyStatus is the keyring's active term.
func (b *Barrier) KeyStatus() (KeyStatus, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.aeads == nil {
		return KeyStatus{}, ErrSealed
	}
	t := b.ring.active()
	return KeyStatus{Term: t.Term, InstallTime: t.InstallTime}, nil
}

// IsRoot reports, in constant time, whether key is the root key the barrier holds.
func (b *Barrier) IsRoot(key []byte) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.root != nil && subtle.ConstantTimeCompare(key, b.root) == 1
}

// Rotated returns the keyring with one more term (a fresh key, active from when it is
// installed), sealed by the current root key. Nothing is installed: the caller commits it
// through Raft, and every node installs it with Sync.
func (b *Barrier) Rotated() ([]byte, error) {
	b.mu.RLock()
	root, ring := b.root, b.ring
	b.mu.RUnlock()
	if root == nil {
		return nil, ErrSealed
	}
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	next := keyring{Terms: append(append([]Term(nil), ring.Terms...), Term{Term: ring.active().Term + 1, Key: k, InstallTime: time.Now().UTC()})}
	return sealKeyring(root, next)
}

// Rekeyed returns the keyring unchanged but sealed by newRoot, and newRoot sealed by the
// keyring's first term, so that every node that holds any version of the keyring (terms are
// never removed, so every version has the first) can learn the new root key from the
// replicated state in Sync, even one that missed rotations. Nothing is installed.
func (b *Barrier) Rekeyed(newRoot []byte) (sealedKeyring, sealedRoot []byte, err error) {
	b.mu.RLock()
	ring := b.ring
	first := b.aeads[ring.firstTerm()]
	b.mu.RUnlock()
	if first == nil {
		return nil, nil, ErrSealed
	}
	if sealedKeyring, err = sealKeyring(newRoot, ring); err != nil {
		return nil, nil, err
	}
	if sealedRoot, err = sealTerm(first, ring.firstTerm(), newRoot); err != nil {
		return nil, nil, err
	}
	return sealedKeyring, sealedRoot, nil
}

// Sync installs the cluster's keyring as replicated: sealedKeyring is opened with the root
// key held, or, after a rekey, with the new root key that sealedRoot holds (sealed by a term
// of the keyring held). It reports whether anything changed; ErrWrongKey when neither opens
// it, ErrSealed when sealed.
func (b *Barrier) Sync(sealedKeyring, sealedRoot []byte) (bool, error) {
	b.mu.RLock()
	root, cur := b.root, b.sealed
	b.mu.RUnlock()
	if root == nil {
		return false, ErrSealed
	}
	if len(sealedKeyring) == 0 || subtle.ConstantTimeCompare(cur, sealedKeyring) == 1 {
		return false, nil
	}
	k, err := openKeyring(root, sealedKeyring)
	if err != nil && len(sealedRoot) > 0 {
		newRoot, derr := b.Decrypt(sealedRoot)
		if derr != nil {
			return false, ErrWrongKey
		}
		root = newRoot
		k, err = openKeyring(root, sealedKeyring)
	}
	if err != nil {
		return false, err
	}
	return true, b.install(root, k, sealedKeyring)
}

// Encrypt seals plain under the keyring's active term.
func (b *Barrier) Encrypt(plain []byte) ([]byte, error) {
	b.mu.RLock()
	a, term := b.aeads[b.active], b.active
	b.mu.RUnlock()
	if a == nil {
		return nil, ErrSealed
	}
	return sealTerm(a, term, plain)
}

// Decrypt opens a ciphertext made by Encrypt under any term of the keyring.
func (b *Barrier) Decrypt(ct []byte) ([]byte, error) {
	b.mu.RLock()
	aeads := b.aeads
	b.mu.RUnlock()
	if aeads == nil {
		return nil, ErrSealed
	}
	switch {
	case len(ct) > 0 && ct[0] == versionNoTerm && aeads[1] != nil:
		return open(aeads[1], ct)
	case len(ct) > 5 && ct[0] == versionTerm:
		a := aeads[binary.BigEndian.Uint32(ct[1:5])]
		if a == nil {
			return nil, ErrCorrupt
		}
		n := a.NonceSize()
		if len(ct) < 5+n+a.Overhead() {
			return nil, ErrCorrupt
		}
		plain, err := a.Open(nil, ct[5:5+n], ct[5+n:], ct[:5])
		if err != nil {
			return nil, ErrCorrupt
		}
		return plain, nil
	}
	return nil, ErrCorrupt
}

func sealTerm(a cipher.AEAD, term uint32, plain []byte) ([]byte, error) {
	n := a.NonceSize()
	out := make([]byte, 5+n, 5+n+len(plain)+a.Overhead())
	out[0] = versionTerm
	binary.BigEndian.PutUint32(out[1:5], term)
	if _, err := rand.Read(out[5:]); err != nil {
		return nil, fmt.Errorf("barrier: nonce: %w", err)
	}
	return a.Seal(out, out[5:5+n], plain, out[:5]), nil
}

// seal is the termless format, used for the keyring sealed by the root key.
func seal(a cipher.AEAD, plain []byte) ([]byte, error) {
	out := make([]byte, 1+a.NonceSize(), 1+a.NonceSize()+len(plain)+a.Overhead())
	out[0] = versionNoTerm
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("barrier: nonce: %w", err)
	}
	return a.Seal(out, out[1:1+a.NonceSize()], plain, nil), nil
}

func open(a cipher.AEAD, ct []byte) ([]byte, error) {
	if len(ct) < 1+a.NonceSize()+a.Overhead() || ct[0] != versionNoTerm {
		return nil, ErrCorrupt
	}
	n := a.NonceSize()
	plain, err := a.Open(nil, ct[1:1+n], ct[1+n:], nil)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// EncodeKey renders a key or share as an unseal key string (base64, as OpenBao prints them).
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// DecodeKey parses a root key string (base64).
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

// VerifyKey reports whether root is the cluster's root key, proved by opening its sealed
// keyring (ErrWrongKey otherwise). It installs nothing: sys/generate-root uses it.
func VerifyKey(root, sealedKeyring []byte) error {
	_, err := openKeyring(root, sealedKeyring)
	return err
}
