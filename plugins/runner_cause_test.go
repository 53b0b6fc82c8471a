package plugins

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/baton-hq/baton/plugins/catalog"
)

// TestVerifiedCopyKeepsTheOpenError: a binary that cannot be opened is an invalid catalog
// entry, and the caller can still tell why (here: it does not exist).
func TestVerifiedCopyKeepsTheOpenError(t *testing.T) {
	dir := t.TempDir()
	_, err := verifiedCopy(filepath.Join(dir, "missing"), dir, "00")
	if !errors.Is(err, catalog.ErrInvalid) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("verifiedCopy = %v, want catalog.ErrInvalid wrapping fs.ErrNotExist", err)
	}
}
