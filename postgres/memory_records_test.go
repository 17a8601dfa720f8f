package postgres

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// recordCorpus makes texts of words drawn from a Zipf distribution over a
// vocabulary, as natural text is: a few words are in most records, most
// words in few. (The same corpus as sqlite's benchmark.)
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

func (c *recordCorpus) query() []string {
	q := make([]string, 1+c.rng.IntN(5))
	for i := range q {
		q[i] = c.word()
	}
	return q
}

func newTestProject(t testing.TB, db *DB) string {
	t.Helper()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// loadRecords stores n records of scope, a thousand per statement, and
// indexes them as CreateRecord does (the same statement), in one
// transaction: a bulk load for tests and benchmarks.
func loadRecords(tb testing.TB, db *DB, c *recordCorpus, scope engram.MemoryScope, n int) {
	ctx := context.Background()
	err := db.tx(ctx, func(tx pgx.Tx) error {
		for done := 0; done < n; {
			batch := min(1000, n-done)
			ids, texts := make([]string, batch), make([]string, batch)
			for i := range batch {
				ids[i], texts[i] = engram.NewID("mem"), c.text()
			}
			var pks []int64
			now := engram.Now()
			if err := tx.QueryRow(ctx, `WITH ins AS (
					INSERT INTO memory_records (id, project_id, agent_id, end_user, kind, text, source, occurred_at, created_at)
					SELECT id, $3, $4, $5, 'fact', text, 'api', $6, $6 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY r(id, text, n) ORDER BY n
					RETURNING pk)
				SELECT array_agg(pk) FROM ins`, ids, texts, scope.ProjectID, scope.AgentID, scope.User, now).Scan(&pks); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, indexRecords, pks); err != nil {
				return err
			}
			done += batch
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// scopeDocs is a scope's records as BM25 sees them, read from
// PostgreSQL's parse of each text, for ranking them by brute force.
type scopeDocs struct {
	docs   []scopeDoc
	df     map[string]float64
	avgLen float64
}

type scopeDoc struct {
	pk         int64
	superseded bool
	lexemes    []string
	length     int
}

func readScopeDocs(t *testing.T, db *DB, scope engram.MemoryScope) *scopeDocs {
	t.Helper()
	rows, err := db.pool.Query(context.Background(), `SELECT r.pk, r.superseded_by <> '', coalesce(array_agg(v.lexeme) FILTER (WHERE v.lexeme IS NOT NULL), '{}'),
			coalesce(sum(cardinality(v.positions)), 0)::int
		FROM memory_records r LEFT JOIN LATERAL unnest(to_tsvector('engram_english', r.text)) v ON true
		WHERE r.project_id = $1 AND r.agent_id = $2 AND r.end_user = $3 GROUP BY r.pk`, scope.ProjectID, scope.AgentID, scope.User)
	if err != nil {
		t.Fatal(err)
	}
	s := &scopeDocs{df: map[string]float64{}}
	var d scopeDoc
	var total float64
	if _, err := pgx.ForEachRow(rows, []any{&d.pk, &d.superseded, &d.lexemes, &d.length}, func() error {
		s.docs = append(s.docs, d)
		total += float64(d.length)
		for _, l := range d.lexemes {
			s.df[l]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.avgLen = total / float64(len(s.docs))
	return s
}

// rank ranks the records for lexemes as SearchRecordsText should: BM25
// with binary term frequency over the scope's statistics, best k.
func (s *scopeDocs) rank(lexemes []string, k int, includeSuperseded bool) []scored {
	n := float64(len(s.docs))
	var out []scored
	for _, d := range s.docs {
		if d.superseded && !includeSuperseded {
			continue
		}
		var w float64
		for _, l := range lexemes {
			if slices.Contains(d.lexemes, l) {
				w += idf(n, s.df[l])
			}
		}
		if w > 0 {
			out = append(out, scored{d.pk, w * lengthFactor(float64(d.length), s.avgLen)})
		}
	}
	slices.SortFunc(out, byScore)
	return out[:min(k, len(out))]
}

// TestSearchRecordsExact: SearchRecordsText returns exactly the k best by
// BM25 over the scope's statistics, whatever mix of rare and common terms
// (above rareTerm records) a query holds, with superseded records left out
// or not, and other scopes' records of the same words never counted.
func TestSearchRecordsExact(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	pid := newTestProject(t, db)
	c := newRecordCorpus(400)
	scope := engram.MemoryScope{ProjectID: pid, AgentID: "agent_keeper", User: "ada"}
	loadRecords(t, db, c, engram.MemoryScope{ProjectID: pid, AgentID: "agent_keeper", User: "bob"}, 1500)
	loadRecords(t, db, c, scope, 2500)
	// Some corrections and deletions, through the store's own methods.
	list, _, err := db.ListRecords(ctx, scope, engram.RecordFilter{Page: engram.Page{Limit: 60}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range list {
		switch i % 3 {
		case 0:
			fix := &engram.MemoryRecord{ProjectID: pid, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact, Text: c.text(), Supersedes: r.ID}
			if err := db.CreateRecord(ctx, fix); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := db.DeleteRecord(ctx, pid, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	var common int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM memory_search_terms t JOIN memory_search_scopes s ON s.id = t.scope_id
		WHERE s.end_user = 'ada' AND t.records > $1`, rareTerm).Scan(&common); err != nil || common < 3 {
		t.Fatalf("the corpus has %d common lexemes (%v); the test needs some", common, err)
	}
	docs := readScopeDocs(t, db, scope)
	defer func(b float64) { rareBudget = b }(rareBudget)
	for i := range 200 {
		terms, k, sup := c.query(), []int{1, 5, 20}[i%3], i%4 == 0
		rareBudget = []float64{0, 5000}[i%2] // with none, only lexemes within rareTerm are read whole
		got, err := db.SearchRecordsText(ctx, scope, terms, k, sup)
		if err != nil {
			t.Fatal(err)
		}
		lexemes, err := queryLexemes(ctx, db.pool, terms)
		if err != nil {
			t.Fatal(err)
		}
		want := docs.rank(lexemes, k, sup)
		if len(got) != len(want) {
			t.Fatalf("%q k=%d: %d found, want %d", terms, k, len(got), len(want))
		}
		for j := range got {
			if math.Abs(got[j].Score-want[j].score) > 1e-9*max(1, want[j].score) {
				t.Fatalf("%q k=%d: result %d scores %v, want %v", terms, k, j, got[j].Score, want[j].score)
			}
		}
	}
}

// TestCommonTerms: the sqlite store's test of per-scope statistics, here:
// a term common in one user's records is rare in another's, and a common
// term alone ranks the shortest records first.
func TestCommonTerms(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	pid := newTestProject(t, db)
	scope := engram.MemoryScope{ProjectID: pid, AgentID: "agent_keeper", User: "ada"}
	c := newRecordCorpus(50)
	c.vocab[0] = "hipoporu"
	loadRecords(t, db, c, scope, rareTerm+10)
	// The common word in every record so far: written in place and
	// indexed by Reindex, as a copy from sqlite would be.
	if _, err := db.pool.Exec(ctx, `UPDATE memory_records SET text = text || ' hipoporu' WHERE end_user = 'ada'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Reindex(ctx); err != nil {
		t.Fatal(err)
	}
	create := func(scope engram.MemoryScope, text string) *engram.MemoryRecord {
		r := &engram.MemoryRecord{ProjectID: pid, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact, Text: text}
		if err := db.CreateRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	rare := create(scope, "the queen hipoporu")
	newest := create(scope, "hipoporu again")
	found, err := db.SearchRecordsText(ctx, scope, []string{"hipoporu", "queen"}, 5, false)
	if err != nil || len(found) != 5 {
		t.Fatalf("found %d, %v; want 5", len(found), err)
	}
	if found[0].Record.ID != rare.ID || found[1].Record.ID != newest.ID || found[1].Score <= 0 || found[0].Score < 10*found[1].Score {
		t.Errorf("want the rare term's record far ahead, then the shortest with the common term: %s %v, %s %v",
			found[0].Record.Text, found[0].Score, found[1].Record.Text, found[1].Score)
	}
	found, err = db.SearchRecordsText(ctx, scope, []string{"hipoporu"}, 3, false)
	if err != nil || len(found) != 3 || found[0].Record.ID != newest.ID {
		t.Errorf("a common term alone: %d found, %v", len(found), err)
	}
	bob := engram.MemoryScope{ProjectID: pid, AgentID: scope.AgentID, User: "bob"}
	var bobs []*engram.MemoryRecord
	for _, text := range []string{"honey in the jar", "honey on toast", "the honey hipoporu", "wax and honey"} {
		bobs = append(bobs, create(bob, text))
	}
	found, err = db.SearchRecordsText(ctx, bob, []string{"honey", "hipoporu"}, 10, false)
	if err != nil || len(found) != 4 || found[0].Record.ID != bobs[2].ID {
		t.Errorf("bob's records: %d found, %v; want the one with the word rare for him first", len(found), err)
	}
}

// derivedState is the content of every derived search structure, for
// comparing before and after Reindex.
func derivedState(t *testing.T, db *DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT project_id, agent_id, end_user, records, lengths FROM memory_search_scopes ORDER BY 1, 2, 3`,
		`SELECT s.project_id, s.agent_id, s.end_user, t.lexeme, t.records FROM memory_search_terms t JOIN memory_search_scopes s ON s.id = t.scope_id
			WHERE t.records > 0 ORDER BY 1, 2, 3, 4`,
		`SELECT s.project_id, s.agent_id, s.end_user, p.lexeme, r.id, p.length, p.superseded FROM memory_search_postings p
			JOIN memory_search_scopes s ON s.id = p.scope_id JOIN memory_records r ON r.pk = p.pk ORDER BY 1, 2, 3, 4, 5`,
		`SELECT conversation_id, seq, search_text FROM items ORDER BY 1, 2`,
	} {
		rows, err := db.pool.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestReindex: rows copied in raw (as `engram migrate` copies sqlite's
// base tables: records with their pks, items without search_text) become
// searchable through Reindex exactly as if written here, and records
// written afterwards take new pks.
func TestReindex(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	pid := newTestProject(t, db)
	scope := engram.MemoryScope{ProjectID: pid, AgentID: "agent_keeper", User: "ada"}
	other := engram.MemoryScope{ProjectID: pid, AgentID: "agent_keeper", User: "bob"}
	var recs []*engram.MemoryRecord
	for i, text := range []string{"Ada keeps three hives in Lisbon.", "The queen of hive two is missing.", "Ada prefers lavender honey.", "Hives need water in summer."} {
		r := &engram.MemoryRecord{ProjectID: pid, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact, Text: text,
			Embedding: []float32{float32(i), 1}, EmbeddingModel: "m"}
		if err := db.CreateRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := db.CreateRecord(ctx, &engram.MemoryRecord{ProjectID: pid, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact,
		Text: "Ada keeps four hives in Lisbon.", Supersedes: recs[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRecord(ctx, pid, recs[3].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRecord(ctx, &engram.MemoryRecord{ProjectID: pid, AgentID: other.AgentID, User: other.User, Kind: engram.RecordFact,
		Text: "Bob keeps hives too."}); err != nil {
		t.Fatal(err)
	}
	conv := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: scope.AgentID, User: scope.User}
	text := func(role, s string) *engram.Item {
		typ := engram.ContentInputText
		if role == "assistant" {
			typ = engram.ContentOutputText
		}
		return &engram.Item{Type: engram.ItemMessage, Role: role, Content: []engram.Content{{Type: typ, Text: s}}, Tokens: 5}
	}
	gone := text("user", "a hive nobody finds")
	if err := db.CreateConversation(ctx, conv, []*engram.Item{text("user", "Where is the queen hive?"), text("assistant", "In hive two."), gone,
		{Type: engram.ItemFunctionCall, CallID: "c1", Name: "find_hive", Arguments: `{}`, Tokens: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteItem(ctx, pid, conv.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	textSearch := func() string {
		var b strings.Builder
		for _, sup := range []bool{false, true} {
			found, err := db.SearchRecordsText(ctx, scope, []string{"hive", "lisbon", "queen"}, 10, sup)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range found {
				fmt.Fprintf(&b, "%s %.9f\n", f.Record.ID, f.Score)
			}
		}
		items, err := db.SearchItemsText(ctx, scope, []string{"hive", "queen"}, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range items {
			fmt.Fprintf(&b, "%s %.9f\n", f.Item.ID, f.Score)
		}
		return b.String()
	}
	search := func() string {
		var b strings.Builder
		b.WriteString(textSearch())
		for _, sup := range []bool{false, true} {
			vfound, err := db.SearchRecordsVector(ctx, scope, []float32{1, 1}, "m", 10, sup)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range vfound {
				fmt.Fprintf(&b, "%s %.9f\n", f.Record.ID, f.Score)
			}
		}
		return b.String()
	}
	wantState, wantSearch := derivedState(t, db), search()
	if strings.Count(textSearch(), "\n") < 6 {
		t.Fatalf("the searches find too little to compare:\n%s", wantSearch)
	}

	// What a raw copy leaves: base rows only.
	if _, err := db.pool.Exec(ctx, `TRUNCATE memory_search_scopes, memory_search_terms, memory_search_postings;
		UPDATE items SET search_text = ''`); err != nil {
		t.Fatal(err)
	}
	if got := textSearch(); got != "" {
		t.Fatalf("without derived structures, text searches found:\n%s", got)
	}
	for range 2 { // and again: it changes nothing more
		if err := db.Reindex(ctx); err != nil {
			t.Fatal(err)
		}
		if got := derivedState(t, db); got != wantState {
			t.Errorf("derived state after Reindex:\n%s\nwant:\n%s", got, wantState)
		}
		if got := search(); got != wantSearch {
			t.Errorf("searches after Reindex:\n%s\nwant:\n%s", got, wantSearch)
		}
	}

	// A record copied with sqlite's pk (a scope's number times 2^32 plus
	// its count) moves the sequence past it.
	const copiedPK = 7<<32 | 3
	if _, err := db.pool.Exec(ctx, `INSERT INTO memory_records (pk, id, project_id, agent_id, end_user, kind, text, occurred_at, created_at)
		VALUES ($1, 'mem_copied', $2, 'agent_keeper', 'ada', 'fact', 'a copied swarm', 1, 1)`, copiedPK, pid); err != nil {
		t.Fatal(err)
	}
	if err := db.Reindex(ctx); err != nil {
		t.Fatal(err)
	}
	if found, err := db.SearchRecordsText(ctx, scope, []string{"swarm"}, 10, false); err != nil || len(found) != 1 || found[0].Record.ID != "mem_copied" {
		t.Errorf("a copied record after Reindex: %v, %v", found, err)
	}
	fresh := &engram.MemoryRecord{ProjectID: pid, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact, Text: "a new swarm"}
	if err := db.CreateRecord(ctx, fresh); err != nil {
		t.Fatalf("a record written after Reindex: %v", err)
	}
	var pk int64
	if err := db.pool.QueryRow(ctx, `SELECT pk FROM memory_records WHERE id = $1`, fresh.ID).Scan(&pk); err != nil || pk <= copiedPK {
		t.Errorf("new record's pk %d (%v), want past the copied %d", pk, err, int64(copiedPK))
	}
}

// TestConcurrentWrites: what several replicas do at once to the same rows
// has one outcome: one supersede of a record wins, one advance of a
// schedule owns the fire, each due extraction is claimed by one worker.
func TestConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	pid := newTestProject(t, db)
	scope := engram.MemoryScope{ProjectID: pid, AgentID: "agent_keeper", User: "ada"}
	old := &engram.MemoryRecord{ProjectID: pid, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact, Text: "three hives"}
	if err := db.CreateRecord(ctx, old); err != nil {
		t.Fatal(err)
	}
	sched := &engram.Schedule{ID: engram.NewID("sched"), ProjectID: pid, Agent: "keeper", Cron: "* * * * *", Timezone: "UTC",
		Input: "x", CatchUp: engram.CatchUpSkip, NextFireAt: 1000}
	if err := db.CreateSchedule(ctx, sched); err != nil {
		t.Fatal(err)
	}
	const due = 5
	for range due {
		c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid}
		if err := db.CreateConversation(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.NoteTurn(ctx, &engram.Extraction{ConversationID: c.ID, ProjectID: pid, LastSeq: 1}, engram.ExtractionPolicy{EveryTurns: 1}, 100); err != nil {
			t.Fatal(err)
		}
	}

	const replicas = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	claimed := map[string]string{}
	note := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		code := "ok"
		if err != nil {
			code = engram.ErrorCode(err)
		}
		outcomes[what+" "+code]++
	}
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			note("supersede", db.CreateRecord(ctx, &engram.MemoryRecord{ProjectID: pid, AgentID: scope.AgentID, User: scope.User,
				Kind: engram.RecordFact, Text: fmt.Sprintf("%d hives", 4+i), Supersedes: old.ID}))
			note("advance", db.AdvanceSchedule(ctx, pid, sched.ID, 1000, 2000, 1000))
			e, err := db.ClaimExtraction(ctx, engram.Lease{Owner: fmt.Sprintf("n%d", i), Until: 200_000}, 100_000)
			note("claim", err)
			if err == nil {
				mu.Lock()
				if prev, ok := claimed[e.ConversationID]; ok {
					t.Errorf("%s claimed by %s and %s", e.ConversationID, prev, e.Lease.Owner)
				}
				claimed[e.ConversationID] = e.Lease.Owner
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	want := map[string]int{
		"supersede ok": 1, "supersede conflict": replicas - 1,
		"advance ok": 1, "advance conflict": replicas - 1,
		"claim ok": due, "claim not_found": replicas - due,
	}
	for k, n := range want {
		if outcomes[k] != n {
			t.Errorf("outcomes %v, want %v", outcomes, want)
			break
		}
	}
	found, err := db.SearchRecordsText(ctx, scope, []string{"hives"}, 10, true)
	if err != nil || len(found) != 2 {
		t.Errorf("after concurrent supersedes, %d records (%v), want the old one and the one correction", len(found), err)
	}
}

// BenchmarkSearchRecords100k mirrors sqlite's: it searches the 100,000
// records of one user in a database that holds as many again of other
// users, agents and projects, with queries of 2 to 5 words drawn as the
// records' words are, and reports the 50th and 95th percentile of single
// searches besides the mean.
func BenchmarkSearchRecords100k(b *testing.B) {
	ctx := context.Background()
	db := openTemp(b)
	defer db.Close()
	corpus := newRecordCorpus(20000)
	var scopes []engram.MemoryScope
	for i := range 2 {
		pid := newTestProject(b, db)
		for _, agent := range []string{"agent_keeper", "agent_other"} {
			for u := range 25 {
				if i == 0 && agent == "agent_keeper" && u == 0 {
					continue // the user searched, loaded last
				}
				scopes = append(scopes, engram.MemoryScope{ProjectID: pid, AgentID: agent, User: fmt.Sprintf("user%d", u)})
			}
		}
		if i == 0 {
			scopes = append(scopes, engram.MemoryScope{ProjectID: pid, AgentID: "agent_keeper", User: "user0"})
		}
	}
	start := time.Now()
	for _, s := range scopes[:len(scopes)-1] {
		loadRecords(b, db, corpus, s, 1000)
	}
	me := scopes[len(scopes)-1]
	loadRecords(b, db, corpus, me, 100_000)
	if _, err := db.pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
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
