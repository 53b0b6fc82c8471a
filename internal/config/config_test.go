package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// minimal is the smallest file Baton accepts; lines: 1 api_addr, 2 listener, 3 address,
// 4 tls_disable, 6 storage, 7 path, 8 node_id.
const minimal = `api_addr = "http://127.0.0.1:8200"
listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}
storage "raft" {
  path    = "/tmp/n1"
  node_id = "n1"
}
`

// parse parses src as test.hcl and fails the test on an error.
func parse(t *testing.T, src string) (*Config, []Warning) {
	t.Helper()
	c, ws, err := Parse([]byte(src), "test.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c, ws
}

// warningLines renders warnings as "line key: reason".
func warningLines(ws []Warning) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%d %s", w.Line, w))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestOpenBaoFile(t *testing.T) {
	c, ws, err := Load("testdata/openbao.hcl")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		File:                  "testdata/openbao.hcl",
		UI:                    true,
		DisableMlock:          true,
		APIAddr:               "http://10.0.0.11:8200",
		ClusterAddr:           "https://10.0.0.11:8201",
		PluginDirectory:       "/opt/baton/plugins",
		PluginFileUID:         ptr(0),
		PluginFilePermissions: ptr(os.FileMode(0o755)),
		PluginStartTimeout:    15 * time.Second,
		LogLevel:              hclog.Warn,
		ClusterName:           "prod-eu",
		DefaultLeaseTTL:       768 * time.Hour,
		MaxLeaseTTL:           768 * time.Hour,
		Listener: Listener{
			Address: "0.0.0.0:8200", ClusterAddress: "0.0.0.0:8201", TLSDisable: true,
			HTTPReadHeaderTimeout: DefaultHTTPReadHeaderTimeout, HTTPReadTimeout: DefaultHTTPReadTimeout,
			HTTPIdleTimeout: DefaultHTTPIdleTimeout, MaxRequestSize: DefaultMaxRequestSize,
			MaxRequestDuration: DefaultMaxRequestDuration, MaxConnections: DefaultMaxConnections,
			UnauthenticatedMetricsAccess: true,
		},
		Storage: Storage{
			Path: "/var/lib/baton/node1", NodeID: "node1", PerformanceMultiplier: 5,
			SnapshotThreshold: 4096, TrailingLogs: 5000, SnapshotInterval: 30 * time.Second,
			AutopilotReconcileInterval: 10 * time.Second,
			RetryJoin:                  []RetryJoin{{LeaderAPIAddr: "http://10.0.0.12:8200", LeaderCACertFile: "/etc/baton/ca.pem"}, {LeaderAPIAddr: "http://10.0.0.13:8200"}},
		},
		NATS: NATS{
			URL:         "nats://10.0.0.20:4222, nats://10.0.0.21:4222",
			Credentials: "/etc/baton/nats.creds",
			TLSCA:       "/etc/baton/nats-ca.pem",
			EventRate:   DefaultEventRate,
		},
		Seal:      &Seal{Type: SealFile, Path: "/run/baton/unseal-key"},
		Rollback:  Rollback{Period: 30 * time.Second, MinAge: 2 * time.Minute},
		Telemetry: Telemetry{PrometheusRetentionTime: 30 * time.Second, DisableHostname: true},
	}
	c.pos = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config:\n got %+v\nwant %+v", c, want)
	}
	if got, want := c.RaftAdvertise(), "10.0.0.11:8201"; got != want {
		t.Errorf("RaftAdvertise = %q, want %q", got, want)
	}
	if c.NATS.Embedded() {
		t.Error("NATS.Embedded with a url set")
	}

	wantWarnings := []string{
		"3 ui: Baton has no UI; ignored",
		"4 disable_mlock: Baton never locks memory (no mlock), so this changes nothing; accepted",
		"23 listener.tls_cert_file: tls_disable = true: the listener serves plain HTTP; ignored",
		`29 listener "unix": Baton serves one listener "tcp"; ignored`,
		"71 pid_file: not a setting Baton uses; ignored",
		`72 api_adr: not a setting Baton knows; ignored: did you mean "api_addr"?`,
	}
	if got := warningLines(ws); !reflect.DeepEqual(got, wantWarnings) {
		t.Errorf("warnings:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(wantWarnings, "\n     "))
	}
	for _, w := range ws {
		wantLevel := hclog.Warn
		if w.Key == "disable_mlock" {
			wantLevel = hclog.Info
		}
		if w.Level != wantLevel || w.File != "testdata/openbao.hcl" {
			t.Errorf("warning %q: level %s file %q, want %s in testdata/openbao.hcl", w, w.Level, w.File, wantLevel)
		}
	}
}

func TestDerivedValues(t *testing.T) {
	tests := []struct {
		name          string
		src           string
		apiAddr       string
		clusterBind   string
		raftAdvertise string
		warnings      []string
	}{
		{
			name:          "minimal file: Raft on the API port + 1",
			src:           minimal,
			apiAddr:       "http://127.0.0.1:8200",
			clusterBind:   "127.0.0.1:8201",
			raftAdvertise: "127.0.0.1:8201",
			warnings: []string{
				"2 listener.cluster_address: not set; Raft binds to 127.0.0.1:8201 (the API port + 1, as OpenBao does)",
				"2 cluster_addr: not set; other nodes reach Raft at 127.0.0.1:8201: set cluster_addr if they need another address",
			},
		},
		{
			name: "api_addr from a wildcard listener; cluster_addr from api_addr's host",
			src: `listener "tcp" {
  address         = "0.0.0.0:9200"
  cluster_address = ":9301"
  tls_disable     = "true"
}
storage "raft" {
  path    = "/tmp/n1"
  node_id = "n1"
}`,
			apiAddr:       "http://127.0.0.1:9200",
			clusterBind:   ":9301",
			raftAdvertise: "127.0.0.1:9301",
			warnings: []string{
				"2 api_addr: not set; derived http://127.0.0.1:9200 from listener.address: the listener listens on every interface, so 127.0.0.1 stands in: set api_addr to the address other nodes reach",
				"3 cluster_addr: not set; other nodes reach Raft at 127.0.0.1:9301: set cluster_addr if they need another address",
			},
		},
		{
			name:          "cluster_addr as a bare host:port",
			src:           minimal + `cluster_addr = "10.1.2.3:8201"` + "\n" + `listener "tcp" { address = "127.0.0.1:9999" }`,
			apiAddr:       "http://127.0.0.1:8200",
			clusterBind:   "127.0.0.1:8201",
			raftAdvertise: "10.1.2.3:8201",
			warnings: []string{
				"2 listener.cluster_address: not set; Raft binds to 127.0.0.1:8201 (the API port + 1, as OpenBao does)",
				`11 listener "tcp": Baton serves only the first listener "tcp" (line 2); ignored`,
			},
		},
		{
			name:          "cluster_addr as a tcp URL",
			src:           minimal + `cluster_addr = "tcp://node1.internal:8201"`,
			apiAddr:       "http://127.0.0.1:8200",
			clusterBind:   "127.0.0.1:8201",
			raftAdvertise: "node1.internal:8201",
			warnings: []string{
				"2 listener.cluster_address: not set; Raft binds to 127.0.0.1:8201 (the API port + 1, as OpenBao does)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ws := parse(t, tt.src)
			if c.APIAddr != tt.apiAddr || c.Listener.ClusterAddress != tt.clusterBind || c.RaftAdvertise() != tt.raftAdvertise {
				t.Errorf("api_addr %q, cluster bind %q, raft advertise %q; want %q, %q, %q",
					c.APIAddr, c.Listener.ClusterAddress, c.RaftAdvertise(), tt.apiAddr, tt.clusterBind, tt.raftAdvertise)
			}
			if got := warningLines(ws); !reflect.DeepEqual(got, tt.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", got, tt.warnings)
			}
			if c.ClusterName != DefaultClusterName || c.LogLevel != hclog.Info || !c.NATS.Embedded() || c.Seal != nil {
				t.Errorf("defaults: cluster %q, level %s, embedded %v, seal %v", c.ClusterName, c.LogLevel, c.NATS.Embedded(), c.Seal)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(minimal, old) {
			panic("minimal lacks " + old)
		}
		return strings.Replace(minimal, old, new, 1)
	}
	tests := []struct {
		name string
		src  string
		want []string // each is one joined error line, in order
	}{
		{"negative max_lease_ttl", minimal + "max_lease_ttl = \"-1h\"\n",
			[]string{"test.hcl:10: max_lease_ttl: must be a duration from 0 to 876000h0m0s (OpenBao's default is 768h), not -1h0m0s"}},
		{"max_lease_ttl that overflows", minimal + "max_lease_ttl = 99999999999999999\n",
			[]string{"test.hcl:10: max_lease_ttl: is out of range: at most 9223372036 seconds"}},
		{"max_lease_ttl not a duration", minimal + "max_lease_ttl = \"a month\"\n",
			[]string{`test.hcl:10: max_lease_ttl: must be a duration: write max_lease_ttl = "30s" (or "1m", "1h", or a number of seconds)`}},
		{"default_lease_ttl above max_lease_ttl", minimal + "default_lease_ttl = \"2h\"\nmax_lease_ttl = 3600\n",
			[]string{"test.hcl:10: default_lease_ttl: 2h0m0s is longer than max_lease_ttl (1h0m0s): lower it or raise max_lease_ttl"}},
		{"default_lease_ttl above the default max", minimal + "default_lease_ttl = \"800h\"\n",
			[]string{"test.hcl:10: default_lease_ttl: 800h0m0s is longer than max_lease_ttl (768h0m0s): lower it or raise max_lease_ttl"}},
		{"TLS listener without certificates", replace("tls_disable = true", "tls_disable = false"), []string{
			`test.hcl:1: api_addr: "http://127.0.0.1:8200" does not match the listener, which serves https: write https://127.0.0.1:8200`,
			"test.hcl:4: listener.tls_disable: the listener serves TLS unless tls_disable = true, and tls_cert_file and tls_key_file are not both set: set them (node operator tls-cert makes a CA and certificates), or write tls_disable = true for plain HTTP"}},
		{"TLS listener by default", replace("  tls_disable = true\n", ""), []string{
			`test.hcl:1: api_addr: "http://127.0.0.1:8200" does not match the listener, which serves https: write https://127.0.0.1:8200`,
			"test.hcl:2: listener.tls_disable: the listener serves TLS unless tls_disable = true, and tls_cert_file and tls_key_file are not both set: set them (node operator tls-cert makes a CA and certificates), or write tls_disable = true for plain HTTP"}},
		{"tls_disable not a boolean", replace("tls_disable = true", `tls_disable = "yes please"`),
			[]string{"test.hcl:4: listener.tls_disable: must be true or false: write tls_disable = true"}},
		{"storage other than raft", replace(`storage "raft"`, `storage "consul"`),
			[]string{`test.hcl:6: storage: storage "consul": Baton stores its state only in raft: use storage "raft"`}},
		{"two storage blocks", minimal + `storage "raft" {}`,
			[]string{`test.hcl:10: storage: only one storage block is allowed: Baton stores its state only in raft: use storage "raft"`}},
		{"no storage", "api_addr = \"http://127.0.0.1:8200\"\nlistener \"tcp\" {\n address = \"127.0.0.1:8200\"\n tls_disable = true\n}\n",
			[]string{`test.hcl:1: storage: a storage "raft" block is required: write storage "raft" { path = "/var/lib/baton/node1"  node_id = "node1" }`}},
		{"no path nor node_id", replace("  path    = \"/tmp/n1\"\n  node_id = \"n1\"\n", ""),
			[]string{
				`test.hcl:6: storage.path: is required: write storage "raft" { path = "/var/lib/baton/NODE" }`,
				`test.hcl:6: storage.node_id: is required: write storage "raft" { node_id = "node1" }, unique in the cluster`,
			}},
		{"node_id with a space", replace(`node_id = "n1"`, `node_id = "node 1"`),
			[]string{"test.hcl:8: storage.node_id: must not contain spaces or control characters"}},
		{"no listener", "api_addr = \"http://127.0.0.1:8200\"\nstorage \"raft\" {\n path = \"/x\"\n node_id = \"n\"\n}\n",
			[]string{`test.hcl:1: listener: a listener "tcp" block is required: write listener "tcp" { address = "127.0.0.1:8200"  cluster_address = "127.0.0.1:8201"  tls_disable = true }`}},
		{"listener without address", replace("  address     = \"127.0.0.1:8200\"\n", ""),
			[]string{
				`test.hcl:2: listener.address: is required: write listener "tcp" { address = "127.0.0.1:8200" }`,
				`test.hcl:2: listener.cluster_address: is required: write cluster_address = "127.0.0.1:8201"`,
			}},
		{"listener address without port", replace(`address     = "127.0.0.1:8200"`, `address = "localhost"`),
			[]string{
				`test.hcl:3: listener.address: "localhost" is not host:port: write "127.0.0.1:8200"`,
				`test.hcl:2: listener.cluster_address: is required: write cluster_address = "127.0.0.1:8201"`,
			}},
		{"listener port 0", replace(`address     = "127.0.0.1:8200"`, `address = "127.0.0.1:0"`),
			[]string{
				`test.hcl:3: listener.address: "127.0.0.1:0": port "0" is not a port from 1 to 65535: pick a fixed port`,
				`test.hcl:2: listener.cluster_address: is required: write cluster_address = "127.0.0.1:8201"`,
			}},
		{"Raft on the API port", replace("tls_disable = true", `tls_disable = true
  cluster_address = "127.0.0.1:8200"`),
			[]string{"test.hcl:5: listener.cluster_address: is the API address too: give Raft its own port"}},
		{"api_addr https", replace("http://127.0.0.1:8200", "https://127.0.0.1:8200"),
			[]string{`test.hcl:1: api_addr: "https://127.0.0.1:8200" does not match the listener, which serves http: write http://127.0.0.1:8200`}},
		{"api_addr without port", replace("http://127.0.0.1:8200", "http://node1"),
			[]string{`test.hcl:1: api_addr: "http://node1" has no port: write "http://node1:8200"`}},
		{"api_addr wildcard", replace("http://127.0.0.1:8200", "http://0.0.0.0:8200"),
			[]string{`test.hcl:1: api_addr: "0.0.0.0:8200" names 0.0.0.0, which other nodes cannot reach: write this node's own address`}},
		{"api_addr with a path", replace("http://127.0.0.1:8200", "http://127.0.0.1:8200/v1"),
			[]string{`test.hcl:1: api_addr: "http://127.0.0.1:8200/v1" must be scheme, host and port only: write "http://127.0.0.1:8200"`}},
		{"api_addr bare", replace("http://127.0.0.1:8200", "127.0.0.1:8200"),
			[]string{`test.hcl:1: api_addr: "127.0.0.1:8200" has no scheme: write "http://127.0.0.1:8200"`}},
		{"api_addr as a variable", replace(`"http://127.0.0.1:8200"`, "var.addr"),
			[]string{"test.hcl:1: api_addr: Variables not allowed: Variables may not be used here."}},
		{"cluster_addr scheme", minimal + `cluster_addr = "ftp://10.0.0.1:8201"`,
			[]string{`test.hcl:10: cluster_addr: "ftp://10.0.0.1:8201" has scheme "ftp": write "http://10.0.0.1:8201" or "10.0.0.1:8201"`}},
		{"seal transit", minimal + `seal "transit" {
  address = "https://vault:8200"
  token   = "s.x"
}`, []string{`test.hcl:10: seal: seal type "transit" is not supported: use seal "file" or "env"`}},
		{"two seals", minimal + "seal \"env\" {}\nseal \"file\" { path = \"/k\" }",
			[]string{"test.hcl:11: seal: only one seal block is allowed (Baton does not migrate seals): keep the one at line 10"}},
		{"seal file without path", minimal + `seal "file" {}`,
			[]string{`test.hcl:10: seal.path: is required: write seal "file" { path = "/run/baton/unseal-key" }`}},
		{"multiplier too large", replace(`node_id = "n1"`, "node_id = \"n1\"\n  performance_multiplier = 11"),
			[]string{"test.hcl:9: storage.performance_multiplier: 11 is out of range: write 0 (Baton's fast profile) or 1 to 10"}},
		{"multiplier fractional", replace(`node_id = "n1"`, "node_id = \"n1\"\n  performance_multiplier = 1.5"),
			[]string{"test.hcl:9: storage.performance_multiplier: must be a whole number: write performance_multiplier = 1"}},
		{"path of the wrong type", replace(`path    = "/tmp/n1"`, `path = ["/a", "/b"]`),
			[]string{`test.hcl:7: storage.path: must be a string, not tuple: write path = "…"`}},
		{"snapshot_threshold negative", replace(`node_id = "n1"`, "node_id = \"n1\"\n  snapshot_threshold = -1"),
			[]string{"test.hcl:9: storage.snapshot_threshold: must be a count of 0 or more"}},
		{"retry_join without leader_api_addr", replace(`node_id = "n1"`, "node_id = \"n1\"\n  retry_join { auto_join = \"provider=aws\" }"),
			[]string{`test.hcl:9: storage.retry_join.leader_api_addr: is required in each retry_join block: write leader_api_addr = "http://HOST:8200"`}},
		{"retry_join over ftp", replace(`node_id = "n1"`, "node_id = \"n1\"\n  retry_join {\n    leader_api_addr = \"ftp://10.0.0.2:8200\"\n  }"),
			[]string{`test.hcl:10: storage.retry_join.leader_api_addr: "ftp://10.0.0.2:8200" has scheme "ftp": write "https://10.0.0.2:8200"`}},
		{"nats port not a number", minimal + `nats { port = "abc" }`,
			[]string{"test.hcl:10: nats.port: must be a whole number: write port = 1"}},
		{"nats port out of range", minimal + `nats { port = 70000 }`,
			[]string{"test.hcl:10: nats.port: 70000 is not a port: write 0 (any free port) to 65535"}},
		{"nats url with a secret and a wrong scheme", minimal + `nats { url = "nats://a:4222,http://user:s3cret@b:4222" }`,
			[]string{`test.hcl:10: nats.url: entry 2 has scheme "http": write "nats://HOST:4222" (or tls://, ws://, wss://)`}},
		{"nats credentials and nkey", minimal + "nats {\n  url = \"nats://a:4222\"\n  credentials = \"/c\"\n  nkey_seed = \"/s\"\n}",
			[]string{"test.hcl:13: nats.nkey_seed: is set together with credentials: keep one of them"}},
		{"nats cert without key", minimal + "nats {\n  url = \"nats://a:4222\"\n  tls_cert = \"/c\"\n}",
			[]string{"test.hcl:12: nats.tls_cert: tls_cert and tls_key go together: set both or neither"}},
		{"nats host not an address", minimal + `nats { host = "example.com:4222" }`,
			[]string{`test.hcl:10: nats.host: "example.com:4222" is not an IP address: write one the host has, such as 0.0.0.0 (every address) or 10.0.0.5, or leave it out (127.0.0.1)`}},
		{"embedded nats cert without key", minimal + "nats {\n  tls {\n    cert_file = \"/c\"\n    ca_file = \"/ca\"\n  }\n}",
			[]string{"test.hcl:12: nats.tls_cert: tls_cert and tls_key go together: set both or neither"}},
		{"embedded nats TLS without a CA", minimal + "nats {\n  tls {\n    cert_file = \"/c\"\n    key_file = \"/k\"\n  }\n}",
			[]string{"test.hcl:11: nats.tls.ca_file: is needed when the embedded server serves TLS (cert_file and key_file): the node and other clients verify the server with it; set it to the CA that signed cert_file"}},
		{"nats event rate negative", minimal + `nats { event_rate = -1 }`,
			[]string{"test.hcl:10: nats.event_rate: -1: write a number of events per second (0: no limit), or leave it out (1000)"}},
		{"nats event burst without a limit", minimal + "nats {\n  event_rate = 0\n  event_burst = 10\n}",
			[]string{"test.hcl:12: nats.event_burst: is set while event_rate is 0 (no limit): set a rate or drop the burst"}},
		{"nats event rate outruns the applied ids", minimal + `nats { event_rate = 2000 }`,
			[]string{"test.hcl:10: nats.event_rate: 2000 events/s admits more events in the 90 s duplicate window than the 100000 event ids the state remembers: use at most 1088 (with burst 2000)"}},
		{"two nats blocks", minimal + "nats {}\nnats {}",
			[]string{"test.hcl:11: nats: only one nats block is allowed: merge it into the one at line 10"}},
		{"duration", minimal + `rollback { period = "soon" }`,
			[]string{`test.hcl:10: rollback.period: must be a duration: write period = "30s" (or "1m", "1h", or a number of seconds)`}},
		{"negative duration", minimal + `rollback { min_age = "-1m" }`,
			[]string{`test.hcl:10: rollback.min_age: -1m0s is negative: write a duration such as "30s"`}},
		{"log level", minimal + `log_level = "loud"`,
			[]string{`test.hcl:10: log_level: "loud" is not a log level: write trace, debug, info, warn or error`}},
		{"permissions not octal", minimal + `plugin_file_permissions = "0999"`,
			[]string{`test.hcl:10: plugin_file_permissions: must be an octal mode: write plugin_file_permissions = "0755"`}},
		{"permissions beyond the permission bits", minimal + `plugin_file_permissions = "4755"`,
			[]string{`test.hcl:10: plugin_file_permissions: must be permission bits only: write an octal string such as "0755"`}},
		{"plugin_file_uid negative", minimal + `plugin_file_uid = -1`,
			[]string{"test.hcl:10: plugin_file_uid: must be a uid of 0 or more"}},
		{"cluster_name", minimal + `cluster_name = "eu.prod"`,
			[]string{`test.hcl:10: cluster_name: "eu.prod": use only letters, digits, '-' and '_'`}},
		{"syntax", minimal + "listener \"tcp\" {\n  address = \n}",
			[]string{"test.hcl:11: Invalid expression: Expected the start of an expression, but found an invalid expression token."}},
		{"block label missing", minimal + "storage {}",
			[]string{`test.hcl:10: Missing type for storage: All storage blocks must have 1 labels (type).`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tt.src), "test.hcl")
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error:\n got %q\nwant %q", got, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error quotes a secret: %v", err)
			}
		})
	}
}

func TestPerformanceMultiplier(t *testing.T) {
	tests := []struct {
		m                          int
		heartbeat, election, lease time.Duration
	}{
		{0, 200 * time.Millisecond, 200 * time.Millisecond, 100 * time.Millisecond},
		{1, 200 * time.Millisecond, 200 * time.Millisecond, 100 * time.Millisecond},
		{2, 400 * time.Millisecond, 400 * time.Millisecond, 200 * time.Millisecond},
		{5, time.Second, time.Second, 500 * time.Millisecond}, // hashicorp/raft's defaults
		{10, 2 * time.Second, 2 * time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.m), func(t *testing.T) {
			src := strings.Replace(minimal, `node_id = "n1"`, fmt.Sprintf("node_id = \"n1\"\n  performance_multiplier = %d", tt.m), 1)
			c, _ := parse(t, src)
			want := RaftTiming{Heartbeat: tt.heartbeat, Election: tt.election, LeaderLease: tt.lease}
			if got := c.Storage.Timing(); got != want {
				t.Errorf("Timing() = %+v, want %+v", got, want)
			}
		})
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(c *Config) any
		want  any
	}{
		{"duration string", `plugin_start_timeout = "90s"`, func(c *Config) any { return c.PluginStartTimeout }, 90 * time.Second},
		{"duration compound", `plugin_start_timeout = "1h30m"`, func(c *Config) any { return c.PluginStartTimeout }, 90 * time.Minute},
		{"duration seconds", `plugin_start_timeout = 90`, func(c *Config) any { return c.PluginStartTimeout }, 90 * time.Second},
		{"duration seconds as a string", `plugin_start_timeout = "90"`, func(c *Config) any { return c.PluginStartTimeout }, 90 * time.Second},
		{"duration fractional seconds", `plugin_start_timeout = 1.5`, func(c *Config) any { return c.PluginStartTimeout }, 1500 * time.Millisecond},
		{"rollback durations", "rollback {\n period = \"1m\"\n min_age = \"10s\"\n}", func(c *Config) any { return c.Rollback }, Rollback{Period: time.Minute, MinAge: 10 * time.Second}},
		{"rollback window", "rollback {\n window = \"3s\"\n}", func(c *Config) any { return c.Rollback }, Rollback{Window: 3 * time.Second}},
		{"mode as an octal string", `plugin_file_permissions = "0750"`, func(c *Config) any { return *c.PluginFilePermissions }, os.FileMode(0o750)},
		{"mode as 0o string", `plugin_file_permissions = "0o700"`, func(c *Config) any { return *c.PluginFilePermissions }, os.FileMode(0o700)},
		{"mode as a number reads its digits as octal", `plugin_file_permissions = 0755`, func(c *Config) any { return *c.PluginFilePermissions }, os.FileMode(0o755)},
		{"no mode", ``, func(c *Config) any { return c.PluginFilePermissions }, (*os.FileMode)(nil)},
		{"uid", `plugin_file_uid = 1000`, func(c *Config) any { return *c.PluginFileUID }, 1000},
		{"uid as a string", `plugin_file_uid = "1000"`, func(c *Config) any { return *c.PluginFileUID }, 1000},
		{"log level", `log_level = "TRACE"`, func(c *Config) any { return c.LogLevel }, hclog.Trace},
		{"log level err", `log_level = "err"`, func(c *Config) any { return c.LogLevel }, hclog.Error},
		{"embedded NATS port", `nats { port = 0 }`, func(c *Config) any { return c.NATS }, NATS{EventRate: DefaultEventRate}},
		{"embedded NATS fixed port", `nats { port = 4333 }`, func(c *Config) any { return c.NATS }, NATS{Port: 4333, EventRate: DefaultEventRate}},
		{"event rate by default", ``, func(c *Config) any { return c.NATS }, NATS{EventRate: DefaultEventRate}},
		{"no event limit", `nats { event_rate = 0 }`, func(c *Config) any { return c.NATS }, NATS{}},
		{"event rate", `nats { event_rate = 100 }`, func(c *Config) any { return c.NATS }, NATS{EventRate: 100}},
		{"event burst alone", `nats { event_burst = 50 }`, func(c *Config) any { return c.NATS }, NATS{EventRate: DefaultEventRate, EventBurst: 50}},
		{"event rate with burst", "nats {\n event_rate = 500\n event_burst = 50\n}", func(c *Config) any { return c.NATS }, NATS{EventRate: 500, EventBurst: 50}},
		{"external NATS drops the port", "nats {\n url = \"tls://n:4222\"\n port = 4333\n nkey_seed = \"/s\"\n}",
			func(c *Config) any { return c.NATS }, NATS{URL: "tls://n:4222", NKeySeed: "/s", EventRate: DefaultEventRate}},
		{"embedded NATS on every address", `nats { host = "0.0.0.0" }`, func(c *Config) any { return c.NATS }, NATS{Host: "0.0.0.0", EventRate: DefaultEventRate}},
		{"embedded NATS serves TLS", "nats {\n tls {\n  ca_file = \"/ca\"\n  cert_file = \"/c\"\n  key_file = \"/k\"\n }\n}", func(c *Config) any { return c.NATS },
			NATS{TLSCA: "/ca", TLSCert: "/c", TLSKey: "/k", EventRate: DefaultEventRate}},
		{"embedded NATS drops client credentials", "nats {\n credentials = \"/c\"\n}", func(c *Config) any { return c.NATS }, NATS{EventRate: DefaultEventRate}},
		{"seal env default variable", `seal "env" {}`, func(c *Config) any { return *c.Seal }, Seal{Type: SealEnv, Variable: DefaultSealVariable}},
		{"seal env variable", `seal "env" { variable = "MY_KEY" }`, func(c *Config) any { return *c.Seal }, Seal{Type: SealEnv, Variable: "MY_KEY"}},
		{"null means absent", `plugin_directory = null`, func(c *Config) any { return c.PluginDirectory }, ""},
		{"cluster name", `cluster_name = "eu_prod-2"`, func(c *Config) any { return c.ClusterName }, "eu_prod-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := parse(t, minimal+tt.extra)
			if got := tt.check(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestBooleans(t *testing.T) {
	for _, v := range []string{"true", "1", `"true"`, `"1"`, `"TRUE"`} {
		t.Run(v, func(t *testing.T) {
			c, _ := parse(t, strings.Replace(minimal, "tls_disable = true", "tls_disable = "+v, 1))
			if !c.Listener.TLSDisable {
				t.Errorf("tls_disable = %s read as false", v)
			}
		})
	}
}

func TestIgnoredKeyWarnings(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{"ui false says nothing", "ui = false", ""},
		{"disable_mlock false is still accepted", "disable_mlock = false", "10 disable_mlock: Baton never locks memory (no mlock), so this changes nothing; accepted"},
		{"seal file ignores variable", "seal \"file\" {\n  path = \"/k\"\n  variable = \"X\"\n}", `12 seal.variable: only seal "env" reads a variable; ignored`},
		{"seal env ignores path", "seal \"env\" {\n  path = \"/k\"\n}", `11 seal.path: only seal "file" reads a path; ignored`},
		{"external NATS ignores port", "nats {\n  url = \"nats://n:4222\"\n  port = 1\n}", "12 nats.port: only the embedded server listens on it, and url names an external server; ignored"},
		{"embedded NATS beyond loopback in clear", "nats {\n  host = \"0.0.0.0\"\n}", "11 nats.host: lets other hosts reach the embedded NATS in clear, and events carry Baton tokens: set tls { cert_file, key_file, ca_file } in the nats block; accepted"},
		{"external NATS ignores host", "nats {\n  url = \"nats://n:4222\"\n  host = \"0.0.0.0\"\n}", "12 nats.host: only the embedded server listens on it, and url names an external server; ignored"},
		{"embedded NATS ignores tls_ca", "nats {\n  tls_ca = \"/ca\"\n}", "11 nats.tls.ca_file: the embedded server serves TLS only with cert_file and key_file, and ca_file alone verifies nothing there (it is for an external server: set nats.url); ignored"},
		{"auto_join beside leader_api_addr", "", `11 storage.retry_join.auto_join: Baton has no cloud auto-join: list each node's leader_api_addr instead; ignored`},
		{"misspelt key in a block", "rollback {\n  periodd = \"1m\"\n}", `11 rollback.periodd: not a setting Baton knows; ignored: did you mean "period"?`},
		{"ha_storage", "ha_storage \"raft\" {}", `10 ha_storage "raft": Baton's storage "raft" is already its HA backend; ignored`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := minimal + tt.extra
			if tt.extra == "" && strings.Contains(tt.name, "auto_join") {
				src = strings.Replace(minimal, `node_id = "n1"`, "node_id = \"n1\"\n  retry_join {\n    leader_api_addr = \"http://10.0.0.2:8200\"\n    auto_join = \"provider=aws\"\n  }", 1)
			}
			_, ws := parse(t, src)
			var got []string
			for _, l := range warningLines(ws) {
				if !strings.Contains(l, "cluster_addr") && !strings.Contains(l, "listener.cluster_address") {
					got = append(got, l)
				}
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("warnings:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	src := `{
  "ui": true,
  "api_addr": "http://127.0.0.1:8200",
  "listener": {"tcp": {"address": "127.0.0.1:8200", "cluster_address": "127.0.0.1:8201", "tls_disable": "true", "tls_cert_file": "/c"}},
  "storage": {"raft": {"path": "/tmp/n1", "node_id": "n1", "retry_join": [{"leader_api_addr": "http://127.0.0.1:8300"}]}},
  "telemetry": {"disable_hostname": true}
}`
	c, ws, err := Parse([]byte(src), "node.json")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Storage.NodeID != "n1" || len(c.Storage.RetryJoin) != 1 || c.Storage.RetryJoin[0].LeaderAPIAddr != "http://127.0.0.1:8300" || !c.Listener.TLSDisable {
		t.Errorf("config: %+v", c)
	}
	if want := (Telemetry{PrometheusRetentionTime: DefaultPrometheusRetentionTime, DisableHostname: true}); c.Telemetry != want {
		t.Errorf("telemetry: %+v, want %+v", c.Telemetry, want)
	}
	want := []string{
		"2 ui: Baton has no UI; ignored",
		"4 listener.tls_cert_file: tls_disable = true: the listener serves plain HTTP; ignored",
		"4 cluster_addr: not set; other nodes reach Raft at 127.0.0.1:8201: set cluster_addr if they need another address",
	}
	if got := warningLines(ws); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n got %q\nwant %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.hcl")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load(path)
	if err != nil || c.File != path {
		t.Fatalf("Load(%s) = %+v, %v", path, c, err)
	}
	_, _, err = Load(filepath.Join(t.TempDir(), "missing.hcl"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	valid := func() *Config {
		return &Config{
			APIAddr:     "http://127.0.0.1:8200",
			ClusterAddr: "127.0.0.1:8201",
			ClusterName: DefaultClusterName,
			Listener:    Listener{Address: "127.0.0.1:8200", ClusterAddress: "127.0.0.1:8201", TLSDisable: true},
			Storage:     Storage{Path: "/tmp/dev", NodeID: "dev"},
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("Validate of a dev config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no node id", func(c *Config) { c.Storage.NodeID = "" }, `storage.node_id: is required: write storage "raft" { node_id = "node1" }, unique in the cluster`},
		{"no cluster addr", func(c *Config) { c.ClusterAddr = "" }, `cluster_addr: is required: write cluster_addr = "http://HOST:8201" with this node's own address`},
		{"no api addr", func(c *Config) { c.APIAddr = "" }, `api_addr: is required: write api_addr = "https://HOST:8200" with this node's own address`},
		{"no cluster name", func(c *Config) { c.ClusterName = "" }, `cluster_name: is required: write cluster_name = "baton"`},
		{"bad level", func(c *Config) { c.LogLevel = hclog.Level(42) }, "log_level: must be trace, debug, info, warn or error"},
		{"unknown seal", func(c *Config) { c.Seal = &Seal{Type: "awskms"} }, `seal: seal type "awskms" is not supported: use seal "file" or "env"`},
		{"env seal without variable", func(c *Config) { c.Seal = &Seal{Type: SealEnv} }, `seal.variable: is required: write seal "env" { variable = "BATON_UNSEAL_KEY" }`},
		{"negative timeout", func(c *Config) { c.PluginStartTimeout = -time.Second }, `plugin_start_timeout: -1s is negative: write a duration such as "30s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(c)
			err := c.Validate()
			if err == nil || err.Error() != tt.want {
				t.Errorf("Validate() = %v, want %s", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.File != "" || fe.Line != 0 {
				t.Errorf("Validate() error %#v: want a FieldError without a position", fe)
			}
		})
	}
}

func TestRaftAdvertise(t *testing.T) {
	tests := []struct{ clusterAddr, want string }{
		{"http://10.0.0.1:8201", "10.0.0.1:8201"},
		{"https://10.0.0.1:8201/", "10.0.0.1:8201"},
		{"tcp://[::1]:8201", "[::1]:8201"},
		{"node1:8201", "node1:8201"},
		{"0.0.0.0:8201", ""},
		{"http://node1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		c := &Config{ClusterAddr: tt.clusterAddr}
		if got := c.RaftAdvertise(); got != tt.want {
			t.Errorf("RaftAdvertise(%q) = %q, want %q", tt.clusterAddr, got, tt.want)
		}
	}
}

func TestSealReadKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	if err := os.WriteFile(good, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not-base64-s3cret!!"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BATON_TEST_KEY", base64.StdEncoding.EncodeToString(key))
	t.Setenv("BATON_TEST_EMPTY", " ")

	tests := []struct {
		name    string
		seal    Seal
		wantErr string
	}{
		{"file", Seal{Type: SealFile, Path: good}, ""},
		{"env", Seal{Type: SealEnv, Variable: "BATON_TEST_KEY"}, ""},
		{"missing file", Seal{Type: SealFile, Path: filepath.Join(dir, "none")}, "no such file or directory"},
		{"not base64", Seal{Type: SealFile, Path: bad}, `seal "file": file ` + bad + ` does not hold base64: write the keys_base64 value from operator init`},
		{"unset variable", Seal{Type: SealEnv, Variable: "BATON_TEST_UNSET"}, `seal "env": environment variable BATON_TEST_UNSET is not set: export the unseal key (base64) in it`},
		{"empty variable", Seal{Type: SealEnv, Variable: "BATON_TEST_EMPTY"}, `seal "env": environment variable BATON_TEST_EMPTY is empty: write the unseal key (keys_base64 from operator init) in it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.seal.ReadKey()
			if tt.wantErr == "" {
				if err != nil || !bytes.Equal(got, key) {
					t.Errorf("ReadKey() = %x, %v; want the key", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ReadKey() error %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error quotes the key file: %v", err)
			}
		})
	}
}

func TestLogWarnings(t *testing.T) {
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})
	_, ws := parse(t, "ui = true\ndisable_mlock = true\n"+minimal)
	LogWarnings(logger, ws)
	out := buf.String()
	for _, want := range []string{
		"[WARN]  config: ui: Baton has no UI; ignored: file=test.hcl line=1",
		"[INFO]  config: disable_mlock: Baton never locks memory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestListenerHTTPLimits checks OpenBao's listener limit keys (and Baton's max_connections):
// the defaults when absent, durations as strings or seconds, 0 meaning no bound for a
// timeout and the default for the others, and bad values refused naming the key.
func TestListenerHTTPLimits(t *testing.T) {
	withKeys := func(keys string) string {
		return strings.Replace(minimal, "  tls_disable = true\n", "  tls_disable = true\n"+keys, 1)
	}
	defaults := Listener{
		Address: "127.0.0.1:8200", ClusterAddress: "127.0.0.1:8201", TLSDisable: true,
		HTTPReadHeaderTimeout: 10 * time.Second, HTTPReadTimeout: 30 * time.Second, HTTPWriteTimeout: 0,
		HTTPIdleTimeout: 5 * time.Minute, MaxRequestSize: 32 << 20, MaxRequestDuration: 90 * time.Second,
		MaxConnections: 4096,
	}
	tests := []struct {
		name string
		keys string
		want func(l *Listener)
	}{
		{"absent: OpenBao's defaults", "", func(*Listener) {}},
		{"strings", `http_read_header_timeout = "2s"
http_read_timeout = "1m"
http_write_timeout = "45s"
http_idle_timeout = "10m"
max_request_size = 1048576
max_request_duration = "2m"
max_connections = 100
`, func(l *Listener) {
			l.HTTPReadHeaderTimeout, l.HTTPReadTimeout, l.HTTPWriteTimeout, l.HTTPIdleTimeout = 2*time.Second, time.Minute, 45*time.Second, 10*time.Minute
			l.MaxRequestSize, l.MaxRequestDuration, l.MaxConnections = 1<<20, 2*time.Minute, 100
		}},
		{"seconds", "http_read_timeout = 5\nhttp_idle_timeout = \"60\"\nmax_request_duration = 7\n", func(l *Listener) {
			l.HTTPReadTimeout, l.HTTPIdleTimeout, l.MaxRequestDuration = 5*time.Second, time.Minute, 7*time.Second
		}},
		{"zero: no bound for timeouts, the default for the rest", "http_read_timeout = 0\nhttp_idle_timeout = \"0s\"\nmax_request_size = 0\nmax_request_duration = 0\nmax_connections = 0\n", func(l *Listener) {
			l.HTTPReadTimeout, l.HTTPIdleTimeout = 0, 0
		}},
		{"negative size: no limit, as OpenBao", "max_request_size = -1\n", func(l *Listener) { l.MaxRequestSize = -1 }},
		{"above 2 GiB", "max_request_size = 4294967296\n", func(l *Listener) { l.MaxRequestSize = 4 << 30 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ws := parse(t, withKeys(tt.keys))
			want := defaults
			tt.want(&want)
			if !reflect.DeepEqual(c.Listener, want) {
				t.Errorf("listener:\n got %+v\nwant %+v", c.Listener, want)
			}
			for _, w := range ws {
				if strings.Contains(w.Key, "http_") || strings.Contains(w.Key, "max_") {
					t.Errorf("warning for a known key: %s", w)
				}
			}
		})
	}

	bad := []struct {
		name, keys, want string
	}{
		{"word", `http_read_timeout = "soon"`, `test.hcl:5: listener.http_read_timeout: must be a duration: write http_read_timeout = "30s" (or "1m", "1h", or a number of seconds)`},
		{"bool", `http_idle_timeout = true`, `test.hcl:5: listener.http_idle_timeout: must be a duration: write http_idle_timeout = "30s" (or "1m", "1h", or a number of seconds)`},
		{"negative header timeout", `http_read_header_timeout = "-1s"`, `test.hcl:5: listener.http_read_header_timeout: -1s is negative: write a duration such as "30s"`},
		{"negative write timeout", `http_write_timeout = -3`, `test.hcl:5: listener.http_write_timeout: -3s is negative: write a duration such as "30s"`},
		{"negative duration", `max_request_duration = "-90s"`, `test.hcl:5: listener.max_request_duration: -1m30s is negative: write a duration such as "30s"`},
		{"size not a number", `max_request_size = "32MiB"`, `test.hcl:5: listener.max_request_size: must be a whole number: write max_request_size = 1`},
		{"size fraction", `max_request_size = 1.5`, `test.hcl:5: listener.max_request_size: must be a whole number: write max_request_size = 1`},
		{"negative connections", `max_connections = -5`, `test.hcl:5: listener.max_connections: -5 is negative: write max_connections = 4096`},
		{"connections not a number", `max_connections = "many"`, `test.hcl:5: listener.max_connections: must be a whole number: write max_connections = 1`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(withKeys(tt.keys+"\n")), "test.hcl")
			if !errors.Is(err, ErrInvalid) || err.Error() != tt.want {
				t.Errorf("Parse error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestTelemetry(t *testing.T) {
	const listenerWith = `api_addr = "http://127.0.0.1:8200"
listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
  telemetry {
    unauthenticated_metrics_access = %s
  }
}
storage "raft" {
  path    = "/tmp/n1"
  node_id = "n1"
}
`
	tests := []struct {
		name       string
		src        string
		want       Telemetry
		wantUnauth bool
		warnings   []string
	}{
		{name: "absent: OpenBao's defaults", src: minimal, want: Telemetry{PrometheusRetentionTime: DefaultPrometheusRetentionTime}},
		{
			name: "top-level keys",
			src:  minimal + "telemetry {\n  prometheus_retention_time = \"1h\"\n  disable_hostname = true\n  metrics_prefix = \"baton\"\n  unauthenticated_metrics_access = true\n  statsd_address = \"127.0.0.1:8125\"\n}\n",
			want: Telemetry{PrometheusRetentionTime: time.Hour, DisableHostname: true, MetricsPrefix: "baton"}, wantUnauth: true,
			warnings: []string{"15 telemetry.statsd_address: Baton exports metrics only through sys/metrics (JSON and Prometheus); ignored"},
		},
		{name: "retention 0 turns Prometheus off", src: minimal + "telemetry {\n  prometheus_retention_time = 0\n}\n", want: Telemetry{}},
		{name: "the listener's key", src: fmt.Sprintf(listenerWith, "true"), want: Telemetry{PrometheusRetentionTime: DefaultPrometheusRetentionTime}, wantUnauth: true},
		{
			name: "the listener's false wins over the top level's true",
			src:  fmt.Sprintf(listenerWith, "false") + "telemetry {\n  unauthenticated_metrics_access = true\n}\n",
			want: Telemetry{PrometheusRetentionTime: DefaultPrometheusRetentionTime},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ws := parse(t, tt.src)
			if c.Telemetry != tt.want || c.Listener.UnauthenticatedMetricsAccess != tt.wantUnauth {
				t.Errorf("telemetry %+v unauthenticated %v, want %+v %v", c.Telemetry, c.Listener.UnauthenticatedMetricsAccess, tt.want, tt.wantUnauth)
			}
			var got []string
			for _, w := range warningLines(ws) {
				if strings.Contains(w, "telemetry") {
					got = append(got, w)
				}
			}
			if !reflect.DeepEqual(got, tt.warnings) {
				t.Errorf("warnings %q, want %q", got, tt.warnings)
			}
		})
	}

	bad := []struct{ name, src, want string }{
		{"negative retention", minimal + "telemetry {\n  prometheus_retention_time = \"-1s\"\n}\n", "telemetry.prometheus_retention_time"},
		{"two blocks", minimal + "telemetry {\n}\ntelemetry {\n}\n", "only one telemetry block"},
		{"not a bool", fmt.Sprintf(listenerWith, `"maybe"`), "listener.telemetry.unauthenticated_metrics_access"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.src), "test.hcl")
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}
