package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Snapshot is one consistent read of the whole database, as `engram
// migrate` copies it out and then checks the copy against it: every table
// is read as it stood when the snapshot began, whatever is written since.
type Snapshot struct {
	tx *sql.Tx
}

// Snapshot begins a snapshot; Close ends it.
func (db *DB) Snapshot(ctx context.Context) (*Snapshot, error) {
	tx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	// SQLite begins a deferred transaction's snapshot at its first read.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema`).Scan(&n); err != nil {
		tx.Rollback()
		return nil, err
	}
	return &Snapshot{tx: tx}, nil
}

// Close ends the snapshot.
func (s *Snapshot) Close() error { return s.tx.Rollback() }

// Tables lists the database's tables: its own, not SQLite's, including the
// full-text indexes' (which a copy leaves out and its target rebuilds).
func (s *Snapshot) Tables(ctx context.Context) ([]string, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

// Columns lists a table's columns in their order.
func (s *Snapshot) Columns(ctx context.Context, table string) ([]string, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	cols, err := scanStrings(rows)
	if err == nil && len(cols) == 0 {
		err = fmt.Errorf("no table %s", table)
	}
	return cols, err
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Count counts a table's rows.
func (s *Snapshot) Count(ctx context.Context, table string) (int64, error) {
	var n int64
	err := s.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(table)).Scan(&n)
	return n, err
}

// Rows reads columns of a table ordered by key, text in byte order (as
// SQLite compares text). Values are int64, float64, string, []byte or
// nil, as SQLite stores them: a TEXT column may hold a blob its writer
// passed as []byte.
func (s *Snapshot) Rows(ctx context.Context, table string, columns, key []string) (*Rows, error) {
	q := `SELECT ` + quoteIdents(columns) + ` FROM ` + quoteIdent(table) + ` ORDER BY ` + quoteIdents(key)
	rows, err := s.tx.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	r := &Rows{rows: rows, values: make([]any, len(columns)), ptrs: make([]any, len(columns))}
	for i := range r.values {
		r.ptrs[i] = &r.values[i]
	}
	return r, nil
}

// Rows iterates over rows; its Next, Values and Err are those of
// pgx.CopyFromSource, so that rows stream from here into PostgreSQL's COPY.
type Rows struct {
	rows   *sql.Rows
	values []any
	ptrs   []any
	err    error
}

// Next reads the next row, reporting whether there was one.
func (r *Rows) Next() bool {
	if r.err != nil || !r.rows.Next() {
		return false
	}
	clear(r.values)
	r.err = r.rows.Scan(r.ptrs...)
	return r.err == nil
}

// Values returns the current row. The slice is reused by Next.
func (r *Rows) Values() ([]any, error) { return r.values, r.err }

// Err reports the error that ended the rows, if any.
func (r *Rows) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.rows.Err()
}

// Close releases the rows.
func (r *Rows) Close() error { return r.rows.Close() }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}
