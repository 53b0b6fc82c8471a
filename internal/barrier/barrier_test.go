package barrier

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealUnseal(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	check, err := NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	b := New()
	if _, err := b.Encrypt([]byte("x")); !errors.Is(err, ErrSealed) {
		t.Fatalf("Encrypt while sealed: %v", err)
	}
	other, _ := GenerateKey()
	if err := b.Unseal(other, check); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Unseal with another key: %v", err)
	}
	if !b.Sealed() {
		t.Fatal("a wrong key unsealed the barrier")
	}
	if err := b.Unseal(key, check); err != nil {
		t.Fatal(err)
	}
	secret := []byte("s3cret-root-password")
	ct, err := b.Encrypt(secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, secret) {
		t.Fatal("ciphertext holds the secret in clear")
	}
	ct2, _ := b.Encrypt(secret)
	if bytes.Equal(ct, ct2) {
		t.Fatal("two encryptions of one secret are equal: nonce reused")
	}
	got, err := b.Decrypt(ct)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := b.Decrypt(ct); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered ciphertext: %v", err)
	}
	b.Seal()
	if _, err := b.Decrypt(ct2); !errors.Is(err, ErrSealed) {
		t.Fatalf("Decrypt after Seal: %v", err)
	}
}

func TestKeyEncoding(t *testing.T) {
	key, _ := GenerateKey()
	back, err := DecodeKey(EncodeKey(key))
	if err != nil || !bytes.Equal(back, key) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "not base64!", EncodeKey([]byte("short"))} {
		if _, err := DecodeKey(bad); err == nil {
			t.Fatalf("DecodeKey(%q) accepted", bad)
		}
	}
}
