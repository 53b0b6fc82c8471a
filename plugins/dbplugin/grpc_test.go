package dbplugin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/baton-hq/baton/plugins/dbplugin/proto"
	"github.com/baton-hq/baton/plugins/dbplugin/proto/logical"
)

// connect serves p over go-plugin's in-process gRPC pair (a real gRPC server on a unix
// socket) and dispenses the host-side Client.
func connect(t *testing.T, p *databasePlugin) (*Client, *grpc.ClientConn) {
	t.Helper()
	gc, gs := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{PluginName: p})
	t.Cleanup(func() {
		// Server first: gc.Close's Shutdown call would otherwise stop the server from a
		// handler goroutine, racing with gs.Stop.
		gs.Stop()
		_ = gc.Close()
	})
	raw, err := gc.Dispense(PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	c, ok := raw.(*Client)
	if !ok {
		t.Fatalf("dispensed %T, want *Client", raw)
	}
	return c, gc.Conn
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRoundTrip(t *testing.T) {
	exp := time.Date(2031, 2, 3, 4, 5, 6, 789, time.UTC)
	stmts := func(s ...string) Statements { return Statements{Commands: s} }
	config := map[string]any{
		"connection_url": "postgres://{{username}}:{{password}}@db/app",
		"max_open":       float64(4),
		"verify":         true,
		"nested":         map[string]any{"list": []any{"a", float64(1), nil}},
	}
	tests := []struct {
		name     string
		call     func(ctx context.Context, db Database) (any, error)
		wantReq  any
		wantResp any
	}{
		{
			name: "initialize",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.Initialize(ctx, InitializeRequest{Config: config, VerifyConnection: true})
			},
			wantReq: InitializeRequest{Config: config, VerifyConnection: true},
			wantResp: InitializeResponse{Config: map[string]any{
				"connection_url": config["connection_url"], "max_open": float64(4), "verify": true,
				"nested": config["nested"], "initialized": true,
			}},
		},
		{
			name: "initialize nil config",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.Initialize(ctx, InitializeRequest{})
			},
			wantReq:  InitializeRequest{},
			wantResp: InitializeResponse{Config: map[string]any{"initialized": true}},
		},
		{
			name: "new user password",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.NewUser(ctx, NewUserRequest{
					UsernameConfig:     UsernameMetadata{DisplayName: "token", RoleName: "ro"},
					CredentialType:     CredentialTypePassword,
					Password:           "s3cret",
					Expiration:         exp,
					Statements:         stmts("CREATE ROLE x", "GRANT y"),
					RollbackStatements: stmts("DROP ROLE x"),
				})
			},
			wantReq: NewUserRequest{
				UsernameConfig:     UsernameMetadata{DisplayName: "token", RoleName: "ro"},
				CredentialType:     CredentialTypePassword,
				Password:           "s3cret",
				Expiration:         exp,
				Statements:         stmts("CREATE ROLE x", "GRANT y"),
				RollbackStatements: stmts("DROP ROLE x"),
			},
			wantResp: NewUserResponse{Username: "v-ro-token"},
		},
		{
			name: "new user rsa key, no expiration",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.NewUser(ctx, NewUserRequest{
					UsernameConfig: UsernameMetadata{RoleName: "k"},
					CredentialType: CredentialTypeRSAPrivateKey,
					PublicKey:      []byte("ssh-rsa AAAA"),
				})
			},
			wantReq: NewUserRequest{
				UsernameConfig: UsernameMetadata{RoleName: "k"},
				CredentialType: CredentialTypeRSAPrivateKey,
				PublicKey:      []byte("ssh-rsa AAAA"),
			},
			wantResp: NewUserResponse{Username: "v-k-"},
		},
		{
			name: "new user client certificate",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.NewUser(ctx, NewUserRequest{
					UsernameConfig: UsernameMetadata{DisplayName: "d", RoleName: "c"},
					CredentialType: CredentialTypeClientCertificate,
					Subject:        "CN=app",
					Expiration:     exp,
				})
			},
			wantReq: NewUserRequest{
				UsernameConfig: UsernameMetadata{DisplayName: "d", RoleName: "c"},
				CredentialType: CredentialTypeClientCertificate,
				Subject:        "CN=app",
				Expiration:     exp,
			},
			wantResp: NewUserResponse{Username: "v-c-d"},
		},
		{
			name: "update user everything",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.UpdateUser(ctx, UpdateUserRequest{
					Username:       "alice",
					CredentialType: CredentialTypeRSAPrivateKey,
					Password:       &ChangePassword{NewPassword: "n3w", Statements: stmts("ALTER ROLE")},
					PublicKey:      &ChangePublicKey{NewPublicKey: []byte("key"), Statements: stmts("K1", "K2")},
					Expiration:     &ChangeExpiration{NewExpiration: exp, Statements: stmts("VALID UNTIL")},
				})
			},
			wantReq: UpdateUserRequest{
				Username:       "alice",
				CredentialType: CredentialTypeRSAPrivateKey,
				Password:       &ChangePassword{NewPassword: "n3w", Statements: stmts("ALTER ROLE")},
				PublicKey:      &ChangePublicKey{NewPublicKey: []byte("key"), Statements: stmts("K1", "K2")},
				Expiration:     &ChangeExpiration{NewExpiration: exp, Statements: stmts("VALID UNTIL")},
			},
			wantResp: UpdateUserResponse{},
		},
		{
			name: "update user drops empty changes",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.UpdateUser(ctx, UpdateUserRequest{
					Username:   "bob",
					Password:   &ChangePassword{NewPassword: "p"},
					PublicKey:  &ChangePublicKey{Statements: stmts("ignored")},
					Expiration: &ChangeExpiration{Statements: stmts("ignored")},
				})
			},
			wantReq:  UpdateUserRequest{Username: "bob", Password: &ChangePassword{NewPassword: "p"}},
			wantResp: UpdateUserResponse{},
		},
		{
			name: "update user expiration only",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.UpdateUser(ctx, UpdateUserRequest{
					Username:   "carol",
					Expiration: &ChangeExpiration{NewExpiration: exp},
				})
			},
			wantReq:  UpdateUserRequest{Username: "carol", Expiration: &ChangeExpiration{NewExpiration: exp}},
			wantResp: UpdateUserResponse{},
		},
		{
			name: "delete user",
			call: func(ctx context.Context, db Database) (any, error) {
				return db.DeleteUser(ctx, DeleteUserRequest{Username: "dave", Statements: stmts("DROP ROLE dave")})
			},
			wantReq:  DeleteUserRequest{Username: "dave", Statements: stmts("DROP ROLE dave")},
			wantResp: DeleteUserResponse{},
		},
		{
			name: "type",
			call: func(_ context.Context, db Database) (any, error) {
				typ, err := db.Type()
				return typ, err
			},
			wantReq:  "Type",
			wantResp: "memdb",
		},
		{
			name:     "close",
			call:     func(_ context.Context, db Database) (any, error) { return nil, db.Close() },
			wantReq:  "Close",
			wantResp: nil,
		},
	}
	for _, multiplexed := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/multiplexed=%v", tt.name, multiplexed), func(t *testing.T) {
				ctx := testContext(t)
				mem := &memDB{}
				p := singlePlugin(mem)
				if multiplexed {
					p = &databasePlugin{factory: func() (interface{}, error) { return mem, nil }}
				}
				c, _ := connect(t, p)
				if c.Multiplexed() != multiplexed {
					t.Fatalf("Multiplexed() = %v, want %v", c.Multiplexed(), multiplexed)
				}
				db := c.Database("conn-1")
				if multiplexed {
					// A multiplexed instance exists only after Initialize or Type.
					if _, err := db.Type(); err != nil {
						t.Fatalf("Type: %v", err)
					}
				}
				got, err := tt.call(ctx, db)
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				if !reflect.DeepEqual(got, tt.wantResp) {
					t.Errorf("response = %#v, want %#v", got, tt.wantResp)
				}
				if req := mem.lastRequest(); !reflect.DeepEqual(req, tt.wantReq) {
					t.Errorf("plugin received %#v, want %#v", req, tt.wantReq)
				}
			})
		}
	}
}

func TestErrorsKeepCodeAndMessage(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
	}{
		{"plain error becomes Internal", errors.New("relation does not exist"), codes.Internal, "relation does not exist"},
		{"status keeps its code", status.Error(codes.NotFound, "no such role"), codes.NotFound, "no such role"},
		{"wrapped status keeps its code", fmt.Errorf("create: %w", status.Error(codes.PermissionDenied, "denied")), codes.PermissionDenied, "create: rpc error: code = PermissionDenied desc = denied"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "query: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			mem := &memDB{failWith: tt.err}
			c, _ := connect(t, singlePlugin(mem))
			db := c.Database("")
			calls := map[string]func() error{
				"Initialize": func() error { _, err := db.Initialize(ctx, InitializeRequest{}); return err },
				"NewUser": func() error {
					_, err := db.NewUser(ctx, NewUserRequest{Password: "p"})
					return err
				},
				"UpdateUser": func() error {
					_, err := db.UpdateUser(ctx, UpdateUserRequest{Username: "u", Password: &ChangePassword{NewPassword: "p"}})
					return err
				},
				"DeleteUser": func() error { _, err := db.DeleteUser(ctx, DeleteUserRequest{Username: "u"}); return err },
				"Type":       func() error { _, err := db.Type(); return err },
				"Close":      db.Close,
			}
			for method, call := range calls {
				err := call()
				var ce *CallError
				if !errors.As(err, &ce) {
					t.Fatalf("%s: error %T %v, want *CallError", method, err, err)
				}
				if ce.Method != method || status.Code(err) != tt.wantCode || ce.Status.Message() != tt.wantMsg {
					t.Errorf("%s: got method %q code %v message %q; want %q %v %q", method, ce.Method, status.Code(err), ce.Status.Message(), method, tt.wantCode, tt.wantMsg)
				}
				if want := "database plugin " + method + ": " + tt.wantMsg; err.Error() != want {
					t.Errorf("%s: Error() = %q, want %q", method, err.Error(), want)
				}
				if IsUnavailable(err) {
					t.Errorf("%s: IsUnavailable true for a database error", method)
				}
			}
		})
	}
}

func TestValidation(t *testing.T) {
	ctx := testContext(t)
	c, cc := connect(t, singlePlugin(&memDB{}))
	db := c.Database("")
	raw := pb.NewDatabaseClient(cc)

	hostSide := []struct {
		name string
		call func() error
	}{
		{"password missing", func() error { _, err := db.NewUser(ctx, NewUserRequest{}); return err }},
		{"public key missing", func() error {
			_, err := db.NewUser(ctx, NewUserRequest{CredentialType: CredentialTypeRSAPrivateKey})
			return err
		}},
		{"subject missing", func() error {
			_, err := db.NewUser(ctx, NewUserRequest{CredentialType: CredentialTypeClientCertificate})
			return err
		}},
		{"unknown credential type", func() error {
			_, err := db.NewUser(ctx, NewUserRequest{CredentialType: 7, Password: "p"})
			return err
		}},
		{"update without username", func() error {
			_, err := db.UpdateUser(ctx, UpdateUserRequest{Password: &ChangePassword{NewPassword: "p"}})
			return err
		}},
		{"update without change", func() error { _, err := db.UpdateUser(ctx, UpdateUserRequest{Username: "u"}); return err }},
		{"delete without username", func() error { _, err := db.DeleteUser(ctx, DeleteUserRequest{}); return err }},
	}
	for _, tt := range hostSide {
		if err := tt.call(); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("host side, %s: err = %v, want ErrInvalidRequest", tt.name, err)
		}
	}

	// What an OpenBao host might send: the plugin refuses it itself.
	pluginSide := []struct {
		name string
		call func() error
	}{
		{"password missing", func() error { _, err := raw.NewUser(ctx, &pb.NewUserRequest{}); return err }},
		{"update without change", func() error {
			_, err := raw.UpdateUser(ctx, &pb.UpdateUserRequest{Username: "u", Password: &pb.ChangePassword{}})
			return err
		}},
		{"delete without username", func() error { _, err := raw.DeleteUser(ctx, &pb.DeleteUserRequest{}); return err }},
	}
	for _, tt := range pluginSide {
		if err := tt.call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("plugin side, %s: err = %v, want InvalidArgument", tt.name, err)
		}
	}
}

func TestMultiplexedInstances(t *testing.T) {
	ctx := testContext(t)
	f := &memFactory{}
	c, cc := connect(t, &databasePlugin{factory: f.New})
	if !c.Multiplexed() {
		t.Fatal("Multiplexed() = false for a factory plugin")
	}
	a, b := c.Database("a"), c.Database("b")
	if _, err := a.Initialize(ctx, InitializeRequest{Config: map[string]any{"db": "A"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Initialize(ctx, InitializeRequest{Config: map[string]any{"db": "B"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Initialize(ctx, InitializeRequest{Config: map[string]any{"db": "A2"}}); err != nil {
		t.Fatal(err)
	}
	made := f.products()
	if len(made) != 2 {
		t.Fatalf("factory made %d databases for two ids, want 2", len(made))
	}
	if got := made[0].initializedWith()["db"]; got != "A2" {
		t.Errorf("first instance config db = %v, want A2", got)
	}
	if got := made[1].initializedWith()["db"]; got != "B" {
		t.Errorf("second instance config db = %v, want B", got)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !made[0].isClosed() || made[1].isClosed() {
		t.Fatalf("closed = %v, %v; want true, false", made[0].isClosed(), made[1].isClosed())
	}
	// Forgotten: a user call on a closed id is refused, a second Close is harmless, and the
	// next Type makes a fresh instance.
	_, err := a.NewUser(ctx, NewUserRequest{Password: "p"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("NewUser after Close: %v, want FailedPrecondition", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := a.Type(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.products()); n != 3 {
		t.Errorf("factory made %d databases after re-use of a closed id, want 3", n)
	}
	if _, err := b.NewUser(ctx, NewUserRequest{Password: "p"}); err != nil {
		t.Errorf("the other id still works: %v", err)
	}

	raw := pb.NewDatabaseClient(cc)
	refused := []struct {
		name string
		md   metadata.MD
	}{
		{"no id", nil},
		{"two ids", metadata.Pairs(MultiplexIDKey, "a", MultiplexIDKey, "b")},
		{"empty id", metadata.Pairs(MultiplexIDKey, "")},
	}
	for _, tt := range refused {
		callCtx := metadata.NewOutgoingContext(ctx, tt.md)
		_, errInit := raw.Initialize(callCtx, &pb.InitializeRequest{})
		_, errType := raw.Type(callCtx, &pb.Empty{})
		_, errClose := raw.Close(callCtx, &pb.Empty{})
		for _, err := range []error{errInit, errType, errClose} {
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s: err = %v, want InvalidArgument", tt.name, err)
			}
		}
	}
	if n := len(f.products()); n != 3 {
		t.Errorf("refused calls made databases: %d, want 3", n)
	}
}

func TestVersionService(t *testing.T) {
	plain := func() Database { return &memDB{} }
	versioned := func() Database { return versionedMemDB{&memDB{}} }
	noSecrets := func() map[string]string { return nil }
	tests := []struct {
		name    string
		p       *databasePlugin
		want    string
		present bool
	}{
		{"plain", singlePlugin(plain()), "", false},
		{"versioned", singlePlugin(versioned()), testVersion, true},
		{"sanitized plain", singlePlugin(NewDatabaseErrorSanitizerMiddleware(plain(), noSecrets)), "", false},
		{"sanitized versioned", singlePlugin(NewDatabaseErrorSanitizerMiddleware(versioned(), noSecrets)), testVersion, true},
	}
	for _, multiplexed := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/multiplexed=%v", tt.name, multiplexed), func(t *testing.T) {
				ctx := testContext(t)
				p := tt.p
				if multiplexed {
					// ServeConfigMultiplex decides from the factory's first product.
					impl := p.impl
					cfg, err := ServeConfigMultiplex(func() (interface{}, error) { return impl, nil })
					if err != nil {
						t.Fatal(err)
					}
					p = cfg.VersionedPlugins[ProtocolMultiplexed][PluginName].(*databasePlugin)
				}
				c, cc := connect(t, p)
				got, err := c.Version(ctx)
				if err != nil || got != tt.want {
					t.Errorf("Version() = %q, %v; want %q, nil", got, err, tt.want)
				}
				_, err = logical.NewPluginVersionClient(cc).Version(ctx, &logical.Empty{})
				if present := status.Code(err) != codes.Unimplemented; present != tt.present {
					t.Errorf("version service registered = %v (err %v), want %v", present, err, tt.present)
				}
			})
		}
	}
}

func TestMultiplexedNeedsPluginSupport(t *testing.T) {
	// A host that negotiated protocol 6 with a plugin lacking the multiplexing service (an
	// old plugin) must not send ids.
	_, cc := connect(t, singlePlugin(&memDB{}))
	c, err := newClient(context.Background(), cc, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Multiplexed() {
		t.Error("Multiplexed() = true without the multiplexing service")
	}
}

func TestServeConfigMultiplexRefusesBadFactory(t *testing.T) {
	if _, err := ServeConfigMultiplex(func() (interface{}, error) { return "not a db", nil }); err == nil {
		t.Error("a factory making a non-Database was accepted")
	}
	boom := errors.New("boom")
	if _, err := ServeConfigMultiplex(func() (interface{}, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("factory error = %v, want it wrapped", err)
	}
}

func BenchmarkNewUserInProcess(b *testing.B) {
	gc, gs := plugin.TestPluginGRPCConn(b, false, map[string]plugin.Plugin{PluginName: singlePlugin(&memDB{})})
	defer func() {
		gs.Stop()
		_ = gc.Close()
	}()
	raw, err := gc.Dispense(PluginName)
	if err != nil {
		b.Fatal(err)
	}
	db := raw.(*Client).Database("")
	ctx := context.Background()
	req := NewUserRequest{Password: "p", UsernameConfig: UsernameMetadata{RoleName: "r"}, Statements: Statements{Commands: []string{"CREATE ROLE x"}}}
	b.ResetTimer()
	for b.Loop() {
		if _, err := db.NewUser(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCallerCancellationIsNotUnavailable(t *testing.T) {
	c, _ := connect(t, singlePlugin(&memDB{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Database("").Initialize(ctx, InitializeRequest{})
	if status.Code(err) != codes.Canceled || IsUnavailable(err) {
		t.Errorf("cancelled call: %v (code %v, unavailable %v); want Canceled, available", err, status.Code(err), IsUnavailable(err))
	}
	if IsUnavailable(nil) || IsUnavailable(errors.New("x")) {
		t.Error("IsUnavailable true for nil or a plain error")
	}
}
