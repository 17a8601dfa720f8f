package postgres

// The pgvector path. UNTESTED: pgvector cannot be installed on the machine
// this was written on, so nothing here has run. It is used only when the
// migration could create the extension and the embedding_vector column
// (see 00002_memory.sql); otherwise vectors are compared in Go from the
// bytea column, which every test exercises.

import (
	"context"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// hasVectorColumn reports, once per DB, whether memory_records has the
// embedding_vector column the migration adds when pgvector is there.
func (db *DB) hasVectorColumn(ctx context.Context) bool {
	db.vector.once.Do(func() {
		err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
			WHERE attrelid = 'memory_records'::regclass AND attname = 'embedding_vector' AND NOT attisdropped)`).Scan(&db.vector.ok)
		if err != nil {
			db.vector.ok = false
		}
	})
	return db.vector.ok
}

// storeVectorColumn copies a record's embedding into embedding_vector.
func storeVectorColumn(ctx context.Context, q querier, pk int64, vec []float32) error {
	_, err := q.Exec(ctx, `UPDATE memory_records SET embedding_vector = $2::real[]::vector WHERE pk = $1`, pk, vec)
	return err
}

// fillVectorColumn copies every embedding into embedding_vector (Reindex).
// PostgreSQL has no cast from bytea to real[], so the little-endian
// float32s are read in Go and written back.
func fillVectorColumn(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT pk, embedding FROM memory_records WHERE embedding IS NOT NULL AND length(embedding) > 0`)
	if err != nil {
		return err
	}
	type row struct {
		pk  int64
		vec []float32
	}
	var all []row
	var pk int64
	var raw []byte
	if _, err := pgx.ForEachRow(rows, []any{&pk, &raw}, func() error {
		all = append(all, row{pk, decodeVector(raw)})
		return nil
	}); err != nil {
		return err
	}
	for _, r := range all {
		if err := storeVectorColumn(ctx, tx, r.pk, r.vec); err != nil {
			return err
		}
	}
	return nil
}

// vectorSearch orders the scope's vectors of model by cosine distance in
// PostgreSQL, best first, at most k. Vectors of another dimension are
// left out, and zero vectors (whose distance is NaN) too.
func vectorSearch(ctx context.Context, q querier, scope engram.MemoryScope, vec []float32, model string, k int, includeSuperseded bool) ([]scored, error) {
	rows, err := q.Query(ctx, `SELECT pk, 1 - (embedding_vector <=> $5::real[]::vector) AS score FROM memory_records
		WHERE project_id = $1 AND agent_id = $2 AND end_user = $3 AND embedding_model = $4 AND ($6 OR superseded_by = '')
			AND embedding_vector IS NOT NULL AND vector_dims(embedding_vector) = $7 AND vector_norm(embedding_vector) > 0
		ORDER BY embedding_vector <=> $5::real[]::vector, pk DESC LIMIT $8`,
		scope.ProjectID, scope.AgentID, scope.User, model, vec, includeSuperseded, len(vec), k)
	if err != nil {
		return nil, mapErr(err)
	}
	var out []scored
	var s scored
	_, err = pgx.ForEachRow(rows, []any{&s.pk, &s.score}, func() error {
		out = append(out, s)
		return nil
	})
	return out, mapErr(err)
}
