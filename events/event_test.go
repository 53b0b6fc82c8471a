package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	valid := func(mut func(*Event)) Event {
		ev := Event{V: Version, ID: "ev-1", Kind: KindConnReset, Target: Target{Type: TargetConnection, ID: "database/config/pg"}}
		if mut != nil {
			mut(&ev)
		}
		return ev
	}
	tests := []struct {
		name   string
		ev     Event
		field  string // "" with ok means valid
		reason string
		ok     bool
	}{
		{name: "valid connection event", ev: valid(nil), ok: true},
		{name: "step_down without target", ev: Event{V: 1, ID: "a", Kind: KindStepDown}, ok: true},
		{name: "seal a node", ev: Event{V: 1, ID: "a", Kind: KindSeal, Target: Target{Type: TargetNode, ID: "node-2"}}, ok: true},
		{name: "reload a mount", ev: Event{V: 1, ID: "a", Kind: KindReload, Target: Target{Type: TargetMount, ID: "database/"}}, ok: true},
		{name: "disable a mount", ev: Event{V: 1, ID: "a", Kind: KindDisable, Target: Target{Type: TargetMount, ID: "db/"}}, ok: true},
		{name: "crashed plugin instance", ev: Event{V: 1, ID: "a", Kind: KindCrashed, Target: Target{Type: TargetConnection, ID: "pg"}}, ok: true},
		{name: "params and source", ev: valid(func(e *Event) {
			e.Kind = KindConnUpdate
			e.Params = map[string]string{"max_open_connections": "4"}
			e.Source = "ops script"
			e.Time = time.Now()
		}), ok: true},
		{name: "uuid id", ev: valid(func(e *Event) { e.ID = "0b6f1c2e-8d1a-4c55-9a7e-3f5d2b1c0a99" }), ok: true},

		{name: "missing version", ev: valid(func(e *Event) { e.V = 0 }), field: "v", reason: "missing version (this build reads 1)"},
		{name: "unknown version", ev: valid(func(e *Event) { e.V = 2 }), field: "v", reason: "unknown version 2 (this build reads 1)"},
		{name: "missing id", ev: valid(func(e *Event) { e.ID = "" }), field: "id", reason: "missing id"},
		{name: "id too long", ev: valid(func(e *Event) { e.ID = strings.Repeat("a", MaxIDLen+1) }), field: "id", reason: "129 bytes exceeds the 128-byte limit"},
		{name: "id with space", ev: valid(func(e *Event) { e.ID = "a b" }), field: "id", reason: `character ' ' at byte 1 not allowed`},
		{name: "id with newline", ev: valid(func(e *Event) { e.ID = "a\nb" }), field: "id", reason: `character '\n' at byte 1 not allowed`},
		{name: "id with wildcard", ev: valid(func(e *Event) { e.ID = "a*" }), field: "id", reason: `character '*' at byte 1`},
		{name: "missing kind", ev: valid(func(e *Event) { e.Kind = "" }), field: "kind", reason: "missing kind (known: step_down, seal, shutdown, disable, reload, conn_update, conn_delete, conn_reset, root_rotate, wal_rollback, crashed, request)"},
		{name: "unknown kind", ev: valid(func(e *Event) { e.Kind = "explode" }), field: "kind", reason: `unknown kind "explode" (known: step_down, seal,`},
		{name: "step_down on a connection", ev: Event{V: 1, ID: "a", Kind: KindStepDown, Target: Target{Type: TargetConnection, ID: "pg"}}, field: "target.type", reason: "kind step_down cannot target a connection (allowed: node or no target)"},
		{name: "seal on a mount", ev: Event{V: 1, ID: "a", Kind: KindSeal, Target: Target{Type: TargetMount, ID: "db/"}}, field: "target.type", reason: "kind seal cannot target a mount (allowed: node or no target)"},
		{name: "conn_update on a plugin", ev: Event{V: 1, ID: "a", Kind: KindConnUpdate, Target: Target{Type: TargetPlugin, ID: "pg"}}, field: "target.type", reason: "kind conn_update cannot target a plugin (allowed: connection)"},
		{name: "conn_delete without target", ev: Event{V: 1, ID: "a", Kind: KindConnDelete}, field: "target", reason: "kind conn_delete needs a target of type connection"},
		{name: "disable a plugin", ev: Event{V: 1, ID: "a", Kind: KindDisable, Target: Target{Type: TargetPlugin, ID: "pg"}}, field: "target.type", reason: "kind disable cannot target a plugin (allowed: mount)"},
		{name: "reload a node", ev: Event{V: 1, ID: "a", Kind: KindReload, Target: Target{Type: TargetNode, ID: "n1"}}, field: "target.type", reason: "kind reload cannot target a node (allowed: plugin, mount)"},
		{name: "root_rotate without target", ev: Event{V: 1, ID: "a", Kind: KindRootRotate}, field: "target", reason: "kind root_rotate needs a target of type connection"},
		{name: "unknown target type", ev: valid(func(e *Event) { e.Target.Type = "galaxy" }), field: "target.type", reason: `unknown target type "galaxy" (known: plugin, connection, node, mount)`},
		{name: "target id without type", ev: valid(func(e *Event) { e.Target.Type = "" }), field: "target.type", reason: "missing target type"},
		{name: "missing target id", ev: valid(func(e *Event) { e.Target.ID = "" }), field: "target.id", reason: "missing target id"},
		{name: "target id too long", ev: valid(func(e *Event) { e.Target.ID = strings.Repeat("x", MaxTargetIDLen+1) }), field: "target.id", reason: "257 bytes exceeds the 256-byte limit"},
		{name: "target id with space", ev: valid(func(e *Event) { e.Target.ID = "my db" }), field: "target.id", reason: "must be printable UTF-8 without spaces"},
		{name: "target id not utf-8", ev: valid(func(e *Event) { e.Target.ID = "\xff" }), field: "target.id", reason: "must be printable UTF-8"},
		{name: "param too large", ev: valid(func(e *Event) { e.Params = map[string]string{"url": strings.Repeat("s", MaxParamValueLen+1)} }), field: "params.url", reason: "value of 4097 bytes exceeds the 4096-byte limit"},
		{name: "too many params", ev: valid(func(e *Event) {
			e.Params = map[string]string{}
			for _, id := range ids("p", MaxParams+1) {
				e.Params[id] = "v"
			}
		}), field: "params", reason: "33 parameters exceeds the limit of 32"},
		{name: "empty param name", ev: valid(func(e *Event) { e.Params = map[string]string{"": "v"} }), field: "params", reason: "empty parameter name"},
		{name: "bad param name", ev: valid(func(e *Event) { e.Params = map[string]string{"a b": "v"} }), field: "params", reason: `parameter name "a b"`},
		{name: "param name too long", ev: valid(func(e *Event) { e.Params = map[string]string{strings.Repeat("k", 65): "v"} }), field: "params", reason: "parameter name of 65 bytes exceeds the 64-byte limit"},
		{name: "source too long", ev: valid(func(e *Event) { e.Source = strings.Repeat("s", MaxSourceLen+1) }), field: "source", reason: "129 bytes exceeds the 128-byte limit"},
		{name: "source with control character", ev: valid(func(e *Event) { e.Source = "a\x1b[31m" }), field: "source", reason: "must be printable UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ev.Validate()
			if tt.ok {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			checkInvalid(t, err, tt.field, tt.reason)
		})
	}
}

// checkInvalid asserts err is a *ValidationError on field whose reason contains reason.
func checkInvalid(t *testing.T, err error, field, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s: %s", field, reason)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not wrap ErrInvalid", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T %v is not a *ValidationError", err, err)
	}
	if ve.Field != field {
		t.Errorf("field = %q, want %q (error: %v)", ve.Field, field, err)
	}
	if !strings.Contains(ve.Reason, reason) {
		t.Errorf("reason = %q, want it to contain %q", ve.Reason, reason)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		field  string
		reason string
	}{
		{name: "malformed JSON", data: `{"v":1,`, reason: "malformed JSON: unexpected end of payload"},
		{name: "syntax error", data: `{"v":1 "id":"a"}`, reason: "malformed JSON at byte 8: invalid character"},
		{name: "empty payload", data: ``, reason: "malformed JSON: empty payload"},
		{name: "not an object", data: `[1,2]`, reason: "the event must be a JSON object, not array"},
		{name: "unknown field", data: `{"v":1,"id":"a","kind":"step_down","targte":{"type":"node","id":"n1"}}`, field: "targte", reason: "unknown field"},
		{name: "unknown nested field", data: `{"v":1,"id":"a","kind":"step_down","target":{"type":"node","id":"n1","name":"x"}}`, field: "name", reason: "unknown field"},
		{name: "wrong type", data: `{"v":"1","id":"a","kind":"step_down"}`, field: "v", reason: "want an integer, got string"},
		{name: "wrong nested type", data: `{"v":1,"id":"a","kind":"step_down","target":{"type":3}}`, field: "target.type", reason: "want a string, got number"},
		{name: "time not a string", data: `{"v":1,"id":"a","kind":"seal","time":5}`, field: "time", reason: "want an RFC 3339 time string"},
		{name: "time not RFC 3339", data: `{"v":1,"id":"a","kind":"seal","time":"yesterday"}`, field: "time", reason: "want an RFC 3339 time string"},
		{name: "param not a string", data: `{"v":1,"id":"a","kind":"seal","params":{"ttl":1}}`, field: "params", reason: "want a string, got number"},
		{name: "trailing data", data: `{"v":1,"id":"a","kind":"step_down"} {}`, reason: "data after the event object"},
		{name: "oversize payload", data: `{"v":1,"id":"a","kind":"step_down","source":"` + strings.Repeat("x", MaxEventSize) + `"}`, reason: "exceeds the 65536-byte limit"},
		{name: "unknown kind", data: `{"v":1,"id":"a","kind":"explode"}`, field: "kind", reason: `unknown kind "explode"`},
		{name: "version 2", data: `{"v":2,"id":"a","kind":"step_down"}`, field: "v", reason: "unknown version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.data))
			checkInvalid(t, err, tt.field, tt.reason)
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	in := Event{
		V: Version, ID: "rt-1", Kind: KindConnUpdate,
		Target: Target{Type: TargetConnection, ID: "database/config/pg"},
		Params: map[string]string{"verify_connection": "false"},
		Source: "ops", Time: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC),
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(%s): %v", b, err)
	}
	if out.ID != in.ID || out.Kind != in.Kind || out.Target != in.Target || out.Source != in.Source ||
		!out.Time.Equal(in.Time) || out.Params["verify_connection"] != "false" {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}

	// Optional fields are left out, so a minimal event stays minimal.
	b, err = Encode(Event{V: Version, ID: "rt-2", Kind: KindStepDown})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if want := `{"v":1,"id":"rt-2","kind":"step_down"}`; string(b) != want {
		t.Fatalf("Encode = %s, want %s", b, want)
	}

	if _, err := Encode(Event{V: Version, ID: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode of an invalid event: %v, want ErrInvalid", err)
	}
}

func TestKinds(t *testing.T) {
	// The names are the lifecycle machines' event names; the state maps them 1:1.
	want := []Kind{"step_down", "seal", "shutdown", "disable", "reload", "conn_update", "conn_delete",
		"conn_reset", "root_rotate", "wal_rollback", "crashed", "request"}
	got := Kinds()
	if len(got) != len(want) {
		t.Fatalf("Kinds() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || !got[i].Valid() {
			t.Fatalf("Kinds()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if Kind("nope").Valid() {
		t.Fatal(`Kind("nope").Valid() = true`)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	err := Event{V: 1, ID: "a", Kind: KindDisable}.Validate()
	if want := "invalid event: target: kind disable needs a target of type mount"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	_, err = Decode([]byte("{"))
	if want := "invalid event: malformed JSON: unexpected end of payload"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}
