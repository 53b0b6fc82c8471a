package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"strings"

	"github.com/baton-hq/baton/events"
)

var cmdStatus = &command{
	name:     "status",
	synopsis: "Show the node's seal and HA status",
	help: `Prints the node's seal status and, when it is unsealed, its HA status (active or standby
and the active node's address). Exits 0 when unsealed, 2 when sealed, 1 on error.`,
	api: true,
	run: runStatus,
}

var cmdOperatorInit = &command{
	name:     "operator init",
	synopsis: "Initialise a new cluster: unseal keys and root token",
	help: `Initialises the node (POST sys/init) and prints the unseal keys and the initial root token.
Every node of the cluster is unsealed with the same keys.`,
	api: true,
	run: runOperatorInit,
}

var cmdOperatorUnseal = &command{
	name:     "operator unseal",
	args:     "[KEY]",
	synopsis: "Provide an unseal key to the node",
	help: `Sends one unseal key share to the node and prints its seal status, with the unseal
progress towards the threshold. Without KEY the key is read from the first line of stdin,
which keeps it out of the shell history. -reset forgets the shares given so far.`,
	api: true,
	run: runOperatorUnseal,
}

var cmdOperatorSeal = &command{
	name:     "operator seal",
	synopsis: "Seal the node",
	api:      true,
	run:      runOperatorSeal,
}

var cmdOperatorStepDown = &command{
	name:     "operator step-down",
	synopsis: "Make the active node hand leadership over",
	api:      true,
	run:      runOperatorStepDown,
}

var cmdOperatorNATSCreds = &command{
	name:     "operator nats-creds",
	synopsis: "Get an nkey seed for the cluster's NATS (root token)",
	help: `Fetches the nkey seed of one of the cluster's NATS identities (GET sys/nats/credentials):
operator (publish and request events, watch transitions and rejections), watcher (watch
transitions only) or node (everything; for nodes that share another node's NATS). With -out
the seed is written to FILE (mode 0600, for "event inject -nkey-seed FILE" or the nats CLI's
--nkey FILE); otherwise it is printed.`,
	api: true,
	run: runOperatorNATSCreds,
}

var cmdRaftJoin = &command{
	name:     "operator raft join",
	args:     "LEADER_API_ADDR",
	synopsis: "Join this node to the cluster led by LEADER_API_ADDR",
	api:      true,
	run:      runRaftJoin,
}

var cmdRaftListPeers = &command{
	name:     "operator raft list-peers",
	synopsis: "List the Raft peers of the cluster",
	api:      true,
	run:      runRaftListPeers,
}

var cmdRaftRemovePeer = &command{
	name:     "operator raft remove-peer",
	args:     "NODE_ID",
	synopsis: "Remove a node from the Raft configuration",
	api:      true,
	run:      runRaftRemovePeer,
}

// sealRows are the rows of a seal status table, in OpenBao's order: label and reply key.
var sealRows = [][2]string{
	{"Seal Type", "type"},
	{"Initialized", "initialized"},
	{"Sealed", "sealed"},
	{"Total Shares", "n"},
	{"Threshold", "t"},
	{"Unseal Progress", "progress"},
	{"Unseal Nonce", "nonce"},
	{"Version", "version"},
	{"Build Date", "build_date"},
	{"Storage Type", "storage_type"},
	{"Cluster Name", "cluster_name"},
	{"Cluster ID", "cluster_id"},
}

// sealStatusRows renders a seal status reply; fields the server leaves out are left out.
// Progress and nonce mean something only while sealed.
func sealStatusRows(st map[string]any) [][]string {
	sealed := st["sealed"] == true
	var rows [][]string
	for _, r := range sealRows {
		v, ok := st[r[1]]
		if !ok {
			continue
		}
		switch r[1] {
		case "progress":
			if !sealed {
				continue
			}
			rows = append(rows, []string{r[0], formatValue(v) + "/" + formatValue(st["t"])})
			continue
		case "nonce":
			if !sealed || v == "" {
				continue
			}
		}
		rows = append(rows, []string{r[0], formatValue(v)})
	}
	return rows
}

func runStatus(in *invocation, args []string) error {
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	body, err := in.call("GET", "sys/seal-status", nil, nil)
	if err != nil {
		return err
	}
	st := map[string]any{}
	if err := decode(body, &st); err != nil {
		return err
	}
	sealed := st["sealed"] != false
	rows := sealStatusRows(st)
	merged := maps.Clone(st)
	if !sealed {
		body, err := in.call("GET", "sys/leader", nil, nil)
		if err != nil {
			return err
		}
		ld := map[string]any{}
		if err := decode(body, &ld); err != nil {
			return err
		}
		maps.Copy(merged, ld)
		rows = append(rows, leaderRows(ld)...)
	}
	if in.json() {
		if err := printJSON(in.stdout, merged); err != nil {
			return err
		}
	} else {
		printKV(in.stdout, rows)
	}
	if sealed {
		return exitCode(ExitUsage)
	}
	return nil
}

// leaderRows renders a sys/leader reply as OpenBao's status does.
func leaderRows(ld map[string]any) [][]string {
	ha, ok := ld["ha_enabled"]
	if !ok {
		return nil
	}
	rows := [][]string{{"HA Enabled", formatValue(ha)}}
	if ha != true {
		return rows
	}
	if v, ok := ld["leader_cluster_address"]; ok && v != "" {
		rows = append(rows, []string{"HA Cluster", formatValue(v)})
	}
	mode := "standby"
	if ld["is_self"] == true {
		mode = "active"
	}
	rows = append(rows, []string{"HA Mode", mode})
	if v, ok := ld["leader_address"]; ok && mode == "standby" {
		rows = append(rows, []string{"Active Node Address", formatValue(v)})
	}
	if v, ok := ld["active_time"]; ok && mode == "active" {
		rows = append(rows, []string{"Active Since", formatValue(v)})
	}
	for _, r := range [][2]string{{"Raft Committed Index", "raft_committed_index"}, {"Raft Applied Index", "raft_applied_index"}} {
		if v, ok := ld[r[1]]; ok {
			rows = append(rows, []string{r[0], formatValue(v)})
		}
	}
	return rows
}

func runOperatorInit(in *invocation, args []string) error {
	shares := in.fs.Int("key-shares", 1, "Number of unseal key shares to split the key into.")
	threshold := in.fs.Int("key-threshold", 1, "Number of shares needed to unseal.")
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	switch {
	case *shares < 1:
		return usagef("-key-shares must be at least 1, got %d", *shares)
	case *threshold < 1 || *threshold > *shares:
		return usagef("-key-threshold must be between 1 and -key-shares (%d), got %d", *shares, *threshold)
	}
	body, err := in.call("PUT", "sys/init", nil, map[string]int{"secret_shares": *shares, "secret_threshold": *threshold})
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, body)
	}
	var r struct {
		Keys       []string `json:"keys"`
		KeysBase64 []string `json:"keys_base64"`
		RootToken  string   `json:"root_token"`
	}
	if err := decode(body, &r); err != nil {
		return err
	}
	keys := r.KeysBase64
	if len(keys) == 0 {
		keys = r.Keys
	}
	w := in.stdout
	for i, k := range keys {
		fmt.Fprintf(w, "Unseal Key %d: %s\n", i+1, k)
	}
	fmt.Fprintf(w, "\nInitial Root Token: %s\n\n", r.RootToken)
	fmt.Fprintf(w, "Baton initialized with %d key shares and a key threshold of %d. Unseal every\n", len(keys), *threshold)
	fmt.Fprintf(w, "node of the cluster with %d of these keys (%s operator unseal).\n", *threshold, progName)
	return nil
}

func runOperatorUnseal(in *invocation, args []string) error {
	reset := in.fs.Bool("reset", false, "Forget the unseal key shares given so far.")
	pos, err := in.parse(args, 0, 1)
	if err != nil {
		return err
	}
	var key string
	var req any
	switch {
	case *reset && len(pos) > 0:
		return usagef("-reset takes no KEY")
	case *reset:
		req = map[string]bool{"reset": true}
	default:
		k, err := in.unsealKey(pos)
		if err != nil {
			return err
		}
		key = k
	}
	if req == nil {
		req = map[string]string{"key": key}
	}
	body, err := in.call("PUT", "sys/unseal", nil, req)
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, body)
	}
	st := map[string]any{}
	if err := decode(body, &st); err != nil {
		return err
	}
	printKV(in.stdout, sealStatusRows(st))
	return nil
}

func runOperatorSeal(in *invocation, args []string) error {
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	if _, err := in.call("PUT", "sys/seal", nil, nil); err != nil {
		return err
	}
	_, err := fmt.Fprintln(in.stdout, "Success! Baton is sealed.")
	return err
}

func runOperatorStepDown(in *invocation, args []string) error {
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	if _, err := in.call("PUT", "sys/step-down", nil, nil); err != nil {
		return err
	}
	c, _ := in.client()
	_, err := fmt.Fprintf(in.stdout, "Success! Stepped down: %s\n", c.base)
	return err
}

func runRaftJoin(in *invocation, args []string) error {
	nonVoter := in.fs.Bool("non-voter", false, "Join as a non-voter.")
	retry := in.fs.Bool("retry", false, "Keep retrying the join in the background.")
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	req := struct {
		LeaderAPIAddr string `json:"leader_api_addr"`
		NonVoter      bool   `json:"non_voter,omitempty"`
		Retry         bool   `json:"retry,omitempty"`
	}{pos[0], *nonVoter, *retry}
	body, err := in.call("POST", "sys/storage/raft/join", nil, req)
	if err != nil {
		return err
	}
	var r struct {
		Joined bool `json:"joined"`
	}
	if err := decode(body, &r); err != nil {
		return err
	}
	if in.json() {
		err = printRawJSON(in.stdout, body)
	} else {
		printKV(in.stdout, [][]string{{"Joined", fmt.Sprint(r.Joined)}})
	}
	if err == nil && !r.Joined {
		return fmt.Errorf("the node did not join the cluster at %s", pos[0])
	}
	return err
}

func runRaftListPeers(in *invocation, args []string) error {
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	r, err := in.callSecret("GET", "sys/storage/raft/configuration", nil, nil)
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, r.Data)
	}
	var cfg struct {
		Config struct {
			Servers []struct {
				NodeID  string `json:"node_id"`
				Address string `json:"address"`
				Leader  bool   `json:"leader"`
				Voter   bool   `json:"voter"`
			} `json:"servers"`
		} `json:"config"`
	}
	if len(r.Data) > 0 {
		if err := decode(r.Data, &cfg); err != nil {
			return err
		}
	}
	rows := make([][]string, 0, len(cfg.Config.Servers))
	for _, s := range cfg.Config.Servers {
		state := "follower"
		if s.Leader {
			state = "leader"
		}
		rows = append(rows, []string{s.NodeID, s.Address, state, fmt.Sprint(s.Voter)})
	}
	printTable(in.stdout, []string{"Node", "Address", "State", "Voter"}, rows)
	return nil
}

func runRaftRemovePeer(in *invocation, args []string) error {
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := in.call("POST", "sys/storage/raft/remove-peer", nil, map[string]string{"server_id": pos[0]}); err != nil {
		return err
	}
	_, err = fmt.Fprintln(in.stdout, "Peer removed successfully!")
	return err
}

// isTerminal reports whether r is an interactive terminal, to prompt only a human.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func runOperatorNATSCreds(in *invocation, args []string) error {
	role := in.fs.String("role", "operator", "Identity: operator, watcher or node.")
	out := in.fs.String("out", "", "Write the seed to this file (mode 0600) instead of printing it.")
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	r, err := events.ParseRole(*role)
	if err != nil {
		return usagef("invalid -role: %v", err)
	}
	body, err := in.call("GET", "sys/nats/credentials", url.Values{"role": {string(r)}}, nil)
	if err != nil {
		return err
	}
	var reply struct {
		Data map[string]any `json:"data"`
	}
	if err := decode(body, &reply); err != nil {
		return err
	}
	d := reply.Data
	seed, _ := d["seed"].(string)
	pub, _ := d["public_key"].(string)
	if seed == "" {
		return errors.New("unexpected reply from Baton: no seed")
	}
	if *out != "" {
		if err := events.WriteSeedFile(*out, events.Identity{Role: r, Public: pub, Seed: []byte(seed)}); err != nil {
			return err
		}
		if in.json() {
			return printJSON(in.stdout, map[string]any{"role": r, "public_key": pub, "seed_file": *out, "cluster": d["cluster"], "url": d["url"]})
		}
		_, err := fmt.Fprintf(in.stdout, "Wrote the %s nkey seed (public key %s) to %s\n", r, pub, *out)
		return err
	}
	if in.json() {
		return printJSON(in.stdout, d)
	}
	_, err = fmt.Fprintln(in.stdout, seed)
	return err
}

// unsealKey is the unseal key (or share) a command takes: its one argument, else a line on
// stdin (prompted for on a terminal), as bao reads it; an empty key is a usage error.
func (in *invocation) unsealKey(pos []string) (string, error) {
	if len(pos) == 1 {
		return pos[0], nil
	}
	if isTerminal(in.stdin) {
		fmt.Fprint(in.stderr, "Unseal Key: ")
	}
	line, err := bufio.NewReader(in.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the unseal key from stdin: %w", err)
	}
	key := strings.TrimSpace(line)
	if key == "" {
		return "", usagef("no unseal key: give KEY or write it on stdin")
	}
	return key, nil
}
