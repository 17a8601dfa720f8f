// Package sqlite is Engram's embedded store: SQLite through the pure-Go
// modernc.org/sqlite driver, in WAL mode, with one writer connection (SQLite
// allows one writer at a time; queueing in Go is cheaper than SQLITE_BUSY
// retries) and a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/engram-run/engram"
	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an engram.Store on one SQLite database file.
type DB struct {
	path  string
	write *sql.DB // one connection: every state change goes through it
	read  *sql.DB
	r     reader // cached statements on read

	wmu    sync.Mutex // held by the writer while it writes; guards wconn and wstmts
	wconn  *sql.Conn
	wstmts map[string]*sql.Stmt
	jobs   chan writeJob
	stop   chan struct{}
	done   sync.WaitGroup
}

// writeJob is one state change waiting for the writer.
type writeJob struct {
	fn     func(*txConn) error
	result chan error
}

// maxBatch bounds how many state changes share one commit.
const maxBatch = 64

var _ engram.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*DB, error) {
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)", "wal_autocheckpoint(0)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", txlock)
		return "file:" + path + "?" + q.Encode()
	}
	write, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	db := &DB{path: path, write: write}
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if path == ":memory:" {
		db.read = write // a second connection would be another database
	} else {
		read, err := sql.Open("sqlite", dsn("deferred"))
		if err != nil {
			write.Close()
			return nil, err
		}
		read.SetMaxOpenConns(8)
		read.SetMaxIdleConns(8)
		db.read = read
	}
	db.r = reader{cache: newStmtCache(db.read)}
	db.wstmts = map[string]*sql.Stmt{}
	if db.wconn, err = write.Conn(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.jobs, db.stop = make(chan writeJob), make(chan struct{})
	db.done.Add(2)
	go db.writer()
	go db.checkpointer()
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.write, sub)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close implements engram.Store.
func (db *DB) Close() error {
	if db.stop != nil {
		close(db.stop)
		db.done.Wait()
	}
	db.wmu.Lock()
	for _, s := range db.wstmts {
		s.Close()
	}
	var err error
	if db.wconn != nil {
		err = db.wconn.Close()
	}
	db.wmu.Unlock()
	db.r.cache.close()
	err = errors.Join(err, db.write.Close())
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Checkpoint folds the write-ahead log into the database file and
// truncates the log.
// SQLite reports a checkpoint that readers kept from finishing as "busy"
// rather than as an error, so it is tried again for a while.
func (db *DB) Checkpoint(ctx context.Context) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	for attempt := 0; ; attempt++ {
		var busy, logPages, done int
		if err := db.wconn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
			return err
		}
		if busy == 0 {
			return nil
		}
		if attempt == 50 {
			return fmt.Errorf("checkpoint: readers kept the log busy")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Size is the database's size on disk in bytes, after folding the
// write-ahead log into it (the log is transient: the figure is what the data
// takes).
func (db *DB) Size(ctx context.Context) (int64, error) {
	if db.path == ":memory:" {
		return 0, nil
	}
	if err := db.Checkpoint(ctx); err != nil {
		return 0, err
	}
	var n int64
	for _, name := range []string{db.path, db.path + "-wal"} {
		if fi, err := os.Stat(name); err == nil {
			n += fi.Size()
		}
	}
	return n, nil
}

// Path is the database file's path, as given to Open.
func (db *DB) Path() string { return db.path }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.read.PingContext(ctx) }

// tx runs fn as one state change: all of it is committed or none. A
// caller that goes away does not interrupt a write halfway: writes run to
// their end once begun.
//
// Changes are committed in groups: the writer takes every change waiting
// (up to maxBatch), runs them in one transaction and commits once (see
// commit for what happens when one fails); the caller of each change
// learns its outcome only after the commit. Under load this spends one write of the log per group instead of
// one per change, which is where SQLite's time goes.
func (db *DB) tx(ctx context.Context, fn func(*txConn) error) error {
	job := writeJob{fn: fn, result: make(chan error, 1)}
	select {
	case db.jobs <- job:
	case <-db.stop:
		return engram.Errorf(engram.EUnavailable, "the store is closed")
	}
	return <-job.result
}

func (db *DB) writer() {
	defer db.done.Done()
	for {
		var batch []writeJob
		select {
		case j := <-db.jobs:
			batch = append(batch, j)
		case <-db.stop:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		db.commit(batch)
	}
}

// commit runs a group of changes in one transaction. Changes rarely fail
// (a conflict, a missing row), so the group is first tried whole; when one
// change fails the group is rolled back and each change runs again in a
// transaction of its own, so that only the failing one fails. Changes are
// closures that read what they need inside the transaction, so running one
// again is safe.
func (db *DB) commit(batch []writeJob) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if len(batch) > 1 {
		if err := db.runTx(batch); err == nil {
			for _, j := range batch {
				j.result <- nil
			}
			return
		}
	}
	for _, j := range batch {
		j.result <- db.runTx([]writeJob{j})
	}
}

// runTx runs changes in one transaction and commits it, or rolls it back
// at the first failure.
func (db *DB) runTx(jobs []writeJob) error {
	ctx := context.Background()
	if _, err := db.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	t := &txConn{db: db}
	for _, j := range jobs {
		if err := j.fn(t); err != nil {
			if _, rerr := db.wconn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
				return errors.Join(mapErr(err), rerr)
			}
			return mapErr(err)
		}
	}
	if _, err := db.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		db.wconn.ExecContext(ctx, "ROLLBACK")
		return mapErr(err)
	}
	return nil
}

// checkpointer folds the write-ahead log into the database in the
// background, so no request pays for a checkpoint (SQLite's own automatic
// checkpoint runs inside the commit that crosses its threshold).
func (db *DB) checkpointer() {
	defer db.done.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-tick.C:
			_, _ = db.read.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// mapErr turns constraint violations into the domain's conflict error.
func mapErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return engram.Errorf(engram.EConflict, "already exists: %s", strings.TrimPrefix(se.Error(), "constraint failed: "))
		}
	}
	return err
}

func notFound(kind, id string) error {
	return engram.Errorf(engram.ENotFound, "%s %s not found", kind, id)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// changeOne runs one UPDATE or DELETE in its own transaction; a statement
// that touched no row is ENotFound for kind id.
func (db *DB) changeOne(ctx context.Context, kind, id, query string, args ...any) error {
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(kind, id)
		}
		return nil
	})
}
