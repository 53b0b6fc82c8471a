package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Warning is a key Baton accepted without using it, or a value it derived, and why. OpenBao
// files carry many keys Baton has no use for; refusing them would make every migration an
// edit, so the node logs them instead.
type Warning struct {
	// File and Line locate the key.
	File string
	Line int
	// Key names it, dotted by block ("listener.tls_cert_file").
	Key string
	// Reason says why it is ignored, or what was derived.
	Reason string
	// Level is how loudly to log it: Warn for ignored keys, Info for notes.
	Level hclog.Level
}

// String renders "key: reason", the form the node logs and tests compare.
func (w Warning) String() string { return w.Key + ": " + w.Reason }

// LogWarnings logs each warning at its level, with where it was written.
func LogWarnings(logger hclog.Logger, ws []Warning) {
	for _, w := range ws {
		logger.Log(w.Level, "config: "+w.String(), "file", w.File, "line", w.Line)
	}
}

// unknown reports every key of a block's leftover body as a warning. HCL native bodies keep
// the decoded keys in the leftover body (only hidden), so the decoded schema filters them;
// JSON bodies list only the leftovers.
func (d *decoder) unknown(remain hcl.Body, prefix string, raw any, reason func(string) string) {
	if remain == nil {
		return
	}
	schema, _ := gohcl.ImpliedBodySchema(raw)
	known := map[string]bool{}
	var names []string
	for _, a := range schema.Attributes {
		known[a.Name], names = true, append(names, a.Name)
	}
	for _, b := range schema.Blocks {
		known[b.Type], names = true, append(names, b.Type)
	}

	type key struct {
		name, typ string // typ is the key without a block's labels
		at        hcl.Range
	}
	var keys []key
	switch body := remain.(type) {
	case *hclsyntax.Body:
		for name, a := range body.Attributes {
			if !known[name] {
				keys = append(keys, key{name, name, a.NameRange})
			}
		}
		for _, b := range body.Blocks {
			if !known[b.Type] {
				name := b.Type
				for _, l := range b.Labels {
					name += " " + strconv.Quote(l)
				}
				keys = append(keys, key{name, b.Type, b.TypeRange})
			}
		}
	default:
		attrs, _ := remain.JustAttributes()
		for name, a := range attrs {
			if !known[name] {
				keys = append(keys, key{name, name, a.NameRange})
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].at.Start.Byte < keys[j].at.Start.Byte })

	for _, k := range keys {
		why := ""
		if reason != nil {
			why = reason(k.typ)
		}
		if why == "" {
			why = "not a setting Baton uses; ignored"
			if s := suggest(k.typ, names); s != "" {
				why = fmt.Sprintf("not a setting Baton knows; ignored: did you mean %q?", s)
			}
		}
		d.warn(k.at, hclog.Warn, prefix+k.name, why)
	}
}

// suggest returns the known name closest to a misspelt one, with HCL's own threshold.
func suggest(name string, known []string) string {
	sort.Strings(known)
	for _, k := range known {
		if levenshtein.Distance(name, k, nil) < 3 {
			return k
		}
	}
	return ""
}

// rootReason explains the top-level OpenBao keys operators most often carry over.
func rootReason(name string) string {
	switch name {
	case "ha_storage":
		return `Baton's storage "raft" is already its HA backend; ignored`
	case "disable_cache", "cache_size":
		return "Baton keeps no storage cache; ignored"
	case "service_registration":
		return "Baton registers with no service catalog; ignored"
	case "disable_clustering":
		return "Baton always clusters through raft; ignored"
	}
	return ""
}

// telemetryReason explains OpenBao's telemetry keys for sinks Baton does not have.
func telemetryReason(name string) string {
	switch {
	case strings.HasPrefix(name, "statsd"), strings.HasPrefix(name, "statsite"), strings.HasPrefix(name, "circonus"),
		strings.HasPrefix(name, "dogstatsd"), strings.HasPrefix(name, "stackdriver"):
		return "Baton exports metrics only through sys/metrics (JSON and Prometheus); ignored"
	}
	return ""
}

func listenerReason(name string) string {
	if strings.HasPrefix(name, "tls_") {
		return "not a TLS key Baton uses (it reads tls_disable, tls_cert_file, tls_key_file, tls_min_version, tls_max_version, tls_cipher_suites, tls_client_ca_file, tls_require_and_verify_client_cert); ignored"
	}
	return ""
}

func storageReason(name string) string {
	if name == "autopilot_redundancy_zone" || name == "autopilot_upgrade_version" {
		return "Baton's autopilot has no redundancy zones or upgrade migration; ignored"
	}
	return ""
}

func retryJoinReason(name string) string {
	switch {
	case strings.HasPrefix(name, "leader_"):
		// OpenBao's other leader_* keys (client_cert, tls_servername, …) set up TLS; Baton
		// presents its listener certificate and trusts leader_ca_cert_file.
		return "Baton joins with its listener certificate, trusting its own chain and leader_ca_cert_file; ignored"
	case strings.HasPrefix(name, "auto_join"):
		return "Baton has no cloud auto-join: list each node's leader_api_addr instead; ignored"
	}
	return ""
}
