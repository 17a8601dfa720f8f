package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// recordCorpus makes texts of words drawn from a Zipf distribution over a
// vocabulary, as natural text is: a few words are in most records, most
// words in few.
type recordCorpus struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newRecordCorpus(words int) *recordCorpus {
	rng := rand.New(rand.NewPCG(1, 2))
	syllables := []string{"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "da", "fu", "go", "hi", "ja", "ze", "po", "qu", "wi", "xo", "ye"}
	seen := map[string]bool{}
	var vocab []string
	for len(vocab) < words {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteString(syllables[rng.IntN(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return &recordCorpus{rng: rng, zipf: rand.NewZipf(rng, 1.1, 2, uint64(words-1)), vocab: vocab}
}

func (c *recordCorpus) word() string { return c.vocab[c.zipf.Uint64()] }

func (c *recordCorpus) text() string {
	words := make([]string, 8+c.rng.IntN(18))
	for i := range words {
		words[i] = c.word()
	}
	return strings.Join(words, " ")
}

// loadRecords stores n records of scope in one transaction.
func loadRecords(tb testing.TB, db *DB, c *recordCorpus, scope engram.MemoryScope, n int) {
	ctx := context.Background()
	err := db.tx(ctx, func(tx *txConn) error {
		for range n {
			r := &engram.MemoryRecord{ID: engram.NewID("mem"), ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User,
				Kind: engram.RecordFact, Text: c.text(), Source: engram.SourceAPI, CreatedAt: engram.Now()}
			r.OccurredAt = r.CreatedAt
			if err := insertRecord(ctx, tx, r, []byte("{}"), []byte("[]"), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkSearchRecords100k searches the 100,000 records of one user in a
// database that holds as many again of other users, agents and projects,
// with queries of 2 to 5 words drawn as the records' words are. It reports
// the 50th and 95th percentile of single searches besides the mean.
func BenchmarkSearchRecords100k(b *testing.B) {
	ctx := context.Background()
	db := openTemp(b)
	defer db.Close()
	corpus := newRecordCorpus(20000)
	var scopes []engram.MemoryScope
	for i := range 2 {
		p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
		if err := db.CreateProject(ctx, p); err != nil {
			b.Fatal(err)
		}
		for _, agent := range []string{"agent_keeper", "agent_other"} {
			for u := range 25 {
				if i == 0 && agent == "agent_keeper" && u == 0 {
					continue // the user searched, loaded last
				}
				scopes = append(scopes, engram.MemoryScope{ProjectID: p.ID, AgentID: agent, User: fmt.Sprintf("user%d", u)})
			}
		}
		if i == 0 {
			scopes = append(scopes, engram.MemoryScope{ProjectID: p.ID, AgentID: "agent_keeper", User: "user0"})
		}
	}
	start := time.Now()
	for _, s := range scopes[:len(scopes)-1] {
		loadRecords(b, db, corpus, s, 1000)
	}
	me := scopes[len(scopes)-1]
	loadRecords(b, db, corpus, me, 100_000)
	b.Logf("loaded %d records in %v", 100_000+1000*(len(scopes)-1), time.Since(start).Round(time.Millisecond))

	queries := make([][]string, 1000)
	for i := range queries {
		q := make([]string, 2+corpus.rng.IntN(4))
		for j := range q {
			q[j] = corpus.word()
		}
		queries[i] = q
	}
	var took []time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		found, err := db.SearchRecordsText(ctx, me, queries[i%len(queries)], 10, false)
		took = append(took, time.Since(t0))
		if err != nil || len(found) == 0 {
			b.Fatal(len(found), err)
		}
		i++
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
}
