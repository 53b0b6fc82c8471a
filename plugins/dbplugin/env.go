package dbplugin

import (
	"os"
	"strconv"
)

// Environment variables a host sets for its plugins. Each has an OpenBao (BAO_) and a Vault
// (VAULT_) spelling; the BAO_ one wins when both are set.
const (
	EnvMetadataMode    = "BAO_PLUGIN_METADATA_MODE"
	EnvMetadataModeOld = "VAULT_PLUGIN_METADATA_MODE"
	EnvAutoMTLS        = "BAO_PLUGIN_AUTOMTLS_ENABLED"
	EnvAutoMTLSOld     = "VAULT_PLUGIN_AUTOMTLS_ENABLED"
	EnvHostVersion     = "BAO_VERSION"
	EnvHostVersionOld  = "VAULT_VERSION"
)

func readEnv(name, old string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return os.Getenv(old)
}

// MetadataMode reports whether the host runs the plugin only to ask its version or type: a
// plugin then should not connect anywhere or start background work.
func MetadataMode() bool {
	on, err := strconv.ParseBool(readEnv(EnvMetadataMode, EnvMetadataModeOld))
	return err == nil && on
}

// HostVersion is the version the host says it runs, for logs only: a plugin must not rely on
// it (OpenBao and Baton number their releases differently).
func HostVersion() string {
	return readEnv(EnvHostVersion, EnvHostVersionOld)
}
