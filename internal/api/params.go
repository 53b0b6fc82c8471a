package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// params reads typed fields from a decoded JSON body, OpenBao's way: lists may be arrays or
// comma-separated strings, durations seconds or Go durations, booleans true/false or strings.
type params map[string]any

func (p params) has(k string) bool { _, ok := p[k]; return ok }

func (p params) str(k string) (string, error) {
	v, ok := p[k]
	if !ok || v == nil {
		return "", nil
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", errStatus(http.StatusBadRequest, "%s must be a string, not %T", k, v)
}

func (p params) boolean(k string) (*bool, error) {
	v, ok := p[k]
	if !ok || v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case bool:
		return &x, nil
	case string:
		b, err := strconv.ParseBool(x)
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, "%s must be true or false, not %q", k, x)
		}
		return &b, nil
	}
	return nil, errStatus(http.StatusBadRequest, "%s must be true or false, not %T", k, v)
}

func (p params) list(k string) ([]string, error) {
	v, ok := p[k]
	if !ok || v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case string:
		if strings.TrimSpace(x) == "" {
			return []string{}, nil
		}
		parts := strings.Split(x, ",")
		out := make([]string, 0, len(parts))
		for _, s := range parts {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, errStatus(http.StatusBadRequest, "%s[%d] must be a string, not %T", k, i, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errStatus(http.StatusBadRequest, "%s must be a list of strings or a comma-separated string, not %T", k, v)
}

// statements reads a statements field: a list, or one string holding several statements.
func (p params) statements(k string) ([]string, error) {
	v, ok := p[k]
	if !ok || v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return []string{}, nil
		}
		return []string{s}, nil
	}
	return p.list(k)
}

// maxSeconds is the largest number of seconds a time.Duration holds (about 292 years); more
// would wrap around to a negative TTL.
const maxSeconds = int64(math.MaxInt64 / int64(time.Second))

// duration reads a TTL: whole seconds (a number or a numeric string) or a Go duration. A negative
// one, or one a time.Duration cannot hold, is refused rather than wrapped around.
func (p params) duration(k string) (time.Duration, bool, error) {
	v, ok := p[k]
	if !ok || v == nil {
		return 0, false, nil
	}
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil || n < 0 || n > maxSeconds {
			return 0, true, errStatus(http.StatusBadRequest, "%s must be a whole number of seconds from 0 to %d, not %s", k, maxSeconds, x)
		}
		return time.Duration(n) * time.Second, true, nil
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			if err != nil || n < 0 || n > maxSeconds {
				return 0, true, errStatus(http.StatusBadRequest, "%s must be a whole number of seconds from 0 to %d, not %q", k, maxSeconds, x)
			}
			return time.Duration(n) * time.Second, true, nil
		}
		d, err := time.ParseDuration(x)
		if err != nil || d < 0 {
			return 0, true, errStatus(http.StatusBadRequest, "%s must be seconds or a duration like \"1h\" (not negative, at most %d seconds), not %q", k, maxSeconds, x)
		}
		return d, true, nil
	}
	return 0, true, errStatus(http.StatusBadRequest, "%s must be seconds or a duration, not %T", k, v)
}

// ignored lists, sorted, the fields of p the endpoint does not take. OpenBao accepts a write
// with such fields and warns about them; they are never passed on, so never stored. A name is
// escaped, so a control character in it cannot reach a terminal or a log raw.
func (p params) ignored(known ...string) []string {
	var out []string
	for k := range p {
		if !slices.Contains(known, k) {
			q := strconv.QuoteToASCII(k)
			out = append(out, q[1:len(q)-1])
		}
	}
	slices.Sort(out)
	return out
}

// writeDone answers a write that returns nothing: 204, or, when fields were ignored, 200 with
// OpenBao's warning naming them.
func writeDone(w http.ResponseWriter, ignored []string) { writeDoneWarn(w, ignored, nil) }

// writeDoneWarn is writeDone with the action's own warnings after the ignored fields'.
func writeDoneWarn(w http.ResponseWriter, ignored, warnings []string) {
	if len(ignored) > 0 {
		warnings = append([]string{"Endpoint ignored these unrecognized parameters: [" + strings.Join(ignored, " ") + "]"}, warnings...)
	}
	if len(warnings) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	reply := data(nil)
	reply["warnings"] = warnings
	writeJSON(w, http.StatusOK, reply)
}

// warningsOrNil is a reply's "warnings": null when there are none, as OpenBao answers.
func warningsOrNil(w []string) any {
	if len(w) == 0 {
		return nil
	}
	return w
}

func requireMethod(r *http.Request, methods ...string) error {
	for _, m := range methods {
		if r.Method == m {
			return nil
		}
	}
	return errStatus(http.StatusMethodNotAllowed, "%s is not allowed here (use %s)", r.Method, strings.Join(methods, " or "))
}

func fmtSeconds(d time.Duration) int64 { return int64(d / time.Second) }

var _ = fmt.Sprintf

// writeParams is the parameters of a write (PUT or POST, as OpenBao takes either): the
// method checked, then the JSON body decoded.
func writeParams(r *http.Request) (params, error) {
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return nil, err
	}
	b, err := body(r)
	if err != nil {
		return nil, err
	}
	return params(b), nil
}
