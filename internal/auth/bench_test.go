package auth

import (
	"context"
	"fmt"
	"testing"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// BenchmarkResolve resolves a token among 10 000 in the store (the per-request cost of the
// token check: pooled salted hash, map lookup, accessor opened), beside the same-run baseline
// of one salted hash keyed afresh (barrier.SaltedHash, what every Resolve paid before the
// keyed HMAC states were pooled).
func BenchmarkResolve(b *testing.B) {
	e := newTokenEnvTB(b)
	ctx := context.Background()
	var last string
	for i := range 10_000 {
		tok, _ := barrier.NewToken()
		entry, _, err := e.s.newEntry(tok, []string{"app", "default"})
		if err != nil {
			b.Fatal(err)
		}
		entry.DisplayName, entry.Path = "token", PathCreate
		if _, err := e.c.Propose(ctx, state.TypeTokenCreate, fmt.Sprintf("t%d", i), command.SourceAPI, state.TokenCreate{Token: entry}); err != nil {
			b.Fatal(err)
		}
		last = tok
	}
	salt, err := e.s.saltKey()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("unpooled-hash-baseline", func(b *testing.B) {
		for b.Loop() {
			_ = barrier.SaltedHash(salt, barrier.DomainToken, last)
		}
	})
	b.Run("resolve-10k", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.s.Resolve(ctx, last); err != nil {
				b.Fatal(err)
			}
		}
	})
}
