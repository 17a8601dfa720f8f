package sqlite

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/engram-run/engram"
)

const recordColumns = `id, project_id, agent_id, end_user, kind, text, metadata, source, conversation_id, item_ids,
	supersedes, superseded_by, occurred_at, created_at, embedding_model, embedding`

var recordOrder = createdOrder("memory_records", "")

// scanRecordAfter scans a row of first and then recordColumns.
func scanRecordAfter(s interface{ Scan(...any) error }, first ...any) (*engram.MemoryRecord, error) {
	return scanRecordRow(s, first, nil)
}

func scanRecord(s interface{ Scan(...any) error }, extra ...any) (*engram.MemoryRecord, error) {
	return scanRecordRow(s, nil, extra)
}

func scanRecordRow(s interface{ Scan(...any) error }, first, extra []any) (*engram.MemoryRecord, error) {
	r := &engram.MemoryRecord{}
	var meta, itemIDs string
	var vec []byte
	dest := append(append(first, &r.ID, &r.ProjectID, &r.AgentID, &r.User, &r.Kind, &r.Text, &meta, &r.Source, &r.ConversationID, &itemIDs,
		&r.Supersedes, &r.SupersededBy, &r.OccurredAt, &r.CreatedAt, &r.EmbeddingModel, &vec), extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta), &r.Metadata); err != nil {
		return nil, err
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	if err := json.Unmarshal([]byte(itemIDs), &r.ItemIDs); err != nil {
		return nil, err
	}
	r.Embedding = decodeVector(vec)
	return r, nil
}

func encodeVector(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// Kinds of scope token; the digit starts the token so that tokens of
// different kinds never collide.
const (
	tokenItems = '3' // the scope of a conversation's messages
	tokenConv  = '4' // one conversation
)

// scopeToken returns the full-text token standing for parts: 41 decimal
// digits, which unicode61 keeps as one token and the porter stemmer leaves
// alone, so no text can split or stem it. The parts are length-prefixed so
// that ("a", "bc") and ("ab", "c") differ.
func scopeToken(kind byte, parts ...string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	b := make([]byte, 0, 41)
	b = append(b, kind)
	for _, half := range []uint64{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])} {
		d := strconv.AppendUint(nil, half, 10)
		for range 20 - len(d) {
			b = append(b, '0')
		}
		b = append(b, d...)
	}
	return string(b)
}

// maxTerms bounds a query's terms: each is a posting list FTS5 walks.
const maxTerms = 64

// quoteTerms returns terms as FTS5 strings: each one quoted, so that
// operators, stars and parentheses in it are only text. A term with no
// letter or digit would make an empty phrase, and is dropped, as are
// repeats.
func quoteTerms(terms []string) []string {
	var out []string
	for _, t := range terms {
		if len(out) == maxTerms {
			break
		}
		if strings.IndexFunc(t, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) < 0 {
			continue
		}
		q := `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
		if !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// matchAny returns an FTS5 expression matching any of quoted in the text
// column, or "" when there are none.
func matchAny(quoted []string) string {
	if len(quoted) == 0 {
		return ""
	}
	return "text : (" + strings.Join(quoted, " OR ") + ")"
}

// maxResults bounds k of a search.
const maxResults = 1000

var recordKinds = map[string]bool{engram.RecordFact: true, engram.RecordPreference: true, engram.RecordEpisode: true, engram.RecordPassage: true}

// CreateRecord implements engram.RecordStore.
func (db *DB) CreateRecord(ctx context.Context, r *engram.MemoryRecord) error {
	if !recordKinds[r.Kind] {
		return engram.ParamErrorf(engram.EInvalid, "kind", "kind must be fact, preference, episode or passage, not %q", r.Kind)
	}
	if strings.TrimSpace(r.Text) == "" {
		return engram.ParamErrorf(engram.EInvalid, "text", "a memory record needs text")
	}
	if len(r.Embedding) > 0 && r.EmbeddingModel == "" {
		return engram.ParamErrorf(engram.EInvalid, "embedding_model", "an embedding needs the name of its model: vectors of different models are never compared")
	}
	if r.ID == "" {
		r.ID = engram.NewID("mem")
	}
	if r.CreatedAt == 0 {
		r.CreatedAt = engram.Now()
	}
	if r.OccurredAt == 0 {
		r.OccurredAt = r.CreatedAt
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	meta, err := json.Marshal(r.Metadata)
	if err != nil {
		return err
	}
	itemIDs := []byte("[]")
	if len(r.ItemIDs) > 0 {
		if itemIDs, err = json.Marshal(r.ItemIDs); err != nil {
			return err
		}
	}
	vec := encodeVector(r.Embedding)
	r.SupersededBy = ""
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, r.ProjectID); err != nil {
			return err
		}
		return insertRecord(ctx, tx, r, meta, itemIDs, vec)
	})
}

// insertRecord stores a validated r, its encoded metadata, item ids and
// vector, in tx.
func insertRecord(ctx context.Context, tx *txConn, r *engram.MemoryRecord, meta, itemIDs, vec []byte) error {
	var scopeID, n int64
	words := countWords(r.Text)
	if err := tx.QueryRowContext(ctx, `INSERT INTO memory_scopes (project_id, agent_id, end_user, last, records, terms) VALUES (?, ?, ?, 1, 1, ?)
		ON CONFLICT (project_id, agent_id, end_user) DO UPDATE SET last = last + 1, records = records + 1, terms = terms + excluded.terms RETURNING id, last`,
		r.ProjectID, r.AgentID, r.User, words).Scan(&scopeID, &n); err != nil {
		return err
	}
	if n > math.MaxUint32 {
		return engram.Errorf(engram.EConflict, "this scope holds as many memory records as it can")
	}
	pk := scopeID<<32 | n
	if _, err := tx.ExecContext(ctx, `INSERT INTO memory_record_terms (pk, terms) VALUES (?, ?)`, pk, words); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO memory_records (pk, `+recordColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?)`,
		pk, r.ID, r.ProjectID, r.AgentID, r.User, r.Kind, r.Text, meta, r.Source, r.ConversationID, itemIDs,
		r.Supersedes, r.OccurredAt, r.CreatedAt, r.EmbeddingModel, vec); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO memory_records_fts (rowid, text, flags) VALUES (?, ?, '')`, pk, r.Text); err != nil {
		return err
	}
	if r.Supersedes == "" {
		return nil
	}
	var old engram.MemoryRecord
	var oldPK int64
	err := tx.QueryRowContext(ctx, `SELECT pk, agent_id, end_user, superseded_by, text FROM memory_records WHERE project_id = ? AND id = ?`, r.ProjectID, r.Supersedes).
		Scan(&oldPK, &old.AgentID, &old.User, &old.SupersededBy, &old.Text)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (old.AgentID != r.AgentID || old.User != r.User) {
		return notFound("memory record", r.Supersedes)
	} else if err != nil {
		return err
	}
	if old.SupersededBy != "" {
		return engram.ParamErrorf(engram.EConflict, "supersedes", "memory record %s is already superseded by %s", r.Supersedes, old.SupersededBy)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE memory_records SET superseded_by = ? WHERE pk = ?`, r.ID, oldPK); err != nil {
		return err
	}
	return markSuperseded(ctx, tx, oldPK, old.Text)
}

// markSuperseded flags a record's full-text entry as superseded (a
// contentless index is changed by deleting the row and inserting it again).
func markSuperseded(ctx context.Context, tx *txConn, pk int64, text string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM memory_records_fts WHERE rowid = ?`, pk); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO memory_records_fts (rowid, text, flags) VALUES (?, ?, '1')`, pk, text)
	return err
}

// GetRecord implements engram.RecordStore.
func (db *DB) GetRecord(ctx context.Context, projectID, id string) (*engram.MemoryRecord, error) {
	r, err := scanRecord(db.r.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM memory_records WHERE project_id = ? AND id = ?`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("memory record", id)
	}
	return r, err
}

// ListRecords implements engram.RecordStore.
func (db *DB) ListRecords(ctx context.Context, scope engram.MemoryScope, f engram.RecordFilter) ([]*engram.MemoryRecord, bool, error) {
	q := `SELECT ` + recordColumns + ` FROM memory_records WHERE project_id = ? AND agent_id = ? AND end_user = ?`
	args := []any{scope.ProjectID, scope.AgentID, scope.User}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if !f.IncludeSuperseded {
		q += ` AND superseded_by = ''`
	}
	q, args, backwards := pageQuery(q, args, recordOrder, f.Page)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*engram.MemoryRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, f.Page, backwards)
	return out, more, nil
}

// DeleteRecord implements engram.RecordStore. A record it superseded stays
// superseded: deleting a correction does not make the corrected fact true
// again.
func (db *DB) DeleteRecord(ctx context.Context, projectID, id string) error {
	return db.tx(ctx, func(tx *txConn) error {
		var pk, words int64
		err := tx.QueryRowContext(ctx, `DELETE FROM memory_records WHERE project_id = ? AND id = ? RETURNING pk`, projectID, id).Scan(&pk)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("memory record", id)
		} else if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `DELETE FROM memory_record_terms WHERE pk = ? RETURNING terms`, pk).Scan(&words); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memory_scopes SET records = records - 1, terms = terms - ? WHERE id = ?`, words, pk>>32); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM memory_records_fts WHERE rowid = ?`, pk)
		return err
	})
}

// commonTerm is the number of rows of the whole items index from which a
// term counts as common in SearchItemsText. FTS5's bm25() weighs each
// term by walking its whole posting list, every user's, once per query,
// and then scores every match: a term in most rows would cost tens of
// milliseconds and add almost nothing to the ranking.
const commonTerm = 2000

// BM25's parameters, Robertson's usual values: k1 says how soon a
// record's evidence saturates, b how much a long record is discounted.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// postingCap bounds the postings of one term a record search reads. A
// term with more in the scope is common there: its weight is small, its
// document frequency is estimated from the density of its newest
// postings, and it adds to the scores of the records rarer terms found
// (or, when every term is common, of its newest records), so that no
// search walks a posting list as long as the scope.
const postingCap = 500

// termPostings are the records of a scope matching one query term, newest
// first: all of them when complete, else the newest postingCap+1.
type termPostings struct {
	term     string // quoted
	rows     []int64
	complete bool
	idf      float64
}

// SearchRecordsText implements engram.RecordStore with BM25 over the
// scope's own statistics (its record count, mean length and each term's
// document frequency), not the whole table's: a word that fills other
// users' memories may still tell one user's records apart, and a word
// that fills this user's tells nothing. FTS5 reads only the scope's rowid
// range of each posting list (see the migration) and at most postingCap
// of it; the weights are summed here; the k records found are then read
// and their scope checked on the real columns. Term frequency is binary:
// records are short, and FTS5 gives a contentless index's counts per
// record only to bm25(), whose statistics are the whole table's.
func (db *DB) SearchRecordsText(ctx context.Context, scope engram.MemoryScope, terms []string, k int, includeSuperseded bool) ([]engram.RankedRecord, error) {
	quoted := quoteTerms(terms)
	k = min(k, maxResults)
	if len(quoted) == 0 || k <= 0 {
		return nil, nil
	}
	var scopeID, last, records, words int64
	err := db.r.QueryRowContext(ctx, `SELECT id, last, records, terms FROM memory_scopes WHERE project_id = ? AND agent_id = ? AND end_user = ?`,
		scope.ProjectID, scope.AgentID, scope.User).Scan(&scopeID, &last, &records, &words)
	if errors.Is(err, sql.ErrNoRows) || err == nil && records <= 0 {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	lo, hi := scopeID<<32, scopeID<<32|last
	live := ``
	if !includeSuperseded {
		live = ` NOT flags : "1"`
	}
	n := float64(records)
	var found []termPostings
	var rare []string
	for _, q := range quoted {
		rows, err := db.postings(ctx, `text : `+q+live, lo, hi, postingCap+1)
		if err != nil {
			return nil, err
		}
		// Terms the stemmer makes one ("hive", "hives") count once.
		if len(rows) == 0 || slices.ContainsFunc(found, func(p termPostings) bool { return slices.Equal(p.rows, rows) }) {
			continue
		}
		p := termPostings{term: q, rows: rows, complete: len(rows) <= postingCap}
		df := float64(len(rows))
		if !p.complete {
			// Rowids number the scope's records in order, so the newest
			// postings' share of the newest records estimates the share
			// of all of them.
			df = min(n, df*n/float64(hi-rows[len(rows)-1]+1))
		} else {
			rare = append(rare, q)
		}
		p.idf = math.Log(1 + (n-df+0.5)/(df+0.5))
		found = append(found, p)
	}
	weight := map[int64]float64{}
	for _, p := range found {
		for _, r := range p.rows {
			weight[r] += p.idf
		}
		if p.complete || len(rare) == 0 {
			continue
		}
		// A common term's older postings matter only for the records the
		// complete terms found; FTS5 seeks through its list to those.
		older, err := db.postings(ctx, `text : `+p.term+` AND `+matchAny(rare)+live, lo, p.rows[len(p.rows)-1]-1, -1)
		if err != nil {
			return nil, err
		}
		for _, r := range older {
			weight[r] += p.idf
		}
	}
	best, err := db.bestByBM25(ctx, weight, float64(words)/n, k)
	if err != nil || len(best) == 0 {
		return nil, err
	}
	return db.readRanked(ctx, scope, includeSuperseded, best)
}

// postings returns the rowids in [lo, hi] matching match, newest first, at
// most limit (-1: all).
func (db *DB) postings(ctx context.Context, match string, lo, hi int64, limit int) ([]int64, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT rowid FROM memory_records_fts WHERE memory_records_fts MATCH ? AND rowid BETWEEN ? AND ? ORDER BY rowid DESC LIMIT ?`,
		match, lo, hi, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// bestByBM25 returns the k best of the candidates (rowid to summed idf of
// the terms each matches) by BM25 with binary term frequency, best first,
// newest first among equals. That score is the idf sum times a factor of
// the record's length alone, at most lengthFactor(0), so candidates are
// read in order of their idf sum and reading stops once none left could
// enter the k best.
func (db *DB) bestByBM25(ctx context.Context, weight map[int64]float64, avgLen float64, k int) ([]hit, error) {
	cands := make([]hit, 0, len(weight))
	for pk, w := range weight {
		cands = append(cands, hit{pk, w})
	}
	slices.SortFunc(cands, byScore)
	avgLen = max(avgLen, 1)
	lengthFactor := func(l int64) float64 {
		return (bm25K1 + 1) / (1 + bm25K1*(1-bm25B+bm25B*float64(l)/avgLen))
	}
	var best []hit
	// Batches grow, as a first one too small for k is common and each
	// statement costs a round trip.
	batch := max(2*k, 32)
	for i := 0; i < len(cands); i, batch = i+batch, min(2*batch, 512) {
		if len(best) >= k && best[k-1].score >= cands[i].score*lengthFactor(0) {
			break
		}
		part := cands[i:min(i+batch, len(cands))]
		list, args := inList(part)
		lengths := make(map[int64]int64, len(part))
		rows, err := db.r.QueryContext(ctx, `SELECT pk, terms FROM memory_record_terms WHERE pk IN `+list, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var pk, l int64
			if err := rows.Scan(&pk, &l); err != nil {
				rows.Close()
				return nil, err
			}
			lengths[pk] = l
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
		for _, c := range part {
			if l, ok := lengths[c.pk]; ok { // else deleted meanwhile
				best = append(best, hit{c.pk, c.score * lengthFactor(l)})
			}
		}
		slices.SortFunc(best, byScore)
		best = best[:min(k, len(best))]
	}
	return best, nil
}

// inList returns an SQL list of placeholders for the hits' rowids and its
// arguments, padded with the last rowid to a power of two: repeats change
// nothing in an IN list, and the few lengths keep the statement cache,
// which holds one statement per text, small.
func inList(hs []hit) (string, []any) {
	if len(hs) == 0 {
		return `(NULL)`, nil
	}
	n := 1
	for n < len(hs) {
		n *= 2
	}
	args := make([]any, n, n+4)
	for i := range args {
		args[i] = hs[min(i, len(hs)-1)].pk
	}
	return `(?` + strings.Repeat(`, ?`, n-1) + `)`, args
}

// byScore orders hits best first, newest first among equals.
func byScore(a, b hit) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	return cmp.Compare(b.pk, a.pk)
}

// readRanked reads the records of best that are in scope (and live unless
// includeSuperseded), in best's order, with their scores.
func (db *DB) readRanked(ctx context.Context, scope engram.MemoryScope, includeSuperseded bool, best []hit) ([]engram.RankedRecord, error) {
	score := make(map[int64]float64, len(best))
	for _, h := range best {
		score[h.pk] = h.score
	}
	list, args := inList(best)
	args = append(args, scope.ProjectID, scope.AgentID, scope.User, includeSuperseded)
	// The unary plus keeps SQLite from reading the scope's rows by index
	// and probing the k found, which its planner may think cheaper.
	rows, err := db.r.QueryContext(ctx, `SELECT pk, `+recordColumns+` FROM memory_records WHERE pk IN `+list+`
		AND +project_id = ? AND +agent_id = ? AND +end_user = ? AND (? OR superseded_by = '')`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type ranked struct {
		pk int64
		engram.RankedRecord
	}
	var out []ranked
	for rows.Next() {
		var pk int64
		var r *engram.MemoryRecord
		if r, err = scanRecordAfter(rows, &pk); err != nil {
			return nil, err
		}
		out = append(out, ranked{pk, engram.RankedRecord{Record: r, Score: score[pk]}})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ranked) int { return byScore(hit{a.pk, a.Score}, hit{b.pk, b.Score}) })
	res := make([]engram.RankedRecord, len(out))
	for i, r := range out {
		res[i] = r.RankedRecord
	}
	return res, nil
}

// countWords counts the words of text as the index's tokenizer cuts them
// (runs of letters, digits and marks), BM25's length of a record.
func countWords(text string) int64 {
	var n int64
	in := false
	for _, r := range text {
		w := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
		if w && !in {
			n++
		}
		in = w
	}
	return n
}

// prefixed qualifies each of a list of columns with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// hit is a candidate of a vector search; hits is a min-heap on score, so
// the worst of the best k found so far is the one to replace.
type hit struct {
	pk    int64
	score float64
}

type hits []hit

func (h hits) Len() int           { return len(h) }
func (h hits) Less(i, j int) bool { return h[i].score < h[j].score }
func (h hits) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hits) Push(x any)        { *h = append(*h, x.(hit)) }
func (h *hits) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// SearchRecordsVector implements engram.RecordStore by brute force: the
// scope's vectors are read as raw bytes and scored in place, keeping only
// the best k, and only those k records are then read whole. Vectors of
// another length than vec's cannot be compared and are skipped.
func (db *DB) SearchRecordsVector(ctx context.Context, scope engram.MemoryScope, vec []float32, model string, k int, includeSuperseded bool) ([]engram.RankedRecord, error) {
	k = min(k, maxResults)
	var qnorm float64
	for _, f := range vec {
		qnorm += float64(f) * float64(f)
	}
	if k <= 0 || qnorm == 0 || model == "" {
		return nil, nil
	}
	qnorm = math.Sqrt(qnorm)
	rows, err := db.r.QueryContext(ctx, `SELECT pk, embedding FROM memory_records
		WHERE project_id = ? AND agent_id = ? AND end_user = ? AND embedding_model = ? AND (? OR superseded_by = '')`,
		scope.ProjectID, scope.AgentID, scope.User, model, includeSuperseded)
	if err != nil {
		return nil, err
	}
	best := make(hits, 0, k)
	for rows.Next() {
		var pk int64
		var raw sql.RawBytes
		if err := rows.Scan(&pk, &raw); err != nil {
			rows.Close()
			return nil, err
		}
		if len(raw) != 4*len(vec) {
			continue
		}
		var dot, norm float64
		for i, q := range vec {
			f := float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
			dot += float64(q) * f
			norm += f * f
		}
		if norm == 0 {
			continue
		}
		score := dot / (qnorm * math.Sqrt(norm))
		if len(best) < k {
			heap.Push(&best, hit{pk, score})
		} else if score > best[0].score {
			best[0] = hit{pk, score}
			heap.Fix(&best, 0)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if len(best) == 0 {
		return nil, nil
	}
	out := make([]engram.RankedRecord, len(best))
	for i := len(best) - 1; i >= 0; i-- {
		h := heap.Pop(&best).(hit)
		r, err := scanRecord(db.r.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM memory_records WHERE pk = ? AND project_id = ? AND agent_id = ? AND end_user = ?`,
			h.pk, scope.ProjectID, scope.AgentID, scope.User))
		if err != nil {
			return nil, err // a record deleted meanwhile is ErrNoRows: rare, and the caller can search again
		}
		out[i] = engram.RankedRecord{Record: r, Score: h.score}
	}
	return out, nil
}

// itemSearch indexes the messages a log append adds, for SearchItemsText.
// Its tokens are made on the first message, as most appends of tool calls
// need none.
type itemSearch struct {
	projectID, agentID, user, convID string
	scope                            string // the tokens of the scope and the conversation
}

// index adds it to the full-text index when it is a user's or an
// assistant's message with text, returning its entry's rowid (0 when not
// indexed) for the item's search_rowid.
func (s *itemSearch) index(ctx context.Context, tx *txConn, it *engram.Item) (int64, error) {
	if it.Type != engram.ItemMessage || it.Role != "user" && it.Role != "assistant" {
		return 0, nil
	}
	text := it.Text()
	if text == "" {
		return 0, nil
	}
	if s.scope == "" {
		s.scope = scopeToken(tokenItems, s.projectID, s.agentID, s.user) + " " + scopeToken(tokenConv, s.projectID, s.convID)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO items_fts (scope, text, conversation_id, seq) VALUES (?, ?, ?, ?)`, s.scope, text, s.convID, it.Seq)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// unindexItem removes an item's full-text entry, if it has one.
func unindexItem(ctx context.Context, tx *txConn, searchRowid int64) error {
	if searchRowid == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM items_fts WHERE rowid = ?`, searchRowid)
	return err
}

// unindexConversation removes the full-text entries of the items a
// conversation appended. Its forks share those items but cannot find them
// by search any more: an item belongs to the conversation that appended it.
func unindexConversation(ctx context.Context, tx *txConn, convID string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM items_fts WHERE rowid IN (SELECT search_rowid FROM items WHERE conversation_id = ? AND search_rowid != 0)`, convID)
	return err
}

// SearchItemsText implements engram.RecordStore. The scope's token (ANDed)
// and the excluded conversation's (NOTed) confine FTS5 to the scope's
// postings; the outer query reads the k items found and checks project,
// agent, user and deletion on the real rows. Terms common in the whole
// index (commonTerm) take no part in the BM25 ranking, whose statistics
// are the whole index's: the items matching the others are ranked, and
// when they are fewer than k, the newest items matching any term follow,
// with score 0. Messages have no rowid range per scope (a conversation's
// items interleave with others'), so the per-scope statistics of
// SearchRecordsText are not theirs yet.
func (db *DB) SearchItemsText(ctx context.Context, scope engram.MemoryScope, terms []string, k int, excludeConversation string) ([]engram.RankedItem, error) {
	quoted := quoteTerms(terms)
	k = min(k, maxResults)
	if len(quoted) == 0 || k <= 0 {
		return nil, nil
	}
	in := `scope : "` + scopeToken(tokenItems, scope.ProjectID, scope.AgentID, scope.User) + `"`
	if excludeConversation != "" {
		in = `(` + in + ` NOT scope : "` + scopeToken(tokenConv, scope.ProjectID, excludeConversation) + `")`
	}
	rare, err := db.rareTerms(ctx, "items_fts", quoted)
	if err != nil {
		return nil, err
	}
	var out []engram.RankedItem
	if len(rare) > 0 {
		out, err = db.searchItems(ctx, scope, excludeConversation, `SELECT rowid, conversation_id, seq, -bm25(items_fts, 0.0, 1.0) AS score FROM items_fts
			WHERE items_fts MATCH ? ORDER BY score DESC LIMIT ?`, in+` AND `+matchAny(rare), k, nil)
		if err != nil || len(out) == k || len(rare) == len(quoted) {
			return out, err
		}
	}
	found := make(map[string]bool, len(out))
	for _, h := range out {
		found[h.Item.ID] = true
	}
	newest, err := db.searchItems(ctx, scope, excludeConversation, `SELECT rowid, conversation_id, seq, 0.0 AS score FROM items_fts
		WHERE items_fts MATCH ? ORDER BY rowid DESC LIMIT ?`, in+` AND `+matchAny(quoted), k+len(out), found)
	return append(out, newest[:min(len(newest), k-len(out))]...), err
}

// rareTerms returns those of quoted that are in fewer than commonTerm
// rows of table; counting stops there, so it costs little.
func (db *DB) rareTerms(ctx context.Context, table string, quoted []string) ([]string, error) {
	var rare []string
	for _, q := range quoted {
		var n int
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+table+` WHERE `+table+` MATCH ? LIMIT ?)`, `text : `+q, commonTerm).Scan(&n); err != nil {
			return nil, err
		}
		if n < commonTerm {
			rare = append(rare, q)
		}
	}
	return rare, nil
}

// searchItems runs inner, a full-text query of items and scores taking a
// MATCH expression and a limit, and returns the scope's live items it
// found, leaving out those in skip.
func (db *DB) searchItems(ctx context.Context, scope engram.MemoryScope, excludeConversation, inner, match string, limit int, skip map[string]bool) ([]engram.RankedItem, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+prefixed("i.", itemColumns)+`, m.score FROM (`+inner+`) m
		CROSS JOIN items i ON i.conversation_id = m.conversation_id AND i.seq = m.seq
		CROSS JOIN conversations c ON c.id = i.conversation_id
		WHERE c.project_id = ? AND c.agent_id = ? AND c.end_user = ? AND c.deleted = 0 AND c.id != ?
			AND i.project_id = c.project_id AND i.deleted = 0
		ORDER BY m.score DESC, m.rowid DESC`,
		match, limit, scope.ProjectID, scope.AgentID, scope.User, excludeConversation)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engram.RankedItem
	for rows.Next() {
		var body []byte
		var score float64
		it := &engram.Item{}
		if err := rows.Scan(&body, &it.ConversationID, &it.Seq, &it.ResponseID, &it.Origin, &it.Tokens, &it.CreatedAt, &score); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, it); err != nil {
			return nil, err
		}
		if !skip[it.ID] {
			out = append(out, engram.RankedItem{Item: it, Score: score})
		}
	}
	return out, rows.Err()
}
