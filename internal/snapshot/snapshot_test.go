package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
)

func unsealed(t *testing.T) *barrier.Barrier {
	t.Helper()
	k, err := barrier.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b := barrier.New()
	if err := b.Unseal(k, nil); err != nil {
		t.Fatal(err)
	}
	return b
}

const secret = "root-password-s3cr3t"

func archive(t *testing.T, b *barrier.Barrier) []byte {
	t.Helper()
	var buf bytes.Buffer
	state := []byte(`{"connections":{"database/pg":{"password":"` + secret + `"}}}`)
	m := Meta{ID: "2-10-1", Index: 10, Term: 2, Created: time.Unix(1, 0).UTC(), Cluster: Fingerprint([]byte("check"))}
	if err := Write(&buf, m, state, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// untar lists an archive's members as Write made them, for tests that rebuild it damaged.
func untar(t *testing.T, a []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name], _ = io.ReadAll(tr)
	}
}

func retar(t *testing.T, members [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		if err := tw.WriteHeader(&tar.Header{Name: m[0], Mode: 0o600, Size: int64(len(m[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(m[1]))
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

func TestRoundTripAndNothingInClear(t *testing.T) {
	b := unsealed(t)
	a := archive(t, b)
	m, sealed, err := ReadArchive(bytes.NewReader(a), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if m.Index != 10 || m.Term != 2 || m.Cluster != Fingerprint([]byte("check")) || m.Encryption != Encryption {
		t.Fatalf("meta %+v", m)
	}
	plain, err := Open(sealed, b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), secret) {
		t.Fatalf("state did not round-trip: %s", plain)
	}
	// Neither the file nor any member, decompressed, holds the secret.
	for name, data := range untar(t, a) {
		if bytes.Contains(data, []byte(secret)) {
			t.Fatalf("%s holds the secret in clear", name)
		}
	}
}

func TestRefusals(t *testing.T) {
	b := unsealed(t)
	a := archive(t, b)
	mem := untar(t, a)
	flipped := bytes.Clone(a)
	flipped[len(flipped)/2] ^= 0xff
	badState := bytes.Clone(mem["state.bin"])
	badState[len(badState)-1] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrInvalid},
		{"not gzip", []byte("hello"), ErrInvalid},
		{"truncated", a[:len(a)/2], ErrInvalid},
		{"gzip trailer cut", a[:len(a)-4], ErrInvalid},
		{"one byte flipped", flipped, ErrInvalid},
		{"state changed, sums kept", retar(t, [][2]string{{"meta.json", string(mem["meta.json"])}, {"state.bin", string(badState)}, {"SHA256SUMS", string(mem["SHA256SUMS"])}}), ErrInvalid},
		{"sums missing", retar(t, [][2]string{{"meta.json", string(mem["meta.json"])}, {"state.bin", string(mem["state.bin"])}}), ErrInvalid},
		{"extra member", retar(t, [][2]string{{"meta.json", string(mem["meta.json"])}, {"state.bin", string(mem["state.bin"])}, {"SHA256SUMS", string(mem["SHA256SUMS"])}, {"x", "y"}}), ErrInvalid},
		{"member twice", retar(t, [][2]string{{"meta.json", string(mem["meta.json"])}, {"meta.json", string(mem["meta.json"])}, {"state.bin", string(mem["state.bin"])}, {"SHA256SUMS", string(mem["SHA256SUMS"])}}), ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadArchive(bytes.NewReader(tc.data), 1<<20)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("state over the size limit", func(t *testing.T) {
		if _, _, err := ReadArchive(bytes.NewReader(a), 8); !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("another key", func(t *testing.T) {
		_, sealed, err := ReadArchive(bytes.NewReader(a), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(sealed, unsealed(t), 1<<20); !errors.Is(err, ErrUndecryptable) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("decompressed state over the limit", func(t *testing.T) {
		_, sealed, _ := ReadArchive(bytes.NewReader(a), 1<<20)
		if _, err := Open(sealed, b, 4); !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestFingerprint(t *testing.T) {
	if Fingerprint(nil) != "" {
		t.Fatal("no key check must have no fingerprint")
	}
	if Fingerprint([]byte("a")) == Fingerprint([]byte("b")) || len(Fingerprint([]byte("a"))) != 32 {
		t.Fatal("fingerprints")
	}
}
