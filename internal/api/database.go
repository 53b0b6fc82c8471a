package api

import (
	"net/http"
	"strings"

	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/plugins/database"
)

// configKeys are the connection settings Baton keeps; every other key of a config write goes
// to the plugin.
var configKeys = map[string]bool{
	"plugin_name": true, "plugin_version": true, "verify_connection": true, "allowed_roles": true,
	"root_rotation_statements": true, "password_policy": true,
}

// database serves the paths of a database mount: <mount>/config, roles, creds, reset,
// reload, rotate-root.
func (s *Server) database(w http.ResponseWriter, r *http.Request, p string) error {
	mount, rest := s.secrets.FindMount(p)
	if mount == "" {
		return errStatus(http.StatusNotFound, "no handler for route %q: nothing is mounted there", p)
	}
	op, name, _ := strings.Cut(rest, "/")
	name = strings.Trim(name, "/")
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch op {
	case "config":
		if name == "" {
			if err := requireMethod(r, "LIST"); err != nil {
				return err
			}
			return listReply(w, s.secrets.ListConfigs(mount))
		}
		switch r.Method {
		case http.MethodGet:
			cfg, err := s.secrets.ReadConfig(mount, name)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, data(cfg))
			return nil
		case http.MethodPost, http.MethodPut:
			in, err := configInput(r)
			if err != nil {
				return err
			}
			if err := s.secrets.WriteConfig(ctx, mount, name, in, database.APISource); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		case http.MethodDelete:
			if err := s.secrets.DeleteConfig(ctx, mount, name, database.APISource); err != nil && !isNotFound(err) {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return requireMethod(r, http.MethodGet, http.MethodPost, http.MethodDelete)
	case "reset":
		if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
			return err
		}
		if err := s.secrets.Reset(ctx, mount, nameRequired(name), database.APISource); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "reload":
		if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
			return err
		}
		if name == "" {
			return errStatus(http.StatusBadRequest, "reload needs a plugin name: %sreload/:plugin_name", mount)
		}
		if _, err := s.secrets.Reload(ctx, name, mount, database.APISource); err != nil {
			return err
		}
		conns := s.secrets.PluginConnections(mount, name)
		if conns == nil {
			conns = []string{}
		}
		writeJSON(w, http.StatusOK, data(map[string]any{"connections": conns, "count": len(conns)}))
		return nil
	case "rotate-root":
		if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
			return err
		}
		if name == "" {
			return errStatus(http.StatusBadRequest, "rotate-root needs a connection name: %srotate-root/:name", mount)
		}
		if err := s.secrets.RotateRoot(ctx, mount, name, database.APISource); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "roles":
		return s.roles(w, r, mount, name)
	case "creds":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		if name == "" {
			return errStatus(http.StatusBadRequest, "creds needs a role name: %screds/:role", mount)
		}
		// The lease records the token that asked, so that revoking the token revokes it.
		if id, ok := auth.IdentityFrom(r.Context()); ok && s.tokens != nil && !id.Internal {
			owner, err := s.tokens.LeaseOwner(id)
			if err != nil {
				return err
			}
			ctx = database.WithLeaseOwner(ctx, owner)
		}
		sec, err := s.secrets.Creds(ctx, mount, name, displayName(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"request_id": newRequestID(), "lease_id": sec.LeaseID,
			"renewable": sec.Renewable, "lease_duration": fmtSeconds(sec.LeaseDuration), "data": sec.Data,
			"wrap_info": nil, "warnings": warningsOrNil(sec.Warnings), "auth": nil})
		return nil
	case "static-roles":
		return s.staticRoles(w, r, mount, name)
	case "static-creds":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		if name == "" {
			return errStatus(http.StatusBadRequest, "static-creds needs a role name: %sstatic-creds/:name", mount)
		}
		creds, err := s.secrets.StaticCreds(mount, name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(creds))
		return nil
	case "rotate-role":
		if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
			return err
		}
		if name == "" {
			return errStatus(http.StatusBadRequest, "rotate-role needs a static role name: %srotate-role/:name", mount)
		}
		if err := s.secrets.RotateStaticRole(ctx, mount, name); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return errStatus(http.StatusNotFound, "no handler for route %q: a database mount serves config, roles, creds, reset, reload and rotate-root", p)
}

func nameRequired(n string) string { return n }

func isNotFound(err error) bool {
	st, _ := statusOf(err)
	return st == http.StatusNotFound
}

func listReply(w http.ResponseWriter, keys []string) error {
	if len(keys) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": []string{}})
		return nil
	}
	writeJSON(w, http.StatusOK, data(map[string]any{"keys": keys}))
	return nil
}

func configInput(r *http.Request) (database.ConfigInput, error) {
	b, err := body(r)
	if err != nil {
		return database.ConfigInput{}, err
	}
	p := params(b)
	var in database.ConfigInput
	if in.PluginName, err = p.str("plugin_name"); err != nil {
		return in, err
	}
	if p.has("plugin_version") {
		v, err := p.str("plugin_version")
		if err != nil {
			return in, err
		}
		in.PluginVersion = &v
	}
	if in.VerifyConnection, err = p.boolean("verify_connection"); err != nil {
		return in, err
	}
	if in.AllowedRoles, err = p.list("allowed_roles"); err != nil {
		return in, err
	}
	if in.RootRotationStatements, err = p.statements("root_rotation_statements"); err != nil {
		return in, err
	}
	if p.has("password_policy") {
		v, err := p.str("password_policy")
		if err != nil {
			return in, err
		}
		in.PasswordPolicy = &v
	}
	in.Details = map[string]any{}
	for k, v := range p {
		if !configKeys[k] {
			in.Details[k] = v
		}
	}
	return in, nil
}

func (s *Server) roles(w http.ResponseWriter, r *http.Request, mount, name string) error {
	if name == "" {
		if err := requireMethod(r, "LIST"); err != nil {
			return err
		}
		return listReply(w, s.secrets.ListRoles(mount))
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch r.Method {
	case http.MethodGet:
		role, err := s.secrets.ReadRole(mount, name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(map[string]any{
			"db_name": role.DBName, "creation_statements": nonNil(role.CreationStatements),
			"revocation_statements": nonNil(role.RevocationStatements), "rollback_statements": nonNil(role.RollbackStatements),
			"renew_statements": nonNil(role.RenewStatements), "default_ttl": fmtSeconds(role.DefaultTTL),
			"max_ttl": fmtSeconds(role.MaxTTL), "credential_type": "password",
		}))
		return nil
	case http.MethodPost, http.MethodPut:
		b, err := body(r)
		if err != nil {
			return err
		}
		p := params(b)
		ignored := p.ignored("db_name", "creation_statements", "revocation_statements", "rollback_statements",
			"renew_statements", "default_ttl", "max_ttl", "credential_type", "credential_config")
		role := database.Role{Mount: mount, Name: name}
		if old, err := s.secrets.ReadRole(mount, name); err == nil {
			role = old
		}
		if v, _ := p.str("db_name"); v != "" {
			role.DBName = v
		}
		if role.DBName == "" {
			return errStatus(http.StatusBadRequest, "db_name is required: the connection (database/config/:name) this role uses")
		}
		for k, dst := range map[string]*[]string{"creation_statements": &role.CreationStatements,
			"revocation_statements": &role.RevocationStatements, "rollback_statements": &role.RollbackStatements,
			"renew_statements": &role.RenewStatements} {
			v, err := p.statements(k)
			if err != nil {
				return err
			}
			if v != nil {
				*dst = v
			}
		}
		if ct, _ := p.str("credential_type"); ct != "" && ct != "password" {
			return errStatus(http.StatusBadRequest, "credential_type %q: Baton issues password credentials in this release", ct)
		}
		if d, ok, err := p.duration("default_ttl"); err != nil {
			return err
		} else if ok {
			role.DefaultTTL = d
		}
		if d, ok, err := p.duration("max_ttl"); err != nil {
			return err
		} else if ok {
			role.MaxTTL = d
		}
		warnings, err := s.secrets.WriteRole(ctx, role)
		if err != nil {
			return err
		}
		writeDoneWarn(w, ignored, warnings)
		return nil
	case http.MethodDelete:
		if err := s.secrets.DeleteRole(ctx, mount, name); err != nil && !isNotFound(err) {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return requireMethod(r, http.MethodGet, http.MethodPost, http.MethodDelete)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) staticRoles(w http.ResponseWriter, r *http.Request, mount, name string) error {
	if name == "" {
		if err := requireMethod(r, "LIST"); err != nil {
			return err
		}
		return listReply(w, s.secrets.ListStaticRoles(mount))
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch r.Method {
	case http.MethodGet:
		role, err := s.secrets.ReadStaticRole(mount, name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(map[string]any{
			"db_name": role.DBName, "username": role.Username, "rotation_period": fmtSeconds(role.RotationPeriod),
			"rotation_statements": nonNil(role.RotationStatements), "last_vault_rotation": role.LastRotation,
			"credential_type": "password",
		}))
		return nil
	case http.MethodPost, http.MethodPut:
		b, err := body(r)
		if err != nil {
			return err
		}
		p := params(b)
		ignored := p.ignored("db_name", "username", "rotation_period", "rotation_statements", "credential_type")
		role := database.StaticRole{Mount: mount, Name: name}
		if old, err := s.secrets.ReadStaticRole(mount, name); err == nil {
			role = old
		}
		if v, _ := p.str("db_name"); v != "" {
			role.DBName = v
		}
		if v, _ := p.str("username"); v != "" {
			role.Username = v
		}
		if role.DBName == "" || role.Username == "" {
			return errStatus(http.StatusBadRequest, "db_name and username are required: the connection and the existing database user whose password Baton rotates")
		}
		if d, ok, err := p.duration("rotation_period"); err != nil {
			return err
		} else if ok {
			role.RotationPeriod = d
		}
		if v, err := p.statements("rotation_statements"); err != nil {
			return err
		} else if v != nil {
			role.RotationStatements = v
		}
		if err := s.secrets.WriteStaticRole(ctx, role); err != nil {
			return err
		}
		writeDone(w, ignored)
		return nil
	case http.MethodDelete:
		if err := s.secrets.DeleteStaticRole(ctx, mount, name); err != nil && !isNotFound(err) {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return requireMethod(r, http.MethodGet, http.MethodPost, http.MethodDelete)
}
