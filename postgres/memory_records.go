package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const recordColumns = `id, project_id, agent_id, end_user, kind, text, metadata, source, conversation_id, item_ids,
	supersedes, superseded_by, occurred_at, created_at, embedding_model, embedding`

var recordOrder = createdOrder("memory_records", "")

// scanRecord scans first's destinations and then recordColumns.
func scanRecord(s pgx.Row, first ...any) (*engram.MemoryRecord, error) {
	r := &engram.MemoryRecord{}
	var meta, itemIDs string
	var vec []byte
	dest := append(first, &r.ID, &r.ProjectID, &r.AgentID, &r.User, &r.Kind, &r.Text, &meta, &r.Source, &r.ConversationID, &itemIDs,
		&r.Supersedes, &r.SupersededBy, &r.OccurredAt, &r.CreatedAt, &r.EmbeddingModel, &vec)
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

func collectRecords(rows pgx.Rows, err error) ([]*engram.MemoryRecord, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.MemoryRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, r)
	}
	return out, mapErr(rows.Err())
}

// encodeVector stores a vector as sqlite does: little-endian float32.
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

var recordKinds = map[string]bool{engram.RecordFact: true, engram.RecordPreference: true, engram.RecordEpisode: true, engram.RecordPassage: true}

// CreateRecord implements engram.RecordStore. The record, its search
// statistics and postings, and the mark on the record it supersedes are
// one transaction: a record is searchable the moment it returns.
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
	r.SupersededBy = ""
	return db.tx(ctx, func(tx pgx.Tx) error {
		return db.insertRecord(ctx, tx, r, meta, itemIDs)
	})
}

// insertRecord stores a validated r with its encoded metadata and item
// ids in tx, and indexes it.
func (db *DB) insertRecord(ctx context.Context, tx pgx.Tx, r *engram.MemoryRecord, meta, itemIDs []byte) error {
	var pk int64
	err := tx.QueryRow(ctx, `INSERT INTO memory_records (`+recordColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '', $12, $13, $14, $15)
		RETURNING pk`,
		r.ID, r.ProjectID, r.AgentID, r.User, r.Kind, pgText(r.Text), string(meta), r.Source, r.ConversationID, string(itemIDs),
		r.Supersedes, r.OccurredAt, r.CreatedAt, r.EmbeddingModel, encodeVector(r.Embedding)).Scan(&pk)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign key: the project
		return notFound("project", r.ProjectID)
	} else if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, indexRecords, []int64{pk}); err != nil {
		return err
	}
	if len(r.Embedding) > 0 && db.hasVectorColumn(ctx) {
		if err := storeVectorColumn(ctx, tx, pk, r.Embedding); err != nil {
			return err
		}
	}
	if r.Supersedes == "" {
		return nil
	}
	// The WHERE clause is the check: a concurrent supersede of the same
	// record waits for this row's lock and then finds it taken.
	var n int64
	if err := tx.QueryRow(ctx, `WITH old AS (
			UPDATE memory_records SET superseded_by = $1
			WHERE project_id = $2 AND id = $3 AND agent_id = $4 AND end_user = $5 AND superseded_by = ''
			RETURNING pk, project_id, agent_id, end_user, text
		), marked AS (
			UPDATE memory_search_postings p SET superseded = true
			FROM old JOIN memory_search_scopes s USING (project_id, agent_id, end_user)
			WHERE p.scope_id = s.id AND p.pk = old.pk
				AND p.lexeme IN (SELECT t.lexeme FROM unnest(to_tsvector('engram_english', old.text)) t)
		)
		SELECT count(*) FROM old`, r.ID, r.ProjectID, r.Supersedes, r.AgentID, r.User).Scan(&n); err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var by string
	err = tx.QueryRow(ctx, `SELECT superseded_by FROM memory_records WHERE project_id = $1 AND id = $2 AND agent_id = $3 AND end_user = $4`,
		r.ProjectID, r.Supersedes, r.AgentID, r.User).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("memory record", r.Supersedes)
	} else if err != nil {
		return err
	}
	return engram.ParamErrorf(engram.EConflict, "supersedes", "memory record %s is already superseded by %s", r.Supersedes, by)
}

// recordDocs is the start of a statement over records src (a CTE of
// memory_records' rows) as documents: each record's lexemes, sorted, and
// its length in lexeme positions (words, as sqlite counts them), then per
// scope the count and the sum of lengths.
const recordDocs = `doc AS (
		SELECT s.pk, s.project_id, s.agent_id, s.end_user, s.superseded_by <> '' AS superseded, t.lexemes, t.length
		FROM src s CROSS JOIN LATERAL (
			SELECT coalesce(array_agg(v.lexeme ORDER BY v.lexeme), '{}') AS lexemes, coalesce(sum(cardinality(v.positions)), 0)::int AS length
			FROM unnest(to_tsvector('engram_english', s.text)) v) t
	), per AS (
		SELECT project_id, agent_id, end_user, count(*) AS records, sum(length) AS lengths FROM doc GROUP BY 1, 2, 3
	)`

// indexRecords adds the records whose pks are $1 to their scopes'
// statistics and postings. Scopes and terms are upserted in key order, so
// two writers never wait for each other's rows in opposite orders.
const indexRecords = `WITH src AS (SELECT pk, project_id, agent_id, end_user, text, superseded_by FROM memory_records WHERE pk = ANY($1)),
	` + recordDocs + `, sc AS (
		INSERT INTO memory_search_scopes AS m (project_id, agent_id, end_user, records, lengths)
		SELECT * FROM per ORDER BY 1, 2, 3
		ON CONFLICT (project_id, agent_id, end_user) DO UPDATE SET records = m.records + excluded.records, lengths = m.lengths + excluded.lengths
		RETURNING id, project_id, agent_id, end_user
	), d AS (
		SELECT sc.id AS scope_id, doc.* FROM doc JOIN sc USING (project_id, agent_id, end_user)
	), terms AS (
		INSERT INTO memory_search_terms AS m (scope_id, lexeme, records)
		SELECT d.scope_id, l.lexeme, count(*) FROM d, unnest(d.lexemes) l(lexeme) GROUP BY 1, 2 ORDER BY 1, 2
		ON CONFLICT (scope_id, lexeme) DO UPDATE SET records = m.records + excluded.records
	)
	INSERT INTO memory_search_postings (scope_id, lexeme, pk, length, superseded)
	SELECT d.scope_id, l.lexeme, d.pk, d.length, d.superseded FROM d, unnest(d.lexemes) l(lexeme)`

// deleteRecord deletes the record $2 of project $1 and takes it out of its
// scope's statistics and postings, returning how many it deleted. A term
// whose count falls to 0 keeps its row (Reindex drops those).
const deleteRecord = `WITH src AS (
		DELETE FROM memory_records WHERE project_id = $1 AND id = $2 RETURNING pk, project_id, agent_id, end_user, text, superseded_by
	), ` + recordDocs + `, sc AS (
		UPDATE memory_search_scopes m SET records = m.records - per.records, lengths = m.lengths - per.lengths
		FROM per WHERE m.project_id = per.project_id AND m.agent_id = per.agent_id AND m.end_user = per.end_user
		RETURNING m.id, m.project_id, m.agent_id, m.end_user
	), d AS (
		SELECT sc.id AS scope_id, doc.* FROM doc JOIN sc USING (project_id, agent_id, end_user)
	), terms AS (
		UPDATE memory_search_terms m SET records = m.records - 1
		FROM d, unnest(d.lexemes) l(lexeme) WHERE m.scope_id = d.scope_id AND m.lexeme = l.lexeme
	), postings AS (
		DELETE FROM memory_search_postings p USING d WHERE p.scope_id = d.scope_id AND p.lexeme = ANY(d.lexemes) AND p.pk = d.pk
	)
	SELECT count(*) FROM src`

// GetRecord implements engram.RecordStore.
func (db *DB) GetRecord(ctx context.Context, projectID, id string) (*engram.MemoryRecord, error) {
	r, err := scanRecord(db.pool.QueryRow(ctx, `SELECT `+recordColumns+` FROM memory_records WHERE project_id = $1 AND id = $2`, projectID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("memory record", id)
	}
	return r, mapErr(err)
}

// ListRecords implements engram.RecordStore.
func (db *DB) ListRecords(ctx context.Context, scope engram.MemoryScope, f engram.RecordFilter) ([]*engram.MemoryRecord, bool, error) {
	var p params
	q := `SELECT ` + recordColumns + ` FROM memory_records WHERE project_id = ` + p.add(scope.ProjectID) +
		` AND agent_id = ` + p.add(scope.AgentID) + ` AND end_user = ` + p.add(scope.User)
	if f.Kind != "" {
		q += ` AND kind = ` + p.add(f.Kind)
	}
	if !f.IncludeSuperseded {
		q += ` AND superseded_by = ''`
	}
	q, backwards := pageQuery(q, &p, recordOrder, f.Page)
	out, err := collectRecords(db.pool.Query(ctx, q, p...))
	if err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, f.Page, backwards)
	return out, more, nil
}

// DeleteRecord implements engram.RecordStore. A record it superseded stays
// superseded: deleting a correction does not make the corrected fact true
// again.
func (db *DB) DeleteRecord(ctx context.Context, projectID, id string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, deleteRecord, projectID, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("memory record", id)
		}
		return nil
	})
}
