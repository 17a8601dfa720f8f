// Package longmem generates LongMemEval-shaped data (Wu et al. 2024) and
// measures how well a memory service retrieves the evidence for each
// question from a haystack of past chat sessions.
//
// The data is synthetic on purpose: no model or download is reachable from
// these machines, and a seeded generator lets the same benchmark be rebuilt
// byte for byte anywhere. It is built to be hard for lexical retrieval
// alone: questions paraphrase their evidence, and distractor turns reuse
// the evidence's entities and words in other contexts.
//
// A memory implementation measures itself with:
//
//	ds, _ := longmem.Load("../testdata/longmem/small.json")
//	rep, err := longmem.Evaluate(ctx, svc, longmem.WriteTurns(svc), ds, []string{"bm25", "hybrid"})
//	t.Log("\n" + rep.Markdown())
//
// The datasets are rebuilt with go generate ./bench/longmem; a test fails
// when the committed files drift from the generator.
package longmem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Question kinds, after LongMemEval's question types.
const (
	KindSingleFact      = "single_fact"
	KindMultiSession    = "multi_session"
	KindTemporal        = "temporal"
	KindKnowledgeUpdate = "knowledge_update"
	KindPreference      = "preference"
)

// Kinds lists every kind in report order.
var Kinds = []string{KindSingleFact, KindMultiSession, KindTemporal, KindKnowledgeUpdate, KindPreference}

// Dataset is a set of questions, each with its own haystack.
type Dataset struct {
	Name      string     `json:"name"`
	Seed      uint64     `json:"seed"`
	Questions []Question `json:"questions"`
}

// Question is one benchmark instance. Evidence lists the turns a retriever
// must find; for knowledge updates that is only the newest statement, the
// superseded one staying in the haystack as a distractor.
type Question struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// EvidenceRole is "user" or "assistant": who said the evidence, the
	// split LongMemEval makes for single-session questions.
	EvidenceRole     string    `json:"evidence_role"`
	Question         string    `json:"question"`
	Date             time.Time `json:"date"`
	Answer           string    `json:"answer"`
	EvidenceTurns    []string  `json:"evidence_turns"`
	EvidenceSessions []string  `json:"evidence_sessions"`
	// Superseded lists the turns holding an old value a knowledge update
	// replaced; a good retriever ranks them below the evidence.
	Superseded []string  `json:"superseded,omitempty"`
	Haystack   []Session `json:"haystack"`
}

// Session is one past chat, in chronological order within a haystack.
type Session struct {
	ID    string    `json:"id"`
	Date  time.Time `json:"date"`
	Turns []Turn    `json:"turns"`
}

// Turn is one message. Session and Date repeat the session's, filled in by
// Question.Turns so that a loader needs nothing else; they are not stored.
type Turn struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"`
	Text    string    `json:"text"`
	Session string    `json:"-"`
	Date    time.Time `json:"-"`
}

// Turns flattens the haystack in order, each turn carrying its session's id
// and date.
func (q *Question) Turns() []Turn {
	var out []Turn
	for _, s := range q.Haystack {
		for _, t := range s.Turns {
			t.Session, t.Date = s.ID, s.Date
			out = append(out, t)
		}
	}
	return out
}

// Marshal encodes d with one question per line: compact enough to keep
// the committed files small, and a regenerated file still diffs by
// question.
func (d *Dataset) Marshal() ([]byte, error) {
	var b bytes.Buffer
	head, err := json.Marshal(struct {
		Name string `json:"name"`
		Seed uint64 `json:"seed"`
	}{d.Name, d.Seed})
	if err != nil {
		return nil, err
	}
	b.Write(head[:len(head)-1])
	b.WriteString(`,"questions":[`)
	for i := range d.Questions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		q, err := json.Marshal(&d.Questions[i])
		if err != nil {
			return nil, err
		}
		b.Write(q)
	}
	b.WriteString("\n]}\n")
	return b.Bytes(), nil
}

// Load reads a dataset written by Marshal.
func Load(path string) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dataset
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// Check reports the first way d is malformed: an evidence turn or session
// missing from its question's haystack, or a kind with no question.
func (d *Dataset) Check() error {
	seen := map[string]bool{}
	for i := range d.Questions {
		q := &d.Questions[i]
		seen[q.Kind] = true
		turns, sessions := map[string]bool{}, map[string]bool{}
		for _, t := range q.Turns() {
			turns[t.ID], sessions[t.Session] = true, true
		}
		if len(q.EvidenceTurns) == 0 {
			return fmt.Errorf("%s: no evidence", q.ID)
		}
		for _, id := range append(q.EvidenceTurns, q.Superseded...) {
			if !turns[id] {
				return fmt.Errorf("%s: turn %s is not in the haystack", q.ID, id)
			}
		}
		for _, id := range q.EvidenceSessions {
			if !sessions[id] {
				return fmt.Errorf("%s: session %s is not in the haystack", q.ID, id)
			}
		}
	}
	for _, k := range Kinds {
		if !seen[k] {
			return fmt.Errorf("no %s question", k)
		}
	}
	return nil
}
