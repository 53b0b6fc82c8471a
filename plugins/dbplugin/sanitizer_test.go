package dbplugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSanitizerEveryMethod(t *testing.T) {
	const root, url = "r00t-pass", "postgres://admin:r00t-pass@db:5432/app"
	secrets := func() map[string]string {
		return map[string]string{root: "[password]", url: "[connection_url]", "admin": "[username]"}
	}
	sentinel := errors.New("sentinel")
	tests := []struct {
		name     string
		err      error
		want     string
		wantMsg  string     // the status message, when a status
		wantCode codes.Code // codes.Unknown: not a status
		wantIs   error
	}{
		{
			name:     "plain error",
			err:      fmt.Errorf("connect %s: password %s rejected: %w", url, root, sentinel),
			want:     "connect [connection_url]: password [password] rejected: sentinel",
			wantCode: codes.Unknown,
			wantIs:   sentinel,
		},
		{
			name:     "status keeps code",
			err:      status.Errorf(codes.PermissionDenied, "user admin with %s denied", root),
			want:     "rpc error: code = PermissionDenied desc = user [username] with [password] denied",
			wantMsg:  "user [username] with [password] denied",
			wantCode: codes.PermissionDenied,
		},
		{
			name:     "context error stays matchable",
			err:      fmt.Errorf("as admin: %w", context.DeadlineExceeded),
			want:     "as [username]: context deadline exceeded",
			wantCode: codes.Unknown,
			wantIs:   context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := NewDatabaseErrorSanitizerMiddleware(&memDB{failWith: tt.err}, secrets)
			calls := map[string]func() error{
				"Initialize": func() error { _, err := db.Initialize(ctx, InitializeRequest{}); return err },
				"NewUser":    func() error { _, err := db.NewUser(ctx, NewUserRequest{}); return err },
				"UpdateUser": func() error { _, err := db.UpdateUser(ctx, UpdateUserRequest{}); return err },
				"DeleteUser": func() error { _, err := db.DeleteUser(ctx, DeleteUserRequest{}); return err },
				"Type":       func() error { _, err := db.Type(); return err },
				"Close":      db.Close,
			}
			for method, call := range calls {
				err := call()
				if err == nil || err.Error() != tt.want {
					t.Errorf("%s: error %q, want %q", method, err, tt.want)
					continue
				}
				if got := status.Code(err); got != tt.wantCode {
					t.Errorf("%s: code %v, want %v", method, got, tt.wantCode)
				}
				if tt.wantMsg != "" && status.Convert(err).Message() != tt.wantMsg {
					t.Errorf("%s: status message %q, want %q", method, status.Convert(err).Message(), tt.wantMsg)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("%s: errors.Is(%v) false", method, tt.wantIs)
				}
				for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
					if strings.Contains(u.Error(), root) {
						t.Errorf("%s: the raw error is reachable through Unwrap", method)
					}
				}
			}
		})
	}
}

func TestSanitizerOverGRPC(t *testing.T) {
	// Through the plugin's server the redacted status reaches the host with its code.
	ctx := testContext(t)
	inner := &memDB{failWith: status.Error(codes.FailedPrecondition, "password hunter2 expired")}
	db := NewDatabaseErrorSanitizerMiddleware(inner, func() map[string]string { return map[string]string{"hunter2": "[password]"} })
	c, _ := connect(t, singlePlugin(db))
	_, err := c.Database("").Initialize(ctx, InitializeRequest{})
	if status.Code(err) != codes.FailedPrecondition || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "password [password] expired") {
		t.Errorf("err = %v (code %v), want FailedPrecondition with the secret replaced", err, status.Code(err))
	}
	// A plain error becomes Internal, redacted.
	inner.failWith = errors.New("hunter2 is wrong")
	_, err = c.Database("").Initialize(ctx, InitializeRequest{})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v (code %v), want Internal with the secret replaced", err, status.Code(err))
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		secrets map[string]string
		want    string
	}{
		{"none", "nothing here", nil, "nothing here"},
		{"empty key ignored", "abc", map[string]string{"": "[x]"}, "abc"},
		{"every occurrence", "pw pw pw", map[string]string{"pw": "[p]"}, "[p] [p] [p]"},
		{"longer secret first", "user=alice password=alice123", map[string]string{"alice": "[u]", "alice123": "[p]"}, "user=[u] password=[p]"},
		{"placeholder not rewritten", "s", map[string]string{"s": "[pass]", "pass": "[x]"}, "[pass]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact(tt.text, tt.secrets); got != tt.want {
				t.Errorf("redact(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestSanitizerVersioner(t *testing.T) {
	none := func() map[string]string { return nil }
	if _, ok := NewDatabaseErrorSanitizerMiddleware(&memDB{}, none).(PluginVersioner); ok {
		t.Error("sanitized plain database claims a version")
	}
	v, ok := NewDatabaseErrorSanitizerMiddleware(versionedMemDB{&memDB{}}, none).(PluginVersioner)
	if !ok || v.PluginVersion().Version != testVersion {
		t.Errorf("sanitized versioned database: versioner %v", ok)
	}
	// A nil secrets func is tolerated.
	if err := NewDatabaseErrorSanitizerMiddleware(&memDB{failWith: errors.New("x")}, nil).Close(); err == nil || err.Error() != "x" {
		t.Errorf("nil secrets: %v", err)
	}
}
