package audit

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkLogPair is what one file device adds to an audited request: the request entry and
// the response entry of a creds read (formatted, hashed, written to a file):
//
//	go test -run '^$' -bench LogPair -benchtime 20000x -count 3 ./internal/audit/
func BenchmarkLogPair(b *testing.B) {
	for _, raw := range []bool{false, true} {
		name := "hmac"
		opts := []string{}
		if raw {
			name, opts = "log_raw", []string{"log_raw", "true"}
		}
		b.Run(name, func(b *testing.B) {
			br := NewBroker(Config{Salts: &mapSalts{}})
			b.Cleanup(func() { _ = br.Close() })
			if err := br.Apply(Settings{Devices: []Device{fileDevice("f", filepath.Join(b.TempDir(), "a.log"), opts...)}}); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			in := input()
			for b.Loop() {
				if err := br.LogRequest(ctx, in); err != nil {
					b.Fatal(err)
				}
				if err := br.LogResponse(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
