package longmem

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// gen draws text for one haystack. Everything random goes through r, and
// nothing ranges over a map, so a seed always gives the same bytes.
type gen struct {
	r *rand.Rand
	// persona holds the people of one user's life ({sister}, {partner},
	// ...), fixed for a haystack so that filler and evidence talk about
	// the same people.
	persona kv
}

type kv map[string]string

func newGen(seed uint64, stream uint64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, stream))}
	names := g.distinct("name", 7)
	g.persona = kv{
		"sister": names[0], "brother": names[1], "partner": names[2], "friend": names[3],
		"boss": names[4], "teacher": names[5], "cousin": names[6],
		"home": g.word("city"),
	}
	return g
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) word(key string) string { return g.pick(vocab[key]) }

// distinct draws n different words of one list.
func (g *gen) distinct(key string, n int) []string {
	list := vocab[key]
	idx := g.r.Perm(len(list))[:n]
	out := make([]string, n)
	for i, j := range idx {
		out[i] = list[j]
	}
	return out
}

// other draws a word of the list that is none of not: a near miss.
func (g *gen) other(key string, not ...string) string {
	for {
		if w := g.word(key); !slices.Contains(not, w) {
			return w
		}
	}
}

// say picks one of tmpls and fills it.
func (g *gen) say(tmpls []string, vals kv) string { return g.fill(g.pick(tmpls), vals, nil) }

// fill replaces each {key} with vals[key], the persona's key, a word of
// slots[key] or of the shared vocabulary, in that order; each occurrence
// of a list slot draws its own word.
func (g *gen) fill(tmpl string, vals kv, slots map[string][]string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			break
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		key := tmpl[i+1 : i+j]
		if v, ok := vals[key]; ok {
			b.WriteString(v)
		} else if v, ok := g.persona[key]; ok {
			b.WriteString(v)
		} else if l, ok := slots[key]; ok {
			b.WriteString(g.pick(l))
		} else if l, ok := vocab[key]; ok {
			b.WriteString(g.pick(l))
		} else {
			b.WriteString(tmpl[i : i+j+1])
		}
		tmpl = tmpl[i+j+1:]
	}
	return b.String()
}

// reply builds an assistant message of two or three of a topic's
// sentences, sometimes closing with a question back, as assistants do.
func (g *gen) reply(t *topic) string {
	n := 1 + g.r.IntN(2)
	idx := g.r.Perm(len(t.replies))[:n]
	parts := make([]string, 0, n+1)
	for _, i := range idx {
		parts = append(parts, g.fill(t.replies[i], nil, t.slots))
	}
	if g.r.IntN(4) == 0 {
		parts = append(parts, g.pick(closers))
	}
	return strings.Join(parts, " ")
}

var closers = []string{
	"Want me to go into more detail?",
	"Does that help?",
	"Let me know how it goes.",
	"Happy to suggest alternatives if that doesn't fit.",
}

var numberWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
	"nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen"}
