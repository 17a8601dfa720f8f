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

	"github.com/engram-run/engram"
	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an engram.Store on one SQLite database file.
type DB struct {
	write *sql.DB // one connection: every state change goes through it
	read  *sql.DB
	r     reader // cached statements on read

	wmu    sync.Mutex // serialises writes; guards wconn and wstmts
	wconn  *sql.Conn
	wstmts map[string]*sql.Stmt
}

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
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
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
	db := &DB{write: write}
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

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.read.PingContext(ctx) }

// tx runs fn in one write transaction, committed when fn returns nil. A
// caller that goes away does not interrupt a write halfway: writes run to
// their end once begun.
func (db *DB) tx(ctx context.Context, fn func(*txConn) error) error {
	ctx = context.WithoutCancel(ctx)
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(&txConn{db: db}); err != nil {
		if _, rerr := db.wconn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			return errors.Join(mapErr(err), rerr)
		}
		return mapErr(err)
	}
	if _, err := db.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		db.wconn.ExecContext(ctx, "ROLLBACK")
		return mapErr(err)
	}
	return nil
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

// pageLimit bounds a page's size.
func pageLimit(p engram.Page) int {
	if p.Limit <= 0 {
		return 20
	}
	return min(p.Limit, 1000)
}
