package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func entry(name, version string, builtin bool) Entry {
	e := Entry{Type: TypeDatabase, Name: name, Version: version, SHA256: sumA, Command: name, Builtin: builtin}
	return e
}

// newCatalog returns a catalog holding the given entries, failing the test on a refusal.
func newCatalog(t *testing.T, entries ...Entry) *Catalog {
	t.Helper()
	c := &Catalog{}
	for _, e := range entries {
		if err := c.Put(e); err != nil {
			t.Fatalf("Put(%v): %v", e, err)
		}
	}
	return c
}

func TestGetSelectsVersion(t *testing.T) {
	for _, tc := range []struct {
		name        string
		entries     []Entry
		get         string
		wantVersion string
		wantBuiltin bool
		wantErr     error
	}{
		{"unversioned wins without a version",
			[]Entry{entry("pg", "v2.0.0", false), entry("pg", "", false), entry("pg", "v1.0.0", false)}, "", "", false, nil},
		{"highest semver when none is unversioned",
			[]Entry{entry("pg", "v1.10.0", false), entry("pg", "v1.9.0", false), entry("pg", "v1.10.0-rc1", false)}, "", "v1.10.0", false, nil},
		{"exact version", []Entry{entry("pg", "v1.0.0", false), entry("pg", "v2.0.0", false)}, "v1.0.0", "v1.0.0", false, nil},
		{"exact version given in short form", []Entry{entry("pg", "v1.0.0", false)}, "v1.0", "v1.0.0", false, nil},
		{"missing version", []Entry{entry("pg", "v1.0.0", false)}, "v3.0.0", "", false, ErrNotFound},
		{"invalid version", []Entry{entry("pg", "v1.0.0", false)}, "3.0.0", "", false, ErrInvalid},
		{"missing name", []Entry{entry("other", "", false)}, "", "", false, ErrNotFound},
		{"external shadows a higher builtin",
			[]Entry{entry("pg", "v9.0.0+builtin", true), entry("pg", "v1.0.0", false)}, "", "v1.0.0", false, nil},
		{"external shadows an unversioned builtin",
			[]Entry{entry("pg", "", true), entry("pg", "v1.0.0", false)}, "", "v1.0.0", false, nil},
		{"builtin when there is no external",
			[]Entry{entry("pg", "v0.1.0+builtin", true), entry("other", "", false)}, "", "v0.1.0+builtin", true, nil},
		{"builtin by exact version despite shadowing",
			[]Entry{entry("pg", "v0.1.0+builtin", true), entry("pg", "v1.0.0", false)}, "v0.1.0+builtin", "v0.1.0+builtin", true, nil},
		{"external first for the same exact version",
			[]Entry{entry("pg", "v1.0.0", true), entry("pg", "v1.0.0", false)}, "v1.0.0", "v1.0.0", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCatalog(t, tc.entries...)
			got, err := c.Get("database", "pg", tc.get)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Get = %v, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got.Version != tc.wantVersion || got.Builtin != tc.wantBuiltin {
				t.Errorf("Get = %v, want version %q builtin %v", got, tc.wantVersion, tc.wantBuiltin)
			}
		})
	}
}

func TestTypesAreSeparate(t *testing.T) {
	c := newCatalog(t, entry("pg", "", false))
	if _, err := c.Get("secret", "pg", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(secret) = %v, want ErrNotFound", err)
	}
	if _, err := c.Get("unknown", "pg", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get(unknown) = %v, want ErrInvalid", err)
	}
	if got := c.List("secret"); len(got) != 0 {
		t.Errorf("List(secret) = %v", got)
	}
}

func TestPutReplacesAndRefuses(t *testing.T) {
	c := newCatalog(t, entry("pg", "v1.0", false))
	e := entry("pg", "v1.0.0", false)
	e.SHA256 = sumB
	if err := c.Put(e); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Fatalf("v1.0 and v1.0.0 are stored apart: %v", c.All())
	}
	got, _ := c.Get("database", "pg", "v1.0.0")
	if got.SHA256 != sumB {
		t.Errorf("Put did not replace: %v", got)
	}

	bad := entry("pg", "1.0.0", false)
	if err := c.Put(bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("Put(%v) = %v, want ErrInvalid", bad, err)
	}
	if c.Len() != 1 {
		t.Errorf("a refused entry was stored: %v", c.All())
	}
}

func TestDelete(t *testing.T) {
	c := newCatalog(t, entry("pg", "v1.0.0", false), entry("pg", "v2.0.0", false), entry("pg", "v0.1.0", true))
	if err := c.Delete("database", "pg", "v1.0"); err != nil {
		t.Fatalf("Delete(v1.0): %v", err)
	}
	if err := c.Delete("database", "pg", "v1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := c.Delete("database", "pg", "v0.1.0"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "built in") {
		t.Errorf("Delete(builtin) = %v, want a built-in refusal", err)
	}
	if err := c.Delete("database", "pg", "2.0.0"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Delete(bad version) = %v, want ErrInvalid", err)
	}
	if err := c.Delete("database", "pg", "v2.0.0"); err != nil {
		t.Fatal(err)
	}
	// With the external entries gone, the built-in one shows through again.
	got, err := c.Get("database", "pg", "")
	if err != nil || !got.Builtin {
		t.Errorf("Get after deleting the externals = %v, %v; want the builtin", got, err)
	}
}

func TestListVersionsAll(t *testing.T) {
	c := newCatalog(t,
		entry("zeta", "", false),
		entry("alpha", "v1.10.0", false),
		entry("alpha", "v1.2.0", false),
		entry("alpha", "", false),
		entry("alpha", "v1.2.0", true),
		Entry{Type: TypeAuth, Name: "kerberos", SHA256: sumA, Command: "k"},
	)
	if got, want := c.List("database"), []string{"alpha", "zeta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	var got []string
	for _, e := range c.Versions("database", "alpha") {
		got = append(got, e.Version+map[bool]string{true: "/builtin", false: ""}[e.Builtin])
	}
	if want := []string{"", "v1.2.0", "v1.2.0/builtin", "v1.10.0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Versions = %v, want %v", got, want)
	}
	all := c.All()
	if len(all) != 6 || all[0].Type != TypeAuth || all[5].Name != "zeta" {
		t.Errorf("All = %v", all)
	}
}

func TestReturnedEntriesAreCopies(t *testing.T) {
	e := entry("pg", "", false)
	e.Env = []string{"A=1"}
	c := newCatalog(t, e)
	got, _ := c.Get("database", "pg", "")
	got.Env[0] = "A=changed"
	c.All()[0].Env[0] = "A=changed"
	again, _ := c.Get("database", "pg", "")
	if again.Env[0] != "A=1" {
		t.Errorf("a caller changed the stored entry: %v", again.Env)
	}
	clone := c.Clone()
	if err := clone.Delete("database", "pg", ""); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Errorf("Clone shares storage with its source")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	c := newCatalog(t,
		entry("pg", "v1.0.0", false),
		entry("pg", "", true),
		Entry{Type: TypeDatabase, Name: "mysql", Version: "v2.3.2-beta", SHA256: strings.ToUpper(sumB), Command: "bin/mysql",
			Args: []string{"-tls"}, Env: []string{"A=1", "B=2"}},
	)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Catalog
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	if !reflect.DeepEqual(c.All(), back.All()) {
		t.Errorf("round trip changed the catalog:\n%v\n%v", c.All(), back.All())
	}
	b2, _ := json.Marshal(&back)
	if !bytes.Equal(b, b2) {
		t.Errorf("encoding is not deterministic:\n%s\n%s", b, b2)
	}
	// The field names are OpenBao's.
	for _, field := range []string{`"type":"database"`, `"name":"mysql"`, `"version":"v2.3.2-beta"`, `"sha256":"` + sumB + `"`,
		`"command":"bin/mysql"`, `"args":["-tls"]`, `"env":["A=1","B=2"]`, `"builtin":true`, `"args":[]`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("encoding lacks %s: %s", field, b)
		}
	}

	var empty Catalog
	if b, _ := json.Marshal(empty); string(b) != "[]" {
		t.Errorf("empty catalog encodes as %s", b)
	}
	if err := json.Unmarshal([]byte(`[{"type":"database","name":"x/y","sha256":"`+sumA+`","command":"x"}]`), &back); !errors.Is(err, ErrInvalid) {
		t.Errorf("Unmarshal of an invalid entry = %v, want ErrInvalid", err)
	}
	if err := json.Unmarshal([]byte(`{}`), &back); err == nil {
		t.Errorf("Unmarshal of an object succeeded")
	}
}

// TestCatalogInsideState checks that the catalog encodes as a field of a larger state value,
// as the replicated state holds it.
func TestCatalogInsideState(t *testing.T) {
	type state struct {
		Catalog Catalog `json:"catalog"`
	}
	var s state
	if err := s.Catalog.Put(entry("pg", "", false)); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back state
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Catalog.Len() != 1 {
		t.Errorf("catalog lost inside state: %s", b)
	}
}
