package plugins

import (
	"os"
	"strconv"

	"github.com/hashicorp/go-plugin"
)

// Variables Baton sets for every plugin, spelled as OpenBao (BAO_*) and as Vault (VAULT_*),
// so that plugins built against either SDK read them.
const (
	envBaoVersion       = "BAO_VERSION"
	envVaultVersion     = "VAULT_VERSION"
	envBaoMetadataMode  = "BAO_PLUGIN_METADATA_MODE"
	envVaultMetadata    = "VAULT_PLUGIN_METADATA_MODE"
	envBaoAutoMTLS      = "BAO_PLUGIN_AUTOMTLS_ENABLED"
	envVaultAutoMTLS    = "VAULT_PLUGIN_AUTOMTLS_ENABLED"
	envUnixSocketDirKey = plugin.EnvUnixSocketDir
)

// pluginEnv builds a plugin's whole environment, in the order of PLUGIN-WIRE.md (a later
// duplicate wins, as os/exec keeps the last value of a key):
//
//  1. the host variables the operator listed in Config.PassEnv (first, so that the catalog
//     entry can override them: vault#5177);
//  2. the catalog entry's env;
//  3. BAO_VERSION / VAULT_VERSION = the host version;
//  4. BAO_PLUGIN_METADATA_MODE / VAULT_PLUGIN_METADATA_MODE = "true" in metadata mode and
//     "false" otherwise, as OpenBao sets them;
//  5. BAO_PLUGIN_AUTOMTLS_ENABLED / VAULT_PLUGIN_AUTOMTLS_ENABLED = "true";
//  6. PLUGIN_UNIX_SOCKET_DIR = a short per-process directory. go-plugin sets this one only
//     for a custom RunnerFunc, so without it the plugin would pick a socket directory from its
//     TMPDIR, which it no longer inherits.
//
// go-plugin then appends its own handshake variables (cookie, ports, protocol versions,
// PLUGIN_CLIENT_CERT). Nothing else of the host's environment is passed: the runner sets
// SkipHostEnv, without which go-plugin appends all of os.Environ().
func pluginEnv(entryEnv, passEnv []string, hostVersion string, metadata bool, socketDir string) []string {
	env := make([]string, 0, len(passEnv)+len(entryEnv)+7)
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, entryEnv...)
	md := strconv.FormatBool(metadata)
	env = append(env,
		envBaoVersion+"="+hostVersion,
		envVaultVersion+"="+hostVersion,
		envBaoMetadataMode+"="+md,
		envVaultMetadata+"="+md,
		envBaoAutoMTLS+"=true",
		envVaultAutoMTLS+"=true",
		envUnixSocketDirKey+"="+socketDir,
	)
	return env
}
