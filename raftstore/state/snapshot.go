package state

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
)

// The snapshot body (what Snapshot writes and Restore reads). Format 1 was the whole Data as
// one JSON document; at 100k leases it was 43 MB, and encoding and decoding it was nearly all
// of a snapshot's and a restore's time (BenchmarkSnapshot100kLeases in internal/core): every
// lease repeated its field names and wrote four RFC 3339 time stamps, and the bounded log of
// applied command ids was written twice (Applied and Log). Format 2 is snapshotMagic2, then
// one encoding/gob stream:
//
//   - a snapshotHeader: everything but the leases and the applied ids as format 1's JSON (it
//     is small, and keeps that JSON's exact semantics for the many types it holds), the lease
//     count and the applied-id count;
//   - the leases, in chunks of at most snapshotChunk, sorted by id (so the same state gives
//     the same bytes on every node, as json.Marshal's sorted keys did);
//   - the applied ids in log order (Log), in chunks of at most snapshotChunk. Applied is
//     rebuilt from Log: remember keeps them equal, so writing both was redundant.
//
// Gob sends the field names once per stream and time.Time as 15 bytes. Restore still reads
// format 1 (a body that does not start with the magic), so an older snapshot restores.

// snapshotMagic2 starts a format-2 body. Its NUL byte cannot start a JSON document (format 1).
var snapshotMagic2 = []byte("\x00baton-state/2\n")

// snapshotChunk is how many leases or applied ids one gob value holds: big enough that gob's
// per-value overhead does not count, small enough that neither side holds a second copy of
// the whole set.
const snapshotChunk = 4096

// snapshotHeader is the first value of a format-2 body's gob stream.
type snapshotHeader struct {
	// Rest is the JSON of the Data without Leases, Applied and Log.
	Rest []byte
	// Leases and Log are how many leases and applied ids follow.
	Leases, Log int
}

// snapshotLease is a lease in a format-2 body. Key is its key in Data.Leases when that is not
// its ID (leasePut keys by ID, so it is empty and gob does not send it).
type snapshotLease struct {
	Key   string
	Lease Lease
}

// errSnapshotFormat: a format-2 body that does not hold what its header says.
var errSnapshotFormat = errors.New("malformed format-2 snapshot")

// writeSnapshot writes d as a format-2 body to w. The caller holds the state's read lock.
func writeSnapshot(w io.Writer, d *Data) error {
	rest := *d
	rest.Leases, rest.Applied, rest.Log = nil, nil, nil
	restJSON, err := json.Marshal(&rest)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if _, err := w.Write(snapshotMagic2); err != nil {
		return err
	}
	enc := gob.NewEncoder(w)
	if err := enc.Encode(snapshotHeader{Rest: restJSON, Leases: len(d.Leases), Log: len(d.Log)}); err != nil {
		return fmt.Errorf("encode state header: %w", err)
	}
	ids := slices.Sorted(maps.Keys(d.Leases))
	chunk := make([]snapshotLease, 0, min(len(ids), snapshotChunk))
	for i, id := range ids {
		l := d.Leases[id]
		e := snapshotLease{Lease: l}
		if id != l.ID {
			e.Key = id
		}
		chunk = append(chunk, e)
		if len(chunk) == cap(chunk) || i == len(ids)-1 {
			if err := enc.Encode(chunk); err != nil {
				return fmt.Errorf("encode leases: %w", err)
			}
			clear(chunk)
			chunk = chunk[:0]
		}
	}
	for i := 0; i < len(d.Log); i += snapshotChunk {
		if err := enc.Encode(d.Log[i:min(i+snapshotChunk, len(d.Log))]); err != nil {
			return fmt.Errorf("encode applied ids: %w", err)
		}
	}
	return nil
}

// readSnapshot decodes a body of either format into a new Data.
func readSnapshot(r io.Reader) (*Data, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	d := newData()
	if head, err := br.Peek(len(snapshotMagic2)); err != nil || !bytes.Equal(head, snapshotMagic2) {
		// Format 1: one JSON document.
		if err := json.NewDecoder(br).Decode(d); err != nil {
			return nil, err
		}
		d.fill()
		return d, nil
	}
	if _, err := br.Discard(len(snapshotMagic2)); err != nil {
		return nil, err
	}
	dec := gob.NewDecoder(br)
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("state header: %w", err)
	}
	if h.Leases < 0 || h.Log < 0 {
		return nil, fmt.Errorf("%w: negative counts", errSnapshotFormat)
	}
	if err := json.Unmarshal(h.Rest, d); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	d.fill()
	// The counts come from the file: they only size maps once the values are there, so a
	// wrong one costs an error, not memory.
	d.Leases = make(map[string]Lease, min(h.Leases, snapshotChunk))
	for len(d.Leases) < h.Leases {
		// A fresh slice each time: gob decodes into the elements it finds and leaves the
		// fields the stream omits (zero values) as they were.
		var chunk []snapshotLease
		if err := dec.Decode(&chunk); err != nil {
			return nil, fmt.Errorf("leases: %w", err)
		}
		if len(chunk) == 0 || len(d.Leases)+len(chunk) > h.Leases {
			return nil, fmt.Errorf("%w: more leases than the header's %d", errSnapshotFormat, h.Leases)
		}
		for _, e := range chunk {
			k := e.Key
			if k == "" {
				k = e.Lease.ID
			}
			if _, dup := d.Leases[k]; dup {
				return nil, fmt.Errorf("%w: lease %q twice", errSnapshotFormat, k)
			}
			d.Leases[k] = e.Lease
		}
	}
	d.Log = make([]AppliedEvent, 0, min(h.Log, MaxApplied))
	d.Applied = make(map[string]uint64, min(h.Log, MaxApplied))
	for len(d.Log) < h.Log {
		var evs []AppliedEvent
		if err := dec.Decode(&evs); err != nil {
			return nil, fmt.Errorf("applied ids: %w", err)
		}
		if len(evs) == 0 || len(d.Log)+len(evs) > h.Log {
			return nil, fmt.Errorf("%w: more applied ids than the header's %d", errSnapshotFormat, h.Log)
		}
		for _, ev := range evs {
			if _, dup := d.Applied[ev.ID]; dup {
				return nil, fmt.Errorf("%w: applied id %q twice", errSnapshotFormat, ev.ID)
			}
			d.Applied[ev.ID] = ev.Index
		}
		d.Log = append(d.Log, evs...)
	}
	// Nothing may follow: a body with more than its header says was not written by Snapshot.
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: bytes after the applied ids", errSnapshotFormat)
	}
	return d, nil
}
