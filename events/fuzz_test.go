package events

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary payloads to Decode, as a NATS publisher may: it never panics, every
// refusal wraps ErrInvalid, and an accepted event encodes to a payload that decodes to the same
// event (so what the node applies is what was sent). `go test` runs the seeds below.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"id":"e1","kind":"step_down","target":{"type":"node","id":"n1"}}`,
		`{"v":1,"id":"e2","kind":"reload","target":{"type":"plugin","id":"pg"},"source":"ops"}`,
		`{"v":1,"id":"e3","kind":"reload","target":{"type":"mount","id":"database/"}}`,
		`{"v":1,"id":"e4","kind":"conn_update","target":{"type":"connection","id":"database/db1"},"params":{"max_open_connections":"4"}}`,
		`{"v":1,"id":"e5","kind":"seal","target":{"type":"node","id":"n1"},"time":"2026-12-03T09:00:00Z"}`,
		`{"v":1,"id":"e6","kind":"root_rotate","target":{"type":"connection","id":"database/db1"}}`,
		`{"v":1,"id":"a\u0000b","kind":"seal","target":{"type":"node","id":"n1"}}`,
		`{"v":2,"id":"e7","kind":"seal"}`,
		`{"v":1,"id":"e8","kind":"seal","target":{"type":"node","id":"n1"}} {}`,
		`{"v":1,"id":"e9","kind":"seal","target":{"type":"node","id":"n1","name":"x"}}`,
		`{"v":1e400}`,
		`{"v":"1"}`,
		`[]`,
		`null`,
		``,
		`{`,
		"\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%q): error %v does not wrap ErrInvalid", data, err)
			}
			return
		}
		enc, err := Encode(ev)
		if err != nil {
			t.Fatalf("Encode of an accepted event: %v", err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("an accepted event does not decode once encoded: %v (%s)", err, enc)
		}
		enc2, err := Encode(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the event:\n%s\n%s", enc, enc2)
		}
	})
}
