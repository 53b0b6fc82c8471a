package dbplugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/baton-hq/baton/plugins/dbplugin/proto"
	"github.com/baton-hq/baton/plugins/dbplugin/proto/logical"
	"github.com/baton-hq/baton/plugins/dbplugin/proto/multiplexing"
)

// CallTimeout bounds the calls whose Database method takes no context (Type and Close) and
// the multiplexing probe made when the plugin is dispensed.
const CallTimeout = 10 * time.Second

// ErrPluginUnavailable matches (errors.Is) a call that failed because the plugin process or
// its connection is gone, not because the database refused: the caller may start a new
// process and retry.
var ErrPluginUnavailable = errors.New("database plugin unavailable")

// PluginSets is what a host gives go-plugin's ClientConfig.VersionedPlugins: protocol 5 (one
// database per process) and 6 (multiplexed). Dispensing PluginName yields a *Client.
func PluginSets() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolSingle:      {PluginName: &databasePlugin{}},
		ProtocolMultiplexed: {PluginName: &databasePlugin{multiplexed: true}},
	}
}

// Client is the host's side of one plugin process's gRPC connection.
type Client struct {
	db          pb.DatabaseClient
	version     logical.PluginVersionClient
	done        context.Context
	multiplexed bool
}

func newClient(done context.Context, cc grpc.ClientConnInterface, v6 bool) (*Client, error) {
	c := &Client{
		db:      pb.NewDatabaseClient(cc),
		version: logical.NewPluginVersionClient(cc),
		done:    done,
	}
	if v6 {
		ok, err := c.multiplexingSupported(multiplexing.NewPluginMultiplexingClient(cc))
		if err != nil {
			return nil, err
		}
		c.multiplexed = ok
	}
	return c, nil
}

// multiplexingSupported asks a protocol 6 plugin whether it multiplexes; a plugin without the
// service (Unimplemented) does not.
func (c *Client) multiplexingSupported(mc multiplexing.PluginMultiplexingClient) (bool, error) {
	ctx, cancel := c.callContext(context.Background(), CallTimeout)
	defer cancel()
	resp, err := mc.MultiplexingSupport(ctx, &multiplexing.MultiplexingSupportRequest{})
	if status.Code(err) == codes.Unimplemented {
		return false, nil
	}
	if err != nil {
		return false, c.callError(context.Background(), "MultiplexingSupport", err)
	}
	return resp.GetSupported(), nil
}

// Multiplexed reports whether the connection negotiated protocol 6 and the plugin confirmed
// it multiplexes: only then do Database ids reach the plugin.
func (c *Client) Multiplexed() bool { return c.multiplexed }

// Done is closed when the plugin process exits (go-plugin cancels the context it gave the
// client). It is nil, so never ready, for connections go-plugin made without a process.
func (c *Client) Done() <-chan struct{} { return c.done.Done() }

// Version returns the plugin's self-reported version; "" when it reports none. The call
// carries no multiplex id: an OpenBao multiplexed plugin makes a database for every id it
// sees, so ask on a connection made for the purpose (metadata mode).
func (c *Client) Version(ctx context.Context) (string, error) {
	callCtx, cancel := c.callContext(ctx, 0)
	defer cancel()
	resp, err := c.version.Version(callCtx, &logical.Empty{})
	if status.Code(err) == codes.Unimplemented {
		return "", nil
	}
	if err != nil {
		return "", c.callError(ctx, "Version", err)
	}
	return resp.GetPluginVersion(), nil
}

// Database returns the database of connection id. On a multiplexed plugin every call carries
// id as multiplex_id metadata (the plugin makes the instance on the first Initialize or Type
// and forgets it on Close); on a protocol 5 plugin id is ignored: the process is the database.
func (c *Client) Database(id string) Database {
	return &remoteDatabase{c: c, id: id}
}

// callContext bounds a call by the plugin's life (and by timeout when positive).
func (c *Client) callContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	var cancel context.CancelFunc
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	stop := context.AfterFunc(c.done, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// CallError is a call the plugin, or the connection to it, failed. It keeps the plugin's
// message and gRPC status: status.Code and status.FromError see it.
type CallError struct {
	// Method is the Database method called ("NewUser").
	Method string
	// Status is the call's gRPC status; codes.Unavailable when the plugin is gone.
	Status *status.Status
}

// Error implements error.
func (e *CallError) Error() string {
	return fmt.Sprintf("database plugin %s: %s", e.Method, e.Status.Message())
}

// GRPCStatus lets status.Code and status.FromError read the plugin's status.
func (e *CallError) GRPCStatus() *status.Status { return e.Status }

// Is makes errors.Is(err, ErrPluginUnavailable) true for a call to a gone plugin.
func (e *CallError) Is(target error) bool {
	return target == ErrPluginUnavailable && e.Status.Code() == codes.Unavailable
}

// IsUnavailable reports whether err says the plugin process or its connection is gone (or the
// plugin itself answered Unavailable), as opposed to a refusal by the database.
func IsUnavailable(err error) bool {
	return err != nil && (errors.Is(err, ErrPluginUnavailable) || status.Code(err) == codes.Unavailable)
}

// callError wraps a failed call. A plugin that exited, or a connection closed under a caller
// that did not cancel (go-plugin's Kill closes it: codes.Canceled), reads as Unavailable.
func (c *Client) callError(callerCtx context.Context, method string, err error) error {
	st := status.Convert(err)
	gone := c.done.Err() != nil || (st.Code() == codes.Canceled && callerCtx.Err() == nil)
	if gone && st.Code() != codes.Unavailable {
		st = status.New(codes.Unavailable, st.Message())
	}
	return &CallError{Method: method, Status: st}
}

// remoteDatabase is a Database served by a plugin process.
type remoteDatabase struct {
	c  *Client
	id string
}

var _ Database = (*remoteDatabase)(nil)

// call runs one RPC with the multiplex id attached and its error wrapped.
func (d *remoteDatabase) call(ctx context.Context, timeout time.Duration, method string, rpc func(context.Context) error) error {
	callCtx, cancel := d.c.callContext(ctx, timeout)
	defer cancel()
	if d.c.multiplexed {
		callCtx = metadata.AppendToOutgoingContext(callCtx, MultiplexIDKey, d.id)
	}
	if err := rpc(callCtx); err != nil {
		return d.c.callError(ctx, method, err)
	}
	return nil
}

func (d *remoteDatabase) Initialize(ctx context.Context, req InitializeRequest) (InitializeResponse, error) {
	in, err := initializeRequestToProto(req)
	if err != nil {
		return InitializeResponse{}, fmt.Errorf("database plugin Initialize: %w", err)
	}
	var out *pb.InitializeResponse
	err = d.call(ctx, 0, "Initialize", func(ctx context.Context) (err error) {
		out, err = d.c.db.Initialize(ctx, in)
		return err
	})
	if err != nil {
		return InitializeResponse{}, err
	}
	return initializeResponseFromProto(out), nil
}

func (d *remoteDatabase) NewUser(ctx context.Context, req NewUserRequest) (NewUserResponse, error) {
	if err := req.validate(); err != nil {
		return NewUserResponse{}, err
	}
	var out *pb.NewUserResponse
	err := d.call(ctx, 0, "NewUser", func(ctx context.Context) (err error) {
		out, err = d.c.db.NewUser(ctx, newUserRequestToProto(req))
		return err
	})
	if err != nil {
		return NewUserResponse{}, err
	}
	return NewUserResponse{Username: out.GetUsername()}, nil
}

func (d *remoteDatabase) UpdateUser(ctx context.Context, req UpdateUserRequest) (UpdateUserResponse, error) {
	if err := req.validate(); err != nil {
		return UpdateUserResponse{}, err
	}
	err := d.call(ctx, 0, "UpdateUser", func(ctx context.Context) error {
		_, err := d.c.db.UpdateUser(ctx, updateUserRequestToProto(req))
		return err
	})
	return UpdateUserResponse{}, err
}

func (d *remoteDatabase) DeleteUser(ctx context.Context, req DeleteUserRequest) (DeleteUserResponse, error) {
	if err := req.validate(); err != nil {
		return DeleteUserResponse{}, err
	}
	err := d.call(ctx, 0, "DeleteUser", func(ctx context.Context) error {
		_, err := d.c.db.DeleteUser(ctx, deleteUserRequestToProto(req))
		return err
	})
	return DeleteUserResponse{}, err
}

func (d *remoteDatabase) Type() (string, error) {
	var out *pb.TypeResponse
	err := d.call(context.Background(), CallTimeout, "Type", func(ctx context.Context) (err error) {
		out, err = d.c.db.Type(ctx, &pb.Empty{})
		return err
	})
	if err != nil {
		return "", err
	}
	return out.GetType(), nil
}

func (d *remoteDatabase) Close() error {
	return d.call(context.Background(), CallTimeout, "Close", func(ctx context.Context) error {
		_, err := d.c.db.Close(ctx, &pb.Empty{})
		return err
	})
}
