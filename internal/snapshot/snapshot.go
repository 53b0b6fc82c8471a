// Package snapshot is the file format of Raft snapshots an operator saves and restores
// (sys/storage/raft/snapshot): OpenBao's idea, a gzipped tar holding meta.json, state.bin and
// SHA256SUMS, with the state sealed by the barrier key.
//
// state.bin is the Raft FSM snapshot, gzipped, then encrypted with the cluster's barrier key
// (AES-256-GCM, the barrier's own format), so the file holds nothing in clear that the state
// holds (the secrets inside are barrier-sealed already; ids, names, hashes and the NATS
// identities are sealed with them). GCM authenticates it: a flipped bit anywhere in state.bin
// fails to open. SHA256SUMS covers meta.json and state.bin, so a damaged file is refused before
// any key is used, with a message that says which part is wrong. meta.json names the cluster by
// the fingerprint of its key check (made at init with a random nonce, so two clusters never
// share it, even with the same key): a plain restore accepts only its own cluster's snapshots.
//
// It imports the standard library only; the barrier comes in through the Sealer and Opener
// interfaces.
package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Errors callers branch on (the API answers both with 400).
var (
	// ErrInvalid: the file is not a complete, intact snapshot archive; the message says what
	// is wrong.
	ErrInvalid = errors.New("snapshot: invalid archive")
	// ErrUndecryptable: the archive is intact but its state does not open with this
	// cluster's key.
	ErrUndecryptable = errors.New("snapshot: the state does not decrypt with this cluster's key")
)

// Version is the format version meta.json carries.
const Version = 1

// Encryption names how state.bin is sealed.
const Encryption = "gzip+barrier-aes256-gcm"

// The archive's members, in the order Write puts them.
const (
	metaName  = "meta.json"
	stateName = "state.bin"
	sumsName  = "SHA256SUMS"
)

// maxMetaSize bounds meta.json and SHA256SUMS: both are a few hundred bytes.
const maxMetaSize = 64 << 10

// Meta is meta.json.
type Meta struct {
	// Version is the format version (Version).
	Version int `json:"version"`
	// ID names the snapshot: term-index-unix milliseconds, as raft names its snapshots.
	ID string `json:"id"`
	// Index and Term are the Raft index and term the state stands for.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Created is when the snapshot was taken.
	Created time.Time `json:"created"`
	// Cluster is the fingerprint of the cluster's key check (Fingerprint).
	Cluster string `json:"cluster_fingerprint"`
	// Encryption says how state.bin is sealed (Encryption).
	Encryption string `json:"encryption"`
	// Size is state.bin's length in bytes.
	Size int64 `json:"size"`
}

// Sealer encrypts with the cluster's key (the barrier).
type Sealer interface {
	Encrypt(plain []byte) ([]byte, error)
}

// Opener decrypts with the cluster's key (the barrier).
type Opener interface {
	Decrypt(ct []byte) ([]byte, error)
}

// Fingerprint names a cluster by its key check: the first 16 bytes of its SHA-256, in hex.
func Fingerprint(keyCheck []byte) string {
	if len(keyCheck) == 0 {
		return ""
	}
	h := sha256.Sum256(append([]byte("baton-cluster\x00"), keyCheck...))
	return hex.EncodeToString(h[:16])
}

// Write writes the archive of state (a Raft FSM snapshot's bytes) to w, sealing the state with
// s. m's Version, Encryption and Size are filled in here.
func Write(w io.Writer, m Meta, state []byte, s Sealer) error {
	var zipped bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zipped, gzip.BestSpeed) // the level is valid
	if _, err := zw.Write(state); err != nil {
		return fmt.Errorf("snapshot: compress state: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("snapshot: compress state: %w", err)
	}
	sealed, err := s.Encrypt(zipped.Bytes())
	if err != nil {
		return fmt.Errorf("snapshot: seal state: %w", err)
	}
	m.Version, m.Encryption, m.Size = Version, Encryption, int64(len(sealed))
	metaJSON, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("snapshot: encode meta.json: %w", err)
	}
	sums := fmt.Sprintf("%x  %s\n%x  %s\n", sha256.Sum256(metaJSON), metaName, sha256.Sum256(sealed), stateName)

	// The state is sealed and so incompressible; the outer gzip is the format's, and cheap at
	// BestSpeed.
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		data []byte
	}{{metaName, metaJSON}, {stateName, sealed}, {sumsName, []byte(sums)}} {
		hdr := &tar.Header{Name: f.name, Mode: 0o600, Size: int64(len(f.data)), ModTime: m.Created, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("snapshot: write %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("snapshot: write %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("snapshot: close archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("snapshot: close archive: %w", err)
	}
	return nil
}

// ReadArchive reads and checks an archive without opening the state: every member present
// once, nothing else, each within maxSize bytes, the checksums right and meta.json well formed.
// It returns the meta and the sealed state. Every failure wraps ErrInvalid.
func ReadArchive(r io.Reader, maxSize int64) (Meta, []byte, error) {
	gz, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return Meta{}, nil, fmt.Errorf("%w: not gzip data (a snapshot file is a .tar.gz): %w", ErrInvalid, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Meta{}, nil, fmt.Errorf("%w: the archive is damaged or cut short: %w", ErrInvalid, err)
		}
		limit := int64(maxMetaSize)
		switch hdr.Name {
		case stateName:
			limit = maxSize
		case metaName, sumsName:
		default:
			return Meta{}, nil, fmt.Errorf("%w: unexpected member %q (want %s, %s and %s)", ErrInvalid, hdr.Name, metaName, stateName, sumsName)
		}
		if _, dup := files[hdr.Name]; dup {
			return Meta{}, nil, fmt.Errorf("%w: %s appears twice", ErrInvalid, hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size < 0 || hdr.Size > limit {
			return Meta{}, nil, fmt.Errorf("%w: %s is not a regular file of at most %d bytes", ErrInvalid, hdr.Name, limit)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return Meta{}, nil, fmt.Errorf("%w: reading %s: the archive is damaged or cut short: %w", ErrInvalid, hdr.Name, err)
		}
		files[hdr.Name] = b
	}
	// Read gzip to its end: its trailer (CRC-32 and length) is checked only there, and a file
	// cut inside it still holds a whole tar.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return Meta{}, nil, fmt.Errorf("%w: the archive is damaged or cut short: %w", ErrInvalid, err)
	}
	for _, n := range []string{metaName, stateName, sumsName} {
		if _, ok := files[n]; !ok {
			return Meta{}, nil, fmt.Errorf("%w: %s is missing (the file is cut short or not a Baton snapshot)", ErrInvalid, n)
		}
	}
	if err := checkSums(files); err != nil {
		return Meta{}, nil, err
	}
	var m Meta
	dec := json.NewDecoder(bytes.NewReader(files[metaName]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Meta{}, nil, fmt.Errorf("%w: meta.json: %w", ErrInvalid, err)
	}
	switch {
	case m.Version != Version:
		return Meta{}, nil, fmt.Errorf("%w: format version %d, this build reads %d", ErrInvalid, m.Version, Version)
	case m.Encryption != Encryption:
		return Meta{}, nil, fmt.Errorf("%w: encryption %q, this build reads %q", ErrInvalid, m.Encryption, Encryption)
	case m.Size != int64(len(files[stateName])):
		return Meta{}, nil, fmt.Errorf("%w: state.bin is %d bytes, meta.json says %d", ErrInvalid, len(files[stateName]), m.Size)
	}
	return m, files[stateName], nil
}

// checkSums checks SHA256SUMS: one line for meta.json and one for state.bin, both matching.
func checkSums(files map[string][]byte) error {
	want := map[string]string{}
	for line := range strings.Lines(string(files[sumsName])) {
		sum, name, ok := strings.Cut(strings.TrimRight(line, "\n"), "  ")
		if !ok {
			return fmt.Errorf("%w: SHA256SUMS has a malformed line", ErrInvalid)
		}
		want[name] = sum
	}
	for _, n := range []string{metaName, stateName} {
		got := sha256.Sum256(files[n])
		if want[n] != hex.EncodeToString(got[:]) {
			return fmt.Errorf("%w: %s does not match its SHA-256 in SHA256SUMS (the file is damaged)", ErrInvalid, n)
		}
	}
	return nil
}

// Open decrypts and decompresses a sealed state ReadArchive returned; maxSize bounds the
// decompressed state. ErrUndecryptable when the key is not the one it was sealed with.
func Open(sealed []byte, o Opener, maxSize int64) ([]byte, error) {
	zipped, err := o.Decrypt(sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUndecryptable, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		return nil, fmt.Errorf("%w: the decrypted state is not gzip data: %w", ErrInvalid, err)
	}
	defer zr.Close()
	plain, err := io.ReadAll(io.LimitReader(zr, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: decompress the state: %w", ErrInvalid, err)
	}
	if int64(len(plain)) > maxSize {
		return nil, fmt.Errorf("%w: the state is larger than %d bytes", ErrInvalid, maxSize)
	}
	return plain, nil
}
