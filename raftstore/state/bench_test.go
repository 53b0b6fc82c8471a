package state

import (
	"fmt"
	"testing"

	"github.com/baton-hq/baton/raftstore/command"
)

// BenchmarkApplyNoop is the dispatcher's own cost per command (a noop changes nothing else),
// with the bounded log of applied ids half full and full: once full, each command also
// forgets the oldest id, which must not cost a copy of the whole log.
func BenchmarkApplyNoop(b *testing.B) {
	for _, tt := range []struct {
		name    string
		applied int
	}{
		{"log-half-full", MaxApplied / 2},
		{"log-full", MaxApplied},
	} {
		b.Run(tt.name, func(b *testing.B) {
			s := New()
			for i := range tt.applied {
				s.d.remember(AppliedEvent{ID: fmt.Sprintf("old-%d", i), Type: string(TypeNoop), Index: uint64(i + 1)})
			}
			index := uint64(tt.applied)
			cmds := make([]*command.Command, b.N)
			for i := range cmds {
				c, err := command.New(TypeNoop, fmt.Sprintf("cmd-%d", i), command.SourceInternal, epoch, nil)
				if err != nil {
					b.Fatal(err)
				}
				cmds[i] = c
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i, c := range cmds {
				if err, ok := s.Apply(index+uint64(i)+1, c).(error); ok {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if n := len(s.d.Log); n != min(tt.applied+b.N, MaxApplied) {
				b.Fatalf("log holds %d ids", n)
			}
		})
	}
}
