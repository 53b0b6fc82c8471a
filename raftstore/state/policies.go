package state

import (
	"fmt"

	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/raftstore/command"
)

// policyHandlers change the ACL policy store: each policy's name and raw HCL text. The text
// is parsed by the proposer (internal/auth) before it is proposed, not here: a parser that
// grows stricter in a later release must not make an old log entry replay differently on a
// newer node. Apply enforces only the rules on names, with OpenBao's rules for the built-ins
// (acl.CheckWrite, acl.CheckDelete): root is never written nor deleted, default is never
// deleted.
var policyHandlers = map[command.Type]handler{
	TypePolicyPut:    on((*txn).policyPut),
	TypePolicyDelete: on((*txn).policyDelete),
}

func (t *txn) policyPut(p PolicyPut) error {
	name := acl.NormalizeName(p.Name)
	if err := acl.CheckWrite(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if p.Policy == "" {
		return fmt.Errorf("%w: policy %q has no text", ErrInvalid, name)
	}
	prev, had := t.d.Policies[name]
	t.d.Policies[name] = Policy{Name: name, Text: p.Policy}
	t.bumpPolicies()
	t.undo = append(t.undo, func() {
		if had {
			t.d.Policies[name] = prev
		} else {
			delete(t.d.Policies, name)
		}
	})
	return nil
}

// policyDelete removes a policy; deleting one that is not there succeeds, as in OpenBao, so a
// retried delete is a no-op.
func (t *txn) policyDelete(p PolicyDelete) error {
	name := acl.NormalizeName(p.Name)
	if name == "" {
		return fmt.Errorf("%w: policy name is empty", ErrInvalid)
	}
	if err := acl.CheckDelete(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	prev, had := t.d.Policies[name]
	if !had {
		return nil
	}
	delete(t.d.Policies, name)
	t.bumpPolicies()
	t.undo = append(t.undo, func() { t.d.Policies[name] = prev })
	return nil
}

// bumpPolicies records that the policy store changed at this command's index.
func (t *txn) bumpPolicies() {
	prev := t.d.PoliciesVersion
	t.d.PoliciesVersion = t.index
	t.undo = append(t.undo, func() { t.d.PoliciesVersion = prev })
}

// defaultPolicies is the policy store of a new cluster: the built-in default policy with
// OpenBao's text. root has no text and is never stored.
func defaultPolicies() map[string]Policy {
	return map[string]Policy{acl.DefaultName: {Name: acl.DefaultName, Text: acl.DefaultPolicyHCL}}
}
