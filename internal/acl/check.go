package acl

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// Request is what Check decides on.
type Request struct {
	// Operation is what the request does.
	Operation Operation
	// Path is the API path without "/v1/" ("database/creds/ro"); leading slashes are ignored.
	// It is matched as given (case-sensitive, not cleaned): the edge passes the path it routes.
	Path string
	// Data holds the request's parameters, for allowed_parameters, denied_parameters and
	// required_parameters; nil when it has none.
	Data map[string]any
	// WrapTTL is the response-wrapping TTL the request asks for; 0 when it asks for none.
	WrapTTL time.Duration
}

// Reason says why Check refused. It is for logs and audit, never for the caller, who gets a
// bare "permission denied".
type Reason string

// Reasons Check gives.
const (
	// ReasonNone: the request is allowed.
	ReasonNone Reason = ""
	// ReasonNoRule: no path pattern matches.
	ReasonNoRule Reason = "no policy grants access to the path"
	// ReasonDenied: the governing rule says deny.
	ReasonDenied Reason = "denied by policy"
	// ReasonCapability: the governing rule lacks the operation's capability.
	ReasonCapability Reason = "the operation's capability is not granted"
	// ReasonSudo: the path is root-protected and the governing rule lacks sudo.
	ReasonSudo Reason = "the path requires sudo"
	// ReasonWrapping: the response-wrapping TTL is missing or outside the rule's bounds.
	ReasonWrapping Reason = "response-wrapping TTL outside the policy's bounds"
	// ReasonRequired: a required parameter is missing.
	ReasonRequired Reason = "a required parameter is missing"
	// ReasonParameter: a parameter or its value is not allowed.
	ReasonParameter Reason = "a parameter or its value is not allowed"
	// ReasonExpired: the ACL outlived a stanza's expiration and must be recompiled.
	ReasonExpired Reason = "the ACL has expired and must be recompiled"
	// ReasonOperation: the operation is unknown.
	ReasonOperation Reason = "unknown operation"
)

// Decision is Check's answer.
type Decision struct {
	// Allowed is true when the request may proceed.
	Allowed bool
	// Root is true when the root policy decided.
	Root bool
	// Sudo is true when the governing rule carries sudo (always, for root): OpenBao's
	// RootPrivs, which some handlers consult (token creation with privileged parameters).
	Sudo bool
	// Capabilities is the governing rule's set (0 when no rule matched; all for root).
	Capabilities Capability
	// GrantingPolicies names the policies that granted the operation's capability, for audit.
	// Shared with the ACL: do not modify.
	GrantingPolicies []string
	// Reason says why a refused request was refused.
	Reason Reason
}

var rootPolicies = []string{RootName}

// allCaps is every capability except deny.
const allCaps = CapCreate | CapRead | CapUpdate | CapDelete | CapList | CapSudo | CapPatch | CapScan

// Allowed decides on an operation on a path for a request without parameters or wrapping.
func (a *ACL) Allowed(op Operation, path string) Decision {
	return a.Check(Request{Operation: op, Path: path})
}

// Check decides on a request: the one function every entry point uses. The governing rule is
// found with OpenBao's precedence; its capabilities must include the operation's; on a
// sudo-protected path (SudoRequired) they must include sudo; then the rule's wrapping bounds and
// parameter constraints apply.
func (a *ACL) Check(req Request) Decision {
	if a == nil {
		return Decision{Reason: ReasonNoRule}
	}
	need := req.Operation.Capability()
	if need == 0 {
		return Decision{Reason: ReasonOperation}
	}
	if a.root {
		return Decision{Allowed: true, Root: true, Sudo: true, Capabilities: allCaps, GrantingPolicies: rootPolicies}
	}
	if !a.validUntil.IsZero() && !time.Now().Before(a.validUntil) {
		return Decision{Reason: ReasonExpired}
	}
	path := strings.TrimLeft(req.Path, "/")
	r := a.lookup(req.Operation, path)
	if r == nil {
		return Decision{Reason: ReasonNoRule}
	}
	d := Decision{Capabilities: r.caps, Sudo: r.caps&CapSudo != 0}
	switch {
	case r.caps&CapDeny != 0:
		d.Reason = ReasonDenied
		return d
	case r.caps&need == 0:
		d.Reason = ReasonCapability
		return d
	case !d.Sudo && SudoRequired(path):
		d.Reason = ReasonSudo
		return d
	}
	if r.maxWrap > 0 && (req.WrapTTL == 0 || req.WrapTTL > r.maxWrap) ||
		r.minWrap > 0 && (req.WrapTTL == 0 || req.WrapTTL < r.minWrap) ||
		r.minWrap > 0 && r.maxWrap > 0 && r.maxWrap < r.minWrap {
		d.Reason = ReasonWrapping
		return d
	}
	switch req.Operation {
	case OpRead, OpUpdate, OpCreate, OpPatch:
		if reason := r.checkParams(req.Data); reason != ReasonNone {
			d.Reason = reason
			return d
		}
	}
	d.Allowed = true
	d.GrantingPolicies = r.granting[bitIndex(need)]
	return d
}

func bitIndex(c Capability) int {
	for i := 0; i < numCaps; i++ {
		if c == 1<<i {
			return i
		}
	}
	return 0
}

// Capabilities lists what the ACL grants on path, as sys/capabilities-self reports it: ["root"]
// for the root policy, ["deny"] when nothing is granted.
func (a *ACL) Capabilities(path string) []string {
	if a == nil {
		return []string{"deny"}
	}
	if a.root {
		return []string{RootName}
	}
	if !a.validUntil.IsZero() && !time.Now().Before(a.validUntil) {
		return []string{"deny"}
	}
	r := a.lookup(OpList, strings.TrimLeft(path, "/"))
	if r == nil {
		return []string{"deny"}
	}
	return r.caps.Strings()
}

// checkParams applies required, denied and allowed parameters, in OpenBao's order.
func (r *rule) checkParams(data map[string]any) Reason {
	for _, q := range r.required {
		if _, ok := data[strings.ToLower(q)]; !ok {
			return ReasonRequired
		}
	}
	if len(data) == 0 {
		return ReasonNone
	}
	if len(r.deniedSet) > 0 {
		if _, ok := r.deniedSet["*"]; ok {
			return ReasonParameter
		}
		for k, v := range data {
			if set, ok := r.deniedSet[strings.ToLower(k)]; ok && anyIn(v, set) {
				return ReasonParameter
			}
		}
	}
	if len(r.allowedSet) == 0 {
		return ReasonNone
	}
	_, allowAll := r.allowedSet["*"]
	if allowAll && len(r.allowedSet) == 1 {
		return ReasonNone
	}
	for k, v := range data {
		set, ok := r.allowedSet[strings.ToLower(k)]
		if !ok {
			if !allowAll {
				return ReasonParameter
			}
			continue
		}
		if !allIn(v, set) {
			return ReasonParameter
		}
	}
	return ReasonNone
}

// anyIn reports whether a denied list catches v: an empty list catches every value; a list
// value is caught when any element is; a value of a shape the list cannot describe (an object)
// is caught, so that an odd shape never slips past a deny.
func anyIn(v any, set *valueSet) bool {
	if set.any {
		return true
	}
	if elems, ok := listElems(v); ok {
		for _, e := range elems {
			if anyIn(e, set) {
				return true
			}
		}
		return false
	}
	if !isScalar(v) {
		return true
	}
	return set.has(v)
}

// allIn reports whether an allowed list admits v: an empty list admits every value; a list
// value is admitted when every element is; an object is never admitted by a non-empty list.
func allIn(v any, set *valueSet) bool {
	if set.any {
		return true
	}
	if elems, ok := listElems(v); ok {
		for _, e := range elems {
			if !allIn(e, set) {
				return false
			}
		}
		return true
	}
	return set.has(v)
}

// listElems returns the elements of a slice value.
func listElems(v any) ([]any, bool) {
	switch s := v.(type) {
	case []any:
		return s, true
	case []string:
		out := make([]any, len(s))
		for i, x := range s {
			out[i] = x
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, true
	}
	return nil, false
}

// isScalar reports whether v is a scalar a policy value can describe.
func isScalar(v any) bool {
	if v == nil {
		return true
	}
	switch v.(type) {
	case string, bool, json.Number:
		return true
	}
	_, ok := number(v)
	return ok
}

// number converts a numeric request value to float64.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// globMatch is OpenBao's parameter-value glob: a leading and/or trailing "*" matches any
// suffix, prefix or infix; a pattern shorter than two characters matches only itself.
func globMatch(pattern, s string) bool {
	if len(pattern) < 2 {
		return pattern == s
	}
	pre, suf := strings.HasPrefix(pattern, "*"), strings.HasSuffix(pattern, "*")
	switch {
	case pre && suf:
		return strings.Contains(s, pattern[1:len(pattern)-1])
	case pre:
		return strings.HasSuffix(s, pattern[1:])
	case suf:
		return strings.HasPrefix(s, pattern[:len(pattern)-1])
	}
	return pattern == s
}
