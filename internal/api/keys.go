package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/baton-hq/baton/internal/core"
)

// SealKeys is what the API asks of the node's unseal keys and barrier keyring: Shamir init,
// the unseal progress (kept on this node only), the keyring's rotation and status, and the
// rekey of the unseal key shares. internal/server wires the core node and its membership
// into it; without it sys/init issues one key and the rekey, rotate and key-status
// endpoints answer 404.
type SealKeys interface {
	// InitShares initialises a cluster whose root key is split into shares.
	InitShares(ctx context.Context, rootToken string, shares, threshold int) (core.InitResult, error)
	// SealCounts are the cluster's key shares and threshold as this node knows them.
	SealCounts() (shares, threshold int)
	// UnsealProgress is the shares this sealed node holds and the attempt's nonce.
	UnsealProgress() (progress int, nonce string)
	// ResetUnseal forgets the shares given so far.
	ResetUnseal()
	// KeyStatus is the keyring's active term.
	KeyStatus() (core.KeyStatus, error)
	// RotateKeyring adds a term to the keyring (active node).
	RotateKeyring(ctx context.Context) (core.KeyStatus, error)
	// RekeyStatus, RekeyInit, RekeyCancel and RekeyUpdate run a rekey (active node).
	RekeyStatus() (core.RekeyStatus, error)
	RekeyInit(shares, threshold int, verify bool) (core.RekeyStatus, error)
	RekeyCancel() error
	RekeyUpdate(ctx context.Context, key, nonce string) (core.RekeyStatus, error)
	RekeyVerify(ctx context.Context, key, nonce string) (core.RekeyStatus, error)
}

// intParam reads an integer field (a JSON number or a numeric string), def when absent.
func intParam(p params, k string, def int) (int, error) {
	v, err := p.str(k)
	if err != nil || v == "" {
		return def, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errStatus(http.StatusBadRequest, "%s must be a whole number, not %q", k, v)
	}
	return n, nil
}

// sharesParams reads secret_shares and secret_threshold (1 and 1 when absent, as Baton's
// single unseal key has always been).
func sharesParams(p params) (shares, threshold int, err error) {
	if shares, err = intParam(p, "secret_shares", 1); err != nil {
		return 0, 0, err
	}
	if threshold, err = intParam(p, "secret_threshold", min(shares, 1)); err != nil {
		return 0, 0, err
	}
	if !p.has("secret_threshold") && shares > 1 {
		return 0, 0, errStatus(http.StatusBadRequest, "secret_threshold is required with secret_shares=%d", shares)
	}
	return shares, threshold, nil
}

// unsupported refuses (400) the first of keys given a value other than its zero one (null,
// false, 0, "" or []: what OpenBao's client sends when the caller set nothing), so that a
// caller asking for, say, PGP-encrypted shares is told instead of getting them in clear.
func unsupported(p params, what string, keys ...string) error {
	for _, k := range keys {
		v, ok := p[k]
		if !ok || v == nil || v == false || v == "" {
			continue
		}
		switch fmt.Sprint(v) {
		case "false", "0", "[]":
			continue
		}
		return errStatus(http.StatusBadRequest, "%s is not supported by %s", k, what)
	}
	return nil
}

// hexKeys renders base64 keys as hex, OpenBao's "keys" beside "keys_base64".
func hexKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		raw, _ := base64.StdEncoding.DecodeString(k)
		out[i] = hex.EncodeToString(raw)
	}
	return out
}

func (s *Server) needKeys() error {
	if s.keys == nil {
		return errStatus(http.StatusNotFound, "this node serves no barrier key management")
	}
	return nil
}

// sysKeyStatus is sys/key-status: the keyring's active term and its install time.
func (s *Server) sysKeyStatus(w http.ResponseWriter, r *http.Request, rest string) error {
	if err := s.needKeys(); err != nil {
		return err
	}
	if rest != "" {
		return errStatus(http.StatusNotFound, "no handler for sys/key-status/%s", rest)
	}
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	st, err := s.keys.KeyStatus()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, keyStatus(st))
	return nil
}

func keyStatus(st core.KeyStatus) map[string]any {
	return map[string]any{"term": st.Term, "install_time": st.InstallTime.UTC().Format(time.RFC3339Nano), "encryptions": 0}
}

// sysRotate is sys/rotate (and sys/rotate/keyring): a new keyring term for new writes.
func (s *Server) sysRotate(w http.ResponseWriter, r *http.Request, rest string) error {
	if err := s.needKeys(); err != nil {
		return err
	}
	if rest != "" && rest != "keyring" {
		return errStatus(http.StatusNotFound, "no handler for sys/rotate/%s", rest)
	}
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return err
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if _, err := s.keys.RotateKeyring(ctx); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func rekeyStatus(st core.RekeyStatus) map[string]any {
	out := map[string]any{
		"nonce": st.Nonce, "started": st.Started, "t": st.Threshold, "n": st.Shares, "progress": st.Progress,
		"required": st.Required, "pgp_fingerprints": nil, "backup": false, "verification_required": st.VerificationRequired,
		"verification_nonce": st.VerificationNonce,
	}
	if st.Complete {
		out = map[string]any{"nonce": st.Nonce, "complete": true, "keys": hexKeys(st.Keys), "keys_base64": st.Keys,
			"pgp_fingerprints": nil, "backup": false, "verification_required": st.VerificationRequired,
			"verification_nonce": st.VerificationNonce}
	}
	return out
}

// sysRekeyInit is sys/rekey/init: GET the attempt, PUT to start one, DELETE to cancel.
// Unauthenticated, as OpenBao's: the current unseal key shares are the credential.
func (s *Server) sysRekeyInit(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := s.needKeys(); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		st, err := s.keys.RekeyStatus()
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, rekeyStatus(st))
		return nil
	case http.MethodDelete:
		if err := s.keys.RekeyCancel(); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	p, err := writeParams(r)
	if err != nil {
		return err
	}
	if err := unsupported(p, "Baton's rekey", "pgp_keys", "backup"); err != nil {
		return err
	}
	if !p.has("secret_shares") || !p.has("secret_threshold") {
		return errStatus(http.StatusBadRequest, "secret_shares and secret_threshold are required")
	}
	shares, threshold, err := sharesParams(p)
	if err != nil {
		return err
	}
	verify, err := p.boolean("require_verification")
	if err != nil {
		return err
	}
	st, err := s.keys.RekeyInit(shares, threshold, verify != nil && *verify)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rekeyStatus(st))
	return nil
}

// sysRekeyUpdate is sys/rekey/update: one share of the current key with the attempt's nonce.
func (s *Server) sysRekeyUpdate(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := s.needKeys(); err != nil {
		return err
	}
	key, nonce, err := keyAndNonce(r, "a share of the current unseal key and the nonce sys/rekey/init answered")
	if err != nil {
		return err
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	st, err := s.keys.RekeyUpdate(ctx, key, nonce)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rekeyStatus(st))
	return nil
}

// sysRekeyVerify is sys/rekey/verify: GET the verification's progress, PUT one share of the
// new key with the verification nonce; at the new threshold the new key replaces the old.
func (s *Server) sysRekeyVerify(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := s.needKeys(); err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		st, err := s.keys.RekeyStatus()
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"nonce": st.VerificationNonce, "started": st.VerificationNonce != "",
			"t": st.Threshold, "n": st.Shares, "progress": st.VerifyProgress})
		return nil
	}
	key, nonce, err := keyAndNonce(r, "a share of the new unseal key and the verification_nonce sys/rekey/update answered")
	if err != nil {
		return err
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	st, err := s.keys.RekeyVerify(ctx, key, nonce)
	if err != nil {
		return err
	}
	if st.Complete {
		writeJSON(w, http.StatusOK, map[string]any{"nonce": st.Nonce, "complete": true})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"nonce": st.VerificationNonce, "started": true, "t": st.Threshold, "n": st.Shares, "progress": st.VerifyProgress})
	return nil
}

// keyAndNonce reads a key share and its attempt's nonce from a PUT/POST body (rekey update and
// verify); both are required, and hint says what each one is.
func keyAndNonce(r *http.Request, hint string) (key, nonce string, err error) {
	p, err := writeParams(r)
	if err != nil {
		return "", "", err
	}
	if key, err = p.str("key"); err != nil {
		return "", "", err
	}
	if nonce, err = p.str("nonce"); err != nil {
		return "", "", err
	}
	if key == "" || nonce == "" {
		return "", "", errStatus(http.StatusBadRequest, "key and nonce are required: %s", hint)
	}
	return key, nonce, nil
}
