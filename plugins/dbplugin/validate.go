package dbplugin

import (
	"errors"
	"fmt"
)

// ErrInvalidRequest marks a request refused before it reached the database: the host checks
// before sending (an OpenBao plugin does not check), the plugin checks again on receipt (an
// OpenBao host may send what Baton's would not). On the wire it is codes.InvalidArgument.
var ErrInvalidRequest = errors.New("invalid database plugin request")

func (r NewUserRequest) validate() error {
	switch r.CredentialType {
	case CredentialTypePassword:
		if r.Password == "" {
			return fmt.Errorf("%w: missing password", ErrInvalidRequest)
		}
	case CredentialTypeRSAPrivateKey:
		if len(r.PublicKey) == 0 {
			return fmt.Errorf("%w: missing public key", ErrInvalidRequest)
		}
	case CredentialTypeClientCertificate:
		if r.Subject == "" {
			return fmt.Errorf("%w: missing certificate subject", ErrInvalidRequest)
		}
	default:
		return fmt.Errorf("%w: unknown credential type %d", ErrInvalidRequest, int(r.CredentialType))
	}
	return nil
}

func (r UpdateUserRequest) validate() error {
	if r.Username == "" {
		return fmt.Errorf("%w: missing username", ErrInvalidRequest)
	}
	hasPassword := r.Password != nil && r.Password.NewPassword != ""
	hasKey := r.PublicKey != nil && len(r.PublicKey.NewPublicKey) > 0
	hasExpiration := r.Expiration != nil && !r.Expiration.NewExpiration.IsZero()
	if !hasPassword && !hasKey && !hasExpiration {
		return fmt.Errorf("%w: update user request has no changes", ErrInvalidRequest)
	}
	return nil
}

func (r DeleteUserRequest) validate() error {
	if r.Username == "" {
		return fmt.Errorf("%w: missing username", ErrInvalidRequest)
	}
	return nil
}
