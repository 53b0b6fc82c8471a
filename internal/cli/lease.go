package cli

import (
	"fmt"
	"strconv"
	"time"
)

var cmdLeaseRenew = &command{
	name:     "lease renew",
	args:     "LEASE_ID",
	synopsis: "Renew a lease",
	help: `Renews the lease LEASE_ID (for example database/creds/readonly/AbC…) and prints the new
lease. -increment asks for a TTL from now; the role's max_ttl still caps it.`,
	api: true,
	run: runLeaseRenew,
}

var cmdLeaseRevoke = &command{
	name:     "lease revoke",
	args:     "LEASE_ID",
	synopsis: "Revoke a lease (the credential is dropped from the database)",
	help: `Revokes the lease LEASE_ID. With -prefix, LEASE_ID is a prefix (database/creds/readonly)
and every lease under it is revoked (sys/leases/revoke-prefix); with -force -prefix the leases
are forgotten even when the database cannot drop their users (sys/leases/revoke-force), as
OpenBao's bao lease revoke does.`,
	api: true,
	run: runLeaseRevoke,
}

var cmdLeaseLookup = &command{
	name:     "lease lookup",
	args:     "LEASE_ID",
	synopsis: "Show a lease's issue and expiry times",
	api:      true,
	run:      runLeaseLookup,
}

// durationFlag takes a Go duration ("1h30m") or a whole number of seconds, as OpenBao does,
// and remembers whether it was set.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil {
			return fmt.Errorf("want a duration such as 1h or a number of seconds")
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return fmt.Errorf("must not be negative")
	}
	f.d, f.set = d, true
	return nil
}

func runLeaseRenew(in *invocation, args []string) error {
	var inc durationFlag
	in.fs.Var(&inc, "increment", "Requested TTL from now, a `DURATION` (1h, 30m) or seconds; default: the role's TTL.")
	field := in.fs.String("field", "", "Print only the value of this field.")
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	req := struct {
		LeaseID   string `json:"lease_id"`
		Increment *int64 `json:"increment,omitempty"`
	}{LeaseID: pos[0]}
	if inc.set {
		secs := int64(inc.d / time.Second)
		req.Increment = &secs
	}
	s, err := in.callSecret("PUT", "sys/leases/renew", nil, req)
	if err != nil {
		return err
	}
	return in.printSecret(s, *field)
}

func runLeaseRevoke(in *invocation, args []string) error {
	prefix := in.fs.Bool("prefix", false, "Treat LEASE_ID as a prefix and revoke every lease under it.")
	force := in.fs.Bool("force", false, "With -prefix: forget the leases even when their users cannot be deleted.")
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	switch {
	case *force && !*prefix:
		return usagef("-force requires -prefix: baton lease revoke -force -prefix <prefix>")
	case *force:
		_, err = in.call("PUT", "sys/leases/revoke-force/"+pos[0], nil, nil)
	case *prefix:
		_, err = in.call("PUT", "sys/leases/revoke-prefix/"+pos[0], nil, nil)
	default:
		_, err = in.call("PUT", "sys/leases/revoke", nil, map[string]string{"lease_id": pos[0]})
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(in.stdout, "All revocation operations queued successfully!")
	return err
}

func runLeaseLookup(in *invocation, args []string) error {
	pos, err := in.parse(args, 1, 1)
	if err != nil {
		return err
	}
	s, err := in.callSecret("PUT", "sys/leases/lookup", nil, map[string]string{"lease_id": pos[0]})
	if err != nil {
		return err
	}
	return in.printSecret(s, "")
}
