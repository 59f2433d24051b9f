package intake

import (
	"unicode"
)

// Similarity of two matters, in percent: the overlap coefficient of their
// character bigrams, |A∩B| / min(|A|,|B|), over normalized text (letters
// and digits only, lower case). Chinese has no spaces, so character
// bigrams are the natural unit; the overlap coefficient (rather than
// Jaccard) lets a short follow-up letter match the long original it
// repeats. Texts with fewer than 2 bigrams never match.
func Similarity(a, b string) int {
	sa, sb := bigrams(a), bigrams(b)
	if len(sa) < 2 || len(sb) < 2 {
		return 0
	}
	if len(sa) > len(sb) {
		sa, sb = sb, sa
	}
	common := 0
	for g := range sa {
		if _, ok := sb[g]; ok {
			common++
		}
	}
	return common * 100 / len(sa)
}

func bigrams(s string) map[[2]rune]struct{} {
	var rs []rune
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			rs = append(rs, unicode.ToLower(r))
		}
	}
	out := make(map[[2]rune]struct{}, len(rs))
	for i := 0; i+1 < len(rs); i++ {
		out[[2]rune{rs[i], rs[i+1]}] = struct{}{}
	}
	return out
}
