package memory

import (
	"slices"
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
// first appearance, followed by the other forms of the irregular verbs
// among them (the index stems regular forms itself). Numbers are kept
// whatever their length ("hive 2").
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
	// Other forms of irregular verbs follow the query's own words, so
	// that a long query loses them first.
	for _, t := range slices.Clone(terms) {
		for _, f := range verbForms[t] {
			if len(terms) < maxTerms && !seen[f] && !stopwords[f] {
				seen[f] = true
				terms = append(terms, f)
			}
		}
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

// stopwords are English words too common to tell records apart. The
// first person is not among them: memory is mostly what users said about
// themselves, so "my" and "we" in a question point at the user's own
// statements, and BM25 over the scope weighs them by how common they are
// there. The last lines hold the words people use to ask a memory for
// something (how many, lately, what did I tell you), which say nothing
// about what they ask for.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		a about above after again against all am an and any are aren as at
		be because been before being below between both but by
		can cannot could couldn did didn do does doesn doing don down during
		each few for from further had hadn has hasn have haven having he her here hers herself him himself his how
		if in into is isn it its itself just let ll more most mustn
		no nor not now of off on once only or other ought out over own
		re same shan she should shouldn so some such
		than that the their theirs them themselves then there these they this those through to too
		under until up ve very was wasn were weren what when where which while who whom why will with won would wouldn
		you your yours yourself yourselves
		s t d m o y
		please remember recall
		many much often lately recently currently current still ever anymore yet
		ones thing things tell told say said mention mentioned know`) {
		m[w] = true
	}
	return m
}()
