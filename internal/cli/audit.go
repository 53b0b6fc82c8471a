package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

var cmdAuditEnable = &command{
	name:     "audit enable",
	args:     "TYPE [KEY=VALUE...]",
	synopsis: "Enable an audit device through the API (needs unsafe_allow_api_audit_creation)",
	help: `Enables an audit device of TYPE (file) at -path (default TYPE), its options given as
KEY=VALUE (file_path=/var/log/baton/audit.log, mode=0600, log_raw=false, hmac_accessor=true,
prefix=...). As in OpenBao 2.3, the node refuses unless its config sets
unsafe_allow_api_audit_creation = true; declare devices in the config instead:
audit "file" "<path>" { options { file_path = "..." } }. A file device never writes inside the
node's plugin directory or data dir.`,
	api: true,
	run: runAuditEnable,
}

var cmdAuditDisable = &command{
	name:     "audit disable",
	args:     "PATH",
	synopsis: "Disable an audit device enabled through the API",
	help: `Disables the audit device at PATH. A device the node's config declares cannot be disabled
this way: remove its stanza and send the node SIGHUP.`,
	api: true,
	run: runAuditDisable,
}

var cmdAuditList = &command{
	name:     "audit list",
	synopsis: "List the enabled audit devices",
	api:      true,
	run:      runAuditList,
}

// auditPath is sys/audit/PATH with PATH cleaned of its slashes (the path OpenBao's client
// uses).
func auditPath(p string) string { return "sys/audit/" + strings.Trim(p, "/") }

func runAuditEnable(in *invocation, args []string) error {
	path := in.fs.String("path", "", "Where to enable the device (default TYPE).")
	desc := in.fs.String("description", "", "A human-friendly description of the device.")
	local := in.fs.Bool("local", false, "Accepted as OpenBao's; devices are per node in Baton.")
	pos, err := in.parse(args, 1, -1)
	if err != nil {
		return err
	}
	typ := pos[0]
	opts, err := in.parsePairs(pos[1:])
	if err != nil {
		return err
	}
	if *path == "" {
		*path = typ
	}
	if strings.Trim(*path, "/") == "" {
		return usagef("-path is empty")
	}
	body := struct {
		Type        string            `json:"type"`
		Description string            `json:"description,omitempty"`
		Local       bool              `json:"local,omitempty"`
		Options     map[string]string `json:"options"`
	}{typ, *desc, *local, opts}
	if _, err := in.call("PUT", auditPath(*path), nil, body); err != nil {
		return err
	}
	_, err = fmt.Fprintf(in.stdout, "Success! Enabled the %s audit device at: %s/\n", typ, strings.Trim(*path, "/"))
	return err
}

func runAuditDisable(in *invocation, args []string) error {
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if strings.Trim(pos[0], "/") == "" {
		return usagef("PATH is empty")
	}
	if _, err := in.call("DELETE", auditPath(pos[0]), nil, nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(in.stdout, "Success! Disabled audit device (if it was enabled) at: %s/\n", strings.Trim(pos[0], "/"))
	return err
}

func runAuditList(in *invocation, args []string) error {
	detailed := in.fs.Bool("detailed", false, "Show each device's options too.")
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	s, err := in.callSecret("GET", "sys/audit", nil, nil)
	if err != nil {
		return err
	}
	var devs map[string]struct {
		Type        string            `json:"type"`
		Description string            `json:"description"`
		Options     map[string]string `json:"options"`
		Path        string            `json:"path"`
		Local       bool              `json:"local"`
	}
	if err := decode(s.Data, &devs); err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, s.Data)
	}
	if len(devs) == 0 {
		_, err := fmt.Fprintln(in.stdout, "No audit devices are enabled.")
		return err
	}
	var rows [][]string
	for _, p := range slices.Sorted(maps.Keys(devs)) {
		d := devs[p]
		row := []string{p, d.Type, d.Description}
		if *detailed {
			var o []string
			for _, k := range slices.Sorted(maps.Keys(d.Options)) {
				o = append(o, k+":"+d.Options[k])
			}
			row = append(row, "["+strings.Join(o, " ")+"]")
		}
		rows = append(rows, row)
	}
	header := []string{"Path", "Type", "Description"}
	if *detailed {
		header = append(header, "Options")
	}
	printTable(in.stdout, header, rows)
	return nil
}
