// Package dbplugin is Baton's SDK for database plugins: the version 5 Database interface of
// OpenBao's database secrets engine, the gRPC glue that carries it between host and plugin
// (wire-compatible with OpenBao), Serve and ServeMultiplex for plugin mains, the error
// sanitizer middleware and the statement template helper.
//
// A plugin author implements Database, wraps it with NewDatabaseErrorSanitizerMiddleware and
// calls Serve (one database per process) or ServeMultiplex (one process for many connections).
package dbplugin

import (
	"context"
	"time"
)

// Database is the version 5 interface every database plugin implements.
type Database interface {
	// Initialize configures the database from the operator's settings. When
	// req.VerifyConnection is set it must connect and fail if it cannot. The returned
	// config is what the host stores.
	Initialize(ctx context.Context, req InitializeRequest) (InitializeResponse, error)

	// NewUser creates a user with the password or key chosen by the host.
	NewUser(ctx context.Context, req NewUserRequest) (NewUserResponse, error)

	// UpdateUser changes a user's password, public key and/or expiration.
	UpdateUser(ctx context.Context, req UpdateUserRequest) (UpdateUserResponse, error)

	// DeleteUser removes a user. Deleting a user that does not exist is not an error.
	DeleteUser(ctx context.Context, req DeleteUserRequest) (DeleteUserResponse, error)

	// Type names the database implementation ("postgresql"), for logs and metrics only.
	Type() (string, error)

	// Close releases the database's connections.
	Close() error
}

// PluginVersioner is implemented by databases that report their own semantic version.
type PluginVersioner interface {
	PluginVersion() PluginVersion
}

// PluginVersion is a plugin's self-reported version ("v1.2.3"); empty means none.
type PluginVersion struct {
	Version string
}

// Factory builds a new Database for one connection of a multiplexed plugin. It returns
// interface{} (a Database) to keep OpenBao's signature.
type Factory func() (interface{}, error)

// InitializeRequest carries the connection's configuration to the plugin.
type InitializeRequest struct {
	// Config is the connection configuration written by the operator.
	Config map[string]interface{}
	// VerifyConnection asks the plugin to connect now and fail if it cannot.
	VerifyConnection bool
}

// InitializeResponse returns the configuration the host should store.
type InitializeResponse struct {
	Config map[string]interface{}
}

// CredentialType says which kind of credential a request carries.
type CredentialType int

// Credential types, numbered as on the wire.
const (
	CredentialTypePassword CredentialType = iota
	CredentialTypeRSAPrivateKey
	CredentialTypeClientCertificate
)

// String names the credential type as OpenBao's API does.
func (c CredentialType) String() string {
	switch c {
	case CredentialTypePassword:
		return "password"
	case CredentialTypeRSAPrivateKey:
		return "rsa_private_key"
	case CredentialTypeClientCertificate:
		return "client_certificate"
	default:
		return "unsupported"
	}
}

// UsernameMetadata is what a plugin may use to build a username.
type UsernameMetadata struct {
	DisplayName string
	RoleName    string
}

// Statements is a list of commands the plugin runs, after template substitution.
type Statements struct {
	Commands []string
}

// NewUserRequest asks the plugin to create a user.
type NewUserRequest struct {
	UsernameConfig     UsernameMetadata
	CredentialType     CredentialType
	Password           string
	PublicKey          []byte
	Subject            string
	Expiration         time.Time
	Statements         Statements
	RollbackStatements Statements
}

// NewUserResponse names the user the plugin created.
type NewUserResponse struct {
	Username string
}

// UpdateUserRequest changes one user; a nil part is left alone.
type UpdateUserRequest struct {
	Username       string
	CredentialType CredentialType
	Password       *ChangePassword
	PublicKey      *ChangePublicKey
	Expiration     *ChangeExpiration
}

// ChangePassword sets a new password with the given statements.
type ChangePassword struct {
	NewPassword string
	Statements  Statements
}

// ChangePublicKey sets a new public key with the given statements.
type ChangePublicKey struct {
	NewPublicKey []byte
	Statements   Statements
}

// ChangeExpiration moves a user's expiration with the given statements.
type ChangeExpiration struct {
	NewExpiration time.Time
	Statements    Statements
}

// UpdateUserResponse is empty on the wire.
type UpdateUserResponse struct{}

// DeleteUserRequest asks the plugin to remove a user.
type DeleteUserRequest struct {
	Username   string
	Statements Statements
}

// DeleteUserResponse is empty on the wire.
type DeleteUserResponse struct{}
