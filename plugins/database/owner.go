package database

import "context"

type ownerKey struct{}

// WithLeaseOwner returns a context whose credential requests record owner on their lease:
// the key of the token that asked (the token store's salted hash of its accessor; never the
// token). The token store revokes a lease once its owner is gone.
func WithLeaseOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner)
}

// leaseOwner reads the owner WithLeaseOwner put in ctx, "" when none.
func leaseOwner(ctx context.Context) string {
	o, _ := ctx.Value(ownerKey{}).(string)
	return o
}
