package barrier

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/shamir"
)

// MaxShares is the largest number of key shares (a share's x coordinate is one byte).
const MaxShares = 255

// ErrBadShare: a key share is malformed (not hex or base64, or of the wrong length).
var ErrBadShare = errors.New("barrier: malformed unseal key share")

// SplitKey splits a root key into shares of which threshold recombine it, with HashiCorp's
// Shamir implementation over GF(2^8) (the one OpenBao's is forked from). With one share
// (threshold 1) the share is the root key itself, as in OpenBao.
func SplitKey(root []byte, shares, threshold int) ([][]byte, error) {
	if err := CheckShares(shares, threshold); err != nil {
		return nil, err
	}
	if shares == 1 {
		return [][]byte{append([]byte(nil), root...)}, nil
	}
	return shamir.Split(root, shares, threshold)
}

// CheckShares checks secret_shares and secret_threshold as OpenBao does.
func CheckShares(shares, threshold int) error {
	switch {
	case shares < 1 || shares > MaxShares:
		return fmt.Errorf("secret_shares must be from 1 to %d, not %d", MaxShares, shares)
	case threshold < 1 || threshold > shares:
		return fmt.Errorf("secret_threshold must be from 1 to secret_shares (%d), not %d", shares, threshold)
	case shares > 1 && threshold == 1:
		return fmt.Errorf("secret_threshold must be at least 2 when secret_shares is more than 1 (one share alone would be the whole key)")
	}
	return nil
}

// CombineShares recombines a root key from threshold shares; one share is the key itself.
// A wrong combination gives a wrong key, which opening the keyring refuses.
func CombineShares(shares [][]byte) ([]byte, error) {
	if len(shares) == 1 {
		return append([]byte(nil), shares[0]...), nil
	}
	k, err := shamir.Combine(shares)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadShare, err)
	}
	return k, nil
}

// DecodeShare parses a key share given as hex (OpenBao's "keys") or base64 ("keys_base64"):
// KeySize bytes (a single key) or KeySize+1 (a Shamir share carries its x coordinate).
func DecodeShare(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	raw, err := hex.DecodeString(s)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: neither hex nor base64", ErrBadShare)
		}
	}
	if len(raw) != KeySize && len(raw) != KeySize+1 {
		return nil, fmt.Errorf("%w: %d bytes, want %d or %d", ErrBadShare, len(raw), KeySize, KeySize+1)
	}
	return raw, nil
}
