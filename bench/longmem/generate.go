package longmem

import (
	"fmt"
	"slices"
	"time"
)

//go:generate go run ./cmd/gen -out ../../testdata/longmem

// Config says how much data to generate.
type Config struct {
	Name      string
	Seed      uint64
	Questions int
	// Sessions is the size of each question's haystack; each session has
	// MinTurns to MaxTurns turns (rounded down to whole exchanges).
	Sessions           int
	MinTurns, MaxTurns int
	// Start is the earliest date a haystack may begin.
	Start time.Time
}

// The committed datasets. Their haystacks are smaller than LongMemEval's
// (about 50 sessions) only to keep the files reviewable; the evidence is as
// sparse: one to three exchanges among hundreds of turns.
var (
	Small  = Config{Name: "small", Seed: 1, Questions: 50, Sessions: 20, MinTurns: 6, MaxTurns: 10, Start: time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC)}
	Medium = Config{Name: "medium", Seed: 2, Questions: 200, Sessions: 40, MinTurns: 4, MaxTurns: 10, Start: time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC)}
)

// Generate builds the dataset cfg describes. Kinds take turns, so every
// kind is represented once there are five questions.
func Generate(cfg Config) *Dataset {
	d := &Dataset{Name: cfg.Name, Seed: cfg.Seed}
	for i := range cfg.Questions {
		// One stream per question: a question's content does not depend
		// on how many came before it.
		g := newGen(cfg.Seed, uint64(i))
		kind := Kinds[i%len(Kinds)]
		fams := families[kind]
		p := fams[(i/len(Kinds)+g.r.IntN(2))%len(fams)](g)
		d.Questions = append(d.Questions, g.question(cfg, fmt.Sprintf("%s-%03d", cfg.Name, i), p))
	}
	return d
}

type exchange struct{ user, assistant string }

func (g *gen) question(cfg Config, id string, p plan) Question {
	n := max(cfg.Sessions, len(p.parts)+len(p.distractors))
	dates := make([]time.Time, n)
	at := cfg.Start.AddDate(0, 0, g.r.IntN(60))
	for s := range dates {
		// At least a day apart, so that order and day counts are never
		// ambiguous for temporal questions.
		at = at.AddDate(0, 0, 1+g.r.IntN(8))
		dates[s] = at.Add(time.Duration(8*60+g.r.IntN(14*60)) * time.Minute)
	}
	sessions := make([][]exchange, n)
	for s := range sessions {
		sessions[s] = g.session(cfg)
	}

	// Evidence sessions in chronological order, the others for distractors.
	perm := g.r.Perm(n)
	evidence := slices.Clone(perm[:len(p.parts)])
	slices.Sort(evidence)
	others := perm[len(p.parts):]

	q := Question{ID: id, Kind: p.kind, Question: p.question}
	type mark struct{ s, x int }
	var evMarks []struct {
		mark
		role string
	}
	var oldMarks []mark
	partDates := make([]time.Time, len(p.parts))
	for i, pt := range p.parts {
		s := evidence[i]
		x := g.r.IntN(len(sessions[s]))
		sessions[s][x] = exchange{pt.user, pt.assistant}
		partDates[i] = dates[s]
		switch {
		case pt.evidence != "":
			evMarks = append(evMarks, struct {
				mark
				role string
			}{mark{s, x}, pt.evidence})
			q.EvidenceRole = pt.evidence
		case pt.superseded:
			oldMarks = append(oldMarks, mark{s, x})
		}
	}
	for i, d := range p.distractors {
		s := others[i%len(others)]
		x := g.r.IntN(len(sessions[s]))
		sessions[s][x] = exchange{d, g.pick(remarks)}
	}

	turnID := func(s, x int, role string) string {
		t := 2 * x
		if role == "assistant" {
			t++
		}
		return fmt.Sprintf("s%d:t%d", s, t)
	}
	for _, m := range evMarks {
		q.EvidenceTurns = append(q.EvidenceTurns, turnID(m.s, m.x, m.role))
		sid := fmt.Sprintf("s%d", m.s)
		if !slices.Contains(q.EvidenceSessions, sid) {
			q.EvidenceSessions = append(q.EvidenceSessions, sid)
		}
	}
	for _, m := range oldMarks {
		q.Superseded = append(q.Superseded, turnID(m.s, m.x, "user"))
	}
	q.Answer = p.answer(partDates)
	q.Date = dates[n-1].AddDate(0, 0, 1+g.r.IntN(5)).Truncate(time.Hour)
	for s, ex := range sessions {
		sess := Session{ID: fmt.Sprintf("s%d", s), Date: dates[s]}
		for x, e := range ex {
			sess.Turns = append(sess.Turns,
				Turn{ID: fmt.Sprintf("s%d:t%d", s, 2*x), Role: "user", Text: e.user},
				Turn{ID: fmt.Sprintf("s%d:t%d", s, 2*x+1), Role: "assistant", Text: e.assistant})
		}
		q.Haystack = append(q.Haystack, sess)
	}
	return q
}

// session draws one filler chat on a random topic: an opener, then
// follow-ups, asides and the odd change of subject, as real chats drift,
// each answered by the topic the user last raised.
func (g *gen) session(cfg Config) []exchange {
	t := &topics[g.r.IntN(len(topics))]
	lo, hi := max(1, cfg.MinTurns/2), max(1, cfg.MaxTurns/2)
	n := lo + g.r.IntN(hi-lo+1)
	out := make([]exchange, n)
	follow := g.r.Perm(len(t.followups))
	for i := range out {
		var user string
		switch r := g.r.IntN(10); {
		case i == 0:
			user = g.fill(g.pick(t.openers), nil, t.slots)
		case r < 2:
			user = g.fill(g.pick(asides), nil, t.slots)
		case r < 3 || len(follow) == 0:
			t = &topics[g.r.IntN(len(topics))]
			follow = g.r.Perm(len(t.followups))
			user = g.pick(segues) + g.fill(g.pick(t.openers), nil, t.slots)
		default:
			user = g.fill(t.followups[follow[0]], nil, t.slots)
			follow = follow[1:]
		}
		out[i] = exchange{user, g.reply(t)}
	}
	return out
}

var segues = []string{"", "", "Different question. ", "Unrelated: ", "Oh, also: ", "While I have you: "}
