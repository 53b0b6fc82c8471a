package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
)

// fakeStorage records the snapshot archives handed to RestoreSnapshot.
type fakeStorage struct {
	mu       sync.Mutex
	restored [][]byte
}

func (f *fakeStorage) SaveSnapshot(_ context.Context, w io.Writer) error {
	_, err := w.Write([]byte("archive"))
	return err
}

func (f *fakeStorage) RestoreSnapshot(_ context.Context, r io.Reader, _ bool) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.restored = append(f.restored, b)
	f.mu.Unlock()
	return nil
}

func (f *fakeStorage) got() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restored
}

// TestSnapshotRestoreRawBody: a snapshot archive (gzip, not a JSON object) POSTed with the
// root token reaches the storage byte for byte on both restore paths; without a token or
// with a wrong one the storage is never called; and the exemption from the JSON body check
// is these two paths only (another write with the same body is still a 400).
func TestSnapshotRestoreRawBody(t *testing.T) {
	archive := "\x1f\x8b\x08\x00 not json at all"
	for _, path := range []string{"/v1/sys/storage/raft/snapshot", "/v1/sys/storage/raft/snapshot-force"} {
		t.Run(path, func(t *testing.T) {
			st := &fakeStorage{}
			n := newFakeNode()
			h := New(Config{Node: n, Secrets: newFakeSecrets(), Tokens: newFakeTokens(n), Storage: st, Version: "v-test", MaxRequestSize: testMaxRequestSize}).Handler()
			for _, tok := range []string{"", "s.wrong"} {
				if r := do(t, h, "POST", path, archive, TokenHeader, tok); r.status != http.StatusForbidden {
					t.Fatalf("token %q: %d %s, want 403", tok, r.status, r.raw)
				}
			}
			if got := st.got(); len(got) != 0 {
				t.Fatalf("a refused request reached the storage: %q", got)
			}
			if r := do(t, h, "POST", path, archive); r.status != http.StatusNoContent {
				t.Fatalf("root: %d %s, want 204", r.status, r.raw)
			}
			if got := st.got(); len(got) != 1 || !bytes.Equal(got[0], []byte(archive)) {
				t.Fatalf("the storage got %q, want the archive as sent", got)
			}
		})
	}
	n := newFakeNode()
	h := newTestServer(n, newFakeSecrets())
	if r := do(t, h, "PUT", "/v1/sys/policies/acl/x", archive); r.status != http.StatusBadRequest {
		t.Fatalf("a non-JSON body on another write: %d %s, want 400", r.status, r.raw)
	}
}
