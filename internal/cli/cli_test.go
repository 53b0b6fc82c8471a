package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// wantReq is a request a command must make: method, path, raw query and JSON body ("" for none).
type wantReq struct {
	method, path, query, body string
}

func TestAPICommands(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(secretFile, []byte("postgres://{{username}}:{{password}}@db/app"), 0o600); err != nil {
		t.Fatal(err)
	}
	const creds = `{"request_id":"r1","lease_id":"database/creds/ro/AbC","renewable":true,"lease_duration":3600,
		"data":{"username":"v-ro-x","password":"pw-1"},"warnings":null}`
	const natsCreds = `{"data":{"role":"operator","public_key":"UAOPERATOR","seed":"SUAOPERATORSEED","cluster":"baton","url":"nats://127.0.0.1:4222"}}`
	seedOut := filepath.Join(t.TempDir(), "watcher.nk")
	const sealStatus = `{"type":"shamir","initialized":true,"sealed":false,"t":1,"n":1,"progress":0,"nonce":"","version":"0.1.0","storage_type":"raft","cluster_name":"baton"}`
	const lifecycle = `{"data":{"machines":[
		{"kind":"plugin","id":"database/pg","state":"running","history":[{"event":"start","from":"idle","to":"starting","event_id":"e0","source":"internal","index":5,"time":"2026-11-01T10:00:00Z"},{"event":"started","from":"starting","to":"running","event_id":"e1","source":"internal","index":6,"time":"2026-11-01T10:00:01Z"}]},
		{"kind":"connection","id":"database/pg","state":"rollback_pending","history":[{"event":"rotate_failed","from":"rotating","to":"rollback_pending","event_id":"e2","source":"api","index":9,"time":"2026-11-01T10:00:02Z","reason":"database unreachable"}]},
		{"kind":"connection","id":"database/new","state":"configured","history":[]}],
		"diagrams":{"plugin":"stateDiagram-v2\n  idle --> starting\n","connection":"stateDiagram-v2\n  configured --> rotating"}}}`

	tests := []struct {
		name   string
		args   []string
		stdin  string
		routes map[string]reply
		reqs   []wantReq
		code   int
		out    string   // exact stdout when not empty
		outHas []string // substrings of stdout
		errHas []string // substrings of stderr
	}{
		{
			name:   "plugin register with every option",
			args:   []string{"plugin", "register", "-sha256=" + strings.ToUpper(sha), "-version=v1.2.3", "-command=pg-bin", "-args=-x, -y", "-env=A=1", "-env=B=x=y", "database", "pg"},
			routes: map[string]reply{"PUT /v1/sys/plugins/catalog/database/pg": {}},
			reqs: []wantReq{{"PUT", "/v1/sys/plugins/catalog/database/pg", "",
				`{"sha256":"` + sha + `","command":"pg-bin","args":["-x","-y"],"env":["A=1","B=x=y"],"version":"v1.2.3"}`}},
			out: "Success! Registered plugin: pg\n",
		},
		{
			name:   "plugin register: command defaults to the name",
			args:   []string{"plugin", "register", "-sha256=" + sha, "database", "baton-postgresql-plugin"},
			routes: map[string]reply{"PUT /v1/sys/plugins/catalog/database/baton-postgresql-plugin": {}},
			reqs: []wantReq{{"PUT", "/v1/sys/plugins/catalog/database/baton-postgresql-plugin", "",
				`{"sha256":"` + sha + `","command":"baton-postgresql-plugin"}`}},
			out: "Success! Registered plugin: baton-postgresql-plugin\n",
		},
		{
			name:   "plugin register: the server's errors, one per line",
			args:   []string{"plugin", "register", "-sha256=" + sha, "database", "pg"},
			routes: map[string]reply{"PUT /v1/sys/plugins/catalog/database/pg": {400, `{"errors":["plugin binary \"pg\" not found in the plugin directory","second problem"]}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/plugins/catalog/database/pg", "", `{"sha256":"` + sha + `","command":"pg"}`}},
			code:   ExitError,
			errHas: []string{"Error: plugin binary \"pg\" not found in the plugin directory\nError: second problem\n"},
		},
		{
			name:   "error reply without an errors list",
			args:   []string{"plugin", "deregister", "database", "pg"},
			routes: map[string]reply{"DELETE /v1/sys/plugins/catalog/database/pg": {502, "<html>bad gateway</html>"}},
			reqs:   []wantReq{{"DELETE", "/v1/sys/plugins/catalog/database/pg", "", ""}},
			code:   ExitError,
			errHas: []string{"Error: DELETE /v1/sys/plugins/catalog/database/pg: HTTP 502 Bad Gateway\n"},
		},
		{
			name: "plugin list",
			args: []string{"plugin", "list"},
			routes: map[string]reply{"GET /v1/sys/plugins/catalog": {200, `{"data":{"database":["pg","baton-test-plugin"],"detailed":[
				{"name":"pg","type":"database","version":"v1.2.3","builtin":false,"sha256":"aa"},
				{"name":"baton-test-plugin","type":"database","version":"","builtin":false,"sha256":"bb"}]}}`}},
			reqs: []wantReq{{"GET", "/v1/sys/plugins/catalog", "", ""}},
			out: "Name                 Type        Version\n" +
				"----                 ----        -------\n" +
				"baton-test-plugin    database    n/a\n" +
				"pg                   database    v1.2.3\n",
		},
		{
			name:   "plugin list of a type uses LIST",
			args:   []string{"plugin", "list", "database"},
			routes: map[string]reply{"LIST /v1/sys/plugins/catalog/database": {200, `{"data":{"keys":["pg","baton-test-plugin"]}}`}},
			reqs:   []wantReq{{"LIST", "/v1/sys/plugins/catalog/database", "", ""}},
			out:    "Name                 Type\n----                 ----\nbaton-test-plugin    database\npg                   database\n",
		},
		{
			name:   "plugin list as JSON prints the data",
			args:   []string{"plugin", "list", "-format=json"},
			routes: map[string]reply{"GET /v1/sys/plugins/catalog": {200, `{"data":{"database":["pg"]}}`}},
			reqs:   []wantReq{{"GET", "/v1/sys/plugins/catalog", "", ""}},
			out:    "{\n  \"database\": [\n    \"pg\"\n  ]\n}\n",
		},
		{
			name:   "plugin info with a version",
			args:   []string{"plugin", "info", "-version=v1.2.3", "database", "pg"},
			routes: map[string]reply{"GET /v1/sys/plugins/catalog/database/pg": {200, `{"data":{"name":"pg","command":"pg-bin","args":[],"sha256":"aa","builtin":false,"version":"v1.2.3"}}`}},
			reqs:   []wantReq{{"GET", "/v1/sys/plugins/catalog/database/pg", "version=v1.2.3", ""}},
			out: "Key        Value\n---        -----\nargs       []\nbuiltin    false\ncommand    pg-bin\n" +
				"name       pg\nsha256     aa\nversion    v1.2.3\n",
		},
		{
			name:   "plugin deregister with a version",
			args:   []string{"plugin", "deregister", "-version=v1.2.3", "database", "pg"},
			routes: map[string]reply{"DELETE /v1/sys/plugins/catalog/database/pg": {}},
			reqs:   []wantReq{{"DELETE", "/v1/sys/plugins/catalog/database/pg", "version=v1.2.3", ""}},
			out:    "Success! Deregistered plugin (if it was registered): pg\n",
		},
		{
			name:   "plugin reload a plugin",
			args:   []string{"plugin", "reload", "-plugin=pg"},
			routes: map[string]reply{"PUT /v1/sys/plugins/reload/backend": {}},
			reqs:   []wantReq{{"PUT", "/v1/sys/plugins/reload/backend", "", `{"plugin":"pg"}`}},
			out:    "Success! Reloaded plugin: pg\n",
		},
		{
			name:   "plugin reload mounts globally",
			args:   []string{"plugin", "reload", "-mounts=database/,db2/", "-scope=global"},
			routes: map[string]reply{"PUT /v1/sys/plugins/reload/backend": {200, `{"data":{"reload_id":"rl-1"}}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/plugins/reload/backend", "", `{"mounts":["database/","db2/"],"scope":"global"}`}},
			out:    "Success! Reloading mounts: database/, db2/, reload_id: rl-1\n",
		},
		{
			name:   "read leased credentials: lease fields first",
			args:   []string{"read", "database/creds/ro"},
			routes: map[string]reply{"GET /v1/database/creds/ro": {200, creds}},
			reqs:   []wantReq{{"GET", "/v1/database/creds/ro", "", ""}},
			out: "Key                Value\n---                -----\n" +
				"lease_id           database/creds/ro/AbC\nlease_duration     1h\nlease_renewable    true\n" +
				"password           pw-1\nusername           v-ro-x\n",
		},
		{
			name:   "read as JSON keeps the lease id",
			args:   []string{"read", "-format=json", "database/creds/ro"},
			routes: map[string]reply{"GET /v1/database/creds/ro": {200, creds}},
			reqs:   []wantReq{{"GET", "/v1/database/creds/ro", "", ""}},
			out: "{\n  \"lease_duration\": 3600,\n  \"lease_id\": \"database/creds/ro/AbC\",\n  \"lease_renewable\": true,\n" +
				"  \"password\": \"pw-1\",\n  \"username\": \"v-ro-x\"\n}\n",
		},
		{
			name:   "read one field",
			args:   []string{"read", "-field=password", "database/creds/ro"},
			routes: map[string]reply{"GET /v1/database/creds/ro": {200, creds}},
			reqs:   []wantReq{{"GET", "/v1/database/creds/ro", "", ""}},
			out:    "pw-1\n",
		},
		{
			name:   "read a missing field",
			args:   []string{"read", "-field=nope", "database/creds/ro"},
			routes: map[string]reply{"GET /v1/database/creds/ro": {200, creds}},
			reqs:   []wantReq{{"GET", "/v1/database/creds/ro", "", ""}},
			code:   ExitError,
			errHas: []string{`Error: field "nope" not present in the reply`},
		},
		{
			name:   "read without a lease, nested values as JSON, warnings on stderr",
			args:   []string{"read", "database/config/pg"},
			routes: map[string]reply{"GET /v1/database/config/pg": {200, `{"data":{"plugin_name":"pg","allowed_roles":["ro","rw"],"connection_details":{"max_open_connections":4}},"warnings":["deprecated field"]}`}},
			reqs:   []wantReq{{"GET", "/v1/database/config/pg", "", ""}},
			out: "Key                   Value\n---                   -----\nallowed_roles         [\"ro\",\"rw\"]\n" +
				"connection_details    {\"max_open_connections\":4}\nplugin_name           pg\n",
			errHas: []string{"WARNING! The following warnings were returned from Baton:", "  * deprecated field"},
		},
		{
			name:   "read nothing at the path exits 2",
			args:   []string{"read", "database/roles/nope"},
			routes: map[string]reply{"GET /v1/database/roles/nope": {404, `{"errors":[]}`}},
			reqs:   []wantReq{{"GET", "/v1/database/roles/nope", "", ""}},
			code:   ExitUsage,
			errHas: []string{"No value found at database/roles/nope\n"},
		},
		{
			name:   "read a 404 with errors exits 2 with them",
			args:   []string{"read", "database/creds/nope"},
			routes: map[string]reply{"GET /v1/database/creds/nope": {404, `{"errors":["unknown role \"nope\""]}`}},
			reqs:   []wantReq{{"GET", "/v1/database/creds/nope", "", ""}},
			code:   ExitUsage,
			errHas: []string{"Error: unknown role \"nope\"\n"},
		},
		{
			name:   "read refused",
			args:   []string{"read", "sys/mounts"},
			routes: map[string]reply{"GET /v1/sys/mounts": {403, `{"errors":["permission denied"]}`}},
			reqs:   []wantReq{{"GET", "/v1/sys/mounts", "", ""}},
			code:   ExitError,
			errHas: []string{"Error: permission denied\n"},
		},
		{
			name:   "write with values from a file and stdin",
			args:   []string{"write", "database/config/pg", "plugin_name=pg", "connection_url=@" + secretFile, "password=-", "verify_connection=false", "note=a=b"},
			stdin:  "s3cret",
			routes: map[string]reply{"PUT /v1/database/config/pg": {}},
			reqs: []wantReq{{"PUT", "/v1/database/config/pg", "",
				`{"plugin_name":"pg","connection_url":"postgres://{{username}}:{{password}}@db/app","password":"s3cret","verify_connection":"false","note":"a=b"}`}},
			out: "Success! Data written to: database/config/pg\n",
		},
		{
			name:   "write without data sends an empty object",
			args:   []string{"write", "-f", "database/rotate-root/pg"},
			routes: map[string]reply{"PUT /v1/database/rotate-root/pg": {}},
			reqs:   []wantReq{{"PUT", "/v1/database/rotate-root/pg", "", `{}`}},
			out:    "Success! Data written to: database/rotate-root/pg\n",
		},
		{
			name:   "write a JSON body from stdin",
			args:   []string{"write", "database/roles/ro", "-"},
			stdin:  `{"db_name":"pg","default_ttl":3600,"creation_statements":["CREATE ROLE x"]}`,
			routes: map[string]reply{"PUT /v1/database/roles/ro": {}},
			reqs:   []wantReq{{"PUT", "/v1/database/roles/ro", "", `{"db_name":"pg","default_ttl":3600,"creation_statements":["CREATE ROLE x"]}`}},
			out:    "Success! Data written to: database/roles/ro\n",
		},
		{
			name:   "write whose reply has data prints it",
			args:   []string{"write", "database/static-creds/x", "a=b"},
			routes: map[string]reply{"PUT /v1/database/static-creds/x": {200, `{"data":{"username":"app"}}`}},
			reqs:   []wantReq{{"PUT", "/v1/database/static-creds/x", "", `{"a":"b"}`}},
			out:    "Key         Value\n---         -----\nusername    app\n",
		},
		{
			name:   "delete",
			args:   []string{"delete", "database/roles/ro"},
			routes: map[string]reply{"DELETE /v1/database/roles/ro": {}},
			reqs:   []wantReq{{"DELETE", "/v1/database/roles/ro", "", ""}},
			out:    "Success! Data deleted (if it existed) at: database/roles/ro\n",
		},
		{
			name:   "list",
			args:   []string{"list", "database/roles/"},
			routes: map[string]reply{"LIST /v1/database/roles/": {200, `{"data":{"keys":["ro","rw"]}}`}},
			reqs:   []wantReq{{"LIST", "/v1/database/roles/", "", ""}},
			out:    "Keys\n----\nro\nrw\n",
		},
		{
			name:   "list as JSON",
			args:   []string{"list", "-format=json", "database/roles"},
			routes: map[string]reply{"LIST /v1/database/roles": {200, `{"data":{"keys":["ro"]}}`}},
			reqs:   []wantReq{{"LIST", "/v1/database/roles", "", ""}},
			out:    "{\n  \"keys\": [\n    \"ro\"\n  ]\n}\n",
		},
		{
			name:   "list nothing exits 2",
			args:   []string{"list", "database/roles"},
			routes: map[string]reply{"LIST /v1/database/roles": {404, ``}},
			reqs:   []wantReq{{"LIST", "/v1/database/roles", "", ""}},
			code:   ExitUsage,
			errHas: []string{"No value found at database/roles\n"},
		},
		{
			name:   "path segments are escaped",
			args:   []string{"read", "/database/roles/a b?c"},
			routes: map[string]reply{"GET /v1/database/roles/a b?c": {200, `{"data":{"x":"y"}}`}},
			reqs:   []wantReq{{"GET", "/v1/database/roles/a b?c", "", ""}},
			outHas: []string{"x      y"},
		},
		{
			name:   "operator init",
			args:   []string{"operator", "init"},
			routes: map[string]reply{"PUT /v1/sys/init": {200, `{"keys":["abcd"],"keys_base64":["q80="],"root_token":"s.root"}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/init", "", `{"secret_shares":1,"secret_threshold":1}`}},
			outHas: []string{"Unseal Key 1: q80=\n\nInitial Root Token: s.root\n", "1 key shares and a key threshold of 1"},
		},
		{
			name:   "operator init with shares",
			args:   []string{"operator", "init", "-key-shares=3", "-key-threshold=2", "-format=json"},
			routes: map[string]reply{"PUT /v1/sys/init": {200, `{"keys":["a","b","c"],"root_token":"s.root"}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/init", "", `{"secret_shares":3,"secret_threshold":2}`}},
			outHas: []string{`"root_token": "s.root"`},
		},
		{
			name:   "operator unseal with the key as argument",
			args:   []string{"operator", "unseal", "q80="},
			routes: map[string]reply{"PUT /v1/sys/unseal": {200, sealStatus}},
			reqs:   []wantReq{{"PUT", "/v1/sys/unseal", "", `{"key":"q80="}`}},
			out: "Key             Value\n---             -----\nSeal Type       shamir\nInitialized     true\nSealed          false\n" +
				"Total Shares    1\nThreshold       1\nVersion         0.1.0\nStorage Type    raft\nCluster Name    baton\n",
		},
		{
			name:   "operator unseal reads the key from stdin; still sealed shows progress",
			args:   []string{"operator", "unseal"},
			stdin:  "q80=\n",
			routes: map[string]reply{"PUT /v1/sys/unseal": {200, `{"type":"shamir","initialized":true,"sealed":true,"t":2,"n":3,"progress":1,"nonce":"n-1"}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/unseal", "", `{"key":"q80="}`}},
			outHas: []string{"Sealed             true", "Unseal Progress    1/2", "Unseal Nonce       n-1"},
		},
		{
			name:   "operator nats-creds prints the operator seed",
			args:   []string{"operator", "nats-creds"},
			routes: map[string]reply{"GET /v1/sys/nats/credentials": {200, natsCreds}},
			reqs:   []wantReq{{"GET", "/v1/sys/nats/credentials", "role=operator", ""}},
			out:    "SUAOPERATORSEED\n",
		},
		{
			name:   "operator nats-creds -role watcher -out FILE writes the seed 0600",
			args:   []string{"operator", "nats-creds", "-role=watcher", "-out=" + seedOut},
			routes: map[string]reply{"GET /v1/sys/nats/credentials": {200, natsCreds}},
			reqs:   []wantReq{{"GET", "/v1/sys/nats/credentials", "role=watcher", ""}},
			out:    "Wrote the watcher nkey seed (public key UAOPERATOR) to " + seedOut + "\n",
		},
		{
			name:   "operator nats-creds refuses an unknown role before asking",
			args:   []string{"operator", "nats-creds", "-role=admin"},
			code:   ExitUsage,
			errHas: []string{"invalid -role", "unknown NATS role"},
		},
		{
			name:   "operator nats-creds without the root token",
			args:   []string{"operator", "nats-creds"},
			routes: map[string]reply{"GET /v1/sys/nats/credentials": {403, `{"errors":["permission denied"]}`}},
			reqs:   []wantReq{{"GET", "/v1/sys/nats/credentials", "role=operator", ""}},
			code:   ExitError,
			errHas: []string{"permission denied"},
		},
		{
			name:   "operator seal",
			args:   []string{"operator", "seal"},
			routes: map[string]reply{"PUT /v1/sys/seal": {}},
			reqs:   []wantReq{{"PUT", "/v1/sys/seal", "", ""}},
			out:    "Success! Baton is sealed.\n",
		},
		{
			name:   "operator step-down",
			args:   []string{"operator", "step-down"},
			routes: map[string]reply{"PUT /v1/sys/step-down": {}},
			reqs:   []wantReq{{"PUT", "/v1/sys/step-down", "", ""}},
			outHas: []string{"Success! Stepped down: http://127.0.0.1:"},
		},
		{
			name:   "operator raft join",
			args:   []string{"operator", "raft", "join", "http://127.0.0.1:8200"},
			routes: map[string]reply{"POST /v1/sys/storage/raft/join": {200, `{"joined":true}`}},
			reqs:   []wantReq{{"POST", "/v1/sys/storage/raft/join", "", `{"leader_api_addr":"http://127.0.0.1:8200"}`}},
			out:    "Key       Value\n---       -----\nJoined    true\n",
		},
		{
			name:   "operator raft join refused",
			args:   []string{"operator", "raft", "join", "-non-voter", "http://127.0.0.1:8200"},
			routes: map[string]reply{"POST /v1/sys/storage/raft/join": {200, `{"joined":false}`}},
			reqs:   []wantReq{{"POST", "/v1/sys/storage/raft/join", "", `{"leader_api_addr":"http://127.0.0.1:8200","non_voter":true}`}},
			code:   ExitError,
			errHas: []string{"Error: the node did not join the cluster at http://127.0.0.1:8200"},
		},
		{
			name: "operator raft list-peers",
			args: []string{"operator", "raft", "list-peers"},
			routes: map[string]reply{"GET /v1/sys/storage/raft/configuration": {200, `{"data":{"config":{"index":12,"servers":[
				{"node_id":"node-1","address":"127.0.0.1:8201","leader":true,"voter":true},
				{"node_id":"node-2","address":"127.0.0.1:8211","leader":false,"voter":true}]}}}`}},
			reqs: []wantReq{{"GET", "/v1/sys/storage/raft/configuration", "", ""}},
			out: "Node      Address           State       Voter\n----      -------           -----       -----\n" +
				"node-1    127.0.0.1:8201    leader      true\nnode-2    127.0.0.1:8211    follower    true\n",
		},
		{
			name:   "operator raft remove-peer",
			args:   []string{"operator", "raft", "remove-peer", "node-2"},
			routes: map[string]reply{"POST /v1/sys/storage/raft/remove-peer": {}},
			reqs:   []wantReq{{"POST", "/v1/sys/storage/raft/remove-peer", "", `{"server_id":"node-2"}`}},
			out:    "Peer removed successfully!\n",
		},
		{
			name: "status of the active node",
			args: []string{"status"},
			routes: map[string]reply{
				"GET /v1/sys/seal-status": {200, sealStatus},
				"GET /v1/sys/leader":      {200, `{"ha_enabled":true,"is_self":true,"leader_address":"http://127.0.0.1:8200","leader_cluster_address":"https://127.0.0.1:8201","raft_committed_index":40}`},
			},
			reqs: []wantReq{{"GET", "/v1/sys/seal-status", "", ""}, {"GET", "/v1/sys/leader", "", ""}},
			outHas: []string{"Sealed                  false\n", "HA Enabled              true\n", "HA Cluster              https://127.0.0.1:8201\n",
				"HA Mode                 active\n", "Raft Committed Index    40\n"},
		},
		{
			name: "status of a standby names the active node",
			args: []string{"status"},
			routes: map[string]reply{
				"GET /v1/sys/seal-status": {200, sealStatus},
				"GET /v1/sys/leader":      {200, `{"ha_enabled":true,"is_self":false,"leader_address":"http://127.0.0.1:8210","leader_cluster_address":"https://127.0.0.1:8211"}`},
			},
			reqs:   []wantReq{{"GET", "/v1/sys/seal-status", "", ""}, {"GET", "/v1/sys/leader", "", ""}},
			outHas: []string{"HA Mode                standby\n", "Active Node Address    http://127.0.0.1:8210\n"},
		},
		{
			name:   "status of a sealed node exits 2",
			args:   []string{"status"},
			routes: map[string]reply{"GET /v1/sys/seal-status": {200, `{"type":"shamir","initialized":false,"sealed":true,"t":0,"n":0,"progress":0}`}},
			reqs:   []wantReq{{"GET", "/v1/sys/seal-status", "", ""}},
			code:   ExitUsage,
			outHas: []string{"Initialized        false\n", "Sealed             true\n"},
		},
		{
			name: "status as JSON merges seal and leader status",
			args: []string{"status", "-format=json"},
			routes: map[string]reply{
				"GET /v1/sys/seal-status": {200, `{"sealed":false,"initialized":true}`},
				"GET /v1/sys/leader":      {200, `{"ha_enabled":true,"is_self":true}`},
			},
			reqs: []wantReq{{"GET", "/v1/sys/seal-status", "", ""}, {"GET", "/v1/sys/leader", "", ""}},
			out:  "{\n  \"ha_enabled\": true,\n  \"initialized\": true,\n  \"is_self\": true,\n  \"sealed\": false\n}\n",
		},
		{
			name:   "status: the server unreachable for the leader call",
			args:   []string{"status"},
			routes: map[string]reply{"GET /v1/sys/seal-status": {200, sealStatus}, "GET /v1/sys/leader": {500, `{"errors":["no leader"]}`}},
			reqs:   []wantReq{{"GET", "/v1/sys/seal-status", "", ""}, {"GET", "/v1/sys/leader", "", ""}},
			code:   ExitError,
			errHas: []string{"Error: no leader\n"},
		},
		{
			name:   "lease renew with an increment",
			args:   []string{"lease", "renew", "-increment=1h", "database/creds/ro/AbC"},
			routes: map[string]reply{"PUT /v1/sys/leases/renew": {200, `{"lease_id":"database/creds/ro/AbC","renewable":true,"lease_duration":5400,"data":null}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/leases/renew", "", `{"lease_id":"database/creds/ro/AbC","increment":3600}`}},
			out:    "Key                Value\n---                -----\nlease_id           database/creds/ro/AbC\nlease_duration     1h30m\nlease_renewable    true\n",
		},
		{
			name:   "lease renew with seconds",
			args:   []string{"lease", "renew", "-increment=90", "x"},
			routes: map[string]reply{"PUT /v1/sys/leases/renew": {200, `{"lease_id":"x","renewable":true,"lease_duration":90}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/leases/renew", "", `{"lease_id":"x","increment":90}`}},
			outHas: []string{"lease_duration     1m30s\n"},
		},
		{
			name:   "lease renew without an increment leaves it out",
			args:   []string{"lease", "renew", "x"},
			routes: map[string]reply{"PUT /v1/sys/leases/renew": {200, `{"lease_id":"x","renewable":true,"lease_duration":60}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/leases/renew", "", `{"lease_id":"x"}`}},
			outHas: []string{"lease_duration     1m\n"},
		},
		{
			name:   "lease revoke",
			args:   []string{"lease", "revoke", "database/creds/ro/AbC"},
			routes: map[string]reply{"PUT /v1/sys/leases/revoke": {}},
			reqs:   []wantReq{{"PUT", "/v1/sys/leases/revoke", "", `{"lease_id":"database/creds/ro/AbC"}`}},
			out:    "All revocation operations queued successfully!\n",
		},
		{
			name:   "lease revoke -prefix: sys/leases/revoke-prefix, as bao sends it",
			args:   []string{"lease", "revoke", "-prefix", "database/creds/ro"},
			routes: map[string]reply{"PUT /v1/sys/leases/revoke-prefix/database/creds/ro": {}},
			reqs:   []wantReq{{"PUT", "/v1/sys/leases/revoke-prefix/database/creds/ro", "", ""}},
			out:    "All revocation operations queued successfully!\n",
		},
		{
			name:   "lease revoke -force -prefix: sys/leases/revoke-force",
			args:   []string{"lease", "revoke", "-force", "-prefix", "database/creds/ro/"},
			routes: map[string]reply{"PUT /v1/sys/leases/revoke-force/database/creds/ro/": {}},
			reqs:   []wantReq{{"PUT", "/v1/sys/leases/revoke-force/database/creds/ro/", "", ""}},
			out:    "All revocation operations queued successfully!\n",
		},
		{
			name:   "lease revoke -force without -prefix is refused before any request",
			args:   []string{"lease", "revoke", "-force", "database/creds/ro/x"},
			code:   ExitUsage,
			errHas: []string{"-force requires -prefix"},
		},
		{
			name:   "lease lookup",
			args:   []string{"lease", "lookup", "x"},
			routes: map[string]reply{"PUT /v1/sys/leases/lookup": {200, `{"data":{"id":"x","ttl":59,"renewable":true,"expire_time":"2026-11-01T11:00:00Z"}}`}},
			reqs:   []wantReq{{"PUT", "/v1/sys/leases/lookup", "", `{"lease_id":"x"}`}},
			out:    "Key            Value\n---            -----\nexpire_time    2026-11-01T11:00:00Z\nid             x\nrenewable      true\nttl            59\n",
		},
		{
			name:   "lifecycle",
			args:   []string{"lifecycle"},
			routes: map[string]reply{"GET /v1/sys/lifecycle": {200, lifecycle}},
			reqs:   []wantReq{{"GET", "/v1/sys/lifecycle", "", ""}},
			out: "Kind          ID              State               Last Event                                      Source      Index    Reason\n" +
				"----          --              -----               ----------                                      ------      -----    ------\n" +
				"connection    database/new    configured          -\n" +
				"connection    database/pg     rollback_pending    rotate_failed (rotating -> rollback_pending)    api         9        database unreachable\n" +
				"plugin        database/pg     running             started (starting -> running)                   internal    6\n",
		},
		{
			name:   "lifecycle diagrams",
			args:   []string{"lifecycle", "-diagram"},
			routes: map[string]reply{"GET /v1/sys/lifecycle": {200, lifecycle}},
			reqs:   []wantReq{{"GET", "/v1/sys/lifecycle", "", ""}},
			out:    "%% connection\nstateDiagram-v2\n  configured --> rotating\n\n%% plugin\nstateDiagram-v2\n  idle --> starting\n",
		},
		{
			name:   "lifecycle with nothing yet",
			args:   []string{"lifecycle"},
			routes: map[string]reply{"GET /v1/sys/lifecycle": {200, `{"data":{"machines":[],"diagrams":{}}}`}},
			reqs:   []wantReq{{"GET", "/v1/sys/lifecycle", "", ""}},
			out:    "No plugin instances or connections yet.\n",
		},
		{
			name:   "lifecycle as JSON",
			args:   []string{"lifecycle", "-format=json"},
			routes: map[string]reply{"GET /v1/sys/lifecycle": {200, `{"data":{"machines":[]}}`}},
			reqs:   []wantReq{{"GET", "/v1/sys/lifecycle", "", ""}},
			out:    "{\n  \"machines\": []\n}\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, tc.routes)
			env := map[string]string{envAddr: api.srv.URL, envToken: testToken}
			res := runCLI(t, env, tc.stdin, tc.args...)
			if res.code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, tc.code, res.stdout, res.stderr)
			}
			if tc.out != "" && res.stdout != tc.out {
				t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, tc.out)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(res.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, res.stdout)
				}
			}
			for _, s := range tc.errHas {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, res.stderr)
				}
			}
			if tc.code == ExitOK && len(tc.errHas) == 0 && res.stderr != "" {
				t.Errorf("unexpected stderr:\n%s", res.stderr)
			}
			if strings.Contains(res.stdout+res.stderr, testToken) {
				t.Errorf("the token appears in the output")
			}
			got := api.requests()
			if len(got) != len(tc.reqs) {
				t.Fatalf("%d requests, want %d: %+v", len(got), len(tc.reqs), got)
			}
			for i, w := range tc.reqs {
				g := got[i]
				if g.method != w.method || g.path != w.path || g.query != w.query {
					t.Errorf("request %d: %s %s?%s, want %s %s?%s", i, g.method, g.path, g.query, w.method, w.path, w.query)
				}
				if !sameJSON(t, g.body, w.body) {
					t.Errorf("request %d body: %s, want %s", i, g.body, w.body)
				}
				if g.token != testToken {
					t.Errorf("request %d: X-Vault-Token %q, want the test token", i, g.token)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stdin  string
		env    map[string]string
		code   int    // ExitUsage unless set
		usage  string // the usage line expected on stderr ("" for none checked)
		errHas []string
	}{
		{name: "no command", args: nil, errHas: []string{"Error: no command given", "Usage: node <command>", "plugin register"}},
		{name: "unknown command", args: []string{"frob"}, errHas: []string{`Error: unknown command "frob"`, "Usage: node <command>"}},
		{name: "group without subcommand", args: []string{"plugin"}, errHas: []string{`Error: "plugin" needs a subcommand`, "Usage: node plugin <subcommand>", "plugin register", "plugin reload"}},
		{name: "unknown subcommand", args: []string{"plugin", "frob", "x"}, errHas: []string{`Error: unknown command "plugin frob"`, "Usage: node plugin <subcommand>"}},
		{name: "nested group", args: []string{"operator", "raft"}, errHas: []string{`Error: "operator raft" needs a subcommand`, "operator raft list-peers"}},
		{name: "server is not ours", args: []string{"server", "-dev"}, errHas: []string{`"server" is run by the node binary itself`}},
		{name: "register without sha256", args: []string{"plugin", "register", "database", "pg"}, usage: "Usage: node plugin register [options] TYPE NAME", errHas: []string{"Error: missing -sha256"}},
		{name: "register with a bad sha256", args: []string{"plugin", "register", "-sha256=abc", "database", "pg"}, usage: "Usage: node plugin register", errHas: []string{`Error: invalid -sha256 "abc": want 64 hex digits`}},
		{name: "register with one argument", args: []string{"plugin", "register", "-sha256=" + sha, "database"}, usage: "Usage: node plugin register", errHas: []string{"Error: not enough arguments: want TYPE NAME, got 1"}},
		{name: "register with a flag after the arguments", args: []string{"plugin", "register", "database", "pg", "-sha256=" + sha}, usage: "Usage: node plugin register", errHas: []string{"Error: option -sha256 must come before the arguments"}},
		{name: "register with a bad env", args: []string{"plugin", "register", "-env=NOVALUE", "-sha256=" + sha, "database", "pg"}, usage: "Usage: node plugin register", errHas: []string{`invalid value "NOVALUE" for flag -env: want KEY=VALUE`}},
		{name: "unknown flag", args: []string{"read", "-bogus", "x"}, usage: "Usage: node read [options] PATH", errHas: []string{"flag provided but not defined: -bogus"}},
		{name: "bad format", args: []string{"read", "-format=yaml", "x"}, usage: "Usage: node read", errHas: []string{`Error: invalid -format "yaml": want table or json`}},
		{name: "read without a path", args: []string{"read"}, usage: "Usage: node read", errHas: []string{"Error: not enough arguments: want PATH, got 0"}},
		{name: "read with two paths", args: []string{"read", "a", "b"}, usage: "Usage: node read", errHas: []string{"Error: too many arguments: want PATH, got 2"}},
		{name: "write a pair without =", args: []string{"write", "p", "a=b", "oops"}, usage: "Usage: node write", errHas: []string{`Error: invalid key=value pair "oops": missing '='`}},
		{name: "write an empty key", args: []string{"write", "p", "=v"}, usage: "Usage: node write", errHas: []string{`Error: invalid key=value pair "=v": empty key`}},
		{name: "write a key twice", args: []string{"write", "p", "a=1", "a=2"}, usage: "Usage: node write", errHas: []string{`Error: key "a" given twice`}},
		{name: "write stdin twice", args: []string{"write", "p", "a=-", "b=-"}, usage: "Usage: node write", errHas: []string{`Error: only one value can be read from stdin (key "b")`}},
		{name: "write a missing file", args: []string{"write", "p", "a=@/nonexistent/file"}, usage: "Usage: node write", errHas: []string{`Error: reading the value of "a": open /nonexistent/file`}},
		{name: "write stdin that is not JSON", args: []string{"write", "p", "-"}, stdin: "[1]", usage: "Usage: node write", errHas: []string{"Error: stdin is not a JSON object"}},
		{name: "reload without a target", args: []string{"plugin", "reload"}, usage: "Usage: node plugin reload [options]", errHas: []string{"Error: need -plugin or -mounts"}},
		{name: "reload with both", args: []string{"plugin", "reload", "-plugin=pg", "-mounts=a"}, errHas: []string{"Error: -plugin and -mounts exclude each other"}},
		{name: "reload with a bad scope", args: []string{"plugin", "reload", "-plugin=pg", "-scope=local"}, errHas: []string{`Error: invalid -scope "local"`}},
		{name: "reload with an argument", args: []string{"plugin", "reload", "pg"}, errHas: []string{`Error: plugin reload takes no arguments, got "pg"`}},
		{name: "init threshold over shares", args: []string{"operator", "init", "-key-shares=2", "-key-threshold=3"}, usage: "Usage: node operator init", errHas: []string{"Error: -key-threshold must be between 1 and -key-shares (2), got 3"}},
		{name: "unseal without a key", args: []string{"operator", "unseal"}, stdin: "\n", usage: "Usage: node operator unseal [options] [KEY]", errHas: []string{"Error: no unseal key"}},
		{name: "renew with a bad increment", args: []string{"lease", "renew", "-increment=soon", "x"}, errHas: []string{`invalid value "soon" for flag -increment: want a duration such as 1h or a number of seconds`}},
		{name: "status with an argument", args: []string{"status", "now"}, usage: "Usage: node status [options]", errHas: []string{`Error: status takes no arguments, got "now"`}},
		{name: "address without a scheme", args: []string{"status"}, env: map[string]string{envAddr: "127.0.0.1:8200"}, errHas: []string{`Error: invalid address "127.0.0.1:8200": want a URL such as http://127.0.0.1:8200`}},
		{name: "event of an unknown kind", args: []string{"event", "inject", "explode"}, usage: "Usage: node event inject [options] KIND [KEY=VALUE ...]", errHas: []string{`Error: invalid event: kind: unknown kind "explode"`}},
		{name: "event without its target", args: []string{"event", "inject", "conn_reset"}, errHas: []string{"Error: invalid event: target: kind conn_reset needs a target of type connection"}},
		{name: "event with a bad target type", args: []string{"event", "inject", "-target-type=db", "-target=x", "reload"}, errHas: []string{`Error: invalid event: target.type: unknown target type "db"`}},
		{name: "event with a bad id", args: []string{"event", "inject", "-id=a b", "step_down"}, errHas: []string{"Error: invalid event: id: character ' ' at byte 1 not allowed"}},
		{name: "event with a bad param", args: []string{"event", "inject", "step_down", "ttl"}, errHas: []string{`Error: invalid key=value pair "ttl": missing '='`}},
		{name: "event with a bad cluster", args: []string{"event", "inject", "-cluster=a.b", "step_down"}, errHas: []string{`Error: invalid -cluster: events: cluster name "a.b"`}},
		{name: "help for an unknown command", args: []string{"help", "frob"}, errHas: []string{`Error: unknown command "frob"`, "Usage: node help [COMMAND]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Any request is a failure: usage errors are caught before the network.
			api := newFakeAPI(t, nil)
			env := map[string]string{envAddr: api.srv.URL, envToken: testToken, envNATS: "nats://" + closedAddr(t)}
			for k, v := range tc.env {
				env[k] = v
			}
			res := runCLI(t, env, tc.stdin, tc.args...)
			want := tc.code
			if want == 0 {
				want = ExitUsage
			}
			if res.code != want {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", res.code, want, res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("unexpected stdout:\n%s", res.stdout)
			}
			if tc.usage != "" && !strings.Contains(res.stderr, tc.usage) {
				t.Errorf("stderr lacks the usage %q:\n%s", tc.usage, res.stderr)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, res.stderr)
				}
			}
			if n := len(api.requests()); n != 0 {
				t.Errorf("%d requests sent for a usage error", n)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		outHas []string
	}{
		{name: "help lists every command", args: []string{"help"}, outHas: commandNames()},
		{name: "-h lists every command", args: []string{"-h"}, outHas: []string{"Usage: node <command>", "server", "BATON_ADDR", "BATON_TOKEN", "BATON_NATS_URL"}},
		{name: "help of a command", args: []string{"help", "plugin", "register"}, outHas: []string{"Usage: node plugin register [options] TYPE NAME", "-sha256", "-address", "-token", "-format"}},
		{name: "help of a group", args: []string{"help", "operator"}, outHas: []string{"Usage: node operator <subcommand>", "operator raft join"}},
		{name: "help of event inject lists the kinds", args: []string{"help", "event", "inject"}, outHas: []string{"step_down", "conn_reset", "-sync", "-nats"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, nil, "", tc.args...)
			if res.code != ExitOK {
				t.Errorf("exit code %d, want 0\nstderr:\n%s", res.code, res.stderr)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(res.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, res.stdout)
				}
			}
		})
	}
	// Every command answers -h with its own usage and exit code 0.
	for _, c := range commands {
		t.Run(c.name+" -h", func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, nil, "", append(strings.Fields(c.name), "-h")...)
			if res.code != ExitOK || !strings.Contains(res.stderr, "Usage: node "+c.name) {
				t.Errorf("exit code %d, stderr:\n%s", res.code, res.stderr)
			}
		})
	}
}

func commandNames() []string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return names
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	addr := "http://" + closedAddr(t)
	res := runCLI(t, map[string]string{envAddr: addr, envToken: testToken}, "", "read", "database/creds/ro")
	if res.code != ExitError {
		t.Errorf("exit code %d, want 1", res.code)
	}
	want := "Error: cannot reach Baton at " + addr + ": dial tcp"
	if !strings.HasPrefix(res.stderr, want) || !strings.Contains(res.stderr, "connection refused") {
		t.Errorf("stderr %q, want it to start with %q and say connection refused", res.stderr, want)
	}
}

// TestAddressAndTokenPrecedence checks flag over environment over default.
func TestAddressAndTokenPrecedence(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, map[string]reply{"PUT /v1/sys/seal": {}})
	dead := "http://" + closedAddr(t)
	res := runCLI(t, map[string]string{envAddr: dead, envToken: "env-token"}, "",
		"operator", "seal", "-address="+api.srv.URL, "-token="+testToken)
	if res.code != ExitOK {
		t.Fatalf("exit code %d: %s", res.code, res.stderr)
	}
	if got := api.requests(); len(got) != 1 || got[0].token != testToken {
		t.Errorf("requests %+v, want one with the flag's token", got)
	}
	// Nothing set: the default address, and no token header at all.
	e := &env{getenv: func(string) string { return "" }}
	in := e.newInvocation(cmdStatus)
	c, err := in.client()
	if err != nil {
		t.Fatal(err)
	}
	if c.base != defaultAddr || c.token != "" {
		t.Errorf("default client: base %q token %q", c.base, c.token)
	}
}

// TestOpenBaoEnvironment checks that BAO_ADDR/VAULT_ADDR and BAO_TOKEN/VAULT_TOKEN are read
// when the BATON_ ones are unset, in OpenBao's order (BAO_ before VAULT_), and that BATON_
// and the flags still come first.
func TestOpenBaoEnvironment(t *testing.T) {
	tests := []struct {
		name                string
		env                 map[string]string
		flagAddr, flagToken string
		wantAddr, wantToken string
	}{
		{name: "BAO", env: map[string]string{"BAO_ADDR": "http://bao:1", "BAO_TOKEN": "bao-tok"}, wantAddr: "http://bao:1", wantToken: "bao-tok"},
		{name: "VAULT", env: map[string]string{"VAULT_ADDR": "http://vault:2", "VAULT_TOKEN": "vault-tok"}, wantAddr: "http://vault:2", wantToken: "vault-tok"},
		{name: "BAO before VAULT", env: map[string]string{"BAO_ADDR": "http://bao:1", "VAULT_ADDR": "http://vault:2", "BAO_TOKEN": "bao-tok", "VAULT_TOKEN": "vault-tok"},
			wantAddr: "http://bao:1", wantToken: "bao-tok"},
		{name: "BATON first", env: map[string]string{envAddr: "http://baton:3", "BAO_ADDR": "http://bao:1", envToken: "baton-tok", "VAULT_TOKEN": "vault-tok"},
			wantAddr: "http://baton:3", wantToken: "baton-tok"},
		{name: "mixed", env: map[string]string{"VAULT_ADDR": "http://vault:2", "BAO_TOKEN": "bao-tok"}, wantAddr: "http://vault:2", wantToken: "bao-tok"},
		{name: "flags first", env: map[string]string{"BAO_ADDR": "http://bao:1", "BAO_TOKEN": "bao-tok"}, flagAddr: "http://flag:4", flagToken: "flag-tok",
			wantAddr: "http://flag:4", wantToken: "flag-tok"},
		{name: "none", env: map[string]string{}, wantAddr: defaultAddr, wantToken: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{getenv: func(k string) string { return tt.env[k] }}
			in := e.newInvocation(cmdStatus)
			in.address, in.token = tt.flagAddr, tt.flagToken
			c, err := in.client()
			if err != nil {
				t.Fatal(err)
			}
			if c.base != tt.wantAddr || c.token != tt.wantToken {
				t.Errorf("client base %q token %q, want %q %q", c.base, c.token, tt.wantAddr, tt.wantToken)
			}
		})
	}
}

// TestRunReadsProcessEnvironment checks that the exported Run takes BATON_ADDR and BATON_TOKEN
// from the process environment.
func TestRunReadsProcessEnvironment(t *testing.T) {
	api := newFakeAPI(t, map[string]reply{"PUT /v1/sys/seal": {}})
	t.Setenv(envAddr, api.srv.URL+"/")
	t.Setenv(envToken, testToken)
	var out, errb strings.Builder
	if code := Run(t.Context(), []string{"operator", "seal"}, strings.NewReader(""), &out, &errb); code != ExitOK {
		t.Fatalf("exit code %d: %s", code, errb.String())
	}
	if got := api.requests(); len(got) != 1 || got[0].token != testToken || got[0].path != "/v1/sys/seal" {
		t.Errorf("requests %+v", got)
	}
}

// TestRedirectKeepsToken follows a standby's 307 to the active node on another port and on
// another host name, and checks that method, body and token arrive there.
func TestRedirectKeepsToken(t *testing.T) {
	t.Parallel()
	active := newFakeAPI(t, map[string]reply{
		"PUT /v1/database/config/pg":  {},
		"LIST /v1/database/roles":     {200, `{"data":{"keys":["ro"]}}`},
		"GET /v1/database/creds/ro":   {200, `{"data":{"username":"u"}}`},
		"DELETE /v1/database/roles/x": {},
	})
	activeURLs := map[string]string{
		"another port": active.srv.URL,
		"another host": strings.Replace(active.srv.URL, "127.0.0.1", "localhost", 1),
	}
	for name, target := range activeURLs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			}))
			t.Cleanup(standby.Close)
			env := map[string]string{envAddr: standby.URL, envToken: testToken}
			for _, args := range [][]string{
				{"write", "database/config/pg", "plugin_name=pg"},
				{"list", "database/roles"},
				{"read", "database/creds/ro"},
				{"delete", "database/roles/x"},
			} {
				if res := runCLI(t, env, "", args...); res.code != ExitOK {
					t.Errorf("%v: exit code %d: %s", args, res.code, res.stderr)
				}
			}
		})
	}
	t.Cleanup(func() {
		got := active.requests()
		if len(got) != 2*4 {
			t.Errorf("the active node got %d requests, want 8: %+v", len(got), got)
		}
		for _, r := range got {
			if r.token != testToken {
				t.Errorf("%s %s reached the active node with token %q", r.method, r.path, r.token)
			}
			if r.method == "PUT" && !sameJSON(t, r.body, `{"plugin_name":"pg"}`) {
				t.Errorf("PUT body after the redirect: %q", r.body)
			}
		}
	})
}

func TestHumanSeconds(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0s", 45: "45s", 60: "1m", 90: "1m30s", 3600: "1h", 5400: "1h30m", 2764800: "768h", 3661: "1h1m1s"} {
		if got := humanSeconds(n); got != want {
			t.Errorf("humanSeconds(%d) = %q, want %q", n, got, want)
		}
	}
}
