package longmem

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/engram-run/engram"
)

const dir = "../../testdata/longmem"

func TestCommittedFilesAreCurrent(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s differs from what the generator writes; run go generate ./bench/longmem", f.Name)
		}
		if len(f.Data) > 8<<20 {
			t.Errorf("%s is %d bytes, over 8 MB", f.Name, len(f.Data))
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := Small
	cfg.Questions = 7
	a, _ := Generate(cfg).Marshal()
	b, _ := Generate(cfg).Marshal()
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with one seed differ")
	}
	cfg.Seed++
	c, _ := Generate(cfg).Marshal()
	if bytes.Equal(a, c) {
		t.Fatal("another seed gives the same data")
	}
}

func TestDatasetsAreWellFormed(t *testing.T) {
	for _, name := range []string{"small.json", "medium.json"} {
		t.Run(name, func(t *testing.T) {
			ds, err := Load(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := ds.Check(); err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, q := range ds.Questions {
				if ids[q.ID] {
					t.Fatalf("%s: id repeated", q.ID)
				}
				ids[q.ID] = true
				last := q.Haystack[len(q.Haystack)-1].Date
				if !q.Date.After(last) {
					t.Errorf("%s: asked %v, before the last session %v", q.ID, q.Date, last)
				}
				for i := 1; i < len(q.Haystack); i++ {
					day := func(s Session) string { return s.Date.Format(time.DateOnly) }
					if day(q.Haystack[i]) <= day(q.Haystack[i-1]) {
						t.Errorf("%s: sessions %d and %d on one day: temporal answers would be ambiguous", q.ID, i-1, i)
					}
				}
				if q.Answer == "" || q.Question == "" {
					t.Errorf("%s: empty question or answer", q.ID)
				}
				// Questions are paraphrases: the answer, when it is a
				// word, must not be handed over by the question.
				if q.Kind != KindTemporal && len(q.Answer) > 3 && strings.Contains(strings.ToLower(q.Question), strings.ToLower(q.Answer)) {
					t.Errorf("%s: question %q contains its answer %q", q.ID, q.Question, q.Answer)
				}
				switch q.Kind {
				case KindMultiSession:
					if len(q.EvidenceSessions) < 2 {
						t.Errorf("%s: multi-session evidence in %d session", q.ID, len(q.EvidenceSessions))
					}
				case KindKnowledgeUpdate:
					if len(q.Superseded) != 1 || len(q.EvidenceTurns) != 1 {
						t.Errorf("%s: want one old and one new value, got %v and %v", q.ID, q.Superseded, q.EvidenceTurns)
					}
				}
				for _, tr := range q.Turns() {
					if tr.Text == "" || strings.Contains(tr.Text, "{") {
						t.Errorf("%s: turn %s is unfilled: %q", q.ID, tr.ID, tr.Text)
					}
				}
			}
		})
	}
}

// Evidence must not be told apart from filler by the words it shares with
// its question alone: distractors and filler reuse them.
func TestLexicalRetrievalIsNotEnough(t *testing.T) {
	ds, err := Load(filepath.Join(dir, "small.json"))
	if err != nil {
		t.Fatal(err)
	}
	svc := newFakeService(ds)
	rep, err := Evaluate(context.Background(), svc, WriteTurns(svc), ds, []string{"overlap", "oracle"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Markdown())
	all, _ := rep.Row("overlap", "all")
	if all.Recall10 < 0.15 || all.Recall10 > 0.85 {
		t.Errorf("word overlap finds %.2f of the evidence in its top 10; want a benchmark neither hopeless nor trivial", all.Recall10)
	}
	oracle, _ := rep.Row("oracle", "all")
	if oracle.Recall5 != 1 || oracle.Recall10 != 1 || oracle.SessionRecall5 != 1 || math.Abs(oracle.NDCG10-1) > 1e-9 {
		t.Errorf("a perfect ranking scores %+v", oracle.Metrics)
	}
	if len(rep.Results) != 2*len(ds.Questions) {
		t.Errorf("%d results for %d questions in two modes", len(rep.Results), len(ds.Questions))
	}
	for _, k := range Kinds {
		if _, ok := rep.Row("overlap", k); !ok {
			t.Errorf("no row for %s", k)
		}
	}
	if md := rep.Markdown(); !strings.Contains(md, "| overlap | knowledge_update |") {
		t.Errorf("markdown lacks a row:\n%s", md)
	}
}

func TestScore(t *testing.T) {
	q := &Question{EvidenceTurns: []string{"s1:t2", "s4:t0"}, EvidenceSessions: []string{"s1", "s4"}, Superseded: []string{"s0:t0"}}
	for _, tc := range []struct {
		name   string
		ranked []string
		want   Metrics
	}{
		{"nothing", nil, Metrics{}},
		{"both first", []string{"s1:t2", "s4:t0"}, Metrics{Recall5: 1, Recall10: 1, SessionRecall5: 1, SessionRecall10: 1, NDCG10: 1}},
		{"one late, right session early", []string{"s1:t3", "x", "x", "x", "x", "s1:t2", "s0:t0"},
			Metrics{Recall5: 0, Recall10: 0.5, SessionRecall5: 0.5, SessionRecall10: 0.5, NDCG10: (1 / math.Log2(7)) / (1 + 1/math.Log2(3))}},
		{"stale above current", []string{"s0:t0", "s4:t0"},
			Metrics{Recall5: 0.5, Recall10: 0.5, SessionRecall5: 0.5, SessionRecall10: 0.5, NDCG10: (1 / math.Log2(3)) / (1 + 1/math.Log2(3)), StaleFirst: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Score(q, tc.ranked)
			if math.Abs(got.NDCG10-tc.want.NDCG10) > 1e-9 {
				t.Errorf("NDCG %v, want %v", got.NDCG10, tc.want.NDCG10)
			}
			got.NDCG10 = tc.want.NDCG10
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConversation(t *testing.T) {
	c, err := LoadConversation(filepath.Join(dir, "economy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Turns) != Economy.Turns || len(c.Questions) != Economy.Facts {
		t.Fatalf("%d turns and %d questions, want %d and %d", len(c.Turns), len(c.Questions), Economy.Turns, Economy.Facts)
	}
	index := map[string]int{}
	for i, x := range c.Turns {
		index[x.ID] = i
		if n := len(strings.Fields(x.Assistant)); n < 30 || n > 150 {
			t.Errorf("%s: reply of %d words", x.ID, n)
		}
		if i > 0 && !x.Date.After(c.Turns[i-1].Date) {
			t.Errorf("%s: not after the turn before", x.ID)
		}
	}
	for _, q := range c.Questions {
		at, ok := index[q.Turn]
		if !ok || at < len(c.Turns)*9/10 || c.Turns[at].User != q.Question {
			t.Errorf("%s: asked at %s (%d), not in the last tenth as its user message", q.ID, q.Turn, at)
		}
		for _, e := range q.EvidenceTurns {
			if i, ok := index[e]; !ok || i >= len(c.Turns)/5 {
				t.Errorf("%s: evidence %s not in the first fifth", q.ID, e)
			}
		}
	}
}

// fakeService is a stand-in retriever for testing the harness, not a
// model of the product: "overlap" ranks by how many of the question's
// words a record contains, "oracle" puts the evidence first.
type fakeService struct {
	records  map[engram.MemoryScope][]*engram.MemoryRecord
	evidence map[string][]string // by user
}

func newFakeService(ds *Dataset) *fakeService {
	s := &fakeService{records: map[engram.MemoryScope][]*engram.MemoryRecord{}, evidence: map[string][]string{}}
	for _, q := range ds.Questions {
		s.evidence["longmem-"+q.ID] = q.EvidenceTurns
	}
	return s
}

func (s *fakeService) WriteRecord(_ context.Context, r *engram.MemoryRecord) error {
	s.records[r.Scope()] = append(s.records[r.Scope()], r)
	return nil
}

func (s *fakeService) SearchRecords(_ context.Context, q engram.MemoryQuery) ([]engram.MemoryHit, error) {
	var hits []engram.MemoryHit
	recs := s.records[q.Scope]
	// Rare words count for more, as in any lexical ranking worth the
	// name; otherwise "what" and "have" would decide.
	idf := map[string]float64{}
	for _, w := range words(q.Text) {
		df := 0
		for _, r := range recs {
			if slices.Contains(words(r.Text), w) {
				df++
			}
		}
		if df > 0 {
			idf[w] = math.Log(float64(len(recs)) / float64(df))
		}
	}
	for _, r := range recs {
		var score float64
		switch q.Mode {
		case "oracle":
			if slices.Contains(s.evidence[q.Scope.User], r.Metadata["turn"]) {
				score = 1
			}
		default:
			seen := map[string]bool{}
			for _, w := range words(r.Text) {
				if !seen[w] {
					seen[w] = true
					score += idf[w]
				}
			}
		}
		if score > 0 {
			hits = append(hits, engram.MemoryHit{Record: r, Score: score})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].Score > hits[j].Score })
	return hits[:min(q.Limit, len(hits))], nil
}

func (s *fakeService) SearchConversations(context.Context, engram.MemoryScope, string, int, string) ([]engram.ItemHit, error) {
	return nil, nil
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}
