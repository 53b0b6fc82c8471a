package barrier

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// NewToken returns a random token in OpenBao's service-token shape ("s." and 24 characters of
// URL-safe base64 for 144 random bits). The state keeps only its HashToken digest.
func NewToken() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("barrier: new token: %w", err)
	}
	return "s." + base64.RawURLEncoding.EncodeToString(b), nil
}
