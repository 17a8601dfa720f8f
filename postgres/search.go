package postgres

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// maxTerms bounds a query's terms; maxResults bounds k of a search.
const (
	maxTerms   = 64
	maxResults = 1000
)

// BM25's parameters, Robertson's usual values: k1 says how soon a
// document's evidence saturates, b how much a long one is discounted.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// rareTerm is the document frequency up to which a record search reads a
// lexeme's postings whole. A more common lexeme weighs little; its
// postings are read only for the records the rarer ones found and, for
// records that hold only common lexemes, shortest first until no record
// left unread could enter the best k.
const rareTerm = 500

// rareBudget is how many postings a record search reads whole, rarest
// lexemes first, beyond those of lexemes within rareTerm. (A variable so
// that a test can make every path of the search run on a small corpus.)
var rareBudget = 5000.0

// idf is BM25's weight of a term in df of n documents.
func idf(n, df float64) float64 { return math.Log(1 + (n-df+0.5)/(df+0.5)) }

// lengthFactor is BM25's term-frequency part for a term found once in a
// document of length l, the mean length being avg.
func lengthFactor(l, avg float64) float64 {
	return (bm25K1 + 1) / (1 + bm25K1*(1-bm25B+bm25B*l/max(avg, 1)))
}

// queryLexemes turns terms into the distinct lexemes the index holds:
// PostgreSQL's own parser and stemmer cut and stem them, as they cut and
// stem the text, so no term is ever parsed as query syntax.
func queryLexemes(ctx context.Context, q querier, terms []string) ([]string, error) {
	var clean []string
	for _, t := range terms {
		if t = pgText(strings.TrimSpace(t)); t != "" && !slices.Contains(clean, t) && len(clean) < maxTerms {
			clean = append(clean, t)
		}
	}
	if len(clean) == 0 {
		return nil, nil
	}
	var lexemes []string
	err := q.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT v.lexeme), '{}') FROM unnest($1::text[]) t(term),
		unnest(to_tsvector('engram_english', t.term)) v`, clean).Scan(&lexemes)
	if len(lexemes) > maxTerms {
		lexemes = lexemes[:maxTerms]
	}
	return lexemes, err
}

// scored is a record found by a search with its score; pk orders equals,
// newest first.
type scored struct {
	pk    int64
	score float64
}

func byScore(a, b scored) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	return cmp.Compare(b.pk, a.pk)
}

// topK keeps the best k scored records.
type topK struct {
	k    int
	best []scored
}

func (t *topK) add(s scored) {
	i, _ := slices.BinarySearchFunc(t.best, s, byScore)
	if i >= t.k {
		return
	}
	t.best = slices.Insert(t.best, i, s)
	if len(t.best) > t.k {
		t.best = t.best[:t.k]
	}
}

// beats reports whether the k best are found and the worst of them
// scores at least bound, so that nothing scoring at most bound can enter.
func (t *topK) beats(bound float64) bool { return len(t.best) == t.k && t.best[t.k-1].score >= bound }

// SearchRecordsText implements engram.RecordStore: BM25 over the scope's
// own statistics (its record count, mean length in lexemes and each
// lexeme's document frequency, kept in the transaction of every write),
// exact up to the k best. Term frequency is binary, as on sqlite: records
// are short, and it makes a record's score its idf sum times a factor of
// its length alone, so postings read shortest first come best first.
//
// Lexemes in at most rareTerm records are read whole. The common ones are
// then read for the records found, best bound first, until none left could
// enter the k best; and, for records holding only common lexemes, in
// ranges of length, every posting of a record being in its length's range,
// until the shortest record left unread could not enter them.
func (db *DB) SearchRecordsText(ctx context.Context, scope engram.MemoryScope, terms []string, k int, includeSuperseded bool) ([]engram.RankedRecord, error) {
	k = min(k, maxResults)
	if k <= 0 {
		return nil, nil
	}
	lexemes, err := queryLexemes(ctx, db.pool, terms)
	if err != nil || len(lexemes) == 0 {
		return nil, mapErr(err)
	}
	var scopeID int64
	var n, lengths float64
	var dfLexemes []string
	var dfs []float64
	err = db.pool.QueryRow(ctx, `SELECT s.id, s.records, s.lengths, coalesce(array_agg(t.lexeme ORDER BY t.lexeme) FILTER (WHERE t.lexeme IS NOT NULL), '{}'),
			coalesce(array_agg(t.records::float8 ORDER BY t.lexeme) FILTER (WHERE t.lexeme IS NOT NULL), '{}')
		FROM memory_search_scopes s LEFT JOIN memory_search_terms t ON t.scope_id = s.id AND t.lexeme = ANY($4) AND t.records > 0
		WHERE s.project_id = $1 AND s.agent_id = $2 AND s.end_user = $3 GROUP BY s.id`,
		scope.ProjectID, scope.AgentID, scope.User, lexemes).Scan(&scopeID, &n, &lengths, &dfLexemes, &dfs)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && (n <= 0 || len(dfLexemes) == 0) {
		return nil, nil
	} else if err != nil {
		return nil, mapErr(err)
	}
	avg := lengths / n
	s := recordSearch{db: db, scopeID: scopeID, avg: avg, includeSuperseded: includeSuperseded, weight: map[string]float64{}}
	// Rarest first: lexemes are read whole while their postings stay
	// within rareBudget (and always when in at most rareTerm records), so
	// that a lexeme of middling frequency, whose weight is large, is not
	// left to the common ones' bound, which it would keep high.
	order := make([]int, len(dfLexemes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(dfs[a], dfs[b]) })
	var rare []string
	var read float64
	for _, i := range order {
		l := dfLexemes[i]
		s.weight[l] = idf(n, dfs[i])
		if read += dfs[i]; dfs[i] <= rareTerm || read <= rareBudget {
			rare = append(rare, l)
		} else {
			s.common = append(s.common, l)
			s.commonWeight += s.weight[l]
		}
	}
	best := topK{k: k}
	found, err := s.rarePostings(ctx, rare)
	if err != nil {
		return nil, err
	}
	if err := s.complete(ctx, found, &best); err != nil {
		return nil, err
	}
	if err := s.commonOnly(ctx, found, &best); err != nil {
		return nil, err
	}
	return db.readRanked(ctx, scope, includeSuperseded, best.best)
}

// recordSearch is one SearchRecordsText in a scope.
type recordSearch struct {
	db                *DB
	scopeID           int64
	avg               float64
	includeSuperseded bool
	weight            map[string]float64 // each lexeme's idf
	common            []string
	commonWeight      float64
}

// partial is a record the rare lexemes found: the idf sum of those it
// holds and its length.
type partial struct {
	pk     int64
	weight float64
	length int
}

func (s *recordSearch) live() string {
	if s.includeSuperseded {
		return ``
	}
	return ` AND NOT superseded`
}

// rarePostings reads the postings of the rare lexemes whole.
func (s *recordSearch) rarePostings(ctx context.Context, rare []string) (map[int64]*partial, error) {
	found := map[int64]*partial{}
	if len(rare) == 0 {
		return found, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT lexeme, pk, length FROM memory_search_postings WHERE scope_id = $1 AND lexeme = ANY($2)`+s.live(),
		s.scopeID, rare)
	if err != nil {
		return nil, mapErr(err)
	}
	var lexeme string
	var pk int64
	var length int
	_, err = pgx.ForEachRow(rows, []any{&lexeme, &pk, &length}, func() error {
		p := found[pk]
		if p == nil {
			p = &partial{pk: pk, length: length}
			found[pk] = p
		}
		p.weight += s.weight[lexeme]
		return nil
	})
	return found, mapErr(err)
}

// complete scores the records the rare lexemes found, adding the common
// lexemes they hold, best bound first, until no record left could enter
// the k best.
func (s *recordSearch) complete(ctx context.Context, found map[int64]*partial, best *topK) error {
	bound := func(p *partial) float64 { return (p.weight + s.commonWeight) * lengthFactor(float64(p.length), s.avg) }
	cands := make([]*partial, 0, len(found))
	for _, p := range found {
		cands = append(cands, p)
	}
	slices.SortFunc(cands, func(a, b *partial) int { return byScore(scored{a.pk, bound(a)}, scored{b.pk, bound(b)}) })
	if len(s.common) == 0 {
		for _, p := range cands {
			best.add(scored{p.pk, p.weight * lengthFactor(float64(p.length), s.avg)})
		}
		return nil
	}
	batch := max(2*best.k, 64)
	for i := 0; i < len(cands); i, batch = i+batch, min(2*batch, 1024) {
		if best.beats(bound(cands[i])) {
			break
		}
		part := cands[i:min(i+batch, len(cands))]
		pks := make([]int64, len(part))
		for j, p := range part {
			pks[j] = p.pk
		}
		// One probe of the key per (lexeme, record), which LIMIT 1 in a
		// lateral subquery forces: as a join or with array conditions the
		// planner reads the common lexemes' postings whole instead.
		rows, err := s.db.pool.Query(ctx, `SELECT l.lexeme, c.pk FROM unnest($2::text[]) l(lexeme) CROSS JOIN unnest($3::bigint[]) c(pk)
			CROSS JOIN LATERAL (SELECT 1 FROM memory_search_postings p WHERE p.scope_id = $1 AND p.lexeme = l.lexeme AND p.pk = c.pk LIMIT 1) x`,
			s.scopeID, s.common, pks)
		if err != nil {
			return mapErr(err)
		}
		extra := make(map[int64]float64, len(part))
		var lexeme string
		var pk int64
		if _, err := pgx.ForEachRow(rows, []any{&lexeme, &pk}, func() error {
			extra[pk] += s.weight[lexeme]
			return nil
		}); err != nil {
			return mapErr(err)
		}
		for _, p := range part {
			best.add(scored{p.pk, (p.weight + extra[p.pk]) * lengthFactor(float64(p.length), s.avg)})
		}
	}
	return nil
}

// commonOnly scores the records that hold only common lexemes, in ranges
// of length, shortest first, while the shortest record left could still
// enter the k best. A range's postings are all the postings of its
// records, so each is scored whole.
func (s *recordSearch) commonOnly(ctx context.Context, found map[int64]*partial, best *topK) error {
	if len(s.common) == 0 {
		return nil
	}
	var shortest, longest int
	if err := s.db.pool.QueryRow(ctx, `SELECT coalesce(min(lo), 0), coalesce(max(hi), -1) FROM unnest($2::text[]) l(lexeme),
		LATERAL (SELECT min(length) lo, max(length) hi FROM memory_search_postings p WHERE p.scope_id = $1 AND p.lexeme = l.lexeme) x`,
		s.scopeID, s.common).Scan(&shortest, &longest); err != nil {
		return mapErr(err)
	}
	weights := make([]float64, len(s.common))
	for i, l := range s.common {
		weights[i] = s.weight[l]
	}
	for lo := shortest; lo <= longest; {
		if best.beats(s.commonWeight * lengthFactor(float64(lo), s.avg)) {
			break
		}
		hi := lo + max(1, lo/4)
		rows, err := s.db.pool.Query(ctx, `SELECT p.pk, p.length, sum(q.weight) FROM memory_search_postings p
			JOIN unnest($2::text[], $3::float8[]) q(lexeme, weight) ON q.lexeme = p.lexeme
			WHERE p.scope_id = $1 AND p.lexeme = ANY($2) AND p.length >= $4 AND p.length < $5`+s.live()+`
			GROUP BY p.pk, p.length`, s.scopeID, s.common, weights, lo, hi)
		if err != nil {
			return mapErr(err)
		}
		var pk int64
		var length int
		var w float64
		if _, err := pgx.ForEachRow(rows, []any{&pk, &length, &w}, func() error {
			if found[pk] == nil { // else scored with its rare lexemes
				best.add(scored{pk, w * lengthFactor(float64(length), s.avg)})
			}
			return nil
		}); err != nil {
			return mapErr(err)
		}
		lo = hi
	}
	return nil
}

// readRanked reads the records of best that are in scope (and live unless
// includeSuperseded), in best's order, with their scores.
func (db *DB) readRanked(ctx context.Context, scope engram.MemoryScope, includeSuperseded bool, best []scored) ([]engram.RankedRecord, error) {
	if len(best) == 0 {
		return nil, nil
	}
	pks := make([]int64, len(best))
	for i, h := range best {
		pks[i] = h.pk
	}
	rows, err := db.pool.Query(ctx, `SELECT pk, `+recordColumns+` FROM memory_records WHERE pk = ANY($1)
		AND project_id = $2 AND agent_id = $3 AND end_user = $4 AND ($5 OR superseded_by = '')`,
		pks, scope.ProjectID, scope.AgentID, scope.User, includeSuperseded)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	byPK := make(map[int64]*engram.MemoryRecord, len(best))
	for rows.Next() {
		var pk int64
		r, err := scanRecord(rows, &pk)
		if err != nil {
			return nil, mapErr(err)
		}
		byPK[pk] = r
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	out := make([]engram.RankedRecord, 0, len(best))
	for _, h := range best {
		if r := byPK[h.pk]; r != nil { // else deleted meanwhile
			out = append(out, engram.RankedRecord{Record: r, Score: h.score})
		}
	}
	return out, nil
}

// hits is a min-heap of scored records, so the worst of the best k found
// so far is the one to replace.
type hits []scored

func (h hits) Len() int           { return len(h) }
func (h hits) Less(i, j int) bool { return h[i].score < h[j].score }
func (h hits) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hits) Push(x any)        { *h = append(*h, x.(scored)) }
func (h *hits) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// SearchRecordsVector implements engram.RecordStore by brute force over
// the scope's vectors of model, as sqlite does: they are read as raw bytes
// and scored in Go, keeping the best k, and only those are read whole.
// Vectors of another length than vec's cannot be compared and are
// skipped in the query. When the database has pgvector, the ordering runs
// there instead (vectorSearch).
func (db *DB) SearchRecordsVector(ctx context.Context, scope engram.MemoryScope, vec []float32, model string, k int, includeSuperseded bool) ([]engram.RankedRecord, error) {
	k = min(k, maxResults)
	var qnorm float64
	for _, f := range vec {
		qnorm += float64(f) * float64(f)
	}
	if k <= 0 || qnorm == 0 || model == "" {
		return nil, nil
	}
	if db.hasVectorColumn(ctx) {
		best, err := vectorSearch(ctx, db.pool, scope, vec, model, k, includeSuperseded)
		if err != nil {
			return nil, err
		}
		return db.readRanked(ctx, scope, includeSuperseded, best)
	}
	qnorm = math.Sqrt(qnorm)
	rows, err := db.pool.Query(ctx, `SELECT pk, embedding FROM memory_records
		WHERE project_id = $1 AND agent_id = $2 AND end_user = $3 AND embedding_model = $4 AND ($5 OR superseded_by = '')
			AND length(embedding) = $6`,
		scope.ProjectID, scope.AgentID, scope.User, model, includeSuperseded, 4*len(vec))
	if err != nil {
		return nil, mapErr(err)
	}
	best := make(hits, 0, k)
	var pk int64
	var raw []byte
	if _, err := pgx.ForEachRow(rows, []any{&pk, &raw}, func() error {
		var dot, norm float64
		for i, q := range vec {
			f := float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
			dot += float64(q) * f
			norm += f * f
		}
		if norm == 0 {
			return nil
		}
		score := dot / (qnorm * math.Sqrt(norm))
		if len(best) < k {
			heap.Push(&best, scored{pk, score})
		} else if score > best[0].score {
			best[0] = scored{pk, score}
			heap.Fix(&best, 0)
		}
		return nil
	}); err != nil {
		return nil, mapErr(err)
	}
	ordered := make([]scored, len(best))
	for i := len(best) - 1; i >= 0; i-- {
		ordered[i] = heap.Pop(&best).(scored)
	}
	return db.readRanked(ctx, scope, includeSuperseded, ordered)
}

// tsqueryAny returns a tsquery text matching any of lexemes, each quoted
// as tsquery's input wants (quotes and backslashes doubled), so that a
// lexeme is only ever a lexeme.
func tsqueryAny(lexemes []string) string {
	quoted := make([]string, len(lexemes))
	for i, l := range lexemes {
		quoted[i] = `'` + strings.ReplaceAll(strings.ReplaceAll(l, `\`, `\\`), `'`, `''`) + `'`
	}
	return strings.Join(quoted, " | ")
}

// SearchItemsText implements engram.RecordStore. The GIN index finds the
// messages holding any lexeme; the join keeps those of the scope's live
// conversations (an item belongs to the conversation that appended it, so
// a fork does not find its parent's messages twice), and BM25 ranks them
// in the same statement: N is the scope's count of messages, each lexeme's
// document frequency its count among the scope's messages found, the term
// frequency and length (in lexeme positions) come from each message's
// tsvector, and the mean length is that of the messages found (the
// scope's own mean would mean parsing every message of the scope on every
// search).
func (db *DB) SearchItemsText(ctx context.Context, scope engram.MemoryScope, terms []string, k int, excludeConversation string) ([]engram.RankedItem, error) {
	k = min(k, maxResults)
	if k <= 0 {
		return nil, nil
	}
	lexemes, err := queryLexemes(ctx, db.pool, terms)
	if err != nil || len(lexemes) == 0 {
		return nil, mapErr(err)
	}
	rows, err := db.pool.Query(ctx, `WITH m AS (
			SELECT i.body, i.conversation_id, i.seq, i.response_id, i.origin, i.tokens, i.created_at,
				to_tsvector('engram_english', i.search_text) AS tsv
			FROM conversations c JOIN items i ON i.conversation_id = c.id
			WHERE c.project_id = $1 AND c.agent_id = $2 AND c.end_user = $3 AND c.deleted = 0 AND c.id <> $4
				AND i.project_id = c.project_id AND i.deleted = 0 AND i.search_text <> ''
				AND to_tsvector('engram_english', i.search_text) @@ $5::tsquery
		), tf AS (
			SELECT m.conversation_id, m.seq, v.lexeme, cardinality(v.positions) AS tf
			FROM m, unnest(m.tsv) v WHERE v.lexeme = ANY($6)
		), len AS (
			SELECT m.conversation_id, m.seq, (SELECT sum(cardinality(v.positions)) FROM unnest(m.tsv) v)::float8 AS dl FROM m
		), df AS (
			SELECT lexeme, count(*)::float8 AS df FROM tf GROUP BY lexeme
		), stats AS (
			SELECT greatest((SELECT count(*) FROM conversations c JOIN items i ON i.conversation_id = c.id
					WHERE c.project_id = $1 AND c.agent_id = $2 AND c.end_user = $3 AND c.deleted = 0 AND c.id <> $4
						AND i.project_id = c.project_id AND i.deleted = 0 AND i.search_text <> ''), 1)::float8 AS n,
				greatest((SELECT avg(dl) FROM len), 1) AS avgdl
		), scores AS (
			SELECT tf.conversation_id, tf.seq,
				sum(ln(1 + (stats.n - df.df + 0.5) / (df.df + 0.5)) * tf.tf * ($7::float8 + 1) / (tf.tf + $7::float8 * (1 - $8::float8 + $8::float8 * len.dl / stats.avgdl))) AS score
			FROM tf JOIN df USING (lexeme) JOIN len USING (conversation_id, seq) CROSS JOIN stats
			GROUP BY tf.conversation_id, tf.seq
		)
		SELECT m.body, m.conversation_id, m.seq, m.response_id, m.origin, m.tokens, m.created_at, s.score
		FROM scores s JOIN m USING (conversation_id, seq)
		ORDER BY s.score DESC, m.created_at DESC, m.seq DESC LIMIT $9`,
		scope.ProjectID, scope.AgentID, scope.User, excludeConversation, tsqueryAny(lexemes), lexemes, bm25K1, bm25B, k)
	if err != nil {
		return nil, mapErr(err)
	}
	var out []engram.RankedItem
	var body []byte
	var score float64
	it := &engram.Item{}
	_, err = pgx.ForEachRow(rows, []any{&body, &it.ConversationID, &it.Seq, &it.ResponseID, &it.Origin, &it.Tokens, &it.CreatedAt, &score}, func() error {
		found := *it
		if err := json.Unmarshal(body, &found); err != nil {
			return err
		}
		out = append(out, engram.RankedItem{Item: &found, Score: score})
		return nil
	})
	return out, mapErr(err)
}
