// Package cli is the operator's command line of a Baton node: every `node …` subcommand except
// `server`. It is a client only. API commands speak Baton's OpenBao-compatible HTTP API, so
// they keep OpenBao's habits (BATON_ADDR and BATON_TOKEN, the X-Vault-Token header, -format,
// flags before arguments, exit code 2 for usage errors and a sealed node); `event inject`
// publishes lifecycle events to NATS.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Exit codes, as OpenBao's CLI uses them.
const (
	// ExitOK means the command did what it was asked.
	ExitOK = 0
	// ExitError means the server, the network or NATS refused or failed the request.
	ExitError = 1
	// ExitUsage means the command line was wrong (or, for status, that the node is sealed, and
	// for read and list, that nothing is stored at the path).
	ExitUsage = 2
)

// progName is how usage texts name the binary.
const progName = "node"

// Run executes the command named by args (the arguments after the binary name, for example
// ["plugin", "list"]) and returns the process exit code. Environment variables are read from
// the process environment.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, os.Getenv, args, stdin, stdout, stderr)
}

// env is what a command may touch outside its arguments. getenv is injected so that tests can
// run commands in parallel with different environments.
type env struct {
	ctx    context.Context
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one leaf of the command tree.
type command struct {
	// name is the full name, words separated by one space ("operator raft join").
	name string
	// args is the positional part of the synopsis ("TYPE NAME").
	args string
	// synopsis is one line for the command listing.
	synopsis string
	// help is the paragraph shown above the options in the command's usage.
	help string
	// api commands take -address and -token.
	api bool
	// local commands take no common flags (not even -format).
	local bool
	run   func(in *invocation, args []string) error
}

// commands is the command tree, in the order the listing shows it. It is filled in init
// because the help command refers to it.
var commands []*command

func init() {
	commands = []*command{
		cmdStatus,
		cmdRead, cmdWrite, cmdDelete, cmdList,
		cmdPluginRegister, cmdPluginList, cmdPluginInfo, cmdPluginDeregister, cmdPluginReload,
		cmdOperatorInit, cmdOperatorUnseal, cmdOperatorSeal, cmdOperatorStepDown, cmdOperatorNATSCreds, cmdOperatorTLSCert,
		cmdRaftJoin, cmdRaftListPeers, cmdRaftRemovePeer,
		cmdRaftSnapshotSave, cmdRaftSnapshotRestore, cmdRaftAutopilotState, cmdRaftAutopilotGetConfig, cmdRaftAutopilotSetConfig,
		cmdLeaseRenew, cmdLeaseRevoke, cmdLeaseLookup,
		cmdLifecycle,
		cmdPolicyWrite, cmdPolicyRead, cmdPolicyList, cmdPolicyDelete,
		cmdTokenCreate, cmdTokenLookup, cmdTokenRenew, cmdTokenRevoke, cmdOperatorGenerateRoot,
		cmdAuditEnable, cmdAuditDisable, cmdAuditList,
		cmdOperatorRekey, cmdOperatorRotate, cmdOperatorKeyStatus,
		cmdEventInject,
		cmdHelp,
	}
}

var cmdHelp = &command{
	name:     "help",
	args:     "[COMMAND]",
	synopsis: "Show the command listing, or the usage of one command",
	local:    true,
	run:      runHelp,
}

// serverSynopsis lists `server`, which the node binary runs itself, so that the listing is
// complete.
const serverSynopsis = "Start a Baton node (-config FILE, or -dev for a throwaway one)"

func run(ctx context.Context, getenv func(string) string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "Error: no command given")
		fmt.Fprintln(stderr)
		printListing(stderr, "")
		return ExitUsage
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		printListing(stdout, "")
		return ExitOK
	}
	if code, ok := e.groupHelp(args); ok {
		return code
	}
	cmd, rest, err := lookup(args)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n\n", err)
		var ue *unknownError
		if errors.As(err, &ue) {
			printListing(stderr, ue.group)
		}
		return ExitUsage
	}
	return e.invoke(cmd, rest)
}

// unknownError says that the words do not name a command; group is the longest prefix that
// names a group of commands, for the listing shown with the error.
type unknownError struct {
	words string
	group string
}

func (u *unknownError) Error() string {
	if u.group != "" && u.words == u.group {
		return fmt.Sprintf("%q needs a subcommand", u.group)
	}
	return fmt.Sprintf("unknown command %q", u.words)
}

// lookup finds the longest run of leading words that names a command.
func lookup(args []string) (*command, []string, error) {
	for n := min(len(args), 4); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		if name == "server" {
			return nil, nil, errors.New(`"server" is run by the node binary itself; see node server -h`)
		}
		for _, c := range commands {
			if c.name == name {
				return c, args[n:], nil
			}
		}
	}
	// Not a command: report the deepest group the words are in.
	group := ""
	for n := 1; n <= min(len(args), 3); n++ {
		prefix := strings.Join(args[:n], " ")
		if isGroup(prefix) {
			group = prefix
		}
	}
	words := args[0]
	if group != "" {
		words = strings.Join(args[:min(len(args), len(strings.Fields(group))+1)], " ")
	}
	return nil, nil, &unknownError{words: words, group: group}
}

// groupHelp answers `GROUP -h` (or -help, --help), such as `event --help`: the group's
// listing on stdout and, for a group of one command, that command's usage too. ok is false
// when args are not a group followed by a help flag.
func (e *env) groupHelp(args []string) (code int, ok bool) {
	n := len(args)
	if n < 2 || (args[n-1] != "-h" && args[n-1] != "-help" && args[n-1] != "--help") {
		return 0, false
	}
	group := strings.Join(args[:n-1], " ")
	if !isGroup(group) {
		return 0, false
	}
	printListing(e.stdout, group)
	var members []*command
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			members = append(members, c)
		}
	}
	if len(members) == 1 {
		fmt.Fprintln(e.stdout)
		out := *e
		out.stderr = e.stdout
		return out.invoke(members[0], []string{"-h"}), true
	}
	return ExitOK, true
}

func isGroup(prefix string) bool {
	return slices.ContainsFunc(commands, func(c *command) bool { return strings.HasPrefix(c.name, prefix+" ") })
}

// printListing writes the command listing, or only the commands of group when it is not empty.
func printListing(w io.Writer, group string) {
	if group == "" {
		fmt.Fprintf(w, "Usage: %s <command> [options] [args]\n\n", progName)
		fmt.Fprintln(w, "Operate a Baton node and cluster through its OpenBao-compatible API, and inject")
		fmt.Fprintln(w, "lifecycle events over NATS. Options go before arguments.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Commands:")
	} else {
		fmt.Fprintf(w, "Usage: %s %s <subcommand> [options] [args]\n\n", progName, group)
		fmt.Fprintln(w, "Subcommands:")
	}
	var rows [][]string
	if group == "" {
		rows = append(rows, []string{"server", serverSynopsis})
	}
	for _, c := range commands {
		if group != "" && !strings.HasPrefix(c.name, group+" ") {
			continue
		}
		rows = append(rows, []string{c.name, c.synopsis})
	}
	writeColumns(w, "    ", rows)
	if group == "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Environment:")
		writeColumns(w, "    ", [][]string{
			{envAddr, "API address when -address is not given (else BAO_ADDR, VAULT_ADDR, " + defaultAddr + ")"},
			{envToken, "token when -token is not given (else BAO_TOKEN, VAULT_TOKEN)"},
			{envNATS, "NATS URL for event inject when -nats is not given (default " + defaultNATS + ")"},
			{envNATSSeed, "nkey seed file for event inject when -nkey-seed is not given"},
			{envNATSCA, "CA file that verifies a NATS server serving TLS, for event inject when -nats-ca-cert is not given"},
		})
		fmt.Fprintf(w, "\nRun \"%s help COMMAND\" or \"%s COMMAND -h\" for a command's options.\n", progName, progName)
	}
}

func runHelp(in *invocation, args []string) error {
	pos, err := in.parse(args, 0, -1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		printListing(in.stdout, "")
		return nil
	}
	cmd, rest, err := lookup(pos)
	if err != nil {
		var ue *unknownError
		if errors.As(err, &ue) && ue.group != "" && ue.words == ue.group {
			printListing(in.stdout, ue.group)
			return nil
		}
		return usagef("%v", err)
	}
	if len(rest) > 0 {
		return usagef("unknown command %q", strings.Join(pos, " "))
	}
	sub := in.env.newInvocation(cmd)
	// Running the command with -h defines its flags and prints its usage.
	sub.fs.SetOutput(in.stdout)
	if err := cmd.run(sub, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}
