package config

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
)

const tlsListener = `listener "tcp" {
  address       = "127.0.0.1:8200"
  tls_cert_file = "/etc/baton/node1.pem"
  tls_key_file  = "/etc/baton/node1-key.pem"
%s}
storage "raft" {
  path    = "/tmp/n1"
  node_id = "n1"
}
`

func tlsConfig(keys string) string { return strings.Replace(tlsListener, "%s", keys, 1) }

// TestListenerTLS reads OpenBao's listener TLS keys into parsed values, and derives an
// https api_addr for a TLS listener.
func TestListenerTLS(t *testing.T) {
	tests := []struct {
		name string
		keys string
		want func(l *Listener)
	}{
		{"defaults: TLS 1.2 and up, Go's suites, no client certificates", "", func(l *Listener) {}},
		{"every key", `  tls_min_version = "tls13"
  tls_max_version = "tls13"
  tls_cipher_suites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
  tls_client_ca_file = "/etc/baton/ca.pem"
  tls_require_and_verify_client_cert = true
`, func(l *Listener) {
			l.TLSMinVersion, l.TLSMaxVersion = tls.VersionTLS13, tls.VersionTLS13
			l.TLSCipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
			l.TLSClientCAFile, l.TLSRequireAndVerifyClientCert = "/etc/baton/ca.pem", true
		}},
		{"OpenBao's 1 and 0 for booleans", "  tls_disable = 0\n  tls_client_ca_file = \"/ca\"\n  tls_require_and_verify_client_cert = 1\n", func(l *Listener) {
			l.TLSClientCAFile, l.TLSRequireAndVerifyClientCert = "/ca", true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := parse(t, tlsConfig(tt.keys))
			want := c.Listener
			want.TLSCertFile, want.TLSKeyFile, want.TLSMinVersion, want.TLSMaxVersion = "/etc/baton/node1.pem", "/etc/baton/node1-key.pem", tls.VersionTLS12, 0
			want.TLSCipherSuites, want.TLSClientCAFile, want.TLSRequireAndVerifyClientCert, want.TLSDisable = nil, "", false, false
			tt.want(&want)
			if !reflect.DeepEqual(c.Listener, want) {
				t.Errorf("listener:\n got %+v\nwant %+v", c.Listener, want)
			}
			if c.APIAddr != "https://127.0.0.1:8200" {
				t.Errorf("derived api_addr %q, want https://127.0.0.1:8200", c.APIAddr)
			}
		})
	}

	bad := []struct{ name, keys, want string }{
		{"unknown version", "  tls_min_version = \"tls1.3\"\n",
			`test.hcl:5: listener.tls_min_version: "tls1.3" is not a TLS version: write tls10, tls11, tls12 or tls13`},
		{"max below min", "  tls_min_version = \"tls13\"\n  tls_max_version = \"tls12\"\n",
			"test.hcl:6: listener.tls_max_version: is below tls_min_version: raise it or leave it out"},
		{"unknown cipher", "  tls_cipher_suites = \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_MADE_UP\"\n",
			`test.hcl:5: listener.tls_cipher_suites: "TLS_MADE_UP" is not a cipher suite Go knows: write names such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, comma-separated`},
		{"client certificates required without a CA", "  tls_require_and_verify_client_cert = true\n",
			"test.hcl:5: listener.tls_require_and_verify_client_cert: needs tls_client_ca_file, the CA that signs client certificates"},
		{"key without certificate", "", ""},
		{"plain api_addr for a TLS listener", "", `test.hcl:10: api_addr: "http://127.0.0.1:8200" does not match the listener, which serves https: write https://127.0.0.1:8200`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			src := tlsConfig(tt.keys)
			switch tt.name {
			case "key without certificate":
				src = strings.Replace(src, `  tls_cert_file = "/etc/baton/node1.pem"`+"\n", "", 1)
				tt.want = "test.hcl:1: listener.tls_disable: the listener serves TLS unless tls_disable = true, and tls_cert_file and tls_key_file are not both set: set them (node operator tls-cert makes a CA and certificates), or write tls_disable = true for plain HTTP"
			case "plain api_addr for a TLS listener":
				src += `api_addr = "http://127.0.0.1:8200"` + "\n"
			}
			_, _, err := Parse([]byte(src), "test.hcl")
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestExternalNATSKeys reads the names (creds_file, nkey_seed_file, user and
// password, a tls block) and refuses mixing ways to authenticate.
func TestExternalNATSKeys(t *testing.T) {
	c, _ := parse(t, minimal+`nats {
  url            = "tls://nats.example:4222"
  nkey_seed_file = "/etc/baton/node.nk"
  tls {
    ca_file   = "/etc/baton/nats-ca.pem"
    cert_file = "/etc/baton/nats.pem"
    key_file  = "/etc/baton/nats-key.pem"
  }
}`)
	want := NATS{URL: "tls://nats.example:4222", NKeySeed: "/etc/baton/node.nk", TLSCA: "/etc/baton/nats-ca.pem",
		TLSCert: "/etc/baton/nats.pem", TLSKey: "/etc/baton/nats-key.pem", EventRate: DefaultEventRate}
	if c.NATS != want {
		t.Errorf("nats:\n got %+v\nwant %+v", c.NATS, want)
	}
	c, _ = parse(t, minimal+"nats {\n  url = \"nats://n:4222\"\n  user = \"baton\"\n  password = \"s3cret\"\n}")
	if c.NATS.User != "baton" || c.NATS.Password != "s3cret" {
		t.Errorf("user/password: %+v", c.NATS)
	}
	c, _ = parse(t, minimal+"nats {\n  url = \"nats://n:4222\"\n  creds_file = \"/c.creds\"\n}")
	if c.NATS.Credentials != "/c.creds" {
		t.Errorf("creds_file: %+v", c.NATS)
	}

	bad := []struct{ name, block, want string }{
		{"user without password", "  user = \"baton\"\n", "test.hcl:12: nats.user: user and password go together: set both or neither"},
		{"user and seed", "  user = \"baton\"\n  password = \"p\"\n  nkey_seed_file = \"/s\"\n", "test.hcl:12: nats.user: is set together with a creds_file or nkey_seed_file: keep one way to authenticate"},
		{"new and old names", "  nkey_seed = \"/a\"\n  nkey_seed_file = \"/b\"\n", "test.hcl:13: nats.nkey_seed_file: is set together with nkey_seed, its older name: keep one"},
		{"tls block and old keys", "  tls_ca = \"/a\"\n  tls {\n    ca_file = \"/b\"\n  }\n", "test.hcl:13: nats.tls: is set together with tls_ca, tls_cert or tls_key, their older names: keep the tls block"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(minimal+"nats {\n  url = \"nats://n:4222\"\n"+tt.block+"}"), "test.hcl")
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error:\n got %v\nwant %s", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Error("the error quotes the password")
			}
		})
	}
}
