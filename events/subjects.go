package events

import (
	"fmt"
	"strings"
)

// Subjects, stream and consumer names all carry the cluster name, so that several Baton clusters
// can share one NATS deployment without seeing each other's events.
//
//	baton.<cluster>.events.<kind>                 injection (JetStream stream)
//	baton.<cluster>.inject                        synchronous injection (core request/reply)
//	baton.<cluster>.rejected                      refused events, with the reason
//	baton.<cluster>.transitions.<kind>.<id>       lifecycle transitions (kind: plugin, connection, node)

// MaxClusterLen is the longest cluster name.
const MaxClusterLen = 64

// ValidateCluster checks that a cluster name can be used in subjects, stream and consumer names:
// 1 to 64 letters, digits, '-' or '_'. Stream names upper-case it, so names that differ only in
// case share a stream: do not run two such clusters on one NATS.
func ValidateCluster(cluster string) error {
	if cluster == "" {
		return fmt.Errorf("events: empty cluster name")
	}
	if len(cluster) > MaxClusterLen {
		return fmt.Errorf("events: cluster name of %d bytes exceeds the %d-byte limit", len(cluster), MaxClusterLen)
	}
	for _, r := range cluster {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("events: cluster name %q: only letters, digits, '-' and '_' allowed", cluster)
		}
	}
	return nil
}

// EventSubject is where an event of this kind is injected.
func EventSubject(cluster string, k Kind) string {
	return "baton." + cluster + ".events." + string(k)
}

// EventsWildcard matches every injection subject of a cluster; the stream captures it.
func EventsWildcard(cluster string) string { return "baton." + cluster + ".events.>" }

// kindFromSubject returns the <kind> token of an injection subject, or false when the subject
// has more or fewer tokens than an injection subject.
func kindFromSubject(cluster, subject string) (Kind, bool) {
	rest, ok := strings.CutPrefix(subject, "baton."+cluster+".events.")
	if !ok || rest == "" || strings.Contains(rest, ".") {
		return "", false
	}
	return Kind(rest), true
}

// RejectedSubject is where refused events are reported.
func RejectedSubject(cluster string) string { return "baton." + cluster + ".rejected" }

// InjectSubject is the synchronous injection request/reply subject.
func InjectSubject(cluster string) string { return "baton." + cluster + ".inject" }

// TransitionSubject is where a transition of machine kind on id is published. The id is escaped
// with EscapeToken.
func TransitionSubject(cluster string, kind TransitionKind, id string) string {
	return "baton." + cluster + ".transitions." + EscapeToken(string(kind)) + "." + EscapeToken(id)
}

// TransitionsWildcard matches every transition of a cluster.
func TransitionsWildcard(cluster string) string { return "baton." + cluster + ".transitions.>" }

// StreamName is the JetStream stream holding a cluster's injected events.
func StreamName(cluster string) string { return "BATON_" + strings.ToUpper(cluster) + "_EVENTS" }

// ConsumerName is the durable consumer through which the active node takes events.
func ConsumerName(cluster string) string { return "baton-" + cluster + "-active" }

// EscapeToken makes s a single NATS subject token, reversibly, so that subscribers can filter
// on a plugin, mount or connection id. Letters, digits, '-', '_' and '/' stay as they are (mount
// paths keep their slashes); every other byte, including '%' itself, '.', '*', '>', spaces and
// any non-ASCII byte, becomes %XX with upper-case hex, as in URL escaping. The empty string
// becomes "%", which no non-empty id escapes to.
//
//	database/        -> database/
//	pg.main          -> pg%2Emain
//	a b*>            -> a%20b%2A%3E
func EscapeToken(s string) string {
	if s == "" {
		return "%"
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if tokenSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xF])
	}
	return b.String()
}

// UnescapeToken reverses EscapeToken.
func UnescapeToken(tok string) (string, error) {
	if tok == "%" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '%' {
			if !tokenSafe(c) {
				return "", fmt.Errorf("events: token %q: unescaped byte %q", tok, c)
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("events: token %q: truncated escape at byte %d", tok, i)
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("events: token %q: bad escape at byte %d", tok, i)
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func tokenSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/'
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
