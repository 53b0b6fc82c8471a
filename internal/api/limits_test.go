package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testMaxRequestSize is the body limit of newTestServer.
const testMaxRequestSize = 1 << 20

// sealBlocksNode is a node whose Seal waits for its context to end and reports why.
type sealBlocksNode struct {
	*fakeNode
	ended chan error
}

func (n *sealBlocksNode) Seal(ctx context.Context) error {
	<-ctx.Done()
	n.ended <- ctx.Err()
	return ctx.Err()
}

// TestMaxRequestSize checks that a body over max_request_size is answered 413 naming the
// key, whether its length is declared (refused before it is read) or not (chunked: refused
// where it is read), and that no action is taken; a body at the limit passes.
func TestMaxRequestSize(t *testing.T) {
	const limit = 64
	mount := `{"type":"database","description":"` // + padding + `"}`
	pad := func(total int) string { return mount + strings.Repeat("a", total-len(mount)-2) + `"}` }
	tests := []struct {
		name    string
		body    string
		chunked bool
		want    int
	}{
		{"declared length over the limit", pad(limit + 1), false, http.StatusRequestEntityTooLarge},
		{"chunked body over the limit", pad(limit + 1), true, http.StatusRequestEntityTooLarge},
		{"at the limit", pad(limit), false, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newFakeSecrets()
			n := newFakeNode()
			h := New(Config{Node: n, Secrets: sec, Tokens: newFakeTokens(n), MaxRequestSize: limit}).Handler()
			var rd io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				rd = io.MultiReader(rd) // hides the length: the request is sent chunked
			}
			req := httptest.NewRequest("PUT", "/v1/sys/mounts/db", rd)
			if tt.chunked {
				req.ContentLength = -1
			}
			req.Header.Set(TokenHeader, "root-token")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.want)
			}
			got := sec.got()
			if tt.want == http.StatusRequestEntityTooLarge {
				if !strings.Contains(rec.Body.String(), "larger than 64 bytes (the listener's max_request_size)") {
					t.Errorf("413 body %s does not name the limit", rec.Body)
				}
				if len(got) != 0 {
					t.Errorf("a refused body reached the engine: %v", got)
				}
			} else if len(got) != 1 || !strings.HasPrefix(got[0], "EnableMount") {
				t.Errorf("a body at the limit: engine calls %v, want EnableMount", got)
			}
		})
	}
}

// TestMaxRequestDuration checks that a request running past max_request_duration has its
// context ended (deadline exceeded), and is answered 504.
func TestMaxRequestDuration(t *testing.T) {
	n := &sealBlocksNode{fakeNode: newFakeNode(), ended: make(chan error, 1)}
	h := New(Config{Node: n, Secrets: newFakeSecrets(), Tokens: newFakeTokens(n.fakeNode), MaxRequestDuration: 50 * time.Millisecond}).Handler()
	r := do(t, h, "PUT", "/v1/sys/seal", nil)
	select {
	case err := <-n.ended:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("handler's context ended with %v, want deadline exceeded", err)
		}
	default:
		t.Fatal("the request returned but the handler's context never ended")
	}
	if r.status != http.StatusGatewayTimeout {
		t.Errorf("status %d (%s), want 504", r.status, r.raw)
	}
}
