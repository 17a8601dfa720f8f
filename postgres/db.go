// Package postgres is Engram's store for several replicas: PostgreSQL
// through pgx, one pool per process. Every state change is one transaction;
// rows that several replicas may change at once are locked (FOR UPDATE, and
// SKIP LOCKED where a replica looks for work), so replicas share one
// database without a coordinator. It keeps the same contract as the sqlite
// store (storetest runs against both).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an engram.Store on one PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	url  string
	// vector says whether memory_records has pgvector's column (see
	// hasVectorColumn).
	vector struct {
		once sync.Once
		ok   bool
	}
}

var _ engram.Store = (*DB)(nil)

// Defaults applied when the URL does not set them. pgx passes unknown URL
// parameters to the server as settings, so ?statement_timeout=5s&pool_max_conns=50
// overrides them.
const (
	defaultStatementTimeout = "30s"
	defaultIdleTxTimeout    = "60s"
	defaultMaxConns         = 20
)

// Open connects to the database at url (postgres://…) and brings its schema
// up to date. Several replicas may start at once: migrations run under a
// PostgreSQL advisory lock, so one migrates and the others wait for it.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	params := cfg.ConnConfig.RuntimeParams
	if _, ok := params["statement_timeout"]; !ok {
		params["statement_timeout"] = defaultStatementTimeout
	}
	if _, ok := params["idle_in_transaction_session_timeout"]; !ok {
		params["idle_in_transaction_session_timeout"] = defaultIdleTxTimeout
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "engram"
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second // an unreachable server is a 503 soon, not after minutes of SYNs
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapErr(err)
	}
	db := &DB{pool: pool, url: url}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate: %w", mapErr(err))
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300)) // wait up to 5 minutes for another replica's migration
	if err != nil {
		return err
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// URL is the database's connection string, as given to Open.
func (db *DB) URL() string { return db.url }

// Pool is the connection pool, for the parts of this package that need a
// connection of their own (LISTEN).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close implements engram.Store.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return mapErr(db.pool.Ping(ctx)) }

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// maxAttempts bounds how often a transaction is tried when it failed in a
// way that is safe to try again.
const maxAttempts = 4

// tx runs fn as one state change: all of it is committed or none. A caller
// that goes away does not interrupt a write halfway: writes run to their
// end once begun (the statement timeout bounds them).
//
// A transaction that failed before any of it reached the server (a broken
// pooled connection), or that PostgreSQL aborted as a serialization failure
// or deadlock, is run again: fn reads what it needs inside the transaction,
// so running it again is safe. A failure after COMMIT was sent is not
// retried: whether it committed is unknown, and it is reported as
// unavailable.
func (db *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	ctx, cancel := writeContext(ctx)
	defer cancel()
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = pgx.BeginFunc(ctx, db.pool, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			break
		}
		time.Sleep(time.Duration(attempt*attempt) * 10 * time.Millisecond)
	}
	return mapErr(err)
}

// writeTimeout bounds a state change, retries included, on Engram's side:
// the server's statement_timeout does nothing for a connection whose
// packets are lost (a network partition, a failover to a new address), and
// without it such a write would wait for TCP to give up, minutes later.
// pgx closes the connection at the deadline; the server rolls back.
const writeTimeout = 60 * time.Second

// writeContext is the context of a state change: not ended by the caller
// going away (a write runs to its end once begun), but bounded.
func writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
}

// retryable reports whether a failed transaction may simply be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
		return false
	}
	return pgconn.SafeToRetry(err)
}

// mapErr turns PostgreSQL's errors into the domain's: a unique violation
// is a conflict; a lost or refused connection, a server shutting down or
// starting, or a statement timeout is unavailable (503: try again), never
// a 500 that suggests the request was wrong.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *engram.Error
	if errors.As(err, &ee) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return keepCause(engram.Errorf(engram.EConflict, "already exists: %s", pe.Detail), err)
		case pe.Code == "22021":
			// A NUL (or invalid UTF-8) in a request's text, which SQLite
			// stores and PostgreSQL refuses: the request's fault, not ours.
			return engram.Errorf(engram.EInvalid, "The request holds a character that cannot be stored (NUL or invalid UTF-8).")
		case pe.Code == "57014":
			return keepCause(engram.Errorf(engram.EUnavailable, "The database did not answer in time; try again."), err)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"), strings.HasPrefix(pe.Code, "53"),
			strings.HasPrefix(pe.Code, "40"), pe.Code == "55P03", pe.Code == "25006", pe.Code == "25P03":
			// connection exceptions, admin/crash shutdown, cannot connect now, insufficient resources
			// (too many connections, disk full, out of memory), a serialization failure or deadlock
			// still there after the retries, lock_timeout, a write reaching a standby (a failover in
			// progress), an idle transaction ended by the server
			return keepCause(engram.Errorf(engram.EUnavailable, "The database is unavailable (%s); try again.", pe.Message), err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || errors.Is(err, pgx.ErrTxClosed) ||
		errors.Is(err, pgx.ErrTxCommitRollback) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool") || strings.Contains(err.Error(), "unexpected EOF") {
		return keepCause(engram.Errorf(engram.EUnavailable, "The database is unavailable; try again."), err)
	}
	return err
}

// storeError is a domain error that keeps the database's error beneath it:
// callers see the domain's code and message, and tx still sees whether the
// failure may be retried (mapErr runs inside transactions too).
type storeError struct {
	domain *engram.Error
	cause  error
}

func (e *storeError) Error() string   { return e.domain.Error() }
func (e *storeError) Unwrap() []error { return []error{e.domain, e.cause} }

func keepCause(domain *engram.Error, cause error) error { return &storeError{domain, cause} }

func notFound(kind, id string) error {
	return engram.Errorf(engram.ENotFound, "%s %s not found", kind, id)
}

// Size is the database's size on disk in bytes.
func (db *DB) Size(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, mapErr(err)
}

// ClaimNode makes sure no other live process runs as node on this
// database: two replicas with one node id would free each other's run
// leases (a node frees its own at start) and run the same runs at once. It
// holds a session advisory lock on the node id, on a connection of its own,
// until release is called (or the process dies: the server then frees it).
func (db *DB) ClaimNode(ctx context.Context, node string) (release func(), err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('engram node ' || $1, 0))`, node).Scan(&got); err != nil {
		conn.Release()
		return nil, mapErr(err)
	}
	if !got {
		conn.Release()
		return nil, engram.Errorf(engram.EConflict, "another Engram process runs as node %q on this database: give each replica its own ENGRAM_NODE_ID (or data directory)", node)
	}
	// The lock lives with this session: the connection leaves the pool
	// for good, and closing it frees the lock.
	pc := conn.Hijack()
	return func() { pc.Close(context.Background()) }, nil
}

// changeOne runs one UPDATE or DELETE in its own transaction; a statement
// that touched no row is ENotFound for kind id.
func (db *DB) changeOne(ctx context.Context, kind, id, query string, args ...any) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound(kind, id)
		}
		return nil
	})
}
