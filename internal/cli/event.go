package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/baton-hq/baton/events"
)

var cmdEventInject = &command{
	name:     "event inject",
	args:     "KIND [KEY=VALUE ...]",
	synopsis: "Inject a lifecycle event over NATS",
	help: `Publishes a lifecycle event of KIND to the cluster's JetStream stream, with the
KEY=VALUE pairs as its parameters, and waits until JetStream has stored it. NATS admits
only known nkeys: pass the operator seed file from "operator nats-creds" with -nkey-seed
(or $BATON_NATS_NKEY_SEED). A NATS server that serves TLS (the embedded one with nats.tls
cert_file and key_file) is verified with -nats-ca-cert FILE (or $BATON_NATS_CACERT), the
node's nats.tls ca_file; its URL is then tls://HOST:PORT. The event carries a Baton token (-token, else $BATON_TOKEN,
$BAO_TOKEN or $VAULT_TOKEN) in its X-Vault-Token header: the node allows it only if the token
may do the same action over HTTP (seal needs update and sudo on sys/seal; see docs/EVENTS.md).
The active node applies it once, by id: re-injecting the same
-id is harmless. With -sync the event goes through the request/reply subject instead and the
command waits until the active node has committed it, printing the Raft index.

Kinds:
` + kindList(),
	run: runEventInject,
}

// kindList lists the event kinds a few to a line.
func kindList() string {
	var b strings.Builder
	for i, k := range events.Kinds() {
		switch {
		case i == 0:
		case i%6 == 0:
			b.WriteString(",\n")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return b.String()
}

// defaultSource labels events injected with this command.
const defaultSource = "cli"

func runEventInject(in *invocation, args []string) error {
	natsURL := in.fs.String("nats", "", "NATS URL (default $"+envNATS+", else "+defaultNATS+").")
	creds := in.fs.String("nats-creds", "", "NATS user credentials file.")
	seed := in.fs.String("nkey-seed", "", "NATS nkey seed file, e.g. the operator's from `operator nats-creds` (default $"+envNATSSeed+").")
	caFile := in.fs.String("nats-ca-cert", "", "CA certificate that verifies the NATS server, e.g. the node's nats.tls ca_file (turns TLS on; default $"+envNATSCA+").")
	cluster := in.fs.String("cluster", "baton", "Baton cluster name (the NATS subjects carry it).")
	id := in.fs.String("id", "", "Event id, unique per intended change (default: a random one).")
	targetType := in.fs.String("target-type", "", "Target type: plugin, connection, node or mount.")
	target := in.fs.String("target", "", "Target id: a plugin name, connection, node id or mount path.")
	source := in.fs.String("source", defaultSource, "Submitter label recorded with the event.")
	token := in.fs.String("token", "", "Baton token sent in the X-Vault-Token header; the node authorises the event as the same HTTP action (default $"+envToken+", $BAO_TOKEN or $VAULT_TOKEN).")
	sync := in.fs.Bool("sync", false, "Wait until the active node has committed the event; print the Raft index.")
	timeout := in.fs.Duration("timeout", 30*time.Second, "How long to wait for NATS and for the event to be stored (or committed).")
	pos, err := in.parse(args, 1, -1)
	if err != nil {
		return err
	}
	params, err := in.parsePairs(pos[1:])
	if err != nil {
		return err
	}
	if *id == "" {
		*id = rand.Text()
	}
	if *timeout <= 0 {
		return usagef("-timeout must be positive")
	}
	ev := events.Event{
		V:      events.Version,
		ID:     *id,
		Kind:   events.Kind(pos[0]),
		Target: events.Target{Type: events.TargetType(*targetType), ID: *target},
		Source: *source,
		Time:   time.Now().UTC(),
	}
	if len(params) > 0 {
		ev.Params = params
	}
	// A bad event or cluster name is the command line's fault: say so before touching NATS.
	if err := ev.Validate(); err != nil {
		return usagef("%v", err)
	}
	if err := events.ValidateCluster(*cluster); err != nil {
		return usagef("invalid -cluster: %v", err)
	}
	addr := *natsURL
	if addr == "" {
		addr = in.getenv(envNATS)
	}
	if addr == "" {
		addr = defaultNATS
	}
	if *seed == "" && *creds == "" {
		*seed = in.getenv(envNATSSeed)
	}
	if *caFile == "" {
		*caFile = in.getenv(envNATSCA)
	}
	if *seed != "" && *creds != "" {
		return usagef("-nkey-seed and -nats-creds both given: use one")
	}
	if *token == "" {
		*token = in.firstEnv(tokenEnvs)
	}
	if *token == "" {
		// Sent anyway: the node's refusal says what is missing, and NATS's own refusal of an
		// unknown identity comes first.
		fmt.Fprintf(in.stderr, "Warning: no token (-token or $%s): the node refuses events without one\n", envToken)
	}
	submit := events.WithToken(*token)
	ctx, cancel := context.WithTimeout(in.ctx, *timeout)
	defer cancel()
	nc, err := events.Connect(ctx, events.ClientConfig{URL: addr, Name: "baton-cli", CredsFile: *creds, NKeySeedFile: *seed, CAFile: *caFile})
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return fmt.Errorf("cannot reach NATS at %s: %w", redactURL(addr), err)
	}
	defer nc.Close()
	if *sync {
		index, err := events.InjectSync(ctx, nc, *cluster, ev, submit)
		if err != nil {
			if errors.Is(err, events.ErrUnavailable) {
				return fmt.Errorf("%w (is an active node of cluster %q serving NATS at %s?)", err, *cluster, redactURL(addr))
			}
			return err
		}
		if in.json() {
			return printJSON(in.stdout, map[string]any{"id": ev.ID, "index": index})
		}
		_, err = fmt.Fprintf(in.stdout, "Event %s committed at index %d\n", ev.ID, index)
		return err
	}
	if err := events.Inject(ctx, nc, *cluster, ev, submit); err != nil {
		return fmt.Errorf("%w (does NATS at %s hold the stream %s of cluster %q?)", err, redactURL(addr), events.StreamName(*cluster), *cluster)
	}
	if in.json() {
		return printJSON(in.stdout, map[string]any{"id": ev.ID})
	}
	_, err = fmt.Fprintf(in.stdout, "Event %s accepted\n", ev.ID)
	return err
}

// redactURL hides a password in a NATS URL (nats://user:pass@host); a list of URLs is
// redacted one by one.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
