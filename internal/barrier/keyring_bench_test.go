package barrier

import "testing"

// BenchmarkDecrypt opens a 64-byte secret sealed under term 1 with a keyring of one term (the
// baseline) and of ten terms (after nine rotations): the term lookup must not make old data
// dearer to read.
func BenchmarkDecrypt(b *testing.B) {
	for _, terms := range []int{1, 10} {
		b.Run(map[int]string{1: "terms=1", 10: "terms=10"}[terms], func(b *testing.B) {
			root, _ := GenerateKey()
			ring, _ := NewKeyring(root)
			br := New()
			if err := br.Unseal(root, ring); err != nil {
				b.Fatal(err)
			}
			ct, _ := br.Encrypt(make([]byte, 64))
			for range terms - 1 {
				next, _ := br.Rotated()
				if _, err := br.Sync(next, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := br.Decrypt(ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCombineShares recombines a root key from 3 of 5 shares (each unseal does once).
func BenchmarkCombineShares(b *testing.B) {
	root, _ := GenerateKey()
	shares, _ := SplitKey(root, 5, 3)
	for b.Loop() {
		if _, err := CombineShares(shares[:3]); err != nil {
			b.Fatal(err)
		}
	}
}
