package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"
)

// Entry types, as OpenBao writes them.
const (
	TypeRequest  = "request"
	TypeResponse = "response"
)

// HashPrefix starts every hashed value, as in OpenBao (salt.GetIdentifiedHMAC).
const HashPrefix = "hmac-sha256:"

// Auth is the caller an entry records: the admitted token's identity, empty when the request
// was refused before one was known. Fields and JSON names are OpenBao's (audit.AuditAuth);
// ClientToken and Accessor are hashed.
type Auth struct {
	ClientToken   string            `json:"client_token,omitempty"`
	Accessor      string            `json:"accessor,omitempty"`
	DisplayName   string            `json:"display_name,omitempty"`
	Policies      []string          `json:"policies,omitempty"`
	TokenPolicies []string          `json:"token_policies,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	TokenType     string            `json:"token_type,omitempty"`
	TokenTTL      int64             `json:"token_ttl,omitempty"`
}

// Request is the request an entry records, with OpenBao's JSON names (audit.AuditRequest);
// ClientToken, ClientTokenAccessor and every string of Data are hashed.
type Request struct {
	ID                  string         `json:"id,omitempty"`
	Operation           string         `json:"operation,omitempty"`
	MountType           string         `json:"mount_type,omitempty"`
	ClientToken         string         `json:"client_token,omitempty"`
	ClientTokenAccessor string         `json:"client_token_accessor,omitempty"`
	Path                string         `json:"path,omitempty"`
	Data                map[string]any `json:"data,omitempty"`
	RemoteAddr          string         `json:"remote_address,omitempty"`
	RemotePort          int            `json:"remote_port,omitempty"`
}

// Secret is a response's lease.
type Secret struct {
	LeaseID string `json:"lease_id,omitempty"`
}

// Response is the reply a response entry records (OpenBao's audit.AuditResponse); every
// string of Data, and Auth's token and accessor, are hashed.
type Response struct {
	Auth     *Auth          `json:"auth,omitempty"`
	Secret   *Secret        `json:"secret,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
}

// Input is what the HTTP edge hands the broker for one request: who asked (nil: nobody was
// admitted), what, and, for a response entry, the reply and the error.
type Input struct {
	Auth     *Auth
	Request  Request
	Response *Response
	// Error is the error the request ended with ("permission denied" for a refused token).
	Error string

	// salts are the device salts the request entry was hashed with, by device path: its
	// response entry is hashed with the same, even when the request sealed the node (and
	// its barrier) in between.
	salts map[string][]byte
}

// entry is one line of an audit log: OpenBao's request and response entries in one struct
// (a request entry has no response).
type entry struct {
	Time     string    `json:"time,omitempty"`
	Type     string    `json:"type,omitempty"`
	Auth     *Auth     `json:"auth,omitempty"`
	Request  *Request  `json:"request,omitempty"`
	Response *Response `json:"response,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// hasher HMACs strings under a device's salt; one serves one entry (it is not safe for
// concurrent use), so the HMAC's key schedule is paid once per entry, not once per string.
type hasher struct {
	m   hash.Hash
	sum []byte
	out []byte
}

// newHasher returns a hasher keyed with salt.
func newHasher(salt []byte) *hasher {
	return &hasher{m: hmac.New(sha256.New, salt), sum: make([]byte, 0, sha256.Size)}
}

// hash returns "hmac-sha256:<hex>" of s.
func (h *hasher) hash(s string) string {
	h.m.Reset()
	_, _ = io.WriteString(h.m, s)
	h.sum = h.m.Sum(h.sum[:0])
	h.out = append(h.out[:0], HashPrefix...)
	h.out = hex.AppendEncode(h.out, h.sum)
	return string(h.out)
}

// format builds the entry one device writes for in: raw, or with every token, accessor (when
// hmacAccessor) and string of the data hashed. in is never changed.
func format(typ string, in *Input, now time.Time, h *hasher, raw, hmacAccessor bool) ([]byte, error) {
	e := entry{Time: now.UTC().Format(time.RFC3339Nano), Type: typ, Error: in.Error}
	a := Auth{}
	if in.Auth != nil {
		a = *in.Auth
	}
	req := in.Request
	var resp *Response
	if typ == TypeResponse {
		resp = &Response{}
		if in.Response != nil {
			r := *in.Response
			resp = &r
		}
	}
	if !raw {
		a = hashAuth(h, a, hmacAccessor)
		req.ClientToken = hashNonEmpty(h, req.ClientToken)
		if hmacAccessor {
			req.ClientTokenAccessor = hashNonEmpty(h, req.ClientTokenAccessor)
		}
		req.Data = hashMap(h, req.Data)
		if resp != nil {
			if resp.Auth != nil {
				ra := hashAuth(h, *resp.Auth, hmacAccessor)
				resp.Auth = &ra
			}
			resp.Data = hashMap(h, resp.Data)
		}
	}
	e.Auth, e.Request, e.Response = &a, &req, resp
	return json.Marshal(e)
}

func hashAuth(h *hasher, a Auth, hmacAccessor bool) Auth {
	a.ClientToken = hashNonEmpty(h, a.ClientToken)
	if hmacAccessor {
		a.Accessor = hashNonEmpty(h, a.Accessor)
	}
	return a
}

func hashNonEmpty(h *hasher, s string) string {
	if s == "" {
		return ""
	}
	return h.hash(s)
}

// hashMap returns a copy of m with every string value hashed, however deep, as OpenBao's
// HashStructure does: keys stay; numbers and booleans stay, except numbers decoded from a
// request body as json.Number, which are strings to OpenBao too; a string that is an RFC 3339
// timestamp stays.
func hashMap(h *hasher, m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = hashValue(h, v)
	}
	return out
}

func hashValue(h *hasher, v any) any {
	switch x := v.(type) {
	case string:
		return hashString(h, x)
	case json.Number:
		return h.hash(string(x))
	case map[string]any:
		return hashMap(h, x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = hashValue(h, e)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = hashString(h, e)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[k] = hashString(h, e)
		}
		return out
	case nil, bool, float64, float32, int, int64, int32, uint, uint64, uint32:
		return v
	}
	// Any other shape: hash it as the JSON a client would read, so no string slips through.
	b, err := json.Marshal(v)
	if err != nil {
		return h.hash(fmt.Sprint(v))
	}
	var generic any
	if json.Unmarshal(b, &generic) != nil {
		return h.hash(string(b))
	}
	return hashValue(h, generic)
}

func hashString(h *hasher, s string) string {
	var t time.Time
	if t.UnmarshalText([]byte(s)) == nil {
		return s
	}
	return h.hash(s)
}
