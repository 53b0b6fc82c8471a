//lint:file-ignore SA1019 Sys().Rotate and Sys().Rekey* are what `bao operator rekey` and older scripts call (sys/rotate, sys/rekey/*); the client's newer RotateRoot* names call sys/rotate/root/*, which Baton does not serve.

package e2e

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"testing"

	openbao "github.com/openbao/openbao/api/v2"

	"github.com/baton-hq/baton/test/harness"
)

// TestOpenBaoClientShamir drives a real node process that is not initialised (a one-node
// cluster stopped and started again on an empty data directory, same HCL file) with OpenBao's
// Go client through issue 14 item 4: Sys().InitStatus and Init with 5 shares, threshold 3;
// Sys().SealStatus, Unseal share by share (progress 1/3, 2/3, then unsealed with the nonce
// kept), ResetUnsealProcess (after a Sys().Seal: Baton's init leaves the node unsealed);
// Sys().KeyStatus, Rotate and RotateKeyring; RekeyInit, RekeyStatus,
// RekeyCancel and RekeyUpdate to 3 shares, threshold 2; Sys().Seal; after it the old shares
// are refused and two new ones unseal, with the keyring's term kept. Every answer is parsed by
// the client's own types. An attacker walks in: Rotate and Seal without a token or with a
// wrong one are refused with 403 and change nothing; a second Init and malformed shares are
// refused (400, no progress); a rekey share
// with another nonce, and an old share replayed after the rekey, change nothing.
func TestOpenBaoClientShamir(t *testing.T) {
	c := harness.Start(t, harness.Options{Nodes: 1})
	n := c.Nodes[0]
	c.Stop(n)
	if err := os.RemoveAll(n.DataDir); err != nil {
		t.Fatal(err)
	}
	c.Launch(t, n)

	nobody := baoClient(t, n.APIAddr, "")
	stranger := baoClient(t, n.APIAddr, "s.not-the-root-token")

	// Init.
	if ok, err := nobody.Sys().InitStatus(); err != nil || ok {
		t.Fatalf("InitStatus before init = %v, %v; want false", ok, err)
	}
	st, err := nobody.Sys().SealStatus()
	if err != nil || st.Initialized || !st.Sealed || st.Type != "shamir" {
		t.Fatalf("SealStatus before init: %+v %v", st, err)
	}
	init, err := nobody.Sys().Init(&openbao.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if len(init.KeysB64) != 5 || len(init.Keys) != 5 || init.RootToken == "" {
		t.Fatalf("Init answered %d keys_base64, %d keys, root token %t", len(init.KeysB64), len(init.Keys), init.RootToken != "")
	}
	seen := map[string]bool{}
	for i, k := range init.KeysB64 {
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil || hex.EncodeToString(raw) != init.Keys[i] {
			t.Fatalf("share %d: keys (hex) and keys_base64 differ or do not decode: %v", i, err)
		}
		if seen[k] {
			t.Fatalf("share %d repeats another", i)
		}
		seen[k] = true
	}
	if ok, err := nobody.Sys().InitStatus(); err != nil || !ok {
		t.Fatalf("InitStatus after init = %v, %v; want true", ok, err)
	}
	_, err = nobody.Sys().Init(&openbao.InitRequest{SecretShares: 1, SecretThreshold: 1})
	wantStatus(t, "a second Init", err, http.StatusBadRequest)
	bao := baoClient(t, n.APIAddr, init.RootToken)
	n.Client.Token = init.RootToken

	// Unseal share by share, with a reset in the middle.
	sealed := func(what string, wantT, wantN, wantProgress int) *openbao.SealStatusResponse {
		t.Helper()
		st, err := nobody.Sys().SealStatus()
		if err != nil || st.Type != "shamir" || !st.Initialized || !st.Sealed || st.T != wantT || st.N != wantN || st.Progress != wantProgress {
			t.Fatalf("SealStatus %s: %+v %v; want sealed, t=%d n=%d progress=%d", what, st, err, wantT, wantN, wantProgress)
		}
		return st
	}
	// Baton's init leaves the node unsealed and active (OpenBao's leaves it sealed), so the
	// shares are exercised after a seal; refused seals change nothing.
	if st, err := nobody.Sys().SealStatus(); err != nil || !st.Initialized || st.Sealed || st.T != 3 || st.N != 5 || st.Type != "shamir" {
		t.Fatalf("SealStatus after init: %+v %v; want unsealed, t=3 n=5", st, err)
	}
	c.WaitActive(t, nil, failoverTimeout)
	// An OpenBao script unseals after init; on Baton's unsealed node the shares change nothing.
	for _, k := range init.KeysB64[:3] {
		if st, err := nobody.Sys().Unseal(k); err != nil || st.Sealed || st.Progress != 0 || st.T != 3 {
			t.Fatalf("Unseal after init (already unsealed): %+v %v", st, err)
		}
	}
	wantStatus(t, "Seal without a token", nobody.Sys().Seal(), http.StatusForbidden)
	wantStatus(t, "Seal with a wrong token", stranger.Sys().Seal(), http.StatusForbidden)
	if st, err := nobody.Sys().SealStatus(); err != nil || st.Sealed {
		t.Fatalf("after refused seals: %+v %v", st, err)
	}
	if err := bao.Sys().Seal(); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	sealed("after Seal", 3, 5, 0)
	unseal := func(share string, wantProgress int, wantSealed bool) *openbao.SealStatusResponse {
		t.Helper()
		st, err := nobody.Sys().Unseal(share)
		if err != nil || st.Sealed != wantSealed || st.Progress != wantProgress || st.T != 3 || st.N != 5 || st.Type != "shamir" {
			t.Fatalf("Unseal: %+v %v; want sealed=%t progress=%d t=3 n=5", st, err, wantSealed, wantProgress)
		}
		return st
	}
	for _, bad := range []string{"not-a-share", base64.StdEncoding.EncodeToString([]byte("short"))} {
		_, err := nobody.Sys().Unseal(bad)
		wantStatus(t, "Unseal with "+bad, err, http.StatusBadRequest)
	}
	sealed("after malformed shares", 3, 5, 0)
	one := unseal(init.KeysB64[0], 1, true)
	two := unseal(init.KeysB64[1], 2, true)
	if one.Nonce == "" || two.Nonce != one.Nonce {
		t.Fatalf("unseal nonce: %q then %q; want one attempt's nonce", one.Nonce, two.Nonce)
	}
	if st, err := nobody.Sys().ResetUnsealProcess(); err != nil || st.Progress != 0 || !st.Sealed || st.T != 3 {
		t.Fatalf("ResetUnsealProcess: %+v %v", st, err)
	}
	sealed("after the reset", 3, 5, 0)
	unseal(init.KeysB64[2], 1, true)
	unseal(init.KeysB64[3], 2, true)
	if st := unseal(init.KeysB64[4], 0, false); !st.Initialized {
		t.Fatalf("unsealed but not initialised: %+v", st)
	}
	c.WaitActive(t, nil, failoverTimeout)

	// Keyring: status, rotate; refused callers change nothing.
	keyStatus := func(what string, wantTerm int) {
		t.Helper()
		ks, err := bao.Sys().KeyStatus()
		if err != nil || ks.Term != wantTerm || ks.InstallTime.IsZero() {
			t.Fatalf("KeyStatus %s: %+v %v; want term %d", what, ks, err, wantTerm)
		}
	}
	keyStatus("after init", 1)
	if _, err := nobody.Sys().KeyStatus(); err == nil {
		t.Fatal("KeyStatus without a token answered")
	}
	wantStatus(t, "Rotate without a token", nobody.Sys().Rotate(), http.StatusForbidden)
	wantStatus(t, "Rotate with a wrong token", stranger.Sys().Rotate(), http.StatusForbidden)
	wantStatus(t, "RotateKeyring without a token", nobody.Sys().RotateKeyring(), http.StatusForbidden)
	keyStatus("after refused rotations", 1)
	if err := bao.Sys().Rotate(); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	keyStatus("after Rotate", 2)
	if err := bao.Sys().RotateKeyring(); err != nil {
		t.Fatalf("RotateKeyring: %v", err)
	}
	keyStatus("after RotateKeyring", 3)

	// Rekey: start, cancel, start again, a share with another nonce, then three shares.
	rs, err := nobody.Sys().RekeyStatus()
	if err != nil || rs.Started {
		t.Fatalf("RekeyStatus before: %+v %v", rs, err)
	}
	rekeyInit := func() *openbao.RekeyStatusResponse {
		t.Helper()
		rs, err := nobody.Sys().RekeyInit(&openbao.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2})
		if err != nil || !rs.Started || rs.T != 2 || rs.N != 3 || rs.Required != 3 || rs.Progress != 0 || rs.Nonce == "" {
			t.Fatalf("RekeyInit: %+v %v; want started, t=2 n=3 required=3", rs, err)
		}
		return rs
	}
	first := rekeyInit()
	if err := nobody.Sys().RekeyCancel(); err != nil {
		t.Fatalf("RekeyCancel: %v", err)
	}
	if rs, err := nobody.Sys().RekeyStatus(); err != nil || rs.Started {
		t.Fatalf("RekeyStatus after cancel: %+v %v", rs, err)
	}
	started := rekeyInit()
	if started.Nonce == first.Nonce {
		t.Fatal("a new rekey attempt kept the cancelled one's nonce")
	}
	_, err = nobody.Sys().RekeyUpdate(init.KeysB64[0], first.Nonce)
	wantStatus(t, "RekeyUpdate with the cancelled attempt's nonce", err, http.StatusBadRequest)
	if rs, err := nobody.Sys().RekeyStatus(); err != nil || !rs.Started || rs.Progress != 0 || rs.Nonce != started.Nonce {
		t.Fatalf("RekeyStatus after a wrong nonce: %+v %v", rs, err)
	}
	var up *openbao.RekeyUpdateResponse
	for i, k := range init.KeysB64[1:4] {
		up, err = nobody.Sys().RekeyUpdate(k, started.Nonce)
		if err != nil || up.Nonce != started.Nonce || up.Complete != (i == 2) {
			t.Fatalf("RekeyUpdate %d: %+v %v", i+1, up, err)
		}
		if i < 2 {
			if rs, err := nobody.Sys().RekeyStatus(); err != nil || rs.Progress != i+1 || rs.T != 2 || rs.N != 3 {
				t.Fatalf("RekeyStatus after %d shares: %+v %v", i+1, rs, err)
			}
		}
	}
	if len(up.KeysB64) != 3 || len(up.Keys) != 3 {
		t.Fatalf("the rekey's new shares: %d keys_base64, %d keys", len(up.KeysB64), len(up.Keys))
	}
	for i, k := range up.KeysB64 {
		if seen[k] {
			t.Fatalf("new share %d is an old one", i)
		}
	}
	if rs, err := nobody.Sys().RekeyStatus(); err != nil || rs.Started {
		t.Fatalf("RekeyStatus after the rekey: %+v %v", rs, err)
	}
	_, err = nobody.Sys().RekeyUpdate(init.KeysB64[1], started.Nonce)
	if err == nil {
		t.Fatal("an old share replayed to the finished rekey was accepted")
	}

	// Seal again: old shares fail, two new ones unseal.
	if st, err := nobody.Sys().SealStatus(); err != nil || st.Sealed || st.T != 2 || st.N != 3 {
		t.Fatalf("SealStatus after the rekey: %+v %v; want unsealed, t=2 n=3", st, err)
	}
	if err := bao.Sys().Seal(); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	sealed("after Seal", 2, 3, 0)
	if st, err := nobody.Sys().Unseal(init.KeysB64[0]); err != nil || st.Progress != 1 || !st.Sealed {
		t.Fatalf("an old share, first of two: %+v %v", st, err)
	}
	_, err = nobody.Sys().Unseal(init.KeysB64[1])
	wantStatus(t, "two old shares", err, http.StatusBadRequest)
	sealed("after old shares", 2, 3, 0)
	if st, err := nobody.Sys().Unseal(up.KeysB64[2]); err != nil || st.Progress != 1 || !st.Sealed || st.T != 2 || st.N != 3 {
		t.Fatalf("a new share: %+v %v", st, err)
	}
	if st, err := nobody.Sys().Unseal(up.KeysB64[0]); err != nil || st.Sealed || st.Progress != 0 {
		t.Fatalf("a second new share: %+v %v; want unsealed", st, err)
	}
	c.WaitActive(t, nil, failoverTimeout)
	keyStatus("after the rekey and unseal", 3)
}
