package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements: SQLite compiles a statement in about
// the time it takes to run a small one, so the hot path must not compile.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = s
	return s, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	clear(c.m)
}

// reader runs cached statements on the read pool.
type reader struct{ cache *stmtCache }

func (r reader) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	s, err := r.cache.get(ctx, q)
	if err != nil {
		return r.cache.db.QueryRowContext(ctx, q, args...) // carries the error
	}
	return s.QueryRowContext(ctx, args...)
}

func (r reader) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s, err := r.cache.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// txConn runs statements inside the write transaction. The writer's one
// connection is held for the store's life and writes are serialised by a
// mutex, so its statements are prepared once on that connection.
type txConn struct{ db *DB }

func (t *txConn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := t.db.wstmts[q]; ok {
		return s, nil
	}
	s, err := t.db.wconn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	t.db.wstmts[q] = s
	return s, nil
}

func (t *txConn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (t *txConn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	s, err := t.stmt(ctx, q)
	if err != nil {
		return t.db.wconn.QueryRowContext(ctx, q, args...) // carries the error
	}
	return s.QueryRowContext(ctx, args...)
}

func (t *txConn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}
