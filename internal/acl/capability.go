package acl

import (
	"fmt"
	"strings"
)

// Capability is a set of policy capabilities, one bit each.
type Capability uint16

// The capabilities a path stanza can grant, as OpenBao names them.
const (
	// CapDeny refuses every operation on the path, whatever else grants it.
	CapDeny Capability = 1 << iota
	// CapCreate allows creating data (POST/PUT where the engine tells create from update).
	CapCreate
	// CapRead allows reading (GET); reading database credentials is a read.
	CapRead
	// CapUpdate allows changing data (POST/PUT).
	CapUpdate
	// CapDelete allows deleting (DELETE).
	CapDelete
	// CapList allows listing (LIST).
	CapList
	// CapSudo allows the operations above on root-protected paths (see SudoRequired).
	CapSudo
	// CapPatch allows partial updates (PATCH).
	CapPatch
	// CapScan allows recursive listing (SCAN).
	CapScan
)

// capNames maps each capability name to its bit, in the order Capabilities reports them
// (OpenBao's order for sys/capabilities).
var capNames = []struct {
	name string
	bit  Capability
}{
	{"sudo", CapSudo},
	{"read", CapRead},
	{"list", CapList},
	{"update", CapUpdate},
	{"delete", CapDelete},
	{"create", CapCreate},
	{"patch", CapPatch},
	{"scan", CapScan},
	{"deny", CapDeny},
}

// parseCapability returns the bit for a capability name.
func parseCapability(s string) (Capability, bool) {
	for _, c := range capNames {
		if c.name == s {
			return c.bit, true
		}
	}
	return 0, false
}

// Has reports whether every capability in o is in c.
func (c Capability) Has(o Capability) bool { return c&o == o }

// Strings lists the capability names in c, in OpenBao's order; an empty set or one holding
// deny is ["deny"], as sys/capabilities-self reports it.
func (c Capability) Strings() []string {
	if c == 0 || c&CapDeny != 0 {
		return []string{"deny"}
	}
	out := make([]string, 0, 8)
	for _, n := range capNames {
		if c&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String renders the set as a comma-separated list.
func (c Capability) String() string { return strings.Join(c.Strings(), ",") }

// Operation is what a request does to a path; each maps to the capability it needs.
type Operation uint8

// Operations, as OpenBao's logical operations.
const (
	// OpRead is GET.
	OpRead Operation = iota + 1
	// OpCreate is a POST/PUT that creates.
	OpCreate
	// OpUpdate is a POST/PUT that changes.
	OpUpdate
	// OpDelete is DELETE.
	OpDelete
	// OpList is LIST (or GET with list=true).
	OpList
	// OpPatch is PATCH.
	OpPatch
	// OpScan is SCAN.
	OpScan
)

var opNames = [...]string{OpRead: "read", OpCreate: "create", OpUpdate: "update", OpDelete: "delete", OpList: "list", OpPatch: "patch", OpScan: "scan"}

var opCaps = [...]Capability{OpRead: CapRead, OpCreate: CapCreate, OpUpdate: CapUpdate, OpDelete: CapDelete, OpList: CapList, OpPatch: CapPatch, OpScan: CapScan}

// String names the operation as OpenBao does ("read", "update", …).
func (o Operation) String() string {
	if o == 0 || int(o) >= len(opNames) {
		return fmt.Sprintf("operation(%d)", uint8(o))
	}
	return opNames[o]
}

// Capability is the capability the operation needs; 0 for an unknown operation, which
// nothing grants.
func (o Operation) Capability() Capability {
	if o == 0 || int(o) >= len(opCaps) {
		return 0
	}
	return opCaps[o]
}

// ParseOperation reads an operation name ("read", "update", …).
func ParseOperation(s string) (Operation, error) {
	for i, n := range opNames {
		if n != "" && n == s {
			return Operation(i), nil
		}
	}
	return 0, fmt.Errorf("unknown operation %q", s)
}
