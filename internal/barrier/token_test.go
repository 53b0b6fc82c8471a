package barrier

import (
	"errors"
	"regexp"
	"testing"
)

// TestNewToken: tokens and accessors have OpenBao's shapes and differ from call to call.
func TestNewToken(t *testing.T) {
	tokShape := regexp.MustCompile(`^s\.[A-Za-z0-9]{24}$`)
	accShape := regexp.MustCompile(`^[A-Za-z0-9]{24}$`)
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		acc, err := NewAccessor()
		if err != nil {
			t.Fatal(err)
		}
		if !tokShape.MatchString(tok) || !accShape.MatchString(acc) {
			t.Fatalf("token %q / accessor %q do not have OpenBao's shape", tok, acc)
		}
		if seen[tok] || seen[acc] {
			t.Fatalf("token %q or accessor %q repeated", tok, acc)
		}
		seen[tok], seen[acc] = true, true
	}
}

// TestSaltedHash: the hash depends on the salt and the domain, and never shows the value.
func TestSaltedHash(t *testing.T) {
	s1, _ := NewTokenSalt()
	s2, _ := NewTokenSalt()
	const v = "s.abcdefghijklmnopqrstuvwx"
	h := SaltedHash(s1, DomainToken, v)
	for name, other := range map[string]string{
		"other salt":   SaltedHash(s2, DomainToken, v),
		"other domain": SaltedHash(s1, DomainAccessor, v),
		"other value":  SaltedHash(s1, DomainToken, v+"x"),
	} {
		if other == h {
			t.Errorf("%s: same hash", name)
		}
	}
	if h != SaltedHash(s1, DomainToken, v) {
		t.Fatal("hash is not deterministic")
	}
	hs := NewHasher(s1)
	for range 3 { // pooled states are reset between uses
		if got := hs.Hash(DomainToken, v); got != h {
			t.Fatalf("Hasher.Hash = %s, want SaltedHash's %s", got, h)
		}
	}
	if regexp.MustCompile(`abcdefgh`).MatchString(h) {
		t.Fatal("hash shows the value")
	}
}

func TestVerifyKey(t *testing.T) {
	k, _ := GenerateKey()
	other, _ := GenerateKey()
	check, err := NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyKey(k, check); err != nil {
		t.Fatalf("the cluster's key: %v", err)
	}
	for name, key := range map[string][]byte{"other key": other, "short": k[:5], "empty": nil} {
		if err := VerifyKey(key, check); !errors.Is(err, ErrWrongKey) {
			t.Errorf("%s: %v, want ErrWrongKey", name, err)
		}
	}
}
