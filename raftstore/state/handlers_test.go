package state

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/baton-hq/baton/raftstore/command"
)

// declaredCommandTypes walks the package's source (not its tests) and returns every constant
// declared as a command.Type, by name, with its value. It reads the declarations rather than
// a list kept beside them, so a type added without a handler is found.
func declaredCommandTypes(t *testing.T) map[string]command.Type {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string]command.Type{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if !isCommandType(vs.Type) {
					if vs.Type == nil && len(vs.Values) == 0 {
						t.Fatalf("%s: constant %s repeats the previous type implicitly; declare command types with their type and value", fset.Position(vs.Pos()), vs.Names[0])
					}
					continue
				}
				for i, name := range vs.Names {
					if i >= len(vs.Values) {
						t.Fatalf("%s: command type %s has no value", fset.Position(name.Pos()), name)
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: command type %s is not a string literal; this test reads literals", fset.Position(name.Pos()), name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[name.Name] = command.Type(v)
				}
			}
		}
	}
	return out
}

// isCommandType reports whether a declared type is command.Type.
func isCommandType(e ast.Expr) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "command" && sel.Sel.Name == "Type"
}

// TestEveryCommandTypeHasExactlyOneHandler: each command type the package declares is
// claimed by exactly one aggregate, and the dispatcher's table holds exactly those types,
// except Batch, which Apply unwraps itself and no aggregate may claim.
func TestEveryCommandTypeHasExactlyOneHandler(t *testing.T) {
	declared := declaredCommandTypes(t)
	// A floor, so that a parse that finds nothing cannot pass: the package declared 31 command
	// types when this test was written.
	if len(declared) < 31 {
		t.Fatalf("found %d declared command types, want at least 31: %v", len(declared), declared)
	}
	if declared["TypeBatch"] != TypeBatch {
		t.Fatalf("the walk did not find TypeBatch as %q: %v", TypeBatch, declared)
	}
	owners := map[command.Type][]string{}
	for _, a := range aggregates {
		for typ := range a.handlers {
			owners[typ] = append(owners[typ], a.name)
		}
	}
	values := map[command.Type]string{}
	for name, typ := range declared {
		if prev, dup := values[typ]; dup {
			t.Errorf("%s and %s are both %q", prev, name, typ)
		}
		values[typ] = name
		want := 1
		if typ == TypeBatch {
			want = 0 // Apply unwraps a batch; a handler would never run
		}
		if got := owners[typ]; len(got) != want {
			t.Errorf("%s (%q) has handlers in %v, want %d", name, typ, got, want)
		}
		if _, ok := handlers[typ]; ok != (want == 1) {
			t.Errorf("%s (%q): in the dispatcher's table = %v, want %v", name, typ, ok, want == 1)
		}
	}
	for typ, in := range owners {
		if _, ok := values[typ]; !ok {
			t.Errorf("aggregate %v handles %q, which the package does not declare", in, typ)
		}
	}
	if len(handlers) != len(declared)-1 {
		t.Errorf("the dispatcher's table has %d handlers for %d declared types (less Batch)", len(handlers), len(declared)-1)
	}
}

// TestTableRefusesClashes: merging the aggregates refuses a type claimed twice, a handler for
// Batch and a nil handler, and names what is wrong.
func TestTableRefusesClashes(t *testing.T) {
	noop := func(*txn) error { return nil }
	tests := []struct {
		name string
		aggs []aggregate
		want []string // substrings of the error; none: no error
	}{
		{"disjoint", []aggregate{
			{"a", map[command.Type]handler{TypeMountPut: noop}},
			{"b", map[command.Type]handler{TypeMountDelete: noop}},
		}, nil},
		{"claimed twice", []aggregate{
			{"a", map[command.Type]handler{TypeMountPut: noop}},
			{"b", map[command.Type]handler{TypeMountDelete: noop, TypeMountPut: noop}},
		}, []string{string(TypeMountPut), "both a and b"}},
		{"batch", []aggregate{
			{"a", map[command.Type]handler{TypeBatch: noop}},
		}, []string{string(TypeBatch), "Apply unwraps"}},
		{"nil handler", []aggregate{
			{"a", map[command.Type]handler{TypeMountPut: nil}},
		}, []string{"nil handler", string(TypeMountPut)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := table(tt.aggs)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("table: %v", err)
				}
				if len(got) != 2 {
					t.Fatalf("table has %d handlers, want 2", len(got))
				}
				return
			}
			if err == nil {
				t.Fatalf("table accepted %s", tt.name)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
