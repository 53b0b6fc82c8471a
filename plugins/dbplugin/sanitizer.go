package dbplugin

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc/status"
)

// NewDatabaseErrorSanitizerMiddleware wraps next so that no error it returns carries a secret:
// each key of secrets() found in an error's text is replaced by its value (a placeholder such
// as "[password]"). secrets is called on every error, so it sees the current root password.
// A gRPC status code and errors.Is matching survive; the raw error is not reachable through
// errors.Unwrap. The result implements PluginVersioner exactly when next does, so Serve
// serves the version service only for a database that has a version.
func NewDatabaseErrorSanitizerMiddleware(next Database, secrets func() map[string]string) Database {
	s := &sanitizer{next: next, secrets: secrets}
	if v, ok := next.(PluginVersioner); ok {
		return &versionedSanitizer{sanitizer: s, v: v}
	}
	return s
}

type sanitizer struct {
	next    Database
	secrets func() map[string]string
}

var _ Database = (*sanitizer)(nil)

type versionedSanitizer struct {
	*sanitizer
	v PluginVersioner
}

var _ PluginVersioner = (*versionedSanitizer)(nil)

// PluginVersion reports the wrapped database's version.
func (s *versionedSanitizer) PluginVersion() PluginVersion { return s.v.PluginVersion() }

func (s *sanitizer) Initialize(ctx context.Context, req InitializeRequest) (InitializeResponse, error) {
	resp, err := s.next.Initialize(ctx, req)
	return resp, s.sanitize(err)
}

func (s *sanitizer) NewUser(ctx context.Context, req NewUserRequest) (NewUserResponse, error) {
	resp, err := s.next.NewUser(ctx, req)
	return resp, s.sanitize(err)
}

func (s *sanitizer) UpdateUser(ctx context.Context, req UpdateUserRequest) (UpdateUserResponse, error) {
	resp, err := s.next.UpdateUser(ctx, req)
	return resp, s.sanitize(err)
}

func (s *sanitizer) DeleteUser(ctx context.Context, req DeleteUserRequest) (DeleteUserResponse, error) {
	resp, err := s.next.DeleteUser(ctx, req)
	return resp, s.sanitize(err)
}

func (s *sanitizer) Type() (string, error) {
	t, err := s.next.Type()
	return t, s.sanitize(err)
}

func (s *sanitizer) Close() error {
	return s.sanitize(s.next.Close())
}

func (s *sanitizer) sanitize(err error) error {
	if err == nil {
		return nil
	}
	var secrets map[string]string
	if s.secrets != nil {
		secrets = s.secrets()
	}
	if st, ok := status.FromError(err); ok {
		clean := status.New(st.Code(), redact(st.Message(), secrets))
		return &sanitizedStatusError{sanitizedError: &sanitizedError{msg: clean.Err().Error(), cause: err}, status: clean}
	}
	return &sanitizedError{msg: redact(err.Error(), secrets), cause: err}
}

// redact replaces every secret in one pass, longest first, so a secret that contains another
// is replaced whole and a placeholder is never itself rewritten.
func redact(text string, secrets map[string]string) string {
	keys := make([]string, 0, len(secrets))
	for k := range secrets {
		if k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return text
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b))
	})
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, secrets[k])
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// sanitizedError is an error whose text has been redacted. It answers errors.Is from the
// original error but does not unwrap to it, which would expose the text.
type sanitizedError struct {
	msg   string
	cause error
}

func (e *sanitizedError) Error() string { return e.msg }

// Is matches what the original error matches (context.Canceled, a plugin's sentinels).
func (e *sanitizedError) Is(target error) bool { return errors.Is(e.cause, target) }

// sanitizedStatusError is a redacted gRPC status error: same code, redacted message.
type sanitizedStatusError struct {
	*sanitizedError
	status *status.Status
}

// GRPCStatus lets status.Code and the plugin's gRPC server keep the original code.
func (e *sanitizedStatusError) GRPCStatus() *status.Status { return e.status }
