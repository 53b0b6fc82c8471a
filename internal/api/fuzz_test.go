package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParams feeds arbitrary request bodies and field names to the parameter decoding every
// handler uses (body, then each typed reader): it never panics, every refusal is an apiError
// with a 4xx status, and a duration read without error is never negative (an overflow is
// refused, not wrapped). `go test` runs the seeds below.
func FuzzParams(f *testing.F) {
	for _, seed := range []struct{ body, key string }{
		{`{"default_ttl":99999999999999999}`, "default_ttl"},
		{`{"default_ttl":"99999999999999999"}`, "default_ttl"},
		{`{"default_ttl":-5}`, "default_ttl"},
		{`{"default_ttl":"-5m"}`, "default_ttl"},
		{`{"default_ttl":1.5}`, "default_ttl"},
		{`{"max_ttl":"9999999999h"}`, "max_ttl"},
		{`{"increment":"1h30m"}`, "increment"},
		{`{"allowed_roles":"ro, rw,,"}`, "allowed_roles"},
		{`{"allowed_roles":["ro",1]}`, "allowed_roles"},
		{`{"creation_statements":"CREATE ROLE x; GRANT y"}`, "creation_statements"},
		{`{"verify_connection":"maybe"}`, "verify_connection"},
		{`{"verify_connection":null}`, "verify_connection"},
		{`{"a\u0000b":1,"color":"red"}`, "a\u0000b"},
		{`[1,2]`, "x"},
		{`{"x":{"y":[{}]}}`, "x"},
		{``, "x"},
		{`{`, "x"},
		{"\xff", "x"},
	} {
		f.Add(seed.body, seed.key)
	}
	f.Fuzz(func(t *testing.T, raw, key string) {
		req := httptest.NewRequest(http.MethodPut, "/v1/database/roles/ro", strings.NewReader(raw))
		b, err := body(req)
		if err != nil {
			check4xx(t, err)
			return
		}
		p := params(b)
		if _, err := p.str(key); err != nil {
			check4xx(t, err)
		}
		if _, err := p.boolean(key); err != nil {
			check4xx(t, err)
		}
		if _, err := p.list(key); err != nil {
			check4xx(t, err)
		}
		if _, err := p.statements(key); err != nil {
			check4xx(t, err)
		}
		d, _, err := p.duration(key)
		if err != nil {
			check4xx(t, err)
		} else if d < 0 {
			t.Fatalf("duration %q in %q = %s: negative", key, raw, d)
		}
		for _, name := range p.ignored("db_name") {
			if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("ignored field name %q carries a control character", name)
			}
		}
	})
}

// FuzzHealthQuery feeds arbitrary query strings to sys/health: it never panics and always
// answers a status from 100 to 599 (400 for a bad override).
func FuzzHealthQuery(f *testing.F) {
	for _, q := range []string{"", "standbyok=true", "activecode=1", "activecode=204", "sealedcode=99999999999999999999",
		"uninitcode=-1", "standbycode=abc&standbyok=true", "activecode=%00", "perfstandbyok=true&performancestandbycode=600"} {
		f.Add(q)
	}
	h := newTestServer(newFakeNode(), newFakeSecrets())
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/sys/health", nil)
		req.URL.RawQuery = q
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 100 || rec.Code > 599 {
			t.Fatalf("sys/health?%s answered %d", q, rec.Code)
		}
	})
}

func check4xx(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 {
		t.Fatalf("refusal %v is not a 4xx apiError", err)
	}
}
