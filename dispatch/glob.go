package dispatch

import "unicode/utf8"

// MatchGlob reports whether s matches pattern, a glob in which `*` matches any run of
// characters (including none and including `/`, unlike path.Match) and `?` matches exactly one
// character. There are no character classes and no escapes: every other character, `[` and
// `\` included, matches itself. Matching is case-sensitive and takes O(len(pattern)*len(s))
// time at worst.
func MatchGlob(pattern, s string) bool {
	// Greedy match with one backtrack point: the last `*` seen and where in s it started.
	// A later `*` supersedes an earlier one, which is why one point is enough.
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		if pi < len(pattern) {
			pr, pw := utf8.DecodeRuneInString(pattern[pi:])
			sr, sw := utf8.DecodeRuneInString(s[si:])
			switch {
			case pr == '*':
				star, mark = pi+pw, si
				pi += pw
				continue
			case pr == '?' || (pr == sr && pw == sw && pattern[pi:pi+pw] == s[si:si+sw]):
				pi += pw
				si += sw
				continue
			}
		}
		if star < 0 {
			return false
		}
		// Let the last `*` swallow one more character of s and try again after it.
		_, w := utf8.DecodeRuneInString(s[mark:])
		mark += w
		pi, si = star, mark
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
