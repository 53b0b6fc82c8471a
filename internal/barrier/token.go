package barrier

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
)

// TokenPrefix starts every service token, as in OpenBao 2.x.
const TokenPrefix = "s."

// base62 is the alphabet of tokens and accessors (OpenBao's base62).
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// TokenSaltSize is the length of the token store's HMAC salt.
const TokenSaltSize = 32

// RandomBase62 returns n characters drawn uniformly from base62 (bytes ≥ 248 are redrawn, so
// no character is likelier than another).
func RandomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("barrier: random: %w", err)
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// NewToken returns a random token in OpenBao's service-token shape: "s." and 24 base62
// characters (about 142 random bits). The state keeps only its salted hash.
func NewToken() (string, error) {
	s, err := RandomBase62(24)
	if err != nil {
		return "", err
	}
	return TokenPrefix + s, nil
}

// NewAccessor returns a random token accessor: 24 base62 characters, as OpenBao's.
func NewAccessor() (string, error) { return RandomBase62(24) }

// NewTokenSalt returns a fresh salt for the token store's hashes.
func NewTokenSalt() ([]byte, error) {
	b := make([]byte, TokenSaltSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("barrier: token salt: %w", err)
	}
	return b, nil
}

// Salted hash domains: a token id and an accessor never hash alike.
const (
	DomainToken    = "token"
	DomainAccessor = "accessor"
)

// SaltedHash is the key under which a token id or an accessor (domain says which) is kept in
// the replicated state: HMAC-SHA256 under the cluster's token salt, in hex. Without the salt,
// which is sealed, the state's keys cannot be matched against guessed tokens.
func SaltedHash(salt []byte, domain, value string) string {
	return saltedHash(hmac.New(sha256.New, salt), domain, value)
}

func saltedHash(m hash.Hash, domain, value string) string {
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(value))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// Hasher computes SaltedHash under one salt, reusing keyed HMAC states (keying one costs
// more than hashing a token): the token store hashes on every request. Safe for concurrent
// use.
type Hasher struct {
	pool sync.Pool
}

// NewHasher returns a Hasher for salt.
func NewHasher(salt []byte) *Hasher {
	key := append([]byte(nil), salt...)
	return &Hasher{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// Hash is SaltedHash(salt, domain, value).
func (h *Hasher) Hash(domain, value string) string {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	out := saltedHash(m, domain, value)
	h.pool.Put(m)
	return out
}
