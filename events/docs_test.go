package events

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestEventsDocExamples: every event payload docs/EVENTS.md shows in a `nats pub` or
// `nats request` example decodes and validates as written (shell variables such as $i stand
// for an id and are filled), and a payload published on an events subject names that
// subject's kind; the JSON table example decodes too.
func TestEventsDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/EVENTS.md")
	if err != nil {
		t.Fatal(err)
	}
	// An example command: `nats … pub|request`, its continuation lines (ending in \), and
	// its quoted payload.
	cmd := regexp.MustCompile(`nats [^\n]*?(pub|request)\b((?:[^\n]*\\\n)*?[^\n]*?)'(\{"v"[^\n]*\})'`)
	text := strings.ReplaceAll(strings.ReplaceAll(string(doc), `'$i'`, "1"), "$i", "1")
	matches := cmd.FindAllStringSubmatch(text, -1)
	if len(matches) < 3 {
		t.Fatalf("found %d nats pub/request examples in docs/EVENTS.md, want at least 3", len(matches))
	}
	subject := regexp.MustCompile(`baton\.baton\.events\.([a-z_]+)`)
	for _, m := range matches {
		ev, err := Decode([]byte(m[3]))
		if err != nil {
			t.Errorf("example payload %s: %v", m[3], err)
			continue
		}
		if s := subject.FindStringSubmatch(m[2]); s != nil && Kind(s[1]) != ev.Kind {
			t.Errorf("example publishes kind %s on the subject of kind %s", ev.Kind, s[1])
		}
		if m[1] == "pub" && !strings.Contains(m[2], "Nats-Msg-Id:"+ev.ID) {
			t.Errorf("example nats pub of %s does not set Nats-Msg-Id to its id", ev.ID)
		}
		if !strings.Contains(m[2], "X-Vault-Token:") {
			t.Errorf("example of %s carries no X-Vault-Token header", ev.ID)
		}
	}
	table := regexp.MustCompile(`(?s)One JSON object.*?\n\n(    \{.*?\})\n`).FindStringSubmatch(string(doc))
	if table == nil {
		t.Fatal("no event JSON example under 'The event'")
	}
	if _, err := Decode([]byte(table[1])); err != nil {
		t.Errorf("the event JSON example: %v", err)
	}
}
