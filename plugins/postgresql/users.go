package postgresql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

// Default statements, as OpenBao's: used when a role or the root rotation gives none.
const (
	defaultCreationStatement       = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`
	defaultChangePasswordStatement = `ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}';`
	defaultExpirationStatement     = `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';`
)

// expirationFormat is how {{expiration}} is written, as OpenBao writes it.
const expirationFormat = "2006-01-02 15:04:05-0700"

// Errors callers may branch on.
var (
	// ErrUnsupportedCredential is returned for credentials other than passwords.
	ErrUnsupportedCredential = errors.New("postgresql: only password credentials are supported")
	// ErrEmptyStatements is returned when statements were given but hold no command.
	ErrEmptyStatements = errors.New("postgresql: the statements hold no command")
)

// NewUser creates a role named by the username template. The creation statements (the
// default CREATE ROLE when none are given) run in one transaction; when they fail, the
// rollback statements, if any, run in another.
func (p *PostgreSQL) NewUser(ctx context.Context, req dbplugin.NewUserRequest) (dbplugin.NewUserResponse, error) {
	if req.CredentialType != dbplugin.CredentialTypePassword {
		return dbplugin.NewUserResponse{}, fmt.Errorf("%w (got %s)", ErrUnsupportedCredential, req.CredentialType)
	}
	if req.Password == "" {
		return dbplugin.NewUserResponse{}, errors.New("postgresql: create user: missing password")
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.pool == nil {
		return dbplugin.NewUserResponse{}, ErrNotInitialized
	}
	username, err := p.usernames.generate(req.UsernameConfig)
	if err != nil {
		return dbplugin.NewUserResponse{}, err
	}
	data := map[string]string{
		"name":       username,
		"username":   username,
		"password":   req.Password,
		"expiration": formatExpiration(req.Expiration),
	}
	stmts := withDefault(req.Statements.Commands, defaultCreationStatement)
	if err := execInTx(ctx, p.pool, stmts, data); err != nil {
		if len(req.RollbackStatements.Commands) > 0 {
			if rbErr := execInTx(ctx, p.pool, req.RollbackStatements.Commands, data); rbErr != nil {
				err = errors.Join(err, fmt.Errorf("rollback statements: %w", rbErr))
			}
		}
		return dbplugin.NewUserResponse{}, scrub(fmt.Errorf("postgresql: create user %q: %w", username, err), req.Password)
	}
	return dbplugin.NewUserResponse{Username: username}, nil
}

// UpdateUser changes a role's password and/or expiration in one transaction. When the role
// is the one the plugin itself logs in as, the plugin then uses the new password: the pool
// is rebuilt once the calls in flight have finished, and no call runs meanwhile.
func (p *PostgreSQL) UpdateUser(ctx context.Context, req dbplugin.UpdateUserRequest) (dbplugin.UpdateUserResponse, error) {
	if req.Username == "" {
		return dbplugin.UpdateUserResponse{}, errors.New("postgresql: update user: missing username")
	}
	if req.CredentialType != dbplugin.CredentialTypePassword || req.PublicKey != nil {
		return dbplugin.UpdateUserResponse{}, fmt.Errorf("%w (got %s)", ErrUnsupportedCredential, req.CredentialType)
	}
	if req.Password == nil && req.Expiration == nil {
		return dbplugin.UpdateUserResponse{}, errors.New("postgresql: update user: no changes requested")
	}
	data := map[string]string{"name": req.Username, "username": req.Username}
	var stmts []string
	var secret string
	if req.Password != nil {
		if req.Password.NewPassword == "" {
			return dbplugin.UpdateUserResponse{}, errors.New("postgresql: update user: missing password")
		}
		secret = req.Password.NewPassword
		data["password"] = secret
		stmts = append(stmts, withDefault(req.Password.Statements.Commands, defaultChangePasswordStatement)...)
	}
	if req.Expiration != nil {
		data["expiration"] = formatExpiration(req.Expiration.NewExpiration)
		stmts = append(stmts, withDefault(req.Expiration.Statements.Commands, defaultExpirationStatement)...)
	}

	if req.Password != nil && p.isRoot(req.Username) {
		// Remember the new root password before touching the database, so the sanitizer
		// masks it in any error from here on.
		p.rememberPassword(secret)
		return dbplugin.UpdateUserResponse{}, p.updateRoot(ctx, req.Username, secret, stmts, data)
	}

	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.pool == nil {
		return dbplugin.UpdateUserResponse{}, ErrNotInitialized
	}
	if err := execInTx(ctx, p.pool, stmts, data); err != nil {
		return dbplugin.UpdateUserResponse{}, scrub(fmt.Errorf("postgresql: update user %q: %w", req.Username, err), secret)
	}
	return dbplugin.UpdateUserResponse{}, nil
}

func (p *PostgreSQL) isRoot(username string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.pool != nil && username == p.rootUser
}

// updateRoot changes the root user's own password, holding the lock for writing: no other
// call runs between the change and the new pool, so none tries the old password.
func (p *PostgreSQL) updateRoot(ctx context.Context, username, password string, stmts []string, data map[string]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pool == nil {
		return ErrNotInitialized
	}
	if err := execInTx(ctx, p.pool, stmts, data); err != nil {
		return scrub(fmt.Errorf("postgresql: update root user %q: %w", username, err), password)
	}
	if username != p.rootUser {
		return nil // re-initialised for another user while this call waited for the lock
	}
	cfg := p.cfg
	cfg.password = password
	pool, _, err := p.newPool(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgresql: the root password was changed but the new connection settings failed: %w", err)
	}
	// Nothing else holds the old pool (the write lock excludes every other call), so it
	// closes at once.
	p.pool.Close()
	p.cfg, p.pool = cfg, pool
	return nil
}

// DeleteUser drops a role; a role that does not exist is not an error. With statements, they
// run in one transaction. Without, the default revocation takes every privilege away and
// drops the role (see defaultDelete).
func (p *PostgreSQL) DeleteUser(ctx context.Context, req dbplugin.DeleteUserRequest) (dbplugin.DeleteUserResponse, error) {
	if req.Username == "" {
		return dbplugin.DeleteUserResponse{}, errors.New("postgresql: delete user: missing username")
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.pool == nil {
		return dbplugin.DeleteUserResponse{}, ErrNotInitialized
	}
	var err error
	if len(req.Statements.Commands) > 0 {
		data := map[string]string{"name": req.Username, "username": req.Username}
		err = execInTx(ctx, p.pool, req.Statements.Commands, data)
	} else {
		err = defaultDelete(ctx, p.pool, req.Username)
	}
	if err != nil {
		return dbplugin.DeleteUserResponse{}, fmt.Errorf("postgresql: delete user %q: %w", req.Username, err)
	}
	return dbplugin.DeleteUserResponse{}, nil
}

// lookupRoleSQL answers, in one round trip, what the default revocation needs: whether the
// role exists, the current database, whether the current user holds the role's privileges
// (then REASSIGN OWNED and DROP OWNED are allowed), and the user schemas.
const lookupRoleSQL = `
SELECT r.oid IS NOT NULL,
       current_database(),
       COALESCE(pg_catalog.pg_has_role(r.oid, 'USAGE'), false),
       ARRAY(SELECT n.nspname::text FROM pg_catalog.pg_namespace n
             WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
             ORDER BY 1)
FROM (SELECT 1) AS one
LEFT JOIN pg_catalog.pg_roles r ON r.rolname = $1`

// defaultDelete removes every privilege of the role in the current database, then drops it.
//
// When the plugin's user holds the role's privileges (a superuser does), it hands the role's
// objects to itself (REASSIGN OWNED, so no data is lost) and revokes all of the role's
// privileges, in every schema and on the database, through the dependency catalogue (DROP
// OWNED), which costs the same however many schemas and tables there are. Otherwise it
// revokes what OpenBao's default revokes and more: all privileges on the tables, sequences
// and routines of every user schema, on the schemas themselves and on the database.
//
// The commands go in one round trip, each its own transaction, so that one failure still
// lets the others remove what they can, as OpenBao's does. Only the drop decides the
// outcome: PostgreSQL refuses to drop a role that still holds a privilege or owns an object,
// so a dropped role is a role with nothing left.
func defaultDelete(ctx context.Context, pool *pgxpool.Pool, username string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()

	var exists, holdsRole bool
	var database string
	var schemas []string
	if err := conn.QueryRow(ctx, lookupRoleSQL, username).Scan(&exists, &database, &holdsRole, &schemas); err != nil {
		return fmt.Errorf("look up role: %w", err)
	}
	if !exists {
		return nil
	}

	role := pgx.Identifier{username}.Sanitize()
	var cmds []string
	if holdsRole {
		cmds = append(cmds,
			"REASSIGN OWNED BY "+role+" TO CURRENT_USER",
			"DROP OWNED BY "+role,
		)
	} else {
		for _, s := range schemas {
			schema := pgx.Identifier{s}.Sanitize()
			cmds = append(cmds,
				"REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA "+schema+" FROM "+role,
				"REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA "+schema+" FROM "+role,
				"REVOKE ALL PRIVILEGES ON ALL ROUTINES IN SCHEMA "+schema+" FROM "+role,
				"REVOKE ALL PRIVILEGES ON SCHEMA "+schema+" FROM "+role,
			)
		}
		cmds = append(cmds, "REVOKE ALL PRIVILEGES ON DATABASE "+pgx.Identifier{database}.Sanitize()+" FROM "+role)
	}
	cmds = append(cmds, "DROP ROLE IF EXISTS "+role)

	errs, err := execEach(ctx, conn.Conn().PgConn(), cmds)
	if err != nil {
		return err
	}
	if dropErr := errs[len(errs)-1]; dropErr != nil {
		return errors.Join(append([]error{dropErr}, errs[:len(errs)-1]...)...)
	}
	return nil
}

// execEach sends every command in one round trip, each followed by a sync, so each is its
// own implicit transaction and a failure does not stop the ones after it. It returns each
// command's error; the second result is a failure of the connection itself.
func execEach(ctx context.Context, conn *pgconn.PgConn, cmds []string) ([]error, error) {
	pl := conn.StartPipeline(ctx)
	for _, c := range cmds {
		pl.SendQueryParams(c, nil, nil, nil, nil)
		pl.SendPipelineSync()
	}
	if err := pl.Flush(); err != nil {
		_ = pl.Close()
		return nil, err
	}
	errs := make([]error, len(cmds))
	for i := 0; i < len(cmds); {
		res, err := pl.GetResults()
		if err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				_ = pl.Close()
				return nil, err
			}
			errs[i] = err
			continue
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			if _, err := r.Close(); err != nil {
				errs[i] = err
			}
		case *pgconn.PipelineSync:
			i++
		case nil:
			_ = pl.Close()
			return nil, errors.New("pipeline: results ended early")
		}
	}
	return errs, pl.Close()
}

// execInTx splits each statement into commands (before filling in the template, so a
// password holding ';' cannot split one), fills them in, and runs them all in one
// transaction and one round trip: a multi-command simple query, which PostgreSQL runs as a
// single implicit transaction, so the commands all take effect or none does.
func execInTx(ctx context.Context, pool *pgxpool.Pool, stmts []string, data map[string]string) error {
	var cmds []string
	for _, stmt := range stmts {
		for _, cmd := range dbplugin.SplitSQL(stmt) {
			cmds = append(cmds, dbplugin.QueryHelper(cmd, data))
		}
	}
	if len(cmds) == 0 {
		return ErrEmptyStatements
	}
	// No arguments: pgx sends a simple query, the only kind that may hold several commands.
	_, err := pool.Exec(ctx, strings.Join(cmds, ";\n"))
	return err
}

func withDefault(stmts []string, def string) []string {
	if len(stmts) == 0 {
		return []string{def}
	}
	return stmts
}

// formatExpiration writes t as OpenBao does; a zero time (no expiration) becomes 'infinity'
// rather than year 1, which PostgreSQL would take as long expired.
func formatExpiration(t time.Time) string {
	if t.IsZero() {
		return "infinity"
	}
	return t.Format(expirationFormat)
}

// scrub masks a user's new password in err's text. The sanitizer middleware knows only the
// root credentials; a server message quoting a statement could hold the new password.
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), secret, passwordPlaceholder), cause: err}
}

// scrubbedError keeps errors.Is matching of the original error without unwrapping to its text.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.cause, target) }
