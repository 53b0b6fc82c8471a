// Package acl is Baton's access-control decision engine: it parses ACL policies written in
// OpenBao's HCL (or its JSON form), compiles the policies attached to a token into one ACL,
// and answers, for an operation on a path, whether the ACL allows it and why not.
//
// It owns the policy language and OpenBao's semantics for it: capabilities (create, read,
// update, delete, list, patch, scan, sudo, deny) and the older `policy = "read"` shorthand;
// exact paths, a trailing `*` glob (prefix match) and `+` path segments; the union of
// capabilities when several policies name the same path (deny wins); OpenBao's priority between
// different matching paths; parameter constraints (allowed_parameters, denied_parameters,
// required_parameters), response-wrapping TTL bounds and path expiration; the built-in `root`
// and `default` policies; and the list of paths OpenBao protects with sudo.
//
// It does not own tokens, policy storage, the HTTP or NATS edges, or audit: the authoriser
// resolves a token to its policy names, loads and compiles them (an ACL is immutable and safe
// for concurrent use, so it can be cached per set of policies) and calls Check.
//
// Anything a policy says that this package cannot enforce (control groups, MFA methods,
// pagination limits, list filtering) is refused when parsed, never ignored, so that a policy
// never grants more here than it would in OpenBao.
//
// The package is a leaf: it imports the standard library and hashicorp/hcl/v2 (with cty, the
// value types HCL evaluates to) and no other Baton package.
package acl
