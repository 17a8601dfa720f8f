package longmem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Conversation is one long multi-session chat for measuring what a
// stateful runtime saves: facts are stated early, and questions late in
// the chat need them back, so a runtime must either resend the whole
// history or recall the right turns.
type Conversation struct {
	Seed      uint64                 `json:"seed"`
	Turns     []Exchange             `json:"turns"`
	Questions []ConversationQuestion `json:"questions"`
}

// Exchange is one user message and the assistant's reply. IDs are "t0",
// "t1", ... in order; sessions are runs of exchanges on the same day.
type Exchange struct {
	ID        string    `json:"id"`
	Session   string    `json:"session"`
	Date      time.Time `json:"date"`
	User      string    `json:"user"`
	Assistant string    `json:"assistant"`
}

// ConversationQuestion is asked as the user message of exchange Turn; its
// evidence is the user message of each exchange in EvidenceTurns.
type ConversationQuestion struct {
	ID            string   `json:"id"`
	Turn          string   `json:"turn"`
	Question      string   `json:"question"`
	Answer        string   `json:"answer"`
	EvidenceTurns []string `json:"evidence_turns"`
}

// economyFamilies are the facts a user states in one message; each is used
// at most once per conversation so that no two facts contradict.
var economyFamilies = []family{dogName, hiveCount, relocation, sisterJob, newCar, allergy, musicTeacher,
	halfMarathon, mumGift, bikeCommute, eveningCourse, dietPref, travelPref, readingPref, exercisePref, musicPref, softwarePref}

// GenerateConversation draws a conversation of turns exchanges with facts
// stated in the first 20% and asked about in the last 10%. facts is capped
// by both stretches and by the number of distinct fact families.
func GenerateConversation(seed uint64, turns, facts int) *Conversation {
	g := newGen(seed, 1<<32)
	facts = min(facts, turns/5, turns/10, len(economyFamilies))
	c := &Conversation{Seed: seed}

	at := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	var session int
	var t *topic
	left := 0
	for i := range turns {
		fresh := left == 0
		if fresh {
			// A new session: another day.
			at = at.AddDate(0, 0, 1+g.r.IntN(4)).Truncate(24 * time.Hour).Add(time.Duration(7*60+g.r.IntN(14*60)) * time.Minute)
			session++
			left = 6 + g.r.IntN(10)
		}
		var user string
		if fresh || g.r.IntN(5) == 0 {
			t = &topics[g.r.IntN(len(topics))]
			user = g.fill(g.pick(t.openers), nil, t.slots)
		} else {
			user = g.fill(g.pick(t.followups), nil, t.slots)
		}
		at = at.Add(time.Duration(1+g.r.IntN(6)) * time.Minute)
		c.Turns = append(c.Turns, Exchange{ID: fmt.Sprintf("t%d", i), Session: fmt.Sprintf("s%d", session), Date: at,
			User: user, Assistant: g.longReply(t, "")})
		left--
	}

	fams := g.r.Perm(len(economyFamilies))[:facts]
	early := g.r.Perm(turns / 5)[:facts]
	// Sorted, so questions come in the order they are asked.
	late := g.r.Perm(turns / 10)[:facts]
	slices.Sort(late)
	for i, f := range fams {
		p := economyFamilies[f](g)
		ev := &c.Turns[early[i]]
		ev.User, ev.Assistant = p.parts[0].user, g.longReply(nil, p.parts[0].assistant)
		// Distractors go in the middle, where the history is long but
		// not yet asked about.
		for _, d := range p.distractors {
			x := &c.Turns[turns/5+g.r.IntN(turns-turns/5-turns/10)]
			x.User, x.Assistant = d, g.longReply(nil, g.pick(remarks))
		}
		ask := &c.Turns[turns-turns/10+late[i]]
		answer := p.answer(nil)
		ask.User, ask.Assistant = p.question, g.longReply(nil, "From what you told me earlier: "+answer+".")
		c.Questions = append(c.Questions, ConversationQuestion{ID: fmt.Sprintf("c%d", i), Turn: ask.ID,
			Question: p.question, Answer: answer, EvidenceTurns: []string{ev.ID}})
	}
	return c
}

// longReply is an assistant message of about 40 to 120 words: lead, then
// sentences of topic t (or general ones) until the length is reached, as
// chat assistants pad a short answer with context and advice.
func (g *gen) longReply(t *topic, lead string) string {
	target := 40 + g.r.IntN(81)
	var parts []string
	words := 0
	add := func(s string) {
		parts = append(parts, s)
		words += len(strings.Fields(s))
	}
	if lead != "" {
		add(lead)
	}
	var pool []string
	if t != nil {
		for _, s := range t.replies {
			pool = append(pool, g.fill(s, nil, t.slots))
		}
	}
	pool = append(pool, elaborations...)
	order := g.r.Perm(len(pool))
	for i := 0; words < target && i < len(order); i++ {
		add(pool[order[i]])
	}
	return strings.Join(parts, " ")
}

// elaborations pad replies to a realistic length without stating facts.
var elaborations = []string{
	"It's worth keeping in mind that everyone's situation is a little different, so treat this as a starting point rather than a rule.",
	"If you try it, pay attention to what changes after a week or two; small adjustments tend to matter more than big overhauls.",
	"A lot of people find it easier to start small and build up, rather than trying to get everything right at once.",
	"There isn't a single right answer here, and the best choice often depends on how much time and energy you have.",
	"If budget is a concern, it's usually possible to find a cheaper option that gets you most of the way there.",
	"Writing down what you decide, even briefly, makes it much easier to look back later and see what worked.",
	"It may help to ask someone who has done it before; a ten-minute chat can save hours of trial and error.",
	"Don't worry too much if the first attempt isn't perfect; most things get noticeably easier the second time.",
	"If anything feels off or unsafe, it's better to pause and check with a professional than to push on.",
	"I'd also suggest setting a simple reminder, because good intentions tend to slip when the week gets busy.",
	"You could also look at it from the other side: what would you regret not having tried a year from now?",
	"As a rough guide, plan for a bit more time than you expect; things rarely go exactly to schedule.",
	"Happy to go through the details step by step if that would be useful.",
	"Let me know what you end up choosing, and we can adjust the plan from there.",
}

// Marshal encodes c with one exchange per line.
func (c *Conversation) Marshal() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"seed":%d,"turns":[`, c.Seed)
	for i := range c.Turns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		t, err := json.Marshal(&c.Turns[i])
		if err != nil {
			return nil, err
		}
		b.Write(t)
	}
	b.WriteString("\n],\"questions\":[")
	for i := range c.Questions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		q, err := json.Marshal(&c.Questions[i])
		if err != nil {
			return nil, err
		}
		b.Write(q)
	}
	b.WriteString("\n]}\n")
	return b.Bytes(), nil
}

// LoadConversation reads a conversation written by Marshal.
func LoadConversation(path string) (*Conversation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Conversation
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}
