package clusterpki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

func mustIdentity(t *testing.T, ca *CA, id string, ttl time.Duration, at time.Time) *Identity {
	t.Helper()
	m, err := Issue(ca, id, ttl, at)
	if err != nil {
		t.Fatal(err)
	}
	ident, err := NewIdentity(id, m, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return ident
}

// TestVerify checks the verifier a peer meets on the cluster port: a member's certificate
// from the cluster CA passes; another CA's, an expired one, a non-member's and an empty
// chain are refused with the sentinel that says why.
func TestVerify(t *testing.T) {
	now := time.Now()
	ca, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	self := mustIdentity(t, ca, "n1", time.Hour, now)
	members := func(id string) bool { return id == "n1" || id == "n2" }
	tests := []struct {
		name  string
		chain []*x509.Certificate
		want  error
	}{
		{"member", []*x509.Certificate{mustIdentity(t, ca, "n2", time.Hour, now).Leaf()}, nil},
		{"another CA", []*x509.Certificate{mustIdentity(t, other, "n2", time.Hour, now).Leaf()}, ErrUntrusted},
		{"expired", []*x509.Certificate{mustIdentity(t, ca, "n2", time.Hour, now.Add(-3*time.Hour)).Leaf()}, ErrUntrusted},
		{"not a member", []*x509.Certificate{mustIdentity(t, ca, "n3", time.Hour, now).Leaf()}, ErrNotMember},
		{"no certificate", nil, ErrUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := self.Verify(tt.chain, members)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRenewal checks the rotation schedule and its overlap: a certificate is not due before
// two thirds of its life and is due after; Renew gives a new certificate and key with a
// later expiry, and the old certificate, until it expires, still passes a peer's check.
func TestRenewal(t *testing.T) {
	now := time.Now()
	ca, err := NewCA(now.Add(-2 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	issued := now.Add(-41 * time.Minute)
	id := mustIdentity(t, ca, "n1", time.Hour, issued)
	if id.RenewDue(issued.Add(39 * time.Minute)) {
		t.Fatal("due at 39 minutes of a 60-minute certificate")
	}
	if !id.RenewDue(now) {
		t.Fatal("not due at 41 minutes of a 60-minute certificate")
	}
	old := id.Leaf()
	if err := id.Renew(now); err != nil {
		t.Fatal(err)
	}
	renewed := id.Leaf()
	if renewed.SerialNumber.Cmp(old.SerialNumber) == 0 || !renewed.NotAfter.After(old.NotAfter) || renewed.PublicKey.(*ecdsa.PublicKey).Equal(old.PublicKey) {
		t.Fatal("Renew kept the old certificate or key")
	}
	if id.RenewDue(now.Add(time.Minute)) {
		t.Fatal("the renewed certificate is due at once")
	}
	peer := mustIdentity(t, ca, "n2", time.Hour, now)
	for name, c := range map[string]*x509.Certificate{"old": old, "new": renewed} {
		if _, err := peer.Verify([]*x509.Certificate{c}, func(string) bool { return true }); err != nil {
			t.Errorf("the %s certificate is refused during the overlap: %v", name, err)
		}
	}
	if m := id.Material(); len(m.CAKey) == 0 || len(m.Cert) == 0 {
		t.Fatal("the renewed material lost its CA key or certificate")
	}
}
