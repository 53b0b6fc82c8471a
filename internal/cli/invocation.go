package cli

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/baton-hq/baton/internal/apitls"
)

// Environment variables and their defaults.
const (
	envAddr     = "BATON_ADDR"
	envToken    = "BATON_TOKEN"
	envNATS     = "BATON_NATS_URL"
	envNATSSeed = "BATON_NATS_NKEY_SEED"
	envNATSCA   = "BATON_NATS_CACERT"
	defaultAddr = "http://127.0.0.1:8200"
	defaultNATS = "nats://127.0.0.1:4222"
)

// Output formats.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// invocation is one run of one command: its flag set, the common flags and the environment.
type invocation struct {
	*env
	cmd     *command
	fs      *flag.FlagSet
	address string
	token   string
	format  string
}

func (e *env) newInvocation(cmd *command) *invocation {
	in := &invocation{env: e, cmd: cmd, fs: flag.NewFlagSet(cmd.name, flag.ContinueOnError)}
	in.fs.SetOutput(e.stderr)
	in.fs.Usage = in.printUsage
	if cmd.local {
		return in
	}
	in.fs.StringVar(&in.format, "format", formatTable, "Output format: table (for humans) or json (the reply's data, for scripts).")
	if cmd.api {
		// Defaults stay empty here and are resolved after parsing, so that usage never prints
		// the token taken from the environment.
		in.fs.StringVar(&in.address, "address", "", "Address of the Baton API (default $"+envAddr+", $BAO_ADDR or $VAULT_ADDR, else "+defaultAddr+").")
		in.fs.StringVar(&in.token, "token", "", "Token sent as X-Vault-Token (default $"+envToken+", $BAO_TOKEN or $VAULT_TOKEN).")
	}
	return in
}

// invoke runs cmd and turns its error into output and an exit code.
func (e *env) invoke(cmd *command, args []string) int {
	in := e.newInvocation(cmd)
	err := cmd.run(in, args)
	var (
		ue   *usageError
		code exitCode
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errFlagsReported):
		return ExitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "Error: %s\n\n", ue.msg)
		in.fs.SetOutput(e.stderr)
		in.printUsage()
		return ExitUsage
	case errors.As(err, &code):
		return int(code)
	}
	printError(e.stderr, err)
	return ExitError
}

// printUsage writes the command's usage to the flag set's output.
func (in *invocation) printUsage() {
	w := in.fs.Output()
	synopsis := progName + " " + in.cmd.name
	hasFlags := false
	in.fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		synopsis += " [options]"
	}
	if in.cmd.args != "" {
		synopsis += " " + in.cmd.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n", synopsis)
	help := in.cmd.help
	if help == "" {
		help = in.cmd.synopsis + "."
	}
	for line := range strings.SplitSeq(strings.TrimRight(help, "\n"), "\n") {
		if line == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "  %s\n", line)
	}
	if hasFlags {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Options:")
		in.fs.PrintDefaults()
	}
}

// usageError is a mistake on the command line: the message is printed with the command's usage
// and the exit code is ExitUsage.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errFlagsReported says the flag package already printed the problem and the usage.
var errFlagsReported = errors.New("invalid flags")

// exitCode ends a command whose output is already written with a code other than ExitOK (a
// sealed node, nothing found at a path).
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit code %d", int(c)) }

// parse parses the flags and checks that between min and max positional arguments follow
// (max < 0: no upper bound).
func (in *invocation) parse(args []string, min, max int) ([]string, error) {
	if err := in.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errFlagsReported
	}
	if !in.cmd.local && in.format != formatTable && in.format != formatJSON {
		return nil, usagef("invalid -format %q: want table or json", in.format)
	}
	pos := in.fs.Args()
	// The flag package stops at the first argument; a flag after it would silently become an
	// argument, so name the mistake.
	for _, a := range pos {
		if name, ok := flagName(a); ok && in.fs.Lookup(name) != nil {
			return nil, usagef("option -%s must come before the arguments", name)
		}
	}
	switch {
	case len(pos) < min:
		return nil, usagef("not enough arguments: want %s, got %d", in.cmd.args, len(pos))
	case max >= 0 && len(pos) > max:
		if max == 0 {
			return nil, usagef("%s takes no arguments, got %q", in.cmd.name, strings.Join(pos, " "))
		}
		return nil, usagef("too many arguments: want %s, got %d", in.cmd.args, len(pos))
	}
	return pos, nil
}

// flagName returns the name of a "-name" or "--name=value" argument.
func flagName(arg string) (string, bool) {
	if len(arg) < 2 || arg[0] != '-' {
		return "", false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	name, _, _ = strings.Cut(name, "=")
	return name, name != ""
}

// Where the address and token are read from when no flag gives them, first set first: Baton's
// own variables, then OpenBao's and Vault's, so an operator's shell set up for `bao` drives
// Baton unchanged.
var (
	addrEnvs  = []string{envAddr, "BAO_ADDR", "VAULT_ADDR"}
	tokenEnvs = []string{envToken, "BAO_TOKEN", "VAULT_TOKEN"}
)

// firstEnv is the value of the first of names that is set and not empty.
func (in *invocation) firstEnv(names []string) string {
	for _, n := range names {
		if v := in.getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// client returns an API client for the resolved address and token: the flag, else the
// environment (addrEnvs, tokenEnvs), else the default.
func (in *invocation) client() (*client, error) {
	addr := in.address
	if addr == "" {
		addr = in.firstEnv(addrEnvs)
	}
	if addr == "" {
		addr = defaultAddr
	}
	token := in.token
	if token == "" {
		token = in.firstEnv(tokenEnvs)
	}
	tc, err := in.tlsConfig()
	if err != nil {
		return nil, err
	}
	return newClient(addr, token, tc)
}

// TLS settings, read from Baton's variables, then OpenBao's and Vault's (as addrEnvs).
var (
	caCertEnvs     = []string{"BATON_CACERT", "BAO_CACERT", "VAULT_CACERT"}
	clientCertEnvs = []string{"BATON_CLIENT_CERT", "BAO_CLIENT_CERT", "VAULT_CLIENT_CERT"}
	clientKeyEnvs  = []string{"BATON_CLIENT_KEY", "BAO_CLIENT_KEY", "VAULT_CLIENT_KEY"}
	skipVerifyEnvs = []string{"BATON_SKIP_VERIFY", "BAO_SKIP_VERIFY", "VAULT_SKIP_VERIFY"}
	serverNameEnvs = []string{"BATON_TLS_SERVER_NAME", "BAO_TLS_SERVER_NAME", "VAULT_TLS_SERVER_NAME"}
)

// tlsConfig is the client's TLS setting from the environment: a CA file to trust (else the
// system's roots), a client certificate and key, skip-verify (a boolean, as OpenBao parses
// it) and a server name.
func (in *invocation) tlsConfig() (*tls.Config, error) {
	o := apitls.ClientOptions{
		CACert: in.firstEnv(caCertEnvs), ClientCert: in.firstEnv(clientCertEnvs), ClientKey: in.firstEnv(clientKeyEnvs),
		ServerName: in.firstEnv(serverNameEnvs),
	}
	if v := in.firstEnv(skipVerifyEnvs); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, usagef("%s=%q: want true or false", skipVerifyEnvs[0], v)
		}
		o.SkipVerify = b
	}
	c, err := apitls.ClientConfig(o)
	if err != nil {
		return nil, fmt.Errorf("TLS settings (BATON_CACERT, BATON_CLIENT_CERT, BATON_CLIENT_KEY): %w", err)
	}
	return c, nil
}

// json reports whether the output format is JSON.
func (in *invocation) json() bool { return in.format == formatJSON }

// parsePairs turns key=value arguments into a map. A value "@FILE" is the content of FILE and
// "-" is all of stdin (once). A key given twice is a mistake rather than a silent overwrite.
func (in *invocation) parsePairs(args []string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	stdinUsed := false
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return nil, usagef("invalid key=value pair %q: missing '='", a)
		case k == "":
			return nil, usagef("invalid key=value pair %q: empty key", a)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("key %q given twice", k)
		}
		switch {
		case v == "-":
			if stdinUsed {
				return nil, usagef("only one value can be read from stdin (key %q)", k)
			}
			stdinUsed = true
			b, err := io.ReadAll(in.stdin)
			if err != nil {
				return nil, fmt.Errorf("reading the value of %q from stdin: %w", k, err)
			}
			v = string(b)
		case strings.HasPrefix(v, "@"):
			name := v[1:]
			if name == "" {
				return nil, usagef("invalid key=value pair %q: '@' needs a file name", a)
			}
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, usagef("reading the value of %q: %v", k, err)
			}
			v = string(b)
		}
		out[k] = v
	}
	return out, nil
}
