package catalog

import (
	"fmt"
	"os"
	"strconv"
)

// EnvPermissionsCheck turns the owner and mode check on (true or 1), like OpenBao's
// VAULT_ENABLE_FILE_PERMISSIONS_CHECK.
const EnvPermissionsCheck = "BATON_ENABLE_FILE_PERMISSIONS_CHECK"

// PermissionPolicy is the optional check of who owns the plugin directory and binaries and
// with which mode (OpenBao's plugin_file_uid and plugin_file_permissions).
type PermissionPolicy struct {
	// Enabled turns the check on.
	Enabled bool
	// UID is the required owner; nil means the effective uid of this process.
	UID *int
	// Mode, when set, is the exact permission bits required; when nil, group and others must
	// not have write permission.
	Mode *os.FileMode
}

// PermissionCheckFromEnv reads EnvPermissionsCheck; unset means off.
func PermissionCheckFromEnv() (bool, error) {
	v, ok := os.LookupEnv(EnvPermissionsCheck)
	if !ok || v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean: use true, 1, false or 0", EnvPermissionsCheck, v)
	}
	return on, nil
}

// Check applies the policy to one path (the plugin directory or a binary's real path). It
// does nothing when the policy is disabled.
func (p PermissionPolicy) Check(path string) error {
	if !p.Enabled {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: permissions check: %w", ErrInvalid, err)
	}
	want := os.Geteuid()
	if p.UID != nil {
		want = *p.UID
	}
	owner, ok := fileOwner(info)
	if !ok {
		return fmt.Errorf("%w: permissions check: the owner of %s cannot be read on this system: disable the check", ErrInvalid, path)
	}
	if owner != want {
		return fmt.Errorf("%w: %s is owned by uid %d, not uid %d: chown it, or set plugin_file_uid", ErrInvalid, path, owner, want)
	}
	perm := info.Mode().Perm()
	if p.Mode != nil {
		if perm != p.Mode.Perm() {
			return fmt.Errorf("%w: %s has mode %04o, not the required %04o: chmod it, or change plugin_file_permissions", ErrInvalid, path, perm, p.Mode.Perm())
		}
		return nil
	}
	if perm&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, writable by group or others: chmod go-w it", ErrInvalid, path, perm)
	}
	return nil
}
