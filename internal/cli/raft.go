package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/baton-hq/baton/internal/snapshot"
)

// maxSnapshot bounds a snapshot file the CLI reads or receives (the server's own bound on a
// restored state).
const maxSnapshot = 1 << 30

var cmdRaftSnapshotSave = &command{
	name:     "operator raft snapshot save",
	args:     "FILE",
	synopsis: "Save a snapshot of the cluster's state to FILE (root token)",
	help: `Saves a snapshot of the replicated state (GET sys/storage/raft/snapshot) to FILE, mode 0600:
a gzipped tar of meta.json, state.bin (sealed with the cluster's barrier key: no secret in
clear) and SHA256SUMS. The archive is checked before FILE is written, so FILE is never a
partial snapshot.`,
	api: true,
	run: runRaftSnapshotSave,
}

var cmdRaftSnapshotRestore = &command{
	name:     "operator raft snapshot restore",
	args:     "FILE",
	synopsis: "Restore the cluster's state from a snapshot FILE (root token)",
	help: `Restores a snapshot saved with "operator raft snapshot save" on every node (POST
sys/storage/raft/snapshot); the active node then reconciles its plugins and rollbacks with the
restored state. A snapshot taken on another cluster is refused unless -force is given (POST
sys/storage/raft/snapshot-force), and even then it must have been sealed with this cluster's
unseal key.`,
	api: true,
	run: runRaftSnapshotRestore,
}

var cmdRaftAutopilotState = &command{
	name:     "operator raft autopilot state",
	synopsis: "Show the autopilot's view of the cluster (root token)",
	api:      true,
	run:      runRaftAutopilotState,
}

var cmdRaftAutopilotGetConfig = &command{
	name:     "operator raft autopilot get-config",
	synopsis: "Show the autopilot configuration (root token)",
	api:      true,
	run:      runRaftAutopilotGetConfig,
}

var cmdRaftAutopilotSetConfig = &command{
	name:     "operator raft autopilot set-config",
	synopsis: "Change the autopilot configuration (root token)",
	help: `Changes the fields given as options and keeps the others (POST
sys/storage/raft/autopilot/configuration). Durations are Go durations ("10s", "24h") or seconds.
cleanup-dead-servers needs min-quorum 3 or more; dead-server-last-contact-threshold is at least
1m.`,
	api: true,
	run: runRaftAutopilotSetConfig,
}

// raw calls METHOD /v1/path sending body as it is (nil: no body) and copies a 2xx reply's
// body to out, at most limit bytes.
func (c *client) raw(ctx context.Context, method, path string, body []byte, out io.Writer, limit int64) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/v1/"+path, rd)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	if c.token != "" {
		req.Header.Set("X-Vault-Token", c.token)
	}
	req.Header.Set("X-Vault-Request", "true")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s /v1/%s: %w", method, path, ctx.Err())
		}
		return &unreachableError{addr: c.base, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &apiError{method: method, path: path, status: resp.StatusCode}
		var eb struct {
			Errors []string `json:"errors"`
		}
		if b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply)); err == nil && json.Unmarshal(b, &eb) == nil {
			ae.errors = eb.Errors
		}
		return ae
	}
	n, err := io.Copy(out, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%s /v1/%s: reading the reply: %w", method, path, err)
	}
	if n > limit {
		return fmt.Errorf("%s /v1/%s: reply larger than %d bytes", method, path, limit)
	}
	return nil
}

func runRaftSnapshotSave(in *invocation, args []string) error {
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	c, err := in.client()
	if err != nil {
		return err
	}
	defer c.close()
	var buf bytes.Buffer
	if err := c.raw(in.ctx, "GET", "sys/storage/raft/snapshot", nil, &buf, maxSnapshot); err != nil {
		return err
	}
	if _, _, err := snapshot.ReadArchive(bytes.NewReader(buf.Bytes()), maxSnapshot); err != nil {
		return fmt.Errorf("the snapshot received is not complete, %s was not written: %w", pos[0], err)
	}
	// Written beside FILE, then renamed: FILE is a whole snapshot or untouched.
	f, err := os.CreateTemp(filepath.Dir(pos[0]), "."+filepath.Base(pos[0])+".*.partial")
	if err != nil {
		return fmt.Errorf("writing the snapshot: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := buf.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing the snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing the snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the snapshot: %w", err)
	}
	if err := os.Rename(f.Name(), pos[0]); err != nil {
		return fmt.Errorf("writing the snapshot: %w", err)
	}
	return nil
}

func runRaftSnapshotRestore(in *invocation, args []string) error {
	force := in.fs.Bool("force", false, "Restore a snapshot taken on another cluster (sealed with this cluster's unseal key).")
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("reading the snapshot: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSnapshot+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("reading the snapshot: %w", err)
	}
	if len(b) > maxSnapshot {
		return fmt.Errorf("%s is larger than %d bytes: not a Baton snapshot", pos[0], maxSnapshot)
	}
	path := "sys/storage/raft/snapshot"
	if *force {
		path = "sys/storage/raft/snapshot-force"
	}
	c, err := in.client()
	if err != nil {
		return err
	}
	defer c.close()
	return c.raw(in.ctx, "POST", path, b, io.Discard, maxReply)
}

func runRaftAutopilotState(in *invocation, args []string) error {
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	r, err := in.callSecret("GET", "sys/storage/raft/autopilot/state", nil, nil)
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, r.Data)
	}
	var st struct {
		Healthy          bool     `json:"healthy"`
		FailureTolerance int      `json:"failure_tolerance"`
		Leader           string   `json:"leader"`
		Voters           []string `json:"voters"`
		NonVoters        []string `json:"non_voters"`
		Servers          map[string]struct {
			Name, Address, Status string
			NodeStatus            string `json:"node_status"`
			LastContact           string `json:"last_contact"`
			LastTerm              json.Number
			LastIndex             json.Number `json:"last_index"`
			Healthy               bool
			StableSince           string `json:"stable_since"`
		} `json:"servers"`
	}
	if err := decode(r.Data, &st); err != nil {
		return err
	}
	printKV(in.stdout, [][]string{
		{"Healthy", fmt.Sprint(st.Healthy)}, {"Failure Tolerance", fmt.Sprint(st.FailureTolerance)},
		{"Leader", st.Leader}, {"Voters", strings.Join(st.Voters, ", ")}, {"Non Voters", strings.Join(st.NonVoters, ", ")},
	})
	ids := make([]string, 0, len(st.Servers))
	for id := range st.Servers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rows := make([][]string, 0, len(ids))
	for _, id := range ids {
		s := st.Servers[id]
		rows = append(rows, []string{id, s.Address, s.Status, s.NodeStatus, fmt.Sprint(s.Healthy), s.LastContact, s.LastIndex.String(), s.StableSince})
	}
	fmt.Fprintln(in.stdout)
	printTable(in.stdout, []string{"Server", "Address", "Status", "Node Status", "Healthy", "Last Contact", "Last Index", "Stable Since"}, rows)
	return nil
}

// autopilotRows are the configuration's rows in OpenBao's order: label and reply key.
var autopilotRows = [][2]string{
	{"Cleanup Dead Servers", "cleanup_dead_servers"},
	{"Last Contact Threshold", "last_contact_threshold"},
	{"Dead Server Last Contact Threshold", "dead_server_last_contact_threshold"},
	{"Server Stabilization Time", "server_stabilization_time"},
	{"Min Quorum", "min_quorum"},
	{"Max Trailing Logs", "max_trailing_logs"},
}

func runRaftAutopilotGetConfig(in *invocation, args []string) error {
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	r, err := in.callSecret("GET", "sys/storage/raft/autopilot/configuration", nil, nil)
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, r.Data)
	}
	var cfg map[string]any
	if err := decode(r.Data, &cfg); err != nil {
		return err
	}
	rows := make([][]string, 0, len(autopilotRows))
	for _, kr := range autopilotRows {
		rows = append(rows, []string{kr[0], fmt.Sprint(cfg[kr[1]])})
	}
	printKV(in.stdout, rows)
	return nil
}

func runRaftAutopilotSetConfig(in *invocation, args []string) error {
	in.fs.Bool("cleanup-dead-servers", false, "Remove dead servers (needs -min-quorum 3 or more).")
	in.fs.String("last-contact-threshold", "", "A server not heard from for longer is unhealthy (e.g. 10s).")
	in.fs.String("dead-server-last-contact-threshold", "", "A server not heard from for longer is dead (at least 1m).")
	in.fs.String("server-stabilization-time", "", "How long a new node stays healthy before it becomes a voter.")
	in.fs.Uint("min-quorum", 0, "Dead servers are never removed below this many voters.")
	in.fs.Uint64("max-trailing-logs", 0, "A server further behind the leader's log is unhealthy.")
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	body := map[string]any{}
	in.fs.Visit(func(f *flag.Flag) {
		if name := strings.ReplaceAll(f.Name, "-", "_"); slices.ContainsFunc(autopilotRows, func(r [2]string) bool { return r[1] == name }) {
			body[name] = f.Value.String()
		}
	})
	if len(body) == 0 {
		return usagef("give at least one option to change (see -h)")
	}
	if _, err := in.call("POST", "sys/storage/raft/autopilot/configuration", nil, body); err != nil {
		return err
	}
	_, err := fmt.Fprintln(in.stdout, "Success! Configuration updated.")
	return err
}
