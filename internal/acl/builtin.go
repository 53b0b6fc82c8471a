package acl

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Names of the built-in policies.
const (
	// RootName is the root policy: everything, sudo included. It has no text, cannot be written
	// or deleted, and must be a token's only policy.
	RootName = "root"
	// DefaultName is the default policy, attached to every token unless it is created with
	// no_default_policy. It can be rewritten but not deleted.
	DefaultName = "default"
)

// ErrImmutablePolicy is returned when a built-in policy would be written or deleted where
// OpenBao forbids it.
var ErrImmutablePolicy = errors.New("cannot modify a built-in policy")

// DefaultPolicyHCL is the text of the default policy, with the paths and capabilities of
// OpenBao's default policy, so that an operator who copies it from OpenBao or Baton gets the same
// grants. The identity paths are templated and grant nothing in Baton (no identity entities);
// the cubbyhole, wrapping and tools paths name endpoints Baton does not serve yet, and are kept
// so that the text stays OpenBao's.
const DefaultPolicyHCL = `# Look up the token's own properties.
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Renew the token itself.
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Revoke the token itself.
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Ask which capabilities the token has on a path.
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# The token's own identity entity (templated: grants nothing without identity entities).
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}

# The token's resultant ACL (internal, for UIs).
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Renew a lease by its id in the request body.
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Look up a lease whose id the caller already knows.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# The token's own cubbyhole.
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping: wrap, look up and unwrap.
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# General-purpose hashing.
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# OIDC provider authorization endpoint.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
`

var defaultPolicy = sync.OnceValue(func() *Policy {
	p, err := Parse(DefaultName, []byte(DefaultPolicyHCL))
	if err != nil {
		// The text is a constant that a test parses: this is a programming error.
		panic(fmt.Sprintf("acl: built-in default policy: %v", err))
	}
	return p
})

// DefaultPolicy returns the built-in default policy, parsed. The value is shared: do not
// modify it.
func DefaultPolicy() *Policy { return defaultPolicy() }

// RootPolicy returns the root policy; compiled alone it allows everything.
func RootPolicy() *Policy { return &Policy{Name: RootName} }

// NormalizeName returns a policy name as OpenBao stores it: trimmed and lower-cased.
func NormalizeName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// CheckWrite refuses to write a policy under an empty name or the root policy's.
func CheckWrite(name string) error {
	switch NormalizeName(name) {
	case "":
		return errors.New("policy name is empty")
	case RootName:
		return fmt.Errorf("%w: %q", ErrImmutablePolicy, RootName)
	}
	return nil
}

// CheckDelete refuses to delete the root or default policy.
func CheckDelete(name string) error {
	switch n := NormalizeName(name); n {
	case RootName, DefaultName:
		return fmt.Errorf("%w: %q cannot be deleted", ErrImmutablePolicy, n)
	}
	return nil
}
