package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Column is a table's column and its PostgreSQL type (as
// information_schema names it: text, bigint, integer, bytea, …).
type Column struct {
	Name, Type string
}

// Columns lists a table's columns in their order.
func (db *DB) Columns(ctx context.Context, table string) ([]Column, error) {
	rows, err := db.pool.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, mapErr(err)
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Column, error) {
		var c Column
		err := r.Scan(&c.Name, &c.Type)
		return c, err
	})
	if err == nil && len(cols) == 0 {
		err = fmt.Errorf("no table %s", table)
	}
	return cols, mapErr(err)
}

// unbounded lifts the session's statement and idle timeouts for the rest
// of a transaction: copying or reading a whole table is one statement that
// may run for minutes, which the pool's 30-second default would cut short.
func unbounded(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0`)
	return err
}

// Loader writes rows into tables inside Load's transaction.
type Loader struct {
	tx pgx.Tx
}

// Copy streams rows into table with COPY, returning how many it wrote.
// rows is read to its end (pgx.CopyFromSource: Next, Values, Err).
func (l *Loader) Copy(ctx context.Context, table string, columns []string, rows pgx.CopyFromSource) (int64, error) {
	n, err := l.tx.CopyFrom(ctx, pgx.Identifier{table}, columns, rows)
	return n, mapErr(err)
}

// Load runs fn in one transaction: every table it copies is committed, or
// none is, so a copy that fails half way leaves the database as it was.
// Statements in it may run as long as they need.
func (db *DB) Load(ctx context.Context, fn func(*Loader) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := unbounded(ctx, tx); err != nil {
		return mapErr(err)
	}
	if err := fn(&Loader{tx: tx}); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx))
}

// Snapshot is one consistent read of the whole database (a repeatable
// read transaction), as `engram migrate` checks a copy against its source.
type Snapshot struct {
	tx    pgx.Tx
	types map[string]map[string]string // table → column → type
}

// Snapshot begins a snapshot; Close ends it.
func (db *DB) Snapshot(ctx context.Context) (*Snapshot, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, mapErr(err)
	}
	if err := unbounded(ctx, tx); err != nil {
		tx.Rollback(ctx)
		return nil, mapErr(err)
	}
	return &Snapshot{tx: tx, types: map[string]map[string]string{}}, nil
}

// Close ends the snapshot.
func (s *Snapshot) Close(ctx context.Context) error { return s.tx.Rollback(ctx) }

// Count counts a table's rows.
func (s *Snapshot) Count(ctx context.Context, table string) (int64, error) {
	var n int64
	err := s.tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n)
	return n, mapErr(err)
}

// Rows reads columns of a table ordered by key, text in byte order (the
// "C" collation, as SQLite compares text), whatever the database's
// collation. Close the rows when done.
func (s *Snapshot) Rows(ctx context.Context, table string, columns, key []string) (pgx.Rows, error) {
	types, err := s.columnTypes(ctx, table)
	if err != nil {
		return nil, err
	}
	order := make([]string, len(key))
	for i, k := range key {
		order[i] = pgx.Identifier{k}.Sanitize()
		if types[k] == "text" {
			order[i] += ` COLLATE "C"`
		}
	}
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	rows, err := s.tx.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+pgx.Identifier{table}.Sanitize()+` ORDER BY `+strings.Join(order, ", "))
	return rows, mapErr(err)
}

func (s *Snapshot) columnTypes(ctx context.Context, table string) (map[string]string, error) {
	if t, ok := s.types[table]; ok {
		return t, nil
	}
	rows, err := s.tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, mapErr(err)
	}
	t := map[string]string{}
	var name, typ string
	if _, err := pgx.ForEachRow(rows, []any{&name, &typ}, func() error { t[name] = typ; return nil }); err != nil {
		return nil, mapErr(err)
	}
	if len(t) == 0 {
		return nil, errors.New("no table " + table)
	}
	s.types[table] = t
	return t, nil
}
