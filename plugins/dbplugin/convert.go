package dbplugin

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/baton-hq/baton/plugins/dbplugin/proto"
)

// Conversions between the Go types of this package and their protobuf messages. Both the host
// (client) and the plugin (server) use them, so one function per direction per message keeps
// the two sides symmetric. Validation lives in the server: an OpenBao host or plugin on the
// other end does its own, and the server is where a bad request must be refused anyway.

// mapToStruct carries a configuration map as a google.protobuf.Struct. The map goes through
// JSON, as OpenBao's does, so any JSON-encodable value ([]string, map[string]string,
// json.Number, structs with tags) is accepted, not only the handful structpb knows. Numbers
// come back as float64: a Struct has no integers.
func mapToStruct(m map[string]interface{}) (*structpb.Struct, error) {
	if m == nil {
		return nil, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode config as JSON: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("encode config as protobuf Struct: %w", err)
	}
	return s, nil
}

// structToMap is mapToStruct's inverse; an absent Struct is a nil map.
func structToMap(s *structpb.Struct) map[string]interface{} {
	if s == nil {
		return nil
	}
	return s.AsMap()
}

// timeToProto sends the zero time as an absent timestamp ("no expiration").
func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// timeFromProto reads an absent timestamp, or OpenBao's encoding of the zero time
// (0001-01-01T00:00:00Z), as the zero time. Times come back in UTC.
func timeFromProto(ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, err
	}
	t := ts.AsTime()
	if t.IsZero() {
		return time.Time{}, nil
	}
	return t, nil
}

func statementsToProto(s Statements) *pb.Statements {
	return &pb.Statements{Commands: s.Commands}
}

func statementsFromProto(s *pb.Statements) Statements {
	return Statements{Commands: s.GetCommands()}
}

func initializeRequestToProto(req InitializeRequest) (*pb.InitializeRequest, error) {
	cfg, err := mapToStruct(req.Config)
	if err != nil {
		return nil, err
	}
	return &pb.InitializeRequest{ConfigData: cfg, VerifyConnection: req.VerifyConnection}, nil
}

func initializeRequestFromProto(req *pb.InitializeRequest) InitializeRequest {
	return InitializeRequest{
		Config:           structToMap(req.GetConfigData()),
		VerifyConnection: req.GetVerifyConnection(),
	}
}

func initializeResponseToProto(resp InitializeResponse) (*pb.InitializeResponse, error) {
	cfg, err := mapToStruct(resp.Config)
	if err != nil {
		return nil, err
	}
	return &pb.InitializeResponse{ConfigData: cfg}, nil
}

func initializeResponseFromProto(resp *pb.InitializeResponse) InitializeResponse {
	return InitializeResponse{Config: structToMap(resp.GetConfigData())}
}

func newUserRequestToProto(req NewUserRequest) *pb.NewUserRequest {
	return &pb.NewUserRequest{
		UsernameConfig: &pb.UsernameConfig{
			DisplayName: req.UsernameConfig.DisplayName,
			RoleName:    req.UsernameConfig.RoleName,
		},
		Password:           req.Password,
		Expiration:         timeToProto(req.Expiration),
		Statements:         statementsToProto(req.Statements),
		RollbackStatements: statementsToProto(req.RollbackStatements),
		CredentialType:     int32(req.CredentialType),
		PublicKey:          req.PublicKey,
		Subject:            req.Subject,
	}
}

func newUserRequestFromProto(req *pb.NewUserRequest) (NewUserRequest, error) {
	exp, err := timeFromProto(req.GetExpiration())
	if err != nil {
		return NewUserRequest{}, fmt.Errorf("expiration: %w", err)
	}
	return NewUserRequest{
		UsernameConfig: UsernameMetadata{
			DisplayName: req.GetUsernameConfig().GetDisplayName(),
			RoleName:    req.GetUsernameConfig().GetRoleName(),
		},
		CredentialType:     CredentialType(req.GetCredentialType()),
		Password:           req.GetPassword(),
		PublicKey:          req.GetPublicKey(),
		Subject:            req.GetSubject(),
		Expiration:         exp,
		Statements:         statementsFromProto(req.GetStatements()),
		RollbackStatements: statementsFromProto(req.GetRollbackStatements()),
	}, nil
}

// updateUserRequestToProto leaves out a change that changes nothing (an empty new password or
// key, a zero expiration), as OpenBao's host does, so both kinds of plugin see the same request.
func updateUserRequestToProto(req UpdateUserRequest) *pb.UpdateUserRequest {
	out := &pb.UpdateUserRequest{
		Username:       req.Username,
		CredentialType: int32(req.CredentialType),
	}
	if p := req.Password; p != nil && p.NewPassword != "" {
		out.Password = &pb.ChangePassword{NewPassword: p.NewPassword, Statements: statementsToProto(p.Statements)}
	}
	if k := req.PublicKey; k != nil && len(k.NewPublicKey) > 0 {
		out.PublicKey = &pb.ChangePublicKey{NewPublicKey: k.NewPublicKey, Statements: statementsToProto(k.Statements)}
	}
	if e := req.Expiration; e != nil && !e.NewExpiration.IsZero() {
		out.Expiration = &pb.ChangeExpiration{NewExpiration: timeToProto(e.NewExpiration), Statements: statementsToProto(e.Statements)}
	}
	return out
}

func updateUserRequestFromProto(req *pb.UpdateUserRequest) (UpdateUserRequest, error) {
	out := UpdateUserRequest{
		Username:       req.GetUsername(),
		CredentialType: CredentialType(req.GetCredentialType()),
	}
	if p := req.GetPassword(); p != nil && p.GetNewPassword() != "" {
		out.Password = &ChangePassword{NewPassword: p.GetNewPassword(), Statements: statementsFromProto(p.GetStatements())}
	}
	if k := req.GetPublicKey(); k != nil && len(k.GetNewPublicKey()) > 0 {
		out.PublicKey = &ChangePublicKey{NewPublicKey: k.GetNewPublicKey(), Statements: statementsFromProto(k.GetStatements())}
	}
	if e := req.GetExpiration(); e != nil {
		exp, err := timeFromProto(e.GetNewExpiration())
		if err != nil {
			return UpdateUserRequest{}, fmt.Errorf("new expiration: %w", err)
		}
		if !exp.IsZero() {
			out.Expiration = &ChangeExpiration{NewExpiration: exp, Statements: statementsFromProto(e.GetStatements())}
		}
	}
	return out, nil
}

func deleteUserRequestToProto(req DeleteUserRequest) *pb.DeleteUserRequest {
	return &pb.DeleteUserRequest{Username: req.Username, Statements: statementsToProto(req.Statements)}
}

func deleteUserRequestFromProto(req *pb.DeleteUserRequest) DeleteUserRequest {
	return DeleteUserRequest{Username: req.GetUsername(), Statements: statementsFromProto(req.GetStatements())}
}
