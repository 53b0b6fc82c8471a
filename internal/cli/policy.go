package cli

import (
	"fmt"
	"io"
	"net/url"
	"os"
)

var cmdPolicyWrite = &command{
	name:     "policy write",
	args:     "NAME FILE|-",
	synopsis: "Write an ACL policy from a file or stdin",
	help: `Uploads the ACL policy in FILE (HCL, as OpenBao's) under NAME, or reads it from stdin when
FILE is "-". The node parses it first: a bad policy is refused with its line and column.`,
	api: true,
	run: runPolicyWrite,
}

var cmdPolicyRead = &command{
	name:     "policy read",
	args:     "NAME",
	synopsis: "Print an ACL policy's text",
	help:     "Prints the text of the policy NAME. Exits 2 when there is no such policy.",
	api:      true,
	run:      runPolicyRead,
}

var cmdPolicyList = &command{
	name:     "policy list",
	synopsis: "List the ACL policies",
	api:      true,
	run:      runPolicyList,
}

var cmdPolicyDelete = &command{
	name:     "policy delete",
	args:     "NAME",
	synopsis: "Delete an ACL policy",
	api:      true,
	run:      runPolicyDelete,
}

// policyPath is sys/policies/acl/NAME, escaped (the path OpenBao's client uses).
func policyPath(name string) string { return "sys/policies/acl/" + url.PathEscape(name) }

func runPolicyWrite(in *invocation, args []string) error {
	pos, err := in.parse(args, 2, 2)
	if err != nil {
		return err
	}
	name, src := pos[0], pos[1]
	var text []byte
	if src == "-" {
		text, err = io.ReadAll(in.stdin)
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
	} else if text, err = os.ReadFile(src); err != nil {
		return usagef("reading the policy file: %v", err)
	}
	body := struct {
		Policy string `json:"policy"`
	}{string(text)}
	if _, err := in.call("PUT", policyPath(name), nil, body); err != nil {
		return err
	}
	_, err = fmt.Fprintf(in.stdout, "Success! Uploaded policy: %s\n", name)
	return err
}

func runPolicyRead(in *invocation, args []string) error {
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	s, err := in.callSecret("GET", policyPath(pos[0]), nil, nil)
	if isNotFound(err) {
		return in.notFound(err, policyPath(pos[0]))
	}
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, s.Data)
	}
	var d struct {
		Policy string `json:"policy"`
	}
	if err := decode(s.Data, &d); err != nil {
		return err
	}
	_, err = io.WriteString(in.stdout, d.Policy)
	return err
}

func runPolicyList(in *invocation, args []string) error {
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	s, err := in.callSecret("GET", "sys/policies/acl", url.Values{"list": {"true"}}, nil)
	if err != nil {
		return err
	}
	var d struct {
		Keys []string `json:"keys"`
	}
	if err := decode(s.Data, &d); err != nil {
		return err
	}
	if in.json() {
		return printJSON(in.stdout, d.Keys)
	}
	for _, k := range d.Keys {
		if _, err := fmt.Fprintln(in.stdout, k); err != nil {
			return err
		}
	}
	return nil
}

func runPolicyDelete(in *invocation, args []string) error {
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := in.call("DELETE", policyPath(pos[0]), nil, nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(in.stdout, "Success! Deleted policy: %s\n", pos[0])
	return err
}
