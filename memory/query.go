package memory

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTerms bounds the terms of one query: a pasted page of text would
// otherwise become a full-text query as costly as the page is long, for
// little gain in ranking.
const maxTerms = 32

// Terms cuts free text into search terms: lower-cased runs of letters and
// digits, without stopwords and one-letter words, each once, in order of
// first appearance. Numbers are kept whatever their length ("hive 2").
// Text of stopwords only ("what was it?") keeps its words, since dropping
// them all would leave nothing to search for. The stores quote each term
// into their own full-text syntax, so a term can never be an operator.
func Terms(text string) []string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !isWordRune(r) })
	var terms, raw []string
	seen := map[string]bool{}
	for _, w := range words {
		if seen[w] {
			continue
		}
		seen[w] = true
		if len(raw) < maxTerms {
			raw = append(raw, w)
		}
		if stopwords[w] || (utf8.RuneCountInString(w) < 2 && !isNumber(w)) {
			continue
		}
		terms = append(terms, w)
		if len(terms) == maxTerms {
			break
		}
	}
	if len(terms) == 0 {
		return raw
	}
	return terms
}

// isWordRune counts combining marks as part of a word: in Devanagari, Thai
// and decomposed Latin they sit inside words, and splitting there would cut
// words into meaningless pieces.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) }

func isNumber(w string) bool {
	for _, r := range w {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// stopwords are English words too common to tell records apart; BM25
// weighs them down anyway, but each costs a posting-list scan. The last
// line holds the words people use to ask a memory for something, which
// say nothing about what they ask for.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		a about above after again against all am an and any are aren as at
		be because been before being below between both but by
		can cannot could couldn did didn do does doesn doing don down during
		each few for from further had hadn has hasn have haven having he her here hers herself him himself his how
		i if in into is isn it its itself just let ll me more most mustn my myself
		no nor not now of off on once only or other ought our ours ourselves out over own
		re same shan she should shouldn so some such
		than that the their theirs them themselves then there these they this those through to too
		under until up ve very was wasn we were weren what when where which while who whom why will with won would wouldn
		you your yours yourself yourselves
		s t d m o y
		please remember recall`) {
		m[w] = true
	}
	return m
}()
