package acl

import "strings"

// sudoPaths are the paths OpenBao protects with sudo, whatever the operation: a request there
// needs sudo on top of the operation's capability. A pattern ending in "*" matches by prefix,
// any other exactly. The sys/ and auth/token/ entries are the root paths of OpenBao's system
// backend and token store; sys/seal and sys/step-down are checked by OpenBao's core with root
// privileges required; auth/token/revoke-orphan is checked by its handler.
var sudoPaths = []string{
	// System backend root paths.
	"sys/auth/*",
	"sys/remount",
	"sys/audit",
	"sys/audit/*",
	"sys/raw",
	"sys/raw/*",
	"sys/rotate",
	"sys/rotate/keyring",
	"sys/rotate/root",
	"sys/config/cors",
	"sys/config/auditing/*",
	"sys/config/ui/headers/*",
	"sys/plugins/catalog/*",
	"sys/plugins/runtimes/catalog/*",
	"sys/revoke-prefix/*",
	"sys/revoke-force/*",
	"sys/leases/revoke-prefix/*",
	"sys/leases/revoke-force/*",
	"sys/leases/lookup/*",
	"sys/leases",
	"sys/internal/inspect/*",
	"sys/storage/raft/snapshot-auto/config/*",
	// Checked by the core, not the router.
	"sys/seal",
	"sys/step-down",
	// Baton's own: a node shutdown (the NATS shutdown event's path; OpenBao has no such
	// endpoint). Guarded as sys/seal is, since it takes the node out of service.
	"sys/shutdown",
	// Baton's own: the cluster's NATS identities (issue 12: root or sudo only).
	"sys/nats/credentials",
	"sys/nats/credentials/*",
	// Token store root paths, and revoke-orphan's handler check.
	"auth/token/revoke-orphan",
	"auth/token/revoke-orphan/*",
	"auth/token/accessors*",
	// OpenBao's token store refuses an orphan token to a caller without root or sudo in its
	// handler; the path is guarded here so that no handler can forget it.
	"auth/token/create-orphan",
}

// SudoPaths lists the sudo-protected path patterns (a trailing "*" matches by prefix).
func SudoPaths() []string { return append([]string(nil), sudoPaths...) }

// SudoRequired reports whether a request on path needs sudo, whatever its operation (OpenBao
// applies its root paths to every operation). Check applies it; the authoriser need not.
func SudoRequired(path string) bool {
	path = strings.TrimLeft(path, "/")
	if !strings.HasPrefix(path, "sys/") && !strings.HasPrefix(path, "auth/token/") {
		return false
	}
	for _, p := range sudoPaths {
		if pre, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(path, pre) {
				return true
			}
		} else if path == p {
			return true
		}
	}
	return false
}
