package database

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/baton-hq/baton/raftstore/state"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		msg      string
	}{
		{name: "plain", in: "ro", ok: true},
		{name: "dots dashes at", in: "app.read-only_1@x", ok: true},
		{name: "unicode letters", in: "lecture-écriture", ok: true},
		{name: "max length", in: strings.Repeat("a", MaxNameLength), ok: true},
		{name: "empty", in: "", msg: "empty"},
		{name: "too long", in: strings.Repeat("a", MaxNameLength+1), msg: "at most 128"},
		{name: "NUL", in: "r\x00o", msg: "U+0000"},
		{name: "newline", in: "ro\n", msg: "U+000A"},
		{name: "DEL", in: "ro\x7f", msg: "U+007F"},
		{name: "C1 control", in: "ro\u0085", msg: "U+0085"},
		{name: "right-to-left override", in: "ro\u202egnp", msg: "U+202E"},
		{name: "isolate", in: "\u2066ro", msg: "U+2066"},
		{name: "right-to-left mark", in: "ro\u200f", msg: "U+200F"},
		{name: "invalid UTF-8", in: "ro\xff", msg: "UTF-8"},
		{name: "dot dot", in: "..", msg: "not allowed"},
		{name: "slash", in: "a/b", msg: "have no '/'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckName("role", tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckName(%q) = %v", tt.in, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("CheckName(%q) = %v, want ErrInvalid mentioning %q", tt.in, err, tt.msg)
			}
			if strings.ContainsRune(err.Error(), 0) {
				t.Fatalf("error carries the raw NUL: %q", err)
			}
		})
	}
}

func TestCheckMountPath(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		msg      string
	}{
		{name: "plain", in: "database", ok: true},
		{name: "nested with slashes", in: "/team/db/", ok: true},
		{name: "dots inside a segment", in: "team..db/x", ok: true},
		{name: "empty", in: "/", msg: "empty"},
		{name: "dot dot segment", in: "team/../sys", msg: `".." segment`},
		{name: "dot segment", in: "./db", msg: `"." segment`},
		{name: "empty segment", in: "team//db", msg: "empty segment"},
		{name: "NUL", in: "db\x00x", msg: "U+0000"},
		{name: "tab", in: "db\tx", msg: "U+0009"},
		{name: "bidi", in: "db\u202ex", msg: "U+202E"},
		{name: "too long", in: strings.Repeat("a", MaxMountPathLength), msg: "at most 512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckMountPath(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckMountPath(%q) = %v", tt.in, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("CheckMountPath(%q) = %v, want ErrInvalid mentioning %q", tt.in, err, tt.msg)
			}
		})
	}
}

// TestBadNamesProposeNothing checks that every engine action that creates a name refuses a
// bad one with ErrInvalid (400 at the API) before anything is proposed: a role name with a NUL
// never reaches the state, nor PostgreSQL.
func TestBadNamesProposeNothing(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		act  func(e *Engine) error
	}{
		{"role with NUL", func(e *Engine) error {
			_, err := e.WriteRole(ctx, state.Role{Mount: "database", Name: "r\x00o", DBName: "db1", CreationStatements: []string{"CREATE ROLE"}})
			return err
		}},
		{"role with bidi", func(e *Engine) error {
			_, err := e.WriteRole(ctx, state.Role{Mount: "database", Name: "ro\u202e", DBName: "db1", CreationStatements: []string{"CREATE ROLE"}})
			return err
		}},
		{"static role with NUL", func(e *Engine) error {
			return e.WriteStaticRole(ctx, state.StaticRole{Mount: "database", Name: "s\x00t", DBName: "db1", Username: "u"})
		}},
		{"static role username with NUL", func(e *Engine) error {
			return e.WriteStaticRole(ctx, state.StaticRole{Mount: "database", Name: "st", DBName: "db1", Username: "u\x00v"})
		}},
		{"connection with control", func(e *Engine) error {
			return e.WriteConfig(ctx, "database", "db\x01", rootConfig(rootPW, "ro"), APISource)
		}},
		{"connection too long", func(e *Engine) error {
			return e.WriteConfig(ctx, "database", strings.Repeat("c", MaxNameLength+1), rootConfig(rootPW, "ro"), APISource)
		}},
		{"mount with dot dot", func(e *Engine) error {
			return e.EnableMount(ctx, Mount{Path: "team/../db2", Type: "database"})
		}},
		{"mount with NUL", func(e *Engine) error {
			return e.EnableMount(ctx, Mount{Path: "db\x00", Type: "database"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			f.c.mu.Lock()
			idx := f.c.index
			f.c.mu.Unlock()
			err := tt.act(f.e)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			f.c.mu.Lock()
			proposed := f.c.index - idx
			f.c.mu.Unlock()
			if proposed != 0 {
				t.Fatalf("a refused name proposed %d commands", proposed)
			}
		})
	}
}
