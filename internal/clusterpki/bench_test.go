package clusterpki

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// BenchmarkHandshake measures one cluster-port TLS 1.3 handshake over loopback TCP, both ends
// with this package's configuration (certificates from the cluster CA, the membership
// verifier): "full" with no session to resume (a node dialing a peer for the first time,
// as a new leader does), "resumed" with the client's session cache (a node that dialed that
// peer before).
func BenchmarkHandshake(b *testing.B) {
	now := time.Now()
	ca, err := NewCA(now)
	if err != nil {
		b.Fatal(err)
	}
	member := func(string) bool { return true }
	mk := func(id string) *tls.Config {
		m, err := Issue(ca, id, time.Hour, now)
		if err != nil {
			b.Fatal(err)
		}
		ident, err := NewIdentity(id, m, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		c := ident.TLSConfig(member, hclog.NewNullLogger())
		c.NextProtos = []string{"baton-raft"}
		return c
	}
	srvCfg, cliCfg := mk("n1"), mk("n2")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, srvCfg)
				_ = tc.Handshake()
				buf := make([]byte, 1)
				_, _ = tc.Read(buf) // until the client closes
				tc.Close()
			}()
		}
	}()
	dial := func(b *testing.B, cfg *tls.Config) {
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		// One byte each way is not needed: the client's handshake is complete here, and the
		// server's verification of the client runs before it reads.
		c.Close()
	}
	b.Run("full", func(b *testing.B) {
		cfg := cliCfg.Clone()
		cfg.ClientSessionCache = nil
		for b.Loop() {
			dial(b, cfg)
		}
	})
	b.Run("resumed", func(b *testing.B) {
		cfg := cliCfg.Clone()
		dial(b, cfg) // a session to resume
		for b.Loop() {
			dial(b, cfg)
		}
	})
}
