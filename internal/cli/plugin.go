package cli

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

var cmdPluginRegister = &command{
	name:     "plugin register",
	args:     "TYPE NAME",
	synopsis: "Register a plugin binary in the catalog",
	help: `Registers the plugin NAME of TYPE (database) in the catalog, pinned to the SHA256 of its
binary in the node's plugin directory. The command defaults to NAME.`,
	api: true,
	run: runPluginRegister,
}

var cmdPluginList = &command{
	name:     "plugin list",
	args:     "[TYPE]",
	synopsis: "List the plugins in the catalog",
	api:      true,
	run:      runPluginList,
}

var cmdPluginInfo = &command{
	name:     "plugin info",
	args:     "TYPE NAME",
	synopsis: "Show a plugin's catalog entry",
	api:      true,
	run:      runPluginInfo,
}

var cmdPluginDeregister = &command{
	name:     "plugin deregister",
	args:     "TYPE NAME",
	synopsis: "Remove a plugin from the catalog",
	api:      true,
	run:      runPluginDeregister,
}

var cmdPluginReload = &command{
	name:     "plugin reload",
	synopsis: "Restart a plugin's instances, or those of some mounts",
	help: `Reloads every instance of the plugin named by -plugin, or the plugin instances of the
mounts named by -mounts (exactly one of the two). The reload is a replicated lifecycle event.`,
	api: true,
	run: runPluginReload,
}

// listFlag is a comma-separated list flag ("-args=a,b").
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = nil
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// envFlag collects repeated -env=K=V flags.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, " ") }

func (e *envFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		// The value may hold a secret: name the key only.
		return fmt.Errorf("want KEY=VALUE, got %q", k)
	}
	*e = append(*e, v)
	return nil
}

// catalogPath is sys/plugins/catalog/TYPE/NAME, escaped.
func catalogPath(typ, name string) string {
	return "sys/plugins/catalog/" + url.PathEscape(typ) + "/" + url.PathEscape(name)
}

func versionQuery(v string) url.Values {
	if v == "" {
		return nil
	}
	return url.Values{"version": {v}}
}

func runPluginRegister(in *invocation, args []string) error {
	sha := in.fs.String("sha256", "", "SHA256 of the plugin binary, in hex (required).")
	version := in.fs.String("version", "", "Semantic version of the plugin (v1.2.3).")
	command := in.fs.String("command", "", "Binary in the plugin directory (default NAME).")
	var pargs listFlag
	in.fs.Var(&pargs, "args", "Comma-separated `ARGS` passed to the plugin.")
	var penv envFlag
	in.fs.Var(&penv, "env", "`KEY=VALUE` set in the plugin's environment; repeatable.")
	pos, err := in.parse(args, 2, 2)
	if err != nil {
		return err
	}
	typ, name := pos[0], pos[1]
	switch b, err := hex.DecodeString(*sha); {
	case *sha == "":
		return usagef("missing -sha256 (the SHA256 of the plugin binary, in hex)")
	case err != nil || len(b) != 32:
		return usagef("invalid -sha256 %q: want 64 hex digits", *sha)
	}
	if *command == "" {
		*command = name
	}
	body := struct {
		SHA256  string   `json:"sha256"`
		Command string   `json:"command"`
		Args    []string `json:"args,omitempty"`
		Env     []string `json:"env,omitempty"`
		Version string   `json:"version,omitempty"`
	}{strings.ToLower(*sha), *command, pargs, penv, *version}
	if _, err := in.call("PUT", catalogPath(typ, name), nil, body); err != nil {
		return err
	}
	_, err = fmt.Fprintf(in.stdout, "Success! Registered plugin: %s\n", name)
	return err
}

// catalogEntry is one entry of the catalog's detailed listing.
type catalogEntry struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
	Builtin bool   `json:"builtin"`
	SHA256  string `json:"sha256"`
}

func runPluginList(in *invocation, args []string) error {
	pos, err := in.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		return listPluginsOfType(in, pos[0])
	}
	s, err := in.callSecret("GET", "sys/plugins/catalog", nil, nil)
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, s.Data)
	}
	data, err := s.dataMap()
	if err != nil {
		return err
	}
	var entries []catalogEntry
	if _, ok := data["detailed"]; ok {
		var d struct {
			Detailed []catalogEntry `json:"detailed"`
		}
		if err := decode(s.Data, &d); err != nil {
			return err
		}
		entries = d.Detailed
	} else {
		// Without the detailed list, the per-type name lists are all there is.
		for typ, v := range data {
			names, _ := v.([]any)
			for _, n := range names {
				entries = append(entries, catalogEntry{Name: formatValue(n), Type: typ})
			}
		}
	}
	slices.SortFunc(entries, func(a, b catalogEntry) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	rows := make([][]string, len(entries))
	for i, e := range entries {
		rows[i] = []string{e.Name, e.Type, cmp.Or(e.Version, "n/a")}
	}
	printTable(in.stdout, []string{"Name", "Type", "Version"}, rows)
	return nil
}

func listPluginsOfType(in *invocation, typ string) error {
	s, err := in.callSecret(methodList, "sys/plugins/catalog/"+url.PathEscape(typ), nil, nil)
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, s.Data)
	}
	var data struct {
		Keys []string `json:"keys"`
	}
	if len(s.Data) > 0 {
		if err := decode(s.Data, &data); err != nil {
			return err
		}
	}
	slices.Sort(data.Keys)
	rows := make([][]string, len(data.Keys))
	for i, k := range data.Keys {
		rows[i] = []string{k, typ}
	}
	printTable(in.stdout, []string{"Name", "Type"}, rows)
	return nil
}

func runPluginInfo(in *invocation, args []string) error {
	version := in.fs.String("version", "", "Version of the entry (default: the unversioned one).")
	field := in.fs.String("field", "", "Print only the value of this field.")
	pos, err := in.parse(args, 2, 2)
	if err != nil {
		return err
	}
	s, err := in.callSecret("GET", catalogPath(pos[0], pos[1]), versionQuery(*version), nil)
	if err != nil {
		return err
	}
	return in.printSecret(s, *field)
}

func runPluginDeregister(in *invocation, args []string) error {
	version := in.fs.String("version", "", "Version of the entry to remove (default: the unversioned one).")
	pos, err := in.parse(args, 2, 2)
	if err != nil {
		return err
	}
	if _, err := in.call("DELETE", catalogPath(pos[0], pos[1]), versionQuery(*version), nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(in.stdout, "Success! Deregistered plugin (if it was registered): %s\n", pos[1])
	return err
}

func runPluginReload(in *invocation, args []string) error {
	plugin := in.fs.String("plugin", "", "Name of the plugin whose instances to reload.")
	var mounts listFlag
	in.fs.Var(&mounts, "mounts", "Comma-separated `PATHS` of the mounts whose plugin instances to reload.")
	scope := in.fs.String("scope", "", `"global" to reload on every node (Baton replicates reloads either way).`)
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	switch {
	case *plugin == "" && len(mounts) == 0:
		return usagef("need -plugin or -mounts")
	case *plugin != "" && len(mounts) > 0:
		return usagef("-plugin and -mounts exclude each other")
	case *scope != "" && *scope != "global":
		return usagef("invalid -scope %q: the only scope is global", *scope)
	}
	body := struct {
		Plugin string   `json:"plugin,omitempty"`
		Mounts []string `json:"mounts,omitempty"`
		Scope  string   `json:"scope,omitempty"`
	}{*plugin, mounts, *scope}
	reply, err := in.call("PUT", "sys/plugins/reload/backend", nil, body)
	if err != nil {
		return err
	}
	s, err := parseSecret(reply)
	if err != nil {
		return err
	}
	data, err := s.dataMap()
	if err != nil {
		return err
	}
	printWarnings(in.stderr, s.Warnings)
	what := "plugin: " + *plugin
	if len(mounts) > 0 {
		what = "mounts: " + strings.Join(mounts, ", ")
	}
	if id, ok := data["reload_id"]; ok {
		_, err = fmt.Fprintf(in.stdout, "Success! Reloading %s, reload_id: %s\n", what, formatValue(id))
		return err
	}
	_, err = fmt.Fprintf(in.stdout, "Success! Reloaded %s\n", what)
	return err
}
