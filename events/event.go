// Package events is Baton's event model and its NATS side: the JSON schema of a lifecycle event
// and its validation, an embedded NATS server with JetStream, the durable consumer through which
// the active node takes injected events, the request/reply injection subject, the publisher of
// lifecycle transitions and the subject on which refused events are reported.
//
// Delivery is at least once: JetStream's duplicate window drops an exact re-publish of the same
// event id, but a redelivery (a Nak, an ack lost in an outage, a leadership change) reaches the
// handler again. Applying an event exactly once is the replicated state's job, by event id.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Version is the event schema version this build reads and writes.
const Version = 1

// Limits on an event. They keep one event well below NATS's default payload limit and keep
// subjects, headers and Raft commands small.
const (
	// MaxEventSize is the largest encoded event accepted, in bytes.
	MaxEventSize = 64 << 10
	// MaxIDLen is the longest event id; the id is also the Nats-Msg-Id header.
	MaxIDLen = 128
	// MaxTargetIDLen is the longest target id (a plugin name, mount path, connection or node).
	MaxTargetIDLen = 256
	// MaxSourceLen is the longest submitter label.
	MaxSourceLen = 128
	// MaxParams is the largest number of parameters.
	MaxParams = 32
	// MaxParamKeyLen is the longest parameter name.
	MaxParamKeyLen = 64
	// MaxParamValueLen is the longest parameter value, in bytes.
	MaxParamValueLen = 4 << 10
)

// ErrInvalid is wrapped by every error that says an event does not follow the schema. Such an
// event can never succeed, so it is terminated rather than redelivered.
var ErrInvalid = errors.New("invalid event")

// ValidationError says which field of an event is wrong and why. It wraps ErrInvalid. Reasons
// name fields and limits, never parameter values, which may carry secrets.
type ValidationError struct {
	// Field is the JSON path of the offending field ("target.type", "params.ttl"), empty when
	// the payload as a whole is at fault.
	Field string
	// Reason says what is wrong, for a human.
	Reason string
	// secret marks a refusal because the field holds a secret; the error then also wraps
	// ErrSecret.
	secret bool
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "invalid event: " + e.Reason
	}
	return "invalid event: " + e.Field + ": " + e.Reason
}

// Unwrap lets errors.Is(err, ErrInvalid) hold for every validation error, and
// errors.Is(err, ErrSecret) for one that refuses a secret.
func (e *ValidationError) Unwrap() []error {
	if e.secret {
		return []error{ErrInvalid, ErrSecret}
	}
	return []error{ErrInvalid}
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Kind names a lifecycle event. The values are the event names of the lifecycle machines, so the
// state maps an event to a machine event 1:1.
type Kind string

// Lifecycle event kinds.
const (
	KindStepDown    Kind = "step_down"
	KindSeal        Kind = "seal"
	KindShutdown    Kind = "shutdown"
	KindDisable     Kind = "disable"
	KindReload      Kind = "reload"
	KindConnUpdate  Kind = "conn_update"
	KindConnDelete  Kind = "conn_delete"
	KindConnReset   Kind = "conn_reset"
	KindRootRotate  Kind = "root_rotate"
	KindWALRollback Kind = "wal_rollback"
	KindCrashed     Kind = "crashed"
	KindRequest     Kind = "request"
)

// TargetType says what an event is about.
type TargetType string

// Target types.
const (
	// TargetPlugin is a catalog plugin by name; an event on it concerns every instance of it.
	TargetPlugin TargetType = "plugin"
	// TargetConnection is a database connection (its plugin instance and its config).
	TargetConnection TargetType = "connection"
	// TargetNode is a cluster node by node id.
	TargetNode TargetType = "node"
	// TargetMount is a mount by path.
	TargetMount TargetType = "mount"
)

var targetTypes = []TargetType{TargetPlugin, TargetConnection, TargetNode, TargetMount}

// kindRule is what a kind may be aimed at.
type kindRule struct {
	targets []TargetType
	// untargeted means the event may have no target: it then concerns the whole cluster
	// (step down the active node, seal every node).
	untargeted bool
}

// rules is the schema's table of kinds. Its order is the order Kinds reports.
var rules = []struct {
	kind Kind
	rule kindRule
}{
	{KindStepDown, kindRule{targets: []TargetType{TargetNode}, untargeted: true}},
	{KindSeal, kindRule{targets: []TargetType{TargetNode}, untargeted: true}},
	{KindShutdown, kindRule{targets: []TargetType{TargetNode}, untargeted: true}},
	{KindDisable, kindRule{targets: []TargetType{TargetMount}}},
	{KindReload, kindRule{targets: []TargetType{TargetPlugin, TargetMount}}},
	{KindConnUpdate, kindRule{targets: []TargetType{TargetConnection}}},
	{KindConnDelete, kindRule{targets: []TargetType{TargetConnection}}},
	{KindConnReset, kindRule{targets: []TargetType{TargetConnection}}},
	{KindRootRotate, kindRule{targets: []TargetType{TargetConnection}}},
	{KindWALRollback, kindRule{targets: []TargetType{TargetConnection}}},
	// A plugin instance is a mount or a connection bound to a catalog plugin.
	{KindCrashed, kindRule{targets: []TargetType{TargetPlugin, TargetMount, TargetConnection}}},
	{KindRequest, kindRule{targets: []TargetType{TargetPlugin, TargetMount, TargetConnection}}},
}

func ruleFor(k Kind) (kindRule, bool) {
	for _, r := range rules {
		if r.kind == k {
			return r.rule, true
		}
	}
	return kindRule{}, false
}

// Kinds lists every known kind, in a stable order.
func Kinds() []Kind {
	out := make([]Kind, len(rules))
	for i, r := range rules {
		out[i] = r.kind
	}
	return out
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	_, ok := ruleFor(k)
	return ok
}

// Target is what an event is about. The zero Target means none.
type Target struct {
	Type TargetType `json:"type"`
	ID   string     `json:"id"`
}

// IsZero reports whether the target is absent.
func (t Target) IsZero() bool { return t.Type == "" && t.ID == "" }

// Event is one lifecycle event as submitted over NATS.
type Event struct {
	// V is the schema version; it must be Version.
	V int `json:"v"`
	// ID is chosen by the submitter and unique per intended change: a resubmission with the
	// same id is the same event and is applied once.
	ID string `json:"id"`
	// Kind selects the lifecycle event.
	Kind Kind `json:"kind"`
	// Target is what the event is about; some kinds allow none.
	Target Target `json:"target,omitzero"`
	// Params are kind-specific arguments. They may carry secrets and are never logged.
	Params map[string]string `json:"params,omitempty"`
	// Source labels the submitter (a script, an operator), for the record.
	Source string `json:"source,omitempty"`
	// Time is when the submitter made the event. It is informational only: the leader stamps
	// the command with its own clock.
	Time time.Time `json:"time,omitzero"`
}

// Decode parses and validates one encoded event. It refuses payloads over MaxEventSize, unknown
// fields and trailing data, so that a typo in a field name is an error rather than a silently
// missing value. Every error is a *ValidationError.
func Decode(data []byte) (Event, error) {
	if len(data) > MaxEventSize {
		return Event{}, invalid("", "payload of %d bytes exceeds the %d-byte limit", len(data), MaxEventSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ev Event
	if err := dec.Decode(&ev); err != nil {
		return Event{}, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, invalid("", "malformed JSON: data after the event object")
	}
	if err := ev.Validate(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// decodeError turns encoding/json's errors into validation errors without echoing values.
func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return invalid("", "malformed JSON: empty payload")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "malformed JSON: unexpected end of payload")
	case errors.As(err, &syn):
		return invalid("", "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return invalid("", "the event must be a JSON object, not %s", typ.Value)
		}
		return invalid(field, "want %s, got %s", jsonTypeName(typ.Type.Kind().String()), typ.Value)
	}
	// time.Time's own decoding errors; Time is the event's only time field.
	var perr *time.ParseError
	if errors.As(err, &perr) || strings.Contains(err.Error(), "Time.UnmarshalJSON") {
		return invalid("time", "want an RFC 3339 time string")
	}
	// encoding/json reports unknown fields only as text: `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return invalid(strings.Trim(name, `"`), "unknown field")
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	return invalid("", "malformed JSON: %v", err)
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64":
		return "an integer"
	case "map", "struct":
		return "an object"
	}
	return goKind
}

// Validate checks an event against the schema. The first failing rule is reported.
func (e Event) Validate() error {
	if e.V != Version {
		if e.V == 0 {
			return invalid("v", "missing version (this build reads %d)", Version)
		}
		return invalid("v", "unknown version %d (this build reads %d)", e.V, Version)
	}
	if err := validateID(e.ID); err != nil {
		return err
	}
	rule, ok := ruleFor(e.Kind)
	if !ok {
		if e.Kind == "" {
			return invalid("kind", "missing kind (known: %s)", knownKinds())
		}
		return invalid("kind", "unknown kind %q (known: %s)", clip(string(e.Kind), 64), knownKinds())
	}
	if err := validateTarget(e.Kind, rule, e.Target); err != nil {
		return err
	}
	if err := validateParams(e.Params); err != nil {
		return err
	}
	if err := checkParams(e.Kind, e.Params); err != nil {
		return err
	}
	if len(e.Source) > MaxSourceLen {
		return invalid("source", "%d bytes exceeds the %d-byte limit", len(e.Source), MaxSourceLen)
	}
	if !printable(e.Source) {
		return invalid("source", "must be printable UTF-8")
	}
	return nil
}

func validateID(id string) error {
	switch {
	case id == "":
		return invalid("id", "missing id")
	case len(id) > MaxIDLen:
		return invalid("id", "%d bytes exceeds the %d-byte limit", len(id), MaxIDLen)
	}
	for i, r := range id {
		if !idChar(r) {
			return invalid("id", "character %q at byte %d not allowed (letters, digits, '-', '_', '.', ':')", r, i)
		}
	}
	return nil
}

func idChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '-' || r == '_' || r == '.' || r == ':'
}

func validateTarget(k Kind, rule kindRule, t Target) error {
	if t.IsZero() {
		if rule.untargeted {
			return nil
		}
		return invalid("target", "kind %s needs a target of type %s", k, joinTypes(rule.targets))
	}
	if t.Type == "" {
		return invalid("target.type", "missing target type (known: %s)", joinTypes(targetTypes))
	}
	if !slices.Contains(targetTypes, t.Type) {
		return invalid("target.type", "unknown target type %q (known: %s)", clip(string(t.Type), 64), joinTypes(targetTypes))
	}
	if !slices.Contains(rule.targets, t.Type) {
		allowed := joinTypes(rule.targets)
		if rule.untargeted {
			allowed += " or no target"
		}
		return invalid("target.type", "kind %s cannot target a %s (allowed: %s)", k, t.Type, allowed)
	}
	switch {
	case t.ID == "":
		return invalid("target.id", "missing target id")
	case len(t.ID) > MaxTargetIDLen:
		return invalid("target.id", "%d bytes exceeds the %d-byte limit", len(t.ID), MaxTargetIDLen)
	case !printable(t.ID) || strings.ContainsFunc(t.ID, unicode.IsSpace):
		return invalid("target.id", "must be printable UTF-8 without spaces")
	}
	return nil
}

func validateParams(p map[string]string) error {
	if len(p) > MaxParams {
		return invalid("params", "%d parameters exceeds the limit of %d", len(p), MaxParams)
	}
	// Sorted so that the reported parameter does not depend on map order.
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" {
			return invalid("params", "empty parameter name")
		}
		if len(k) > MaxParamKeyLen {
			return invalid("params", "parameter name of %d bytes exceeds the %d-byte limit", len(k), MaxParamKeyLen)
		}
		if strings.IndexFunc(k, func(r rune) bool { return !idChar(r) }) >= 0 {
			return invalid("params", "parameter name %q: only letters, digits, '-', '_', '.', ':' allowed", clip(k, MaxParamKeyLen))
		}
		if v := p[k]; len(v) > MaxParamValueLen {
			return invalid("params."+k, "value of %d bytes exceeds the %d-byte limit", len(v), MaxParamValueLen)
		}
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func knownKinds() string {
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = string(r.kind)
	}
	return strings.Join(names, ", ")
}

func joinTypes(ts []TargetType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// clip bounds a submitter-controlled string echoed in an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Encode marshals an event after validating it, so that nothing this package publishes would be
// refused by Decode.
func Encode(e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", e.ID, err)
	}
	if len(b) > MaxEventSize {
		return nil, invalid("", "payload of %d bytes exceeds the %d-byte limit", len(b), MaxEventSize)
	}
	return b, nil
}
