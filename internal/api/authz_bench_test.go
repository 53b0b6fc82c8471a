package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCredsAuthz is the creds path through the API handler (routing, the one authoriser,
// the handler, the JSON reply; the engine is a fake that answers at once), with the root token
// and with a token whose only grant is read on database/creds/ro (plus the default policy).
// Issue 11's goal: the non-root path within 1.05× of the root path. The engine's real work
// (a plugin call to PostgreSQL, a Raft commit) is left out, so the ratio is an upper bound.
func BenchmarkCredsAuthz(b *testing.B) {
	for _, tc := range []struct{ name, token string }{{"token=root", "root-token"}, {"token=app", appToken}} {
		b.Run(tc.name, func(b *testing.B) {
			h, _ := authzServerMemo(b, newFakeNode(), newFakeSecrets(), true)
			req := httptest.NewRequest(http.MethodGet, "/v1/database/creds/ro", nil)
			req.Header.Set(TokenHeader, tc.token)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
