package barrier

import (
	"regexp"
	"testing"
)

// TestNewToken: tokens have OpenBao's service-token shape, differ from call to call, and hash
// to different digests.
func TestNewToken(t *testing.T) {
	shape := regexp.MustCompile(`^s\.[A-Za-z0-9_-]{24}$`)
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(tok) {
			t.Fatalf("token %q is not s. and 24 URL-safe base64 characters", tok)
		}
		if seen[tok] || seen[HashToken(tok)] {
			t.Fatalf("token %q (or its hash) repeated", tok)
		}
		seen[tok], seen[HashToken(tok)] = true, true
	}
}
