package sqlquery

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/engram-run/engram"
)

// querySQLite runs one query on a connection of its own to the file,
// opened read-only and with an authorizer that allows reading only.
//
// mode=ro alone is not enough: it covers the main file only, so ATTACH
// opens (or creates) any other file read-write, VACUUM INTO writes a copy,
// and PRAGMA query_only can be turned back off. The authorizer refuses all
// of these as SQLite compiles the statement, whatever its text.
func querySQLite(ctx context.Context, rc *engram.ResolvedConnector, cfg config, query string, params []any) (*Result, error) {
	if cfg.Path == "" {
		return nil, engram.Errorf(engram.EInvalid, "%s: connector %q has no path", Name, rc.Connector.Name)
	}
	db, err := openReadOnly(cfg.Path)
	if err != nil {
		return nil, engram.Errorf(engram.EInternal, "%s: %v", Name, err)
	}
	defer db.Close()

	timeout := cfg.timeout()
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := db.Conn(qctx)
	if err != nil {
		return nil, engram.Errorf(engram.EInvalid, "%s: cannot open the database of connector %q: %v", Name, rc.Connector.Name, err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(qctx, query, params...)
	if err != nil {
		return nil, sqliteError(qctx, err, timeout)
	}
	defer rows.Close()
	c := rowCollector{maxRows: cfg.maxRows()}
	if c.res.Columns, err = rows.Columns(); err != nil {
		return nil, sqliteError(qctx, err, timeout)
	}
	vals := make([]any, len(c.res.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, sqliteError(qctx, err, timeout)
		}
		if !c.add(vals) {
			break
		}
	}
	// Closing unread rows finalizes the statement: the rest is never
	// computed.
	if !c.res.Truncated {
		if err := rows.Err(); err != nil {
			return nil, sqliteError(qctx, err, timeout)
		}
	}
	if c.res.Rows == nil {
		c.res.Rows = [][]any{}
	}
	if c.res.Columns == nil {
		c.res.Columns = []string{}
	}
	return &c.res, nil
}

// openReadOnly opens path read-only with the read-only authorizer on every
// connection. The file: prefix matters: modernc drops the query of a plain
// path, which would open it read-write.
func openReadOnly(path string) (*sql.DB, error) {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	c, err := sqlite.NewConnector("file:" + esc + "?mode=ro&_query_only=1")
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(readOnlyConnector{c})
	db.SetMaxOpenConns(1)
	return db, nil
}

// readOnlyConnector installs readOnlyAuthorizer on each new connection,
// after the driver's own DSN pragmas have run.
type readOnlyConnector struct{ driver.Connector }

func (c readOnlyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ar, ok := dc.(sqlite.AuthorizerRegisterer)
	if !ok {
		dc.Close()
		return nil, errors.New("the SQLite driver has no authorizer: refusing to run queries without it")
	}
	if err := ar.RegisterAuthorizer(readOnlyAuthorizer); err != nil {
		dc.Close()
		return nil, err
	}
	return dc, nil
}

// schemaPragmas are the pragmas that only describe the schema, so the
// model may look at a table's columns and indexes.
var schemaPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true,
	"index_info": true, "index_xinfo": true, "foreign_key_list": true,
}

// readOnlyAuthorizer allows reading and nothing else: every write, schema
// change, ATTACH/DETACH, transaction control and pragma but the schema
// ones above is refused when SQLite compiles the statement.
func readOnlyAuthorizer(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRead, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthFunction:
		if strings.EqualFold(arg2, "load_extension") {
			return sqlite.AuthorizerDeny
		}
		return sqlite.AuthorizerOK
	case sqlite.AuthPragma:
		// arg2 is the pragma's argument: schema pragmas take a table or
		// index name, never a new value.
		if schemaPragmas[strings.ToLower(arg1)] {
			return sqlite.AuthorizerOK
		}
	}
	return sqlite.AuthorizerDeny
}

// sqliteError shows the database's refusal to the model, which can correct
// its query; a time limit says so.
func sqliteError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return limitError(timeout)
	}
	msg := err.Error()
	var se *sqlite.Error
	if errors.As(err, &se) {
		// The primary code is the low byte of an extended one.
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_AUTH, sqlite3.SQLITE_READONLY:
			return engram.Errorf(engram.EInvalid, "%s: refused by the database: %s: this tool only reads", Name, msg)
		}
	}
	return engram.Errorf(engram.EInvalid, "%s: the database refused the query: %s", Name, msg)
}
