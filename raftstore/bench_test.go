package raftstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
)

// BenchmarkApply is the raw Raft Apply baseline, one proposal in flight, on a 3-node cluster on
// loopback with fsync on (PERFORMANCE-GOALS.md compares events against it).
func BenchmarkApply(b *testing.B) { benchApply(b, 1) }

// BenchmarkApplyParallel is the same with 64 proposals in flight, which raft commits in batches.
func BenchmarkApplyParallel(b *testing.B) { benchApply(b, 64) }

func benchApply(b *testing.B, inFlight int) {
	nodes := newCluster(b, 3, nil)
	var leader atomic.Pointer[Store]
	leader.Store(nodes[0].s)
	var retries atomic.Int64
	// apply retries with the same command id, as callers must, when the leader changes under
	// load (FastConfig's 100 ms lease expires when a loaded machine stalls the leader).
	apply := func(ctx context.Context, c *command.Command) error {
		for {
			s := leader.Load()
			_, _, err := s.Apply(ctx, c)
			if err == nil || !(errors.Is(err, ErrIndeterminate) || errors.Is(err, ErrNotLeader)) {
				return err
			}
			retries.Add(1)
			var next *Store
			if err := poll(ctx, func() bool {
				for _, nd := range nodes {
					if nd.s.IsLeader() {
						next = nd.s
						return true
					}
				}
				return false
			}); err != nil {
				return fmt.Errorf("no leader to retry on: %w", err)
			}
			leader.CompareAndSwap(s, next)
		}
	}
	cmds := make([]*command.Command, b.N)
	for i := range cmds {
		cmds[i] = putCmd(b, fmt.Sprintf("bench-%d", i), fmt.Sprintf("k%d", i%1024), "value")
	}
	lat := make([]time.Duration, b.N)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup

	b.ResetTimer()
	start := time.Now()
	for range inFlight {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := apply(ctx, cmds[i]); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatalf("apply: %v", *err)
	}

	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(retries.Load()), "retries")
}
