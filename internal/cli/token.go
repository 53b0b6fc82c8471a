package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

var cmdTokenCreate = &command{
	name:     "token create",
	synopsis: "Create a token (a child of the calling token unless -orphan)",
	help: `Creates a token (POST auth/token/create, or auth/token/create-orphan with -orphan) and
prints it with its accessor, TTL and policies, as bao token create does. Without -policy the
token gets the calling token's policies; a non-root caller may only give a subset of its own.`,
	api: true,
	run: runTokenCreate,
}

var cmdTokenLookup = &command{
	name:     "token lookup",
	args:     "[TOKEN]",
	synopsis: "Show a token's properties (the calling token's without TOKEN)",
	help: `Prints a token's policies, TTL, uses and metadata: TOKEN's (POST auth/token/lookup), the
accessor's with -accessor (auth/token/lookup-accessor), or the calling token's (lookup-self).`,
	api: true,
	run: runTokenLookup,
}

var cmdTokenRenew = &command{
	name:     "token renew",
	args:     "[TOKEN]",
	synopsis: "Renew a token (the calling token without TOKEN)",
	api:      true,
	run:      runTokenRenew,
}

var cmdTokenRevoke = &command{
	name:     "token revoke",
	args:     "[TOKEN|ACCESSOR]",
	synopsis: "Revoke a token with its children and their leases",
	help: `Revokes TOKEN and every token under it, and the leases they made (their database users are
deleted). -mode=orphan revokes TOKEN alone, its children become orphans. -accessor takes an
accessor instead of a token; -self revokes the calling token.`,
	api: true,
	run: runTokenRevoke,
}

var cmdOperatorGenerateRoot = &command{
	name:     "operator generate-root",
	args:     "[KEY]",
	synopsis: "Make a new root token with the unseal key",
	help: `OpenBao's flow: -init starts an attempt (an OTP is made and shown unless -otp gives one),
then the unseal key is given with -nonce (KEY, or the first line of stdin), and the encoded
token it answers is decoded with -decode=ENCODED -otp=OTP. -status shows the attempt, -cancel
ends it.`,
	api: true,
	run: runOperatorGenerateRoot,
}

// metaFlag collects repeated -metadata=K=V flags.
type metaFlag map[string]string

func (m metaFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m metaFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	m[k] = val
	return nil
}

// repeatFlag collects a flag given several times, each possibly comma-separated (-policy).
type repeatFlag []string

func (r *repeatFlag) String() string { return strings.Join(*r, ",") }

func (r *repeatFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*r = append(*r, s)
		}
	}
	return nil
}

// authReply is the auth block of a create or renew.
type authReply struct {
	Auth *struct {
		ClientToken   string            `json:"client_token"`
		Accessor      string            `json:"accessor"`
		Policies      []string          `json:"policies"`
		TokenPolicies []string          `json:"token_policies"`
		Metadata      map[string]string `json:"metadata"`
		LeaseDuration int64             `json:"lease_duration"`
		Renewable     bool              `json:"renewable"`
	} `json:"auth"`
	Warnings []string `json:"warnings"`
}

// printAuth writes an auth block as bao does (token, token_accessor, …), or one field of it.
func (in *invocation) printAuth(body []byte, field string) error {
	var r authReply
	if err := decode(body, &r); err != nil {
		return err
	}
	if r.Auth == nil {
		return errors.New("the reply has no auth block")
	}
	printWarnings(in.stderr, r.Warnings)
	a := r.Auth
	if in.json() && field == "" {
		return printJSON(in.stdout, a)
	}
	rows := [][]string{
		{"token", a.ClientToken},
		{"token_accessor", a.Accessor},
		{"token_duration", humanSeconds(a.LeaseDuration)},
		{"token_renewable", fmt.Sprint(a.Renewable)},
		{"token_policies", fmt.Sprint(a.TokenPolicies)},
		{"identity_policies", "[]"},
		{"policies", fmt.Sprint(a.Policies)},
	}
	for _, k := range slices.Sorted(maps.Keys(a.Metadata)) {
		rows = append(rows, []string{"token_meta_" + k, a.Metadata[k]})
	}
	if field != "" {
		for _, row := range rows {
			if row[0] == field {
				_, err := fmt.Fprintln(in.stdout, row[1])
				return err
			}
		}
		return fmt.Errorf("field %q not present in the reply", field)
	}
	printKV(in.stdout, rows)
	return nil
}

func runTokenCreate(in *invocation, args []string) error {
	var policies repeatFlag
	meta := metaFlag{}
	var ttl, explicitMax, period durationFlag
	in.fs.Var(&policies, "policy", "A policy for the token (repeat, or comma-separate, for several).")
	in.fs.Var(&ttl, "ttl", "Initial TTL, a `DURATION` (1h) or seconds; default 768h.")
	in.fs.Var(&explicitMax, "explicit-max-ttl", "Hard limit on the token's life, a `DURATION`.")
	in.fs.Var(&period, "period", "Make a periodic token: each renewal resets its TTL to this `DURATION`.")
	in.fs.Var(meta, "metadata", "Metadata `KEY=VALUE` (repeat for several).")
	orphan := in.fs.Bool("orphan", false, "Create the token with no parent (auth/token/create-orphan).")
	display := in.fs.String("display-name", "", "Name attached to the token (shown as token-NAME).")
	uses := in.fs.Int("use-limit", 0, "Number of uses after which the token is revoked (0: no limit).")
	noDefault := in.fs.Bool("no-default-policy", false, "Do not attach the default policy.")
	renewable := in.fs.Bool("renewable", true, "Allow the token to be renewed.")
	field := in.fs.String("field", "", "Print only this field (token, token_accessor, …).")
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	if *uses < 0 {
		return usagef("-use-limit must not be negative")
	}
	body := map[string]any{"renewable": *renewable}
	if len(policies) > 0 {
		body["policies"] = []string(policies)
	}
	for k, f := range map[string]*durationFlag{"ttl": &ttl, "explicit_max_ttl": &explicitMax, "period": &period} {
		if f.set {
			body[k] = int64(f.d / time.Second)
		}
	}
	if len(meta) > 0 {
		body["meta"] = map[string]string(meta)
	}
	if *display != "" {
		body["display_name"] = *display
	}
	if *uses > 0 {
		body["num_uses"] = *uses
	}
	if *noDefault {
		body["no_default_policy"] = true
	}
	path := "auth/token/create"
	if *orphan {
		path = "auth/token/create-orphan"
	}
	reply, err := in.call("POST", path, nil, body)
	if err != nil {
		return err
	}
	return in.printAuth(reply, *field)
}

func runTokenLookup(in *invocation, args []string) error {
	accessor := in.fs.Bool("accessor", false, "Treat the argument as an accessor.")
	pos, err := in.parse(args, 0, 1)
	if err != nil {
		return err
	}
	var s *secret
	switch {
	case *accessor && len(pos) == 0:
		return usagef("-accessor needs an ACCESSOR argument")
	case *accessor:
		s, err = in.callSecret("POST", "auth/token/lookup-accessor", nil, map[string]string{"accessor": pos[0]})
	case len(pos) == 1:
		s, err = in.callSecret("POST", "auth/token/lookup", nil, map[string]string{"token": pos[0]})
	default:
		s, err = in.callSecret("GET", "auth/token/lookup-self", nil, nil)
	}
	if err != nil {
		return err
	}
	return in.printSecret(s, "")
}

func runTokenRenew(in *invocation, args []string) error {
	var inc durationFlag
	in.fs.Var(&inc, "increment", "Requested TTL from now, a `DURATION` or seconds; default: the token's TTL.")
	field := in.fs.String("field", "", "Print only this field.")
	pos, err := in.parse(args, 0, 1)
	if err != nil {
		return err
	}
	body := map[string]any{}
	if inc.set {
		body["increment"] = int64(inc.d / time.Second)
	}
	path := "auth/token/renew-self"
	if len(pos) == 1 {
		path = "auth/token/renew"
		body["token"] = pos[0]
	}
	reply, err := in.call("POST", path, nil, body)
	if err != nil {
		return err
	}
	return in.printAuth(reply, *field)
}

func runTokenRevoke(in *invocation, args []string) error {
	self := in.fs.Bool("self", false, "Revoke the calling token.")
	accessor := in.fs.Bool("accessor", false, "Treat the argument as an accessor.")
	mode := in.fs.String("mode", "", "\"orphan\": revoke the token alone, its children become orphans.")
	pos, err := in.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if *mode != "" && *mode != "orphan" {
		return usagef("invalid -mode %q: only orphan is supported", *mode)
	}
	var path string
	var body any // nil for revoke-self: no body at all
	switch {
	case *self && (len(pos) > 0 || *accessor || *mode != ""):
		return usagef("-self takes no argument, -accessor or -mode")
	case *self:
		path = "auth/token/revoke-self"
	case len(pos) == 0:
		return usagef("give a TOKEN (or ACCESSOR with -accessor), or -self")
	case *accessor && *mode != "":
		return usagef("-mode and -accessor cannot be used together")
	case *accessor:
		path, body = "auth/token/revoke-accessor", map[string]string{"accessor": pos[0]}
	case *mode == "orphan":
		path, body = "auth/token/revoke-orphan", map[string]string{"token": pos[0]}
	default:
		path, body = "auth/token/revoke", map[string]string{"token": pos[0]}
	}
	if _, err := in.call("POST", path, nil, body); err != nil {
		return err
	}
	_, err = fmt.Fprintln(in.stdout, "Success! Revoked token (if it existed)")
	return err
}

func runOperatorGenerateRoot(in *invocation, args []string) error {
	initAttempt := in.fs.Bool("init", false, "Start an attempt (an OTP is made unless -otp is given).")
	status := in.fs.Bool("status", false, "Show the attempt in progress.")
	cancel := in.fs.Bool("cancel", false, "Cancel the attempt in progress.")
	nonce := in.fs.String("nonce", "", "The attempt's nonce, with the unseal KEY.")
	otp := in.fs.String("otp", "", "The OTP (with -init to use your own, with -decode to decode).")
	encoded := in.fs.String("decode", "", "Decode this encoded token with -otp and print the token.")
	pos, err := in.parse(args, 0, 1)
	if err != nil {
		return err
	}
	modes := 0
	for _, b := range []bool{*initAttempt, *status, *cancel, *encoded != "", *nonce != ""} {
		if b {
			modes++
		}
	}
	if modes != 1 {
		return usagef("give exactly one of -init, -status, -cancel, -decode or -nonce with the KEY")
	}
	switch {
	case *encoded != "":
		if *otp == "" {
			return usagef("-decode needs -otp")
		}
		tok, err := decodeRootToken(*encoded, *otp)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(in.stdout, tok)
		return err
	case *cancel:
		if _, err := in.call("DELETE", "sys/generate-root/attempt", nil, nil); err != nil {
			return err
		}
		_, err := fmt.Fprintln(in.stdout, "Success! Root token generation canceled (if it was started)")
		return err
	case *status:
		reply, err := in.call("GET", "sys/generate-root/attempt", nil, nil)
		if err != nil {
			return err
		}
		return in.printRootGen(reply)
	case *initAttempt:
		body := map[string]string{}
		if *otp != "" {
			body["otp"] = *otp
		}
		reply, err := in.call("PUT", "sys/generate-root/attempt", nil, body)
		if err != nil {
			return err
		}
		return in.printRootGen(reply)
	}
	key, err := in.unsealKey(pos)
	if err != nil {
		return err
	}
	reply, err := in.call("PUT", "sys/generate-root/update", nil, map[string]string{"key": key, "nonce": *nonce})
	if err != nil {
		return err
	}
	return in.printRootGen(reply)
}

// printRootGen writes sys/generate-root's status as bao's table.
func (in *invocation) printRootGen(body []byte) error {
	if in.json() {
		return printRawJSON(in.stdout, body)
	}
	var st struct {
		Nonce        string `json:"nonce"`
		Started      bool   `json:"started"`
		Progress     int    `json:"progress"`
		Required     int    `json:"required"`
		Complete     bool   `json:"complete"`
		EncodedToken string `json:"encoded_token"`
		OTP          string `json:"otp"`
		OTPLength    int    `json:"otp_length"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("decoding the reply: %w", err)
	}
	rows := [][]string{
		{"Nonce", st.Nonce}, {"Started", fmt.Sprint(st.Started)},
		{"Progress", fmt.Sprintf("%d/%d", st.Progress, st.Required)}, {"Complete", fmt.Sprint(st.Complete)},
	}
	if st.EncodedToken != "" {
		rows = append(rows, []string{"Encoded Token", st.EncodedToken})
	}
	if st.OTP != "" {
		rows = append(rows, []string{"OTP", st.OTP})
	}
	rows = append(rows, []string{"OTP Length", fmt.Sprint(st.OTPLength)})
	printKV(in.stdout, rows)
	return nil
}

// decodeRootToken reverses the server's encoding: base64 (raw standard) of the token XORed
// with the OTP, as bao operator generate-root -decode does.
func decodeRootToken(encoded, otp string) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(encoded, "="))
	if err != nil {
		return "", fmt.Errorf("the encoded token is not base64: %w", err)
	}
	if len(b) != len(otp) {
		return "", errors.New("the OTP and the encoded token differ in length: is it this attempt's OTP?")
	}
	for i := range b {
		b[i] ^= otp[i]
	}
	return string(b), nil
}
