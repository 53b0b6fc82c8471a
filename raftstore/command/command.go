// Package command is the leaf codec for everything Baton proposes to Raft: a typed, versioned
// envelope carrying a unique id (so a redelivered event or a retried Apply is applied once),
// the source of the change and a time settled on the leader before proposing (so that Apply
// never reads a clock).
package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the envelope version this build writes. Decode accepts versions up to it.
const Version = 1

// Type names what a command does; the state looks its handler up by it.
type Type string

// Source says where a change came from.
type Source string

// Sources of changes.
const (
	SourceAPI      Source = "api"
	SourceNATS     Source = "nats"
	SourceInternal Source = "internal"
)

// ErrUnsupportedVersion is returned by Decode for an envelope newer than this build.
var ErrUnsupportedVersion = errors.New("command: unsupported envelope version")

// ErrMalformed is returned by Decode for bytes that are not an envelope.
var ErrMalformed = errors.New("command: malformed envelope")

// Command is one replicated change.
type Command struct {
	// V is the envelope version.
	V int `json:"v"`
	// ID is unique per change; a command whose id was applied already is a no-op.
	ID string `json:"id"`
	// Type selects the handler.
	Type Type `json:"type"`
	// Source records who asked for the change.
	Source Source `json:"source,omitempty"`
	// Time is the leader's clock when the command was proposed.
	Time time.Time `json:"time"`
	// Payload is the type-specific body.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// New builds a command with its payload encoded as JSON.
func New(typ Type, id string, source Source, at time.Time, payload any) (*Command, error) {
	if typ == "" {
		return nil, fmt.Errorf("command: empty type")
	}
	if id == "" {
		return nil, fmt.Errorf("command %s: empty id", typ)
	}
	c := &Command{V: Version, ID: id, Type: typ, Source: source, Time: at.UTC()}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("command %s: encode payload: %w", typ, err)
		}
		c.Payload = b
	}
	return c, nil
}

// Decode reads the payload into v.
func (c *Command) Decode(v any) error {
	if len(c.Payload) == 0 {
		return fmt.Errorf("command %s %s: empty payload", c.Type, c.ID)
	}
	if err := json.Unmarshal(c.Payload, v); err != nil {
		return fmt.Errorf("command %s %s: decode payload: %w", c.Type, c.ID, err)
	}
	return nil
}

// Marshal encodes a command for the Raft log.
func Marshal(c *Command) ([]byte, error) {
	if c.V == 0 {
		c.V = Version
	}
	return json.Marshal(c)
}

// Unmarshal decodes a command from the Raft log.
func Unmarshal(b []byte) (*Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.V < 1 || c.Type == "" || c.ID == "" {
		return nil, fmt.Errorf("%w: version %d, type %q, id %q", ErrMalformed, c.V, c.Type, c.ID)
	}
	if c.V > Version {
		return nil, fmt.Errorf("%w: %d (this build reads up to %d)", ErrUnsupportedVersion, c.V, Version)
	}
	return &c, nil
}
