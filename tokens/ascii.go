package tokens

import (
	"math"
	"sync"

	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// The tokenizer's regular expression (o200k_base's pre-tokenizer, run by
// regexp2) costs about 100 µs for a paragraph: most of a turn's own CPU. For
// ASCII text, which most text is, the expression reduces to a few character
// classes, written out here by hand; byte-pair merging then follows tiktoken
// exactly. Text with any other byte goes to tiktoken-go. FuzzASCII checks
// the two agree.

var (
	ranksOnce sync.Once
	ranks     map[string]int
)

func loadRanks() map[string]int {
	ranksOnce.Do(func() {
		r, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe("o200k_base.tiktoken")
		if err != nil {
			panic("tokens: embedded o200k_base ranks failed to load: " + err.Error())
		}
		ranks = r
	})
	return ranks
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isUpper(c byte) bool   { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool   { return c >= 'a' && c <= 'z' }
func isLetter(c byte) bool  { return isUpper(c) || isLower(c) }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isNewline(c byte) bool { return c == '\r' || c == '\n' }

// isSpace is .NET's \s on ASCII.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// isPunct is [^\s\p{L}\p{N}] on ASCII.
func isPunct(c byte) bool { return !isSpace(c) && !isLetter(c) && !isDigit(c) }

// countASCII counts the tokens of ASCII text.
func countASCII(s string) int {
	r := loadRanks()
	n := 0
	for i := 0; i < len(s); {
		end := nextPiece(s, i)
		n += bpeCount(s[i:end], r)
		i = end
	}
	return n
}

// nextPiece returns the end of the pre-tokenizer's match at i, trying the
// expression's alternatives in order:
//
//	1,2 [^\r\n\p{L}\p{N}]?(letters)(contraction)?
//	3   \p{N}{1,3}
//	4    ?[^\s\p{L}\p{N}]+[\r\n/]*
//	5   \s*[\r\n]+
//	6   \s+(?!\S)
//	7   \s+
func nextPiece(s string, i int) int {
	c := s[i]
	// 1 and 2: an optional prefix that is no letter, digit or newline,
	// then letters: an upper-case run and a lower-case run, not both empty.
	j := i
	if !isNewline(c) && !isLetter(c) && !isDigit(c) && i+1 < len(s) && isLetter(s[i+1]) {
		j = i + 1
	}
	if isLetter(s[j]) {
		for j < len(s) && isUpper(s[j]) {
			j++
		}
		for j < len(s) && isLower(s[j]) {
			j++
		}
		return contraction(s, j)
	}
	// 3: up to three digits.
	if isDigit(c) {
		j = i
		for j < len(s) && j-i < 3 && isDigit(s[j]) {
			j++
		}
		return j
	}
	// 4: an optional space, punctuation, then newlines and slashes.
	j = i
	if c == ' ' && i+1 < len(s) && isPunct(s[i+1]) {
		j++
	}
	if isPunct(s[j]) {
		for j < len(s) && isPunct(s[j]) {
			j++
		}
		for j < len(s) && (isNewline(s[j]) || s[j] == '/') {
			j++
		}
		return j
	}
	// What is left starts with white space: find its run.
	end := i
	lastNL := -1
	for end < len(s) && isSpace(s[end]) {
		if isNewline(s[end]) {
			lastNL = end
		}
		end++
	}
	// 5: up to the last newline of the run.
	if lastNL >= 0 {
		return lastNL + 1
	}
	// 6: the run, less its last character when text follows it.
	if end == len(s) {
		return end
	}
	if end-i >= 2 {
		return end - 1
	}
	// 7: the single white space character.
	return end
}

// contraction extends a word ending at j by 's 't 're 've 'm 'll 'd, in
// any case.
func contraction(s string, j int) int {
	if j+1 >= len(s) || s[j] != '\'' {
		return j
	}
	lower := func(c byte) byte { return c | 0x20 }
	a := lower(s[j+1])
	switch a {
	case 's', 't', 'm', 'd':
		return j + 2
	}
	if j+2 < len(s) {
		b := lower(s[j+2])
		if (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') {
			return j + 3
		}
	}
	return j
}

// bpeCount is the number of tokens byte-pair merging makes of a piece:
// repeatedly merge the adjacent pair of lowest rank (the leftmost on ties),
// as tiktoken does.
func bpeCount(piece string, ranks map[string]int) int {
	if len(piece) <= 1 {
		return len(piece)
	}
	if _, ok := ranks[piece]; ok {
		return 1
	}
	var buf [64]int
	bounds := buf[:0]
	for i := 0; i <= len(piece); i++ {
		bounds = append(bounds, i)
	}
	for len(bounds) > 2 {
		minRank, minAt := math.MaxInt, -1
		for i := 0; i+2 < len(bounds); i++ {
			if r, ok := ranks[piece[bounds[i]:bounds[i+2]]]; ok && r < minRank {
				minRank, minAt = r, i
			}
		}
		if minAt < 0 {
			break
		}
		bounds = append(bounds[:minAt+1], bounds[minAt+2:]...)
	}
	return len(bounds) - 1
}
