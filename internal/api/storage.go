package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
)

// Storage is what the API asks of the Raft storage beyond membership: snapshots (and the
// autopilot, in autopilot.go). internal/server wires the core node into it; without it the
// endpoints answer 404.
type Storage interface {
	// SaveSnapshot writes an archive of the replicated state to w.
	SaveSnapshot(ctx context.Context, w io.Writer) error
	// RestoreSnapshot restores an archive on every node; force accepts another cluster's
	// snapshot that decrypts with this cluster's key.
	RestoreSnapshot(ctx context.Context, r io.Reader, force bool) error
}

// raftSnapshot serves sys/storage/raft/snapshot: GET streams a snapshot, POST restores one
// taken on this cluster. OpenBao's CLI sends the archive as the raw request body.
func (s *Server) raftSnapshot(w http.ResponseWriter, r *http.Request, rest string) error {
	if s.storage == nil || rest != "" {
		return errStatus(http.StatusNotFound, "no handler for route %q", r.URL.Path)
	}
	if r.Method == http.MethodGet {
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		// The archive is built in memory before the first byte is written, so a failure is
		// still an error status and not a cut-short file.
		var buf bytes.Buffer
		if err := s.storage.SaveSnapshot(ctx, &buf); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = buf.WriteTo(w)
		return nil
	}
	return s.restoreSnapshot(w, r, false)
}

// raftSnapshotForce serves sys/storage/raft/snapshot-force: POST restores a snapshot another
// cluster took, if it decrypts with this cluster's key.
func (s *Server) raftSnapshotForce(w http.ResponseWriter, r *http.Request, rest string) error {
	if s.storage == nil || rest != "" {
		return errStatus(http.StatusNotFound, "no handler for route %q", r.URL.Path)
	}
	return s.restoreSnapshot(w, r, true)
}

func (s *Server) restoreSnapshot(w http.ResponseWriter, r *http.Request, force bool) error {
	if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
		return err
	}
	// Read whole first: a body over max_request_size is a 413, not a damaged archive.
	b, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return tooLargeErr(tooLarge.Limit)
	}
	if err != nil {
		return errStatus(http.StatusBadRequest, "reading the snapshot: %v", err)
	}
	if len(b) == 0 {
		return errStatus(http.StatusBadRequest, "the request body is empty: send the snapshot file (a .tar.gz from GET sys/storage/raft/snapshot) as the body")
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if err := s.storage.RestoreSnapshot(ctx, bytes.NewReader(b), force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
