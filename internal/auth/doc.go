// Package auth will own Baton's access control above the ACL engine: tokens, the ACL policy
// store and the one authoriser that the HTTP edge and the NATS consumer both call (issue 11).
// For now it holds the policy store: PolicyStore writes, reads, lists and deletes policies
// through the replicated state (a small Cluster interface it owns, which the core node
// implements) and compiles a token's policy set into an *acl.ACL, cached per set.
//
// A policy's text is parsed (acl.Parse) here, before it is proposed, so a bad text is refused
// with its line and column and nothing is committed; the state keeps the raw text and
// enforces only the rules on names (root never written or deleted, default never deleted).
package auth
