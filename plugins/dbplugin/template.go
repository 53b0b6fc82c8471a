package dbplugin

import (
	"slices"
	"strings"
)

// QueryHelper fills a statement template: every "{{key}}" is replaced by data[key], as in
// OpenBao's dbutil.QueryHelper (keys used by the database engine: name, username, password,
// expiration). Unknown placeholders are left as they are. Unlike a loop of replacements, the
// substitution is one pass, so a value that itself contains "{{...}}" (a password, say) is
// never substituted again.
func QueryHelper(tpl string, data map[string]string) string {
	if len(data) == 0 {
		return tpl
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, "{{"+k+"}}", data[k])
	}
	return strings.NewReplacer(pairs...).Replace(tpl)
}

// SplitSQL splits one statement string into its commands at each ';', trimming spaces and
// dropping empty commands, as OpenBao's plugins do with each role statement. A ';' inside a
// quoted string ('...'), a quoted identifier ("..."), a dollar-quoted body ($$...$$ or
// $tag$...$tag$, as in DO blocks and function bodies) or a comment does not split. Split the
// template before filling it, so a password containing ';' cannot split a command.
func SplitSQL(stmts string) []string {
	var out []string
	add := func(cmd string) {
		if cmd = strings.TrimSpace(cmd); cmd != "" {
			out = append(out, cmd)
		}
	}
	start := 0
	for i := 0; i < len(stmts); {
		switch c := stmts[i]; {
		case c == '\'' || c == '"':
			// A doubled quote inside is a closing and a reopening: the scan handles it.
			i = skipPast(stmts, i+1, string(c))
		case c == '-' && strings.HasPrefix(stmts[i:], "--"):
			i = skipPast(stmts, i+2, "\n")
		case c == '/' && strings.HasPrefix(stmts[i:], "/*"):
			i = skipPast(stmts, i+2, "*/")
		case c == '$':
			if tag := dollarTag(stmts, i); tag != "" {
				i = skipPast(stmts, i+len(tag), tag)
			} else {
				i++
			}
		case c == ';':
			add(stmts[start:i])
			i++
			start = i
		default:
			i++
		}
	}
	add(stmts[start:])
	return out
}

// skipPast returns the index just past the first end at or after from, or len(s).
func skipPast(s string, from int, end string) int {
	j := strings.Index(s[from:], end)
	if j < 0 {
		return len(s)
	}
	return from + j + len(end)
}

// dollarTag returns the dollar-quote opener ("$$", "$body$") starting at s[i], or "". A '$'
// inside an identifier (col$1) or before a digit (a $1 parameter) opens nothing.
func dollarTag(s string, i int) string {
	if i > 0 && isIdentByte(s[i-1]) {
		return ""
	}
	j := i + 1
	for j < len(s) && isIdentByte(s[j]) {
		if j == i+1 && s[j] >= '0' && s[j] <= '9' {
			return ""
		}
		j++
	}
	if j < len(s) && s[j] == '$' {
		return s[i : j+1]
	}
	return ""
}

func isIdentByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b >= 0x80
}
