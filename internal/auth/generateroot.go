package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/state"
)

// OTPLength is the length of a generate-root OTP: the length of a token ("s." and 24
// characters), since the token is XORed with it byte for byte, as in OpenBao.
const OTPLength = len(barrier.TokenPrefix) + 24

// Refusals of sys/generate-root (HTTP 400, OpenBao's words).
var (
	ErrNoRootGeneration    = fmt.Errorf("%w: no root generation in progress", ErrBadRequest)
	ErrRootGenInProgress   = fmt.Errorf("%w: root generation already in progress", ErrBadRequest)
	ErrRootGenWrongNonce   = fmt.Errorf("%w: incorrect nonce supplied", ErrBadRequest)
	ErrRootGenAborted      = fmt.Errorf("%w: root generation aborted: the key is not this cluster's unseal key", ErrBadRequest)
	ErrRootGenOTPLength    = fmt.Errorf("%w: OTP string is wrong length", ErrBadRequest)
	ErrRootGenDuplicateKey = fmt.Errorf("%w: given key has already been provided during this generation operation", ErrBadRequest)
)

// RootGenerator runs OpenBao's generate-root flow on the active node: an attempt is started
// with an OTP (made here when none is given), the unseal key is given to update, and the new
// root token comes back XORed with the OTP and base64-encoded (encoded_token), which
// `bao operator generate-root -decode` reverses. The attempt lives in memory only, as in
// OpenBao: a failover or a seal cancels it (an attempt started before this node last became
// active is forgotten).
type RootGenerator struct {
	cluster Cluster
	tokens  *TokenStore
	// activeSince is when this node last became active (zero when it is not), when the
	// cluster tells it (*core.Node does).
	activeSince func() time.Time

	mu      sync.Mutex
	attempt *rootAttempt
}

type rootAttempt struct {
	epoch    time.Time // activeSince when the attempt started
	nonce    string
	otp      string
	progress [][]byte
}

// RootGenStatus is sys/generate-root's answer.
type RootGenStatus struct {
	Nonce        string
	Started      bool
	Progress     int
	Required     int
	Complete     bool
	EncodedToken string
	// OTP is shown once: in the answer to the start that made it.
	OTP       string
	OTPLength int
}

// NewRootGenerator returns a generator that makes root tokens in tokens.
func NewRootGenerator(c Cluster, tokens *TokenStore) *RootGenerator {
	g := &RootGenerator{cluster: c, tokens: tokens, activeSince: func() time.Time { return time.Time{} }}
	if a, ok := c.(interface{ ActiveSince() time.Time }); ok {
		g.activeSince = a.ActiveSince
	}
	return g
}

// current is the attempt in progress, nil when none or when it began before this node's
// current term as the active node. Called with g.mu held.
func (g *RootGenerator) current() *rootAttempt {
	if g.attempt != nil && !g.attempt.epoch.Equal(g.activeSince()) {
		g.attempt = nil
	}
	return g.attempt
}

func (g *RootGenerator) required() int {
	var n int
	g.cluster.State().View(func(d *state.Data) { n = d.Seal.Threshold })
	return max(n, 1)
}

// Status reports the attempt in progress, if any.
func (g *RootGenerator) Status() RootGenStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := RootGenStatus{Required: g.required(), OTPLength: OTPLength}
	if a := g.current(); a != nil {
		st.Started, st.Nonce, st.Progress = true, a.nonce, len(a.progress)
	}
	return st
}

// Start begins an attempt with otp, or with a fresh OTP returned in the status when otp is
// empty. One attempt at a time.
func (g *RootGenerator) Start(otp string) (RootGenStatus, error) {
	made := otp == ""
	if made {
		var err error
		if otp, err = barrier.RandomBase62(OTPLength); err != nil {
			return RootGenStatus{}, err
		}
	}
	if len(otp) != OTPLength {
		return RootGenStatus{}, ErrRootGenOTPLength
	}
	var nb [16]byte
	_, _ = rand.Read(nb[:])
	n := hex.EncodeToString(nb[:])
	nonce := n[:8] + "-" + n[8:12] + "-" + n[12:16] + "-" + n[16:20] + "-" + n[20:]
	g.mu.Lock()
	if g.current() != nil {
		g.mu.Unlock()
		return RootGenStatus{}, ErrRootGenInProgress
	}
	g.attempt = &rootAttempt{epoch: g.activeSince(), nonce: nonce, otp: otp}
	g.mu.Unlock()
	st := g.Status()
	if made {
		st.OTP = otp
	}
	return st, nil
}

// Cancel forgets the attempt in progress (none is not an error).
func (g *RootGenerator) Cancel() {
	g.mu.Lock()
	g.attempt = nil
	g.mu.Unlock()
}

// Update gives one unseal key share to the attempt named by nonce. With the threshold
// reached, the key is checked against the cluster's and a root token made; the attempt ends
// either way (a wrong key resets its progress, as OpenBao's does). A replayed update of a
// finished attempt finds none: ErrNoRootGeneration.
func (g *RootGenerator) Update(ctx context.Context, key []byte, nonce string) (RootGenStatus, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.current()
	if a == nil {
		return RootGenStatus{}, ErrNoRootGeneration
	}
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(a.nonce)) != 1 {
		return RootGenStatus{}, ErrRootGenWrongNonce
	}
	for _, k := range a.progress {
		if subtle.ConstantTimeCompare(k, key) == 1 {
			return RootGenStatus{}, ErrRootGenDuplicateKey
		}
	}
	a.progress = append(a.progress, key)
	required := g.required()
	if len(a.progress) < required {
		return RootGenStatus{Nonce: a.nonce, Started: true, Progress: len(a.progress), Required: required, OTPLength: OTPLength}, nil
	}
	combined, err := barrier.CombineShares(a.progress)
	a.progress = nil
	var check []byte
	g.cluster.State().View(func(d *state.Data) { check = d.Seal.KeyCheck })
	if err != nil || barrier.VerifyKey(combined, check) != nil {
		return RootGenStatus{}, ErrRootGenAborted
	}
	tok, err := g.tokens.CreateRoot(ctx)
	if err != nil {
		return RootGenStatus{}, err
	}
	enc, err := EncodeRootToken(tok, a.otp)
	if err != nil {
		return RootGenStatus{}, err
	}
	g.attempt = nil
	return RootGenStatus{Nonce: nonce, Started: true, Progress: required, Required: required, Complete: true,
		EncodedToken: enc, OTPLength: OTPLength}, nil
}

// EncodeRootToken XORs a token with an OTP of the same length and base64-encodes it (raw
// standard encoding), as OpenBao's roottoken.EncodeToken.
func EncodeRootToken(token, otp string) (string, error) {
	if len(token) != len(otp) || token == "" {
		return "", errors.New("generate-root: the OTP and the token differ in length")
	}
	out := make([]byte, len(token))
	for i := range out {
		out[i] = token[i] ^ otp[i]
	}
	return base64.RawStdEncoding.EncodeToString(out), nil
}

// DecodeRootToken reverses EncodeRootToken (`bao operator generate-root -decode -otp`).
func DecodeRootToken(encoded, otp string) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(encoded)
	if err != nil {
		return "", fmt.Errorf("generate-root: encoded token is not base64: %w", err)
	}
	if len(b) != len(otp) {
		return "", errors.New("generate-root: the OTP and the encoded token differ in length")
	}
	for i := range b {
		b[i] ^= otp[i]
	}
	return string(b), nil
}
