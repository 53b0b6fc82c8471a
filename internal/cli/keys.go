package cli

import (
	"encoding/json"
	"fmt"
)

var cmdOperatorRekey = &command{
	name:     "operator rekey",
	args:     "[KEY]",
	synopsis: "Replace the unseal key shares (the barrier keyring is unchanged)",
	help: `OpenBao's flow: -init -key-shares=N -key-threshold=T starts a rekey, then each holder gives
a share of the current unseal key with -nonce (KEY, or the first line of stdin); the update
that reaches the current threshold answers the new keys, and the old ones stop working.
-status shows the attempt, -cancel ends it. With -init -verify the new key takes effect only
once its shares are given back with -verify -nonce=VERIFICATION_NONCE KEY.`,
	api: true,
	run: runOperatorRekey,
}

var cmdOperatorRotate = &command{
	name:     "operator rotate",
	synopsis: "Add a new term to the barrier keyring (root token)",
	help: `Rotates the barrier's data key (PUT sys/rotate): new writes are encrypted under a new key
term; what older terms encrypted stays readable. Prints the new key status.`,
	api: true,
	run: runOperatorRotate,
}

var cmdOperatorKeyStatus = &command{
	name:     "operator key-status",
	synopsis: "Show the barrier keyring's active term (root token)",
	api:      true,
	run:      runOperatorKeyStatus,
}

func runOperatorRekey(in *invocation, args []string) error {
	initAttempt := in.fs.Bool("init", false, "Start a rekey (with -key-shares and -key-threshold).")
	status := in.fs.Bool("status", false, "Show the rekey in progress.")
	cancel := in.fs.Bool("cancel", false, "Cancel the rekey in progress.")
	nonce := in.fs.String("nonce", "", "The rekey's nonce, with a current unseal KEY share.")
	shares := in.fs.Int("key-shares", 5, "Number of new key shares (with -init).")
	threshold := in.fs.Int("key-threshold", 3, "Number of new shares needed to unseal (with -init).")
	verify := in.fs.Bool("verify", false, "With -init: require verification; with -nonce or -status: the verification step.")
	pos, err := in.parse(args, 0, 1)
	if err != nil {
		return err
	}
	modes := 0
	for _, b := range []bool{*initAttempt, *status, *cancel, *nonce != ""} {
		if b {
			modes++
		}
	}
	if modes != 1 {
		return usagef("give exactly one of -init, -status, -cancel or -nonce with the KEY")
	}
	switch {
	case *cancel:
		if _, err := in.call("DELETE", "sys/rekey/init", nil, nil); err != nil {
			return err
		}
		_, err := fmt.Fprintln(in.stdout, "Success! Canceled rekeying (if it was started)")
		return err
	case *status:
		path := "sys/rekey/init"
		if *verify {
			path = "sys/rekey/verify"
		}
		reply, err := in.call("GET", path, nil, nil)
		if err != nil {
			return err
		}
		return in.printRekey(reply)
	case *initAttempt:
		if *shares < 1 || *threshold < 1 || *threshold > *shares {
			return usagef("-key-threshold must be between 1 and -key-shares (%d), got %d", *shares, *threshold)
		}
		reply, err := in.call("PUT", "sys/rekey/init", nil, map[string]any{"secret_shares": *shares, "secret_threshold": *threshold, "require_verification": *verify})
		if err != nil {
			return err
		}
		return in.printRekey(reply)
	}
	key, err := in.unsealKey(pos)
	if err != nil {
		return err
	}
	path := "sys/rekey/update"
	if *verify {
		path = "sys/rekey/verify"
	}
	reply, err := in.call("PUT", path, nil, map[string]string{"key": key, "nonce": *nonce})
	if err != nil {
		return err
	}
	return in.printRekey(reply)
}

// printRekey writes sys/rekey's status, or the new keys once complete, as bao does.
func (in *invocation) printRekey(body []byte) error {
	if in.json() {
		return printRawJSON(in.stdout, body)
	}
	var st struct {
		Nonce      string   `json:"nonce"`
		Started    bool     `json:"started"`
		T          int      `json:"t"`
		N          int      `json:"n"`
		Progress   int      `json:"progress"`
		Required   int      `json:"required"`
		Complete   bool     `json:"complete"`
		KeysBase64 []string `json:"keys_base64"`
		VNonce     string   `json:"verification_nonce"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("decoding the reply: %w", err)
	}
	if st.Complete && len(st.KeysBase64) == 0 {
		_, err := fmt.Fprintln(in.stdout, "Success! Rekey verified: the new keys are in use; the old keys no longer unseal.")
		return err
	}
	if st.Complete && st.VNonce != "" {
		for i, k := range st.KeysBase64 {
			fmt.Fprintf(in.stdout, "Key %d: %s\n", i+1, k)
		}
		_, err := fmt.Fprintf(in.stdout, "\nVerification nonce: %s\n\nThe new keys are not in use yet: give the new threshold of them back with -verify -nonce=%s.\n", st.VNonce, st.VNonce)
		return err
	}
	if st.Complete {
		for i, k := range st.KeysBase64 {
			fmt.Fprintf(in.stdout, "Key %d: %s\n", i+1, k)
		}
		_, err := fmt.Fprintf(in.stdout, "\nOperation nonce: %s\n\nBaton unseal key rekeyed with %d key shares. The old keys no longer unseal.\n", st.Nonce, len(st.KeysBase64))
		return err
	}
	printKV(in.stdout, [][]string{
		{"Nonce", st.Nonce}, {"Started", fmt.Sprint(st.Started)},
		{"Rekey Progress", fmt.Sprintf("%d/%d", st.Progress, st.Required)},
		{"New Shares", fmt.Sprint(st.N)}, {"New Threshold", fmt.Sprint(st.T)},
	})
	return nil
}

func runOperatorRotate(in *invocation, args []string) error {
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	if _, err := in.call("PUT", "sys/rotate", nil, nil); err != nil {
		return err
	}
	fmt.Fprintln(in.stdout, "Success! Rotated key")
	fmt.Fprintln(in.stdout)
	return runOperatorKeyStatus(in, nil)
}

func runOperatorKeyStatus(in *invocation, args []string) error {
	if args != nil {
		if _, err := in.parse(args, 0, 0); err != nil {
			return err
		}
	}
	body, err := in.call("GET", "sys/key-status", nil, nil)
	if err != nil {
		return err
	}
	if in.json() {
		return printRawJSON(in.stdout, body)
	}
	var st struct {
		Term        int    `json:"term"`
		InstallTime string `json:"install_time"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("decoding the reply: %w", err)
	}
	printKV(in.stdout, [][]string{{"Key Term", fmt.Sprint(st.Term)}, {"Install Time", st.InstallTime}})
	return nil
}
