package dbplugin

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/baton-hq/baton/plugins/dbplugin/proto"
	"github.com/baton-hq/baton/plugins/dbplugin/proto/logical"
	"github.com/baton-hq/baton/plugins/dbplugin/proto/multiplexing"
)

// MultiplexIDKey is the gRPC metadata key naming the connection a multiplexed call is for.
const MultiplexIDKey = "multiplex_id"

// gRPCServer is the plugin side of the Database service. It serves either one database
// (protocol 5) or, with a factory, one database per multiplex id (protocol 6).
type gRPCServer struct {
	pb.UnimplementedDatabaseServer

	single  Database
	factory Factory

	mu        sync.Mutex
	instances map[string]Database
}

var _ pb.DatabaseServer = (*gRPCServer)(nil)

func newSingleServer(db Database) *gRPCServer {
	return &gRPCServer{single: db}
}

func newMultiplexServer(factory Factory) *gRPCServer {
	return &gRPCServer{factory: factory, instances: make(map[string]Database)}
}

// multiplexID reads the one connection id a multiplexed call must carry.
func multiplexID(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	ids := md.Get(MultiplexIDKey)
	switch {
	case len(ids) == 0:
		return "", status.Errorf(codes.InvalidArgument, "multiplexed database plugin: the call carries no %s metadata", MultiplexIDKey)
	case len(ids) > 1:
		return "", status.Errorf(codes.InvalidArgument, "multiplexed database plugin: the call carries %d %s values, want one", len(ids), MultiplexIDKey)
	case ids[0] == "":
		return "", status.Errorf(codes.InvalidArgument, "multiplexed database plugin: empty %s", MultiplexIDKey)
	}
	return ids[0], nil
}

// newDatabase calls the factory and checks that it made a Database: Factory returns
// interface{} to keep OpenBao's signature.
func newDatabase(factory Factory) (Database, error) {
	raw, err := factory()
	if err != nil {
		return nil, fmt.Errorf("database factory: %w", err)
	}
	db, ok := raw.(Database)
	if !ok {
		return nil, fmt.Errorf("database factory returned %T, which is not a dbplugin.Database", raw)
	}
	return db, nil
}

// getOrCreate returns the call's database, creating a multiplexed instance on first use.
// Only Initialize and Type create: OpenBao's host calls one of them first on every connection.
func (s *gRPCServer) getOrCreate(ctx context.Context) (Database, error) {
	if s.single != nil {
		return s.single, nil
	}
	id, err := multiplexID(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if db, ok := s.instances[id]; ok {
		return db, nil
	}
	db, err := newDatabase(s.factory)
	if err != nil {
		return nil, toStatus(err)
	}
	s.instances[id] = db
	return db, nil
}

// get returns the call's existing database.
func (s *gRPCServer) get(ctx context.Context) (Database, error) {
	if s.single != nil {
		return s.single, nil
	}
	id, err := multiplexID(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db, ok := s.instances[id]
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "multiplexed database plugin: no database for this connection: call Initialize first")
	}
	return db, nil
}

// toStatus turns a Database's error into a gRPC status error: a status anywhere in the chain
// keeps its code, context errors get theirs, anything else is Internal. The message is the
// error's full text.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	code := codes.Internal
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

func invalid(err error) error {
	return status.Error(codes.InvalidArgument, err.Error())
}

// Initialize implements pb.DatabaseServer.
func (s *gRPCServer) Initialize(ctx context.Context, req *pb.InitializeRequest) (*pb.InitializeResponse, error) {
	db, err := s.getOrCreate(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := db.Initialize(ctx, initializeRequestFromProto(req))
	if err != nil {
		return nil, toStatus(err)
	}
	out, err := initializeResponseToProto(resp)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "initialize response: %v", err)
	}
	return out, nil
}

// NewUser implements pb.DatabaseServer.
func (s *gRPCServer) NewUser(ctx context.Context, req *pb.NewUserRequest) (*pb.NewUserResponse, error) {
	r, err := newUserRequestFromProto(req)
	if err != nil {
		return nil, invalid(err)
	}
	if err := r.validate(); err != nil {
		return nil, invalid(err)
	}
	db, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := db.NewUser(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.NewUserResponse{Username: resp.Username}, nil
}

// UpdateUser implements pb.DatabaseServer.
func (s *gRPCServer) UpdateUser(ctx context.Context, req *pb.UpdateUserRequest) (*pb.UpdateUserResponse, error) {
	r, err := updateUserRequestFromProto(req)
	if err != nil {
		return nil, invalid(err)
	}
	if err := r.validate(); err != nil {
		return nil, invalid(err)
	}
	db, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := db.UpdateUser(ctx, r); err != nil {
		return nil, toStatus(err)
	}
	return &pb.UpdateUserResponse{}, nil
}

// DeleteUser implements pb.DatabaseServer.
func (s *gRPCServer) DeleteUser(ctx context.Context, req *pb.DeleteUserRequest) (*pb.DeleteUserResponse, error) {
	r := deleteUserRequestFromProto(req)
	if err := r.validate(); err != nil {
		return nil, invalid(err)
	}
	db, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := db.DeleteUser(ctx, r); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteUserResponse{}, nil
}

// Type implements pb.DatabaseServer.
func (s *gRPCServer) Type(ctx context.Context, _ *pb.Empty) (*pb.TypeResponse, error) {
	db, err := s.getOrCreate(ctx)
	if err != nil {
		return nil, err
	}
	t, err := db.Type()
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.TypeResponse{Type: t}, nil
}

// Close implements pb.DatabaseServer. A multiplexed instance is forgotten even when its Close
// fails: a half-closed database must not serve again. Closing an unknown id succeeds, so a
// host may close after the plugin restarted.
func (s *gRPCServer) Close(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	db := s.single
	if db == nil {
		id, err := multiplexID(ctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		db = s.instances[id]
		delete(s.instances, id)
		s.mu.Unlock()
		if db == nil {
			return &pb.Empty{}, nil
		}
	}
	if err := db.Close(); err != nil {
		return nil, toStatus(err)
	}
	return &pb.Empty{}, nil
}

// versionServer answers the version service from a PluginVersioner.
type versionServer struct {
	logical.UnimplementedPluginVersionServer
	v PluginVersioner
}

// Version implements logical.PluginVersionServer.
func (s versionServer) Version(context.Context, *logical.Empty) (*logical.VersionReply, error) {
	return &logical.VersionReply{PluginVersion: s.v.PluginVersion().Version}, nil
}

// multiplexingServer tells the host that this plugin serves many connections.
type multiplexingServer struct {
	multiplexing.UnimplementedPluginMultiplexingServer
}

// MultiplexingSupport implements multiplexing.PluginMultiplexingServer.
func (multiplexingServer) MultiplexingSupport(context.Context, *multiplexing.MultiplexingSupportRequest) (*multiplexing.MultiplexingSupportResponse, error) {
	return &multiplexing.MultiplexingSupportResponse{Supported: true}, nil
}
