package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

const (
	// maxBatch bounds the commands one Raft entry carries.
	maxBatch = 256
	// batchesInFlight bounds the Raft entries the batcher has proposed and not seen answered.
	// While they are all in flight, new proposals queue up and leave together in the next
	// entry: batches grow with the load and a lone proposal still goes out at once.
	batchesInFlight = 16
)

// proposal is one command waiting for its commit.
type proposal struct {
	ctx  context.Context
	cmd  *command.Command
	done chan proposalResult
}

type proposalResult struct {
	resp any
	err  error
}

// batcher groups concurrent proposals into Batch commands: one Raft entry (one log write and
// one fsync on every node) for many events.
type batcher struct {
	n   *Node
	ch  chan *proposal
	sem chan struct{}
	wg  sync.WaitGroup // batches being applied
}

func newBatcher(n *Node) *batcher {
	return &batcher{n: n, ch: make(chan *proposal, 4*maxBatch), sem: make(chan struct{}, batchesInFlight)}
}

// run forms batches until stop is closed.
func (b *batcher) run(stop <-chan struct{}) {
	defer b.wg.Wait()
	for {
		var first *proposal
		select {
		case <-stop:
			return
		case first = <-b.ch:
		}
		select {
		case b.sem <- struct{}{}:
		case <-stop:
			b.fail([]*proposal{first}, raftstore.ErrClosed)
			return
		}
		batch := []*proposal{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case p := <-b.ch:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer func() { <-b.sem }()
			b.apply(batch)
		}()
	}
}

func (b *batcher) fail(batch []*proposal, err error) {
	for _, p := range batch {
		p.done <- proposalResult{err: err}
	}
}

// apply proposes a batch (a lone command as itself) and hands each proposal its answer.
func (b *batcher) apply(batch []*proposal) {
	live := batch[:0]
	for _, p := range batch {
		if p.ctx.Err() != nil {
			p.done <- proposalResult{err: p.ctx.Err()}
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	st := b.n.Store()
	if st == nil {
		b.fail(live, ErrSealed)
		return
	}
	c := live[0].cmd
	if len(live) > 1 {
		cmds := make([]*command.Command, len(live))
		for i, p := range live {
			cmds[i] = p.cmd
		}
		var err error
		c, err = command.New(state.TypeBatch, "batch-"+rand.Text(), command.SourceInternal, time.Now(), state.Batch{Commands: cmds})
		if err != nil {
			b.fail(live, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, resp, err := st.Apply(ctx, c)
	for attempt := 0; errors.Is(err, raftstore.ErrIndeterminate) && !errors.Is(err, raftstore.ErrClosed) && attempt < 3 && st.IsLeader(); attempt++ {
		// The entry may or may not have committed: the same ids make a retry safe.
		_, resp, err = st.Apply(ctx, c)
	}
	if br, ok := resp.(*state.BatchResult); ok && len(live) > 1 {
		for i, p := range live {
			r := proposalResult{resp: br.Results[i]}
			if e, isErr := br.Results[i].(error); isErr {
				r.err = e
			}
			p.done <- r
		}
		return
	}
	if len(live) > 1 && err == nil {
		err = fmt.Errorf("core: unexpected batch response %T", resp)
	}
	if e, ok := resp.(error); ok {
		// A business refusal: the state's own error, without the Raft wrapping.
		err = e
	}
	for _, p := range live {
		p.done <- proposalResult{resp: resp, err: err}
	}
}

// submit queues a command and waits for its answer.
func (b *batcher) submit(ctx context.Context, c *command.Command) (any, error) {
	p := &proposal{ctx: ctx, cmd: c, done: make(chan proposalResult, 1)}
	select {
	case b.ch <- p:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r.resp, r.err
	case <-ctx.Done():
		// Handed to Raft or about to be: the outcome is unknown, as with a lost leadership.
		return nil, fmt.Errorf("%w: %w", raftstore.ErrIndeterminate, ctx.Err())
	}
}
