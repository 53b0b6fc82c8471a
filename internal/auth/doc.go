// Package auth will own Baton's access control above the ACL engine: tokens, the ACL policy
// store and the one authoriser that the HTTP edge and the NATS consumer both call (issue 11).
// It holds the token store and the policy store.
//
// TokenStore is OpenBao's token store over the replicated state (token.go): tokens are made,
// renewed, used and revoked through Raft, and the state keeps only HMAC-SHA256 hashes of each
// token id and accessor under a per-cluster salt sealed by the barrier (the accessor itself is
// kept sealed, for lookups and the listing). Resolve implements TokenResolver. The active node
// sweeps expired and used-up tokens, and revokes every lease whose token is gone through the
// secrets engine's one Revoke (LeaseRevoker), so a token's database users die with it.
// RootGenerator (generateroot.go) is sys/generate-root's flow.
//
// PolicyStore writes, reads, lists and deletes policies
// through the replicated state (a small Cluster interface it owns, which the core node
// implements) and compiles a token's policy set into an *acl.ACL, cached per set.
//
// A policy's text is parsed (acl.Parse) here, before it is proposed, so a bad text is refused
// with its line and column and nothing is committed; the state keeps the raw text and
// enforces only the rules on names (root never written or deleted, default never deleted).
package auth
