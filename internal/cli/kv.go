package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
)

var cmdRead = &command{
	name:     "read",
	args:     "PATH",
	synopsis: "Read data at a path (GET /v1/PATH)",
	help: `Reads data at PATH, for example database/creds/readonly or database/config/pg, and prints
it as a table sorted by key, lease fields first. Exits 2 when nothing is stored at PATH.`,
	api: true,
	run: runRead,
}

var cmdWrite = &command{
	name:     "write",
	args:     "PATH [KEY=VALUE ...]",
	synopsis: "Write data to a path (PUT /v1/PATH)",
	help: `Writes KEY=VALUE pairs to PATH. Values are sent as strings; VALUE "@FILE" sends the
content of FILE and "-" sends stdin. A single "-" instead of the pairs sends a JSON
object read from stdin as the body. With no pairs an empty body is sent
(database/rotate-root/NAME, for example).`,
	api: true,
	run: runWrite,
}

var cmdDelete = &command{
	name:     "delete",
	args:     "PATH",
	synopsis: "Delete data at a path (DELETE /v1/PATH)",
	api:      true,
	run:      runDelete,
}

var cmdList = &command{
	name:     "list",
	args:     "PATH",
	synopsis: "List the keys under a path (LIST /v1/PATH)",
	help:     "Lists the keys under PATH. Exits 2 when there are none.",
	api:      true,
	run:      runList,
}

// secret is OpenBao's reply envelope for logical paths.
type secret struct {
	LeaseID       string          `json:"lease_id"`
	LeaseDuration int64           `json:"lease_duration"`
	Renewable     bool            `json:"renewable"`
	Data          json.RawMessage `json:"data"`
	Warnings      []string        `json:"warnings"`
}

func (s *secret) leased() bool { return s.LeaseID != "" || s.LeaseDuration > 0 }

// dataMap decodes the data object; null or absent data is an empty map.
func (s *secret) dataMap() (map[string]any, error) {
	out := map[string]any{}
	if len(s.Data) == 0 || string(s.Data) == "null" {
		return out, nil
	}
	if err := decode(s.Data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// empty reports whether the reply carries neither data nor a lease.
func (s *secret) empty() bool {
	if s.leased() {
		return false
	}
	d, err := s.dataMap()
	return err == nil && len(d) == 0
}

// callSecret makes a call and parses its reply as a secret; a failed call's error is returned
// as it is, so that callers can still ask isNotFound.
func (in *invocation) callSecret(method, path string, query url.Values, body any) (*secret, error) {
	reply, err := in.call(method, path, query, body)
	if err != nil {
		return nil, err
	}
	return parseSecret(reply)
}

// parseSecret decodes a reply body; an empty body (204) is an empty secret.
func parseSecret(body []byte) (*secret, error) {
	s := &secret{}
	if len(body) == 0 {
		return s, nil
	}
	if err := decode(body, s); err != nil {
		return nil, err
	}
	return s, nil
}

// printSecret writes a secret: lease fields first, then data sorted by key. With field set it
// writes only that field's value. In JSON it writes the data, with the lease fields added when
// there is a lease, so that a script gets the lease id it needs to renew or revoke.
func (in *invocation) printSecret(s *secret, field string) error {
	printWarnings(in.stderr, s.Warnings)
	data, err := s.dataMap()
	if err != nil {
		return err
	}
	var lease [][]string
	if s.leased() {
		lease = [][]string{
			{"lease_id", s.LeaseID},
			{"lease_duration", humanSeconds(s.LeaseDuration)},
			{"lease_renewable", strconv.FormatBool(s.Renewable)},
		}
	}
	if field != "" {
		if v, ok := data[field]; ok {
			_, err := fmt.Fprintln(in.stdout, formatValue(v))
			return err
		}
		for _, r := range lease {
			if r[0] == field {
				_, err := fmt.Fprintln(in.stdout, r[1])
				return err
			}
		}
		return fmt.Errorf("field %q not present in the reply", field)
	}
	if in.json() {
		if !s.leased() {
			return printRawJSON(in.stdout, s.Data)
		}
		out := make(map[string]any, len(data)+3)
		for k, v := range data {
			out[k] = v
		}
		out["lease_id"] = s.LeaseID
		out["lease_duration"] = s.LeaseDuration
		out["lease_renewable"] = s.Renewable
		return printJSON(in.stdout, out)
	}
	printKV(in.stdout, append(lease, sortedRows(data)...))
	return nil
}

// notFound ends a read or list of an empty path with exit code 2, as OpenBao does: the
// server's errors when it gave some (a 404 reply), else OpenBao's message.
func (in *invocation) notFound(err error, path string) error {
	var ae *apiError
	if errors.As(err, &ae) && len(ae.errors) > 0 {
		printError(in.stderr, err)
		return exitCode(ExitUsage)
	}
	fmt.Fprintf(in.stderr, "No value found at %s\n", path)
	return exitCode(ExitUsage)
}

func runRead(in *invocation, args []string) error {
	field := in.fs.String("field", "", "Print only the value of this field (data, or lease_id, lease_duration, lease_renewable).")
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	path := pos[0]
	body, err := in.call("GET", escapePath(path), nil, nil)
	if isNotFound(err) {
		return in.notFound(err, path)
	}
	if err != nil {
		return err
	}
	s, err := parseSecret(body)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return in.notFound(nil, path)
	}
	return in.printSecret(s, *field)
}

func runWrite(in *invocation, args []string) error {
	field := in.fs.String("field", "", "Print only the value of this field of the reply.")
	// OpenBao needs -force to write without data; Baton does not, but accepts it for scripts.
	in.fs.Bool("force", false, "Accepted for OpenBao compatibility; writing no data needs no flag here.")
	in.fs.Bool("f", false, "Short for -force.")
	pos, err := in.parse(args, 1, -1)
	if err != nil {
		return err
	}
	path := pos[0]
	var body any
	if len(pos) == 2 && pos[1] == "-" {
		var obj map[string]any
		raw, err := io.ReadAll(in.stdin)
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
		if err := decode(raw, &obj); err != nil {
			return usagef("stdin is not a JSON object: %v", err)
		}
		body = obj
	} else {
		pairs, err := in.parsePairs(pos[1:])
		if err != nil {
			return err
		}
		body = pairs
	}
	reply, err := in.call("PUT", escapePath(path), nil, body)
	if err != nil {
		return err
	}
	s, err := parseSecret(reply)
	if err != nil {
		return err
	}
	if s.empty() && *field == "" {
		printWarnings(in.stderr, s.Warnings)
		_, err := fmt.Fprintf(in.stdout, "Success! Data written to: %s\n", path)
		return err
	}
	return in.printSecret(s, *field)
}

func runDelete(in *invocation, args []string) error {
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := in.call("DELETE", escapePath(pos[0]), nil, nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(in.stdout, "Success! Data deleted (if it existed) at: %s\n", pos[0])
	return err
}

func runList(in *invocation, args []string) error {
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	path := pos[0]
	s, err := in.callSecret(methodList, escapePath(path), nil, nil)
	if isNotFound(err) {
		return in.notFound(err, path)
	}
	if err != nil {
		return err
	}
	var data struct {
		Keys []string `json:"keys"`
	}
	if len(s.Data) > 0 && string(s.Data) != "null" {
		if err := decode(s.Data, &data); err != nil {
			return err
		}
	}
	printWarnings(in.stderr, s.Warnings)
	if len(data.Keys) == 0 {
		return in.notFound(nil, path)
	}
	if in.json() {
		return printRawJSON(in.stdout, s.Data)
	}
	rows := make([][]string, len(data.Keys))
	for i, k := range data.Keys {
		rows[i] = []string{k}
	}
	printTable(in.stdout, []string{"Keys"}, rows)
	return nil
}
