package database

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// PasswordPolicy says how generated passwords look: a length and the character classes each
// password must draw from (at least one character of each).
type PasswordPolicy struct {
	Length  int
	Classes []string
}

// DefaultPasswordPolicy matches OpenBao's default: 20 characters of letters and digits with a
// dash, at least one lower, upper and digit.
var DefaultPasswordPolicy = PasswordPolicy{
	Length:  20,
	Classes: []string{"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "-"},
}

// ParsePasswordPolicy reads a connection's password_policy: "" for the default, or
// "length=N[,classes=lower+upper+digit+symbol]".
func ParsePasswordPolicy(s string) (PasswordPolicy, error) {
	p := DefaultPasswordPolicy
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	named := map[string]string{
		"lower": "abcdefghijklmnopqrstuvwxyz", "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"digit": "0123456789", "symbol": "-_.~!",
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return p, fmt.Errorf("password_policy %q: want key=value pairs like length=24,classes=lower+upper+digit", s)
		}
		switch k {
		case "length":
			n, err := strconv.Atoi(v)
			if err != nil || n < 8 || n > 128 {
				return p, fmt.Errorf("password_policy: length %q must be a number from 8 to 128", v)
			}
			p.Length = n
		case "classes":
			p.Classes = nil
			for _, c := range strings.Split(v, "+") {
				set, ok := named[c]
				if !ok {
					return p, fmt.Errorf("password_policy: unknown class %q (use lower, upper, digit, symbol)", c)
				}
				p.Classes = append(p.Classes, set)
			}
		default:
			return p, fmt.Errorf("password_policy: unknown key %q (use length, classes)", k)
		}
	}
	if len(p.Classes) > p.Length {
		return p, fmt.Errorf("password_policy: %d classes do not fit in length %d", len(p.Classes), p.Length)
	}
	return p, nil
}

// Generate draws a password from crypto/rand: one character of each class, the rest from all
// of them, shuffled.
func (p PasswordPolicy) Generate() (string, error) {
	all := strings.Join(p.Classes, "")
	out := make([]byte, 0, p.Length)
	pick := func(set string) error {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return err
		}
		out = append(out, set[n.Int64()])
		return nil
	}
	for _, c := range p.Classes {
		if err := pick(c); err != nil {
			return "", err
		}
	}
	for len(out) < p.Length {
		if err := pick(all); err != nil {
			return "", err
		}
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}
