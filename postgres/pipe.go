package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipeTx is a transaction whose statements travel together: they are
// queued and sent in one round trip when the transaction needs an answer
// (flush), its BEGIN with the first of them and its COMMIT with the last.
// A turn's write takes two round trips so (lock and read, then write and
// commit) instead of one per statement, and the conversation's row lock is
// held for about one round trip, not ten: under load, round trips times
// concurrency is lock time and connections held.
//
// Every decision is taken on what a flush returned, before the last batch
// is queued: a statement of the last batch fails the transaction only by
// failing on the server (which skips the COMMIT after it); a callback of
// the last batch that returned an error after its statement succeeded
// would come too late to stop the COMMIT.
type pipeTx struct {
	conn   *pgx.Conn
	began  bool
	queued pgx.Batch
}

// queue adds a statement to the next round trip. Its result is read by a
// callback set on what queue returns (Exec, QueryRow); without one, only
// its error counts.
func (t *pipeTx) queue(sql string, args ...any) *pgx.QueuedQuery {
	return t.queued.Queue(sql, args...)
}

// flush sends the queued statements (after BEGIN, the first time) in one
// round trip and runs their callbacks.
func (t *pipeTx) flush(ctx context.Context) error {
	b := &pgx.Batch{}
	if !t.began {
		b.Queue("begin")
		t.began = true
	}
	b.QueuedQueries = append(b.QueuedQueries, t.queued.QueuedQueries...)
	t.queued = pgx.Batch{}
	if len(b.QueuedQueries) == 0 {
		return nil
	}
	return t.conn.SendBatch(ctx, b).Close()
}

// Exec, Query and QueryRow run a statement at once, after what is queued:
// for the paths that are not hot, which keep the helpers written for
// pgx.Tx.
func (t *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.flush(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.flush(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// commit sends what is queued and COMMIT. PostgreSQL answers a COMMIT of
// a failed transaction with ROLLBACK, not an error: that is one.
func (t *pipeTx) commit(ctx context.Context) error {
	t.queue("commit").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() == "ROLLBACK" {
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	return t.flush(ctx)
}

// pipe runs fn as one transaction on one connection, sending its
// statements as a pipeTx; it retries as tx does.
func (db *DB) pipe(ctx context.Context, fn func(t *pipeTx) error) error {
	ctx, cancel := writeContext(ctx)
	defer cancel()
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = db.pipeOnce(ctx, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			break
		}
		time.Sleep(time.Duration(attempt*attempt) * 10 * time.Millisecond)
	}
	return mapErr(err)
}

func (db *DB) pipeOnce(ctx context.Context, fn func(t *pipeTx) error) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	t := &pipeTx{conn: c.Conn()}
	err = fn(t)
	if err == nil {
		err = t.commit(ctx)
	}
	if err != nil && !t.conn.PgConn().IsClosed() && t.conn.PgConn().TxStatus() != 'I' {
		// A failed statement or decision left the transaction open: end
		// it so the connection goes back to the pool clean. When rollback
		// fails too, the pool drops the connection on release.
		_, _ = t.conn.Exec(ctx, "rollback")
	}
	return err
}
