package state

import (
	"fmt"
	"strings"

	"github.com/baton-hq/baton/raftstore/command"
)

// passwordPolicyHandlers change OpenBao's password policies (sys/policies/password/:name):
// each policy's name and HCL text. The text is parsed by the proposer (plugins/database), not
// here, so a stricter parser in a later release never makes an old entry replay differently;
// Apply checks only the name and that there is a text.
var passwordPolicyHandlers = map[command.Type]handler{
	TypePasswordPolicyPut:    on((*txn).passwordPolicyPut),
	TypePasswordPolicyDelete: on((*txn).passwordPolicyDelete),
}

// PasswordPolicy is one stored password policy.
type PasswordPolicy struct {
	Name string `json:"name"`
	Text string `json:"policy"`
}

// PasswordPolicyPut writes a password policy.
type PasswordPolicyPut struct {
	Name   string `json:"name"`
	Policy string `json:"policy"`
}

// PasswordPolicyDelete removes a password policy.
type PasswordPolicyDelete struct {
	Name string `json:"name"`
}

func checkPasswordPolicyName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: password policy name %q: a name is not empty and has no '/'", ErrInvalid, name)
	}
	return nil
}

func (t *txn) passwordPolicyPut(p PasswordPolicyPut) error {
	if err := checkPasswordPolicyName(p.Name); err != nil {
		return err
	}
	if p.Policy == "" {
		return fmt.Errorf("%w: password policy %q has no text", ErrInvalid, p.Name)
	}
	if t.d.PasswordPolicies == nil {
		t.d.PasswordPolicies = map[string]PasswordPolicy{}
	}
	prev, had := t.d.PasswordPolicies[p.Name]
	t.d.PasswordPolicies[p.Name] = PasswordPolicy{Name: p.Name, Text: p.Policy}
	t.undo = append(t.undo, func() {
		if had {
			t.d.PasswordPolicies[p.Name] = prev
		} else {
			delete(t.d.PasswordPolicies, p.Name)
		}
	})
	return nil
}

// passwordPolicyDelete removes a policy; one that is not there is a no-op, as in OpenBao.
func (t *txn) passwordPolicyDelete(p PasswordPolicyDelete) error {
	if err := checkPasswordPolicyName(p.Name); err != nil {
		return err
	}
	prev, had := t.d.PasswordPolicies[p.Name]
	if !had {
		return nil
	}
	delete(t.d.PasswordPolicies, p.Name)
	t.undo = append(t.undo, func() { t.d.PasswordPolicies[p.Name] = prev })
	return nil
}
