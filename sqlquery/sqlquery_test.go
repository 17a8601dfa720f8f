package sqlquery_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/internal/pgtest"
	"github.com/engram-run/engram/sqlquery"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// stubConnectors is a stand-in for connector resolution only (the real
// one, over the store and sealed credentials, is secrets.Connectors): it
// maps a connector name, or "name/user" for a user's own credential, to
// what Resolve returns, and refuses a per-user connector without one.
type stubConnectors map[string]*engram.ResolvedConnector

func (s stubConnectors) Resolve(_ context.Context, _, name, user string) (*engram.ResolvedConnector, error) {
	if rc, ok := s[name+"/"+user]; ok && user != "" {
		return rc, nil
	}
	rc, ok := s[name]
	if !ok {
		return nil, engram.Errorf(engram.ENotFound, "connector %q not found", name)
	}
	if rc.Connector.PerUser {
		return nil, engram.Errorf(engram.EForbidden, "connector %s needs a credential for user %s", name, user)
	}
	return rc, nil
}

func connector(name, kind string, config any) *engram.ResolvedConnector {
	b, _ := json.Marshal(config)
	return &engram.ResolvedConnector{Connector: &engram.Connector{Name: name, Kind: kind, Config: b}}
}

func call(conn, args string) engram.ToolCall {
	return engram.ToolCall{ProjectID: "proj_1", User: "ada", Connector: conn, Arguments: json.RawMessage(args)}
}

func query(t *testing.T, tl engram.Tool, c engram.ToolCall) sqlquery.Result {
	t.Helper()
	out, err := tl.Call(context.Background(), c)
	if err != nil {
		t.Fatalf("Call(%s): %v", c.Arguments, err)
	}
	var res sqlquery.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result %s: %v", out, err)
	}
	return res
}

// refused asserts the call comes back as an error the model reads
// (EInvalid), naming want.
func refused(t *testing.T, tl engram.Tool, c engram.ToolCall, want string) {
	t.Helper()
	out, err := tl.Call(context.Background(), c)
	if engram.ErrorCode(err) != engram.EInvalid {
		t.Errorf("Call(%s) = %s, %v; want an invalid_request error", c.Arguments, out, err)
		return
	}
	if !strings.Contains(engram.ErrorMessage(err), want) {
		t.Errorf("Call(%s) error %q does not say %q", c.Arguments, engram.ErrorMessage(err), want)
	}
}

func args(q string, params ...any) string {
	b, _ := json.Marshal(map[string]any{"query": q, "params": params})
	return string(b)
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// setupPostgres makes a database with a table of three hives, a sequence
// and a login role that may only SELECT from hives.
func setupPostgres(t *testing.T) (url, reader string) {
	t.Helper()
	url = pgtest.Database(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	reader = randomName("engram_reader_")
	for _, q := range []string{
		`CREATE TABLE hives (id int PRIMARY KEY, name text NOT NULL, weight numeric, added timestamptz DEFAULT '2026-05-01T10:00:00Z', tags text[])`,
		`INSERT INTO hives (id, name, weight, tags) VALUES (1, 'one', 12.5, '{a,b}'), (2, 'two', 9, NULL), (3, 'three', NULL, '{}')`,
		`CREATE SEQUENCE hive_seq`,
		`CREATE TABLE secrets (v text)`,
		`CREATE ROLE ` + reader + ` LOGIN PASSWORD 'pw'`,
		`GRANT SELECT ON hives TO ` + reader,
		// A procedure may COMMIT, and a SECURITY DEFINER function runs as
		// its owner: neither escapes the read-only transaction.
		`CREATE PROCEDURE escape() LANGUAGE plpgsql AS $$ BEGIN COMMIT; INSERT INTO hives (id, name) VALUES (99, 'x'); END $$`,
		`CREATE FUNCTION sneak() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ INSERT INTO hives (id, name) VALUES (98, 'y') RETURNING id $$`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		for _, q := range []string{`DROP OWNED BY ` + reader, `DROP ROLE ` + reader} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Errorf("cleanup %s: %v", q, err)
			}
		}
	})
	return url, reader
}

// pgState is what no query may change.
func pgState(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var names string
	var seq int64
	var called bool
	var tables int
	if err := conn.QueryRow(ctx, `SELECT string_agg(id || '=' || name, ',' ORDER BY id) FROM hives`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT last_value, is_called FROM hive_seq`).Scan(&seq, &called); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s seq=%d/%v tables=%d", names, seq, called, tables)
}

func TestPostgresSelect(t *testing.T) {
	url, _ := setupPostgres(t)
	tl := sqlquery.Tool(stubConnectors{"db": connector("db", engram.ConnectorPostgres, map[string]any{"url": url})})

	res := query(t, tl, call("db", args(`SELECT id, name, weight, added, tags FROM hives WHERE id >= $1 AND name <> $2 ORDER BY id`, 1, "three")))
	got, _ := json.Marshal(res)
	want := `{"columns":["id","name","weight","added","tags"],"rows":[[1,"one",12.5,"2026-05-01T10:00:00Z",["a","b"]],[2,"two",9,"2026-05-01T10:00:00Z",null]],"truncated":false}`
	if string(got) != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}
	// Params as the model sends them, for placeholders of any type; values
	// of PostgreSQL's own types as JSON the model reads.
	res = query(t, tl, call("db", args(`SELECT name FROM hives WHERE id = $1 AND weight > $2 AND $3`, "1", 10, true)))
	if got, _ := json.Marshal(res.Rows); string(got) != `[["one"]]` {
		t.Errorf("typed params: %s", got)
	}
	res = query(t, tl, call("db", args(`SELECT $1 AS a, $2 AS b, $3::jsonb AS j, '6f1c1b5e-0000-4000-8000-000000000001'::uuid AS u, interval '1 day 2 hours' AS i, 1.50::numeric AS n, '1.2.3.4'::inet AS ip, NULL AS z`,
		5, false, `{"k":[1]}`)))
	if got, _ := json.Marshal(res.Rows); string(got) != `[["5","false",{"k":[1]},"6f1c1b5e-0000-4000-8000-000000000001","1 day 02:00:00",1.5,"1.2.3.4/32",null]]` {
		t.Errorf("values: %s", got)
	}
	res = query(t, tl, call("db", args(`SELECT 1 AS x WHERE false`)))
	if len(res.Rows) != 0 || res.Truncated || len(res.Columns) != 1 {
		t.Errorf("empty result = %+v", res)
	}
}

func TestPostgresReadOnly(t *testing.T) {
	url, reader := setupPostgres(t)
	conns := stubConnectors{
		"db":     connector("db", engram.ConnectorPostgres, map[string]any{"url": url}),
		"reader": connector("reader", engram.ConnectorPostgres, map[string]any{"url": url}),
	}
	conns["reader"].Secret.Fields = map[string]string{"user": reader, "password": "pw"}
	tl := sqlquery.Tool(conns)
	before := pgState(t, url)
	copyTo := filepath.Join(t.TempDir(), "copy.csv")

	for _, tt := range []struct{ conn, query, want string }{
		{"db", `INSERT INTO hives (id, name) VALUES (9, 'nine')`, "read-only transaction"},
		{"db", `UPDATE hives SET name = 'x'`, "read-only transaction"},
		{"db", `DELETE FROM hives`, "read-only transaction"},
		{"db", `CREATE TABLE t2 (x int)`, "read-only transaction"},
		{"db", `DROP TABLE hives`, "read-only transaction"},
		{"db", `TRUNCATE hives`, "read-only transaction"},
		// One statement per call: the extended protocol refuses more.
		{"db", `SELECT 1; DELETE FROM hives`, "multiple commands"},
		{"db", `SELECT 1; COMMIT; DELETE FROM hives`, "multiple commands"},
		{"db", `WITH d AS (DELETE FROM hives RETURNING *) SELECT * FROM d`, "read-only transaction"},
		{"db", `SELECT nextval('hive_seq')`, "read-only transaction"},
		{"db", `SELECT setval('hive_seq', 42)`, "read-only transaction"},
		// The snapshot is taken before the user's statement, so the
		// transaction cannot be turned read-write.
		{"db", `SET TRANSACTION READ WRITE`, "before any query"},
		{"db", `SELECT set_config('transaction_read_only', 'off', true)`, "before any query"},
		{"db", `SELECT * FROM secrets FOR UPDATE`, "read-only transaction"},
		{"db", `CALL escape()`, "invalid transaction termination"},
		{"db", `SELECT sneak()`, "read-only transaction"},
		{"db", `DO $$ BEGIN INSERT INTO hives (id, name) VALUES (97, 'z'); END $$`, "read-only transaction"},
		// A read-only transaction does not stop a superuser writing a
		// server file; the SELECT-only role the docs recommend cannot.
		{"reader", `COPY hives TO '` + copyTo + `'`, "42501"},
		{"reader", `SELECT * FROM secrets`, "permission denied"},
	} {
		refused(t, tl, call(tt.conn, args(tt.query)), tt.want)
	}
	if after := pgState(t, url); after != before {
		t.Errorf("the database changed: %s, was %s", after, before)
	}
	if _, err := os.Stat(copyTo); !os.IsNotExist(err) {
		t.Errorf("COPY TO wrote %s: %v", copyTo, err)
	}
	// The reader role's credential is the one used: it reads what it is
	// granted.
	res := query(t, tl, call("reader", args(`SELECT current_user, count(*) FROM hives GROUP BY 1`)))
	if len(res.Rows) != 1 || res.Rows[0][0] != reader || res.Rows[0][1] != float64(3) {
		t.Errorf("as the reader role: %+v", res)
	}
}

func TestPostgresLimits(t *testing.T) {
	url, _ := setupPostgres(t)
	tl := sqlquery.Tool(stubConnectors{
		"db": connector("db", engram.ConnectorPostgres, map[string]any{"url": url, "max_rows": 10, "timeout_ms": 200}),
		// Nothing listens on port 1.
		"down": connector("down", engram.ConnectorPostgres, map[string]any{"url": "postgres://engram@127.0.0.1:1/x?sslmode=disable"}),
	})
	res := query(t, tl, call("db", args(`SELECT g FROM generate_series(1, 100000) g`)))
	if len(res.Rows) != 10 || !res.Truncated || res.Note == "" || res.Rows[9][0] != float64(10) {
		t.Errorf("row limit: %d rows, truncated %v, note %q", len(res.Rows), res.Truncated, res.Note)
	}
	res = query(t, tl, call("db", args(`SELECT g FROM generate_series(1, 10) g`)))
	if len(res.Rows) != 10 || res.Truncated {
		t.Errorf("exactly max_rows: %d rows, truncated %v", len(res.Rows), res.Truncated)
	}
	refused(t, tl, call("db", args(`SELECT pg_sleep(5)`)), "time limit of 200 ms")
	// The connection used for the query is not the next one's: it still works.
	query(t, tl, call("db", args(`SELECT 1`)))
	refused(t, tl, call("down", args(`SELECT 1`)), "cannot connect")
	refused(t, tl, call("db", args(`SELEC 1`)), "syntax error")
}

// sqliteFile makes a database file with a table of three hives.
func sqliteFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hives.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE hives (id INTEGER PRIMARY KEY, name TEXT NOT NULL, weight REAL, photo BLOB)`,
		`INSERT INTO hives (id, name, weight, photo) VALUES (1, 'one', 12.5, x'ff00'), (2, 'two', 9, NULL), (3, 'three', NULL, NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

func sqliteState(t testing.TB, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var names string
	var objects int
	if err := db.QueryRow(`SELECT group_concat(id || '=' || name, ',') FROM (SELECT * FROM hives ORDER BY id)`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&objects); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s objects=%d", names, objects)
}

func TestSQLiteSelect(t *testing.T) {
	path := sqliteFile(t)
	tl := sqlquery.Tool(stubConnectors{"db": connector("db", engram.ConnectorSQLite, map[string]any{"path": path})})
	res := query(t, tl, call("db", args(`SELECT id, name, weight, photo FROM hives WHERE id <= ? ORDER BY id`, 2)))
	got, _ := json.Marshal(res)
	want := `{"columns":["id","name","weight","photo"],"rows":[[1,"one",12.5,"base64:/wA="],[2,"two",9,null]],"truncated":false}`
	if string(got) != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}
	// The model may look at the schema.
	res = query(t, tl, call("db", args(`PRAGMA table_info(hives)`)))
	if len(res.Rows) != 4 {
		t.Errorf("table_info: %+v", res)
	}
}

func TestSQLiteReadOnly(t *testing.T) {
	path := sqliteFile(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	tl := sqlquery.Tool(stubConnectors{"db": connector("db", engram.ConnectorSQLite, map[string]any{"path": path})})
	before := sqliteState(t, path)
	for _, q := range []string{
		`INSERT INTO hives (id, name) VALUES (9, 'nine')`,
		`UPDATE hives SET name = 'x'`,
		`DELETE FROM hives`,
		`CREATE TABLE t2 (x int)`,
		`CREATE TEMP TABLE t2 (x int)`,
		`DROP TABLE hives`,
		`SELECT 1; DELETE FROM hives`,
		`WITH d AS (SELECT 1) DELETE FROM hives`,
		`PRAGMA query_only = 0`,
		`PRAGMA journal_mode = DELETE`,
		`ATTACH '` + other + `' AS o`,
		`ATTACH 'file:` + other + `?mode=rwc' AS o`,
		`VACUUM INTO '` + filepath.Join(dir, "copy.db") + `'`,
		`BEGIN IMMEDIATE`,
	} {
		refused(t, tl, call("db", args(q)), "refused by the database")
	}
	refused(t, tl, call("db", args(`SELECT load_extension('x')`)), "not authorized to use function")
	if after := sqliteState(t, path); after != before {
		t.Errorf("the database changed: %s, was %s", after, before)
	}
	for _, f := range []string{other, filepath.Join(dir, "copy.db")} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s was created: %v", f, err)
		}
	}
}

func TestSQLiteLimits(t *testing.T) {
	path := sqliteFile(t)
	tl := sqlquery.Tool(stubConnectors{
		"db":      connector("db", engram.ConnectorSQLite, map[string]any{"path": path, "max_rows": 10, "timeout_ms": 200}),
		"missing": connector("missing", engram.ConnectorSQLite, map[string]any{"path": filepath.Join(t.TempDir(), "none.db")}),
	})
	res := query(t, tl, call("db", args(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n`)))
	if len(res.Rows) != 10 || !res.Truncated || res.Rows[9][0] != float64(10) {
		t.Errorf("row limit: %+v", res)
	}
	refused(t, tl, call("db", args(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n`)), "time limit of 200 ms")
	refused(t, tl, call("missing", args(`SELECT 1`)), "cannot open")
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "none.db")); !os.IsNotExist(err) {
		t.Errorf("a missing database file was created: %v", err)
	}
}

func TestConnectorAndArguments(t *testing.T) {
	path := sqliteFile(t)
	peruser := connector("mine", engram.ConnectorSQLite, map[string]any{"path": path})
	peruser.Connector.PerUser = true
	tl := sqlquery.Tool(stubConnectors{
		"db":     connector("db", engram.ConnectorSQLite, map[string]any{"path": path}),
		"bucket": connector("bucket", engram.ConnectorS3, map[string]any{"bucket": "b"}),
		"mine":   peruser,
	})
	refused(t, tl, call("", args(`SELECT 1`)), "names no connector")
	refused(t, tl, call("nope", args(`SELECT 1`)), "does not exist")
	refused(t, tl, call("bucket", args(`SELECT 1`)), `of kind "s3"`)
	refused(t, tl, call("db", `{"query":""}`), "query is required")
	refused(t, tl, call("db", `{"query":"SELECT 1","limit":5}`), "unknown field")
	refused(t, tl, call("db", `{"query":"SELECT ?","params":[{"a":1}]}`), "params[0]")
	if _, err := tl.Call(context.Background(), call("mine", args(`SELECT 1`))); engram.ErrorCode(err) != engram.EForbidden {
		t.Errorf("per-user connector without the user's credential: %v, want forbidden", err)
	}
	res := query(t, tl, call("db", args(`SELECT ?, ?, ?, ?`, "x", 2.5, true, nil)))
	if got, _ := json.Marshal(res.Rows); string(got) != `[["x",2.5,1,null]]` {
		t.Errorf("params: %s", got)
	}
}

// FuzzSQLiteReadOnly: whatever the statement, the file is unchanged and
// the answer is a result or an error the model reads.
func FuzzSQLiteReadOnly(f *testing.F) {
	for _, q := range []string{
		`SELECT * FROM hives`,
		`DELETE FROM hives`,
		`PRAGMA query_only = 0; DELETE FROM hives`,
		`ATTACH 'x.db' AS x; CREATE TABLE x.t (a)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 50) SELECT * FROM n`,
		`REPLACE INTO hives (id, name) VALUES (1, 'z')`,
		`INSERT INTO hives SELECT id + 10, name, weight, photo FROM hives RETURNING id`,
		`CREATE TRIGGER t AFTER UPDATE ON hives BEGIN DELETE FROM hives; END`,
		`ALTER TABLE hives RENAME TO h`,
		`REINDEX`, `ANALYZE`, `VACUUM`, `SAVEPOINT a`, `PRAGMA writable_schema = 1`,
	} {
		f.Add(q)
	}
	path := sqliteFile(f)
	before := sqliteState(f, path)
	tl := sqlquery.Tool(stubConnectors{"db": connector("db", engram.ConnectorSQLite, map[string]any{"path": path, "timeout_ms": 200})})
	f.Fuzz(func(t *testing.T, q string) {
		_, err := tl.Call(context.Background(), call("db", args(q)))
		if err != nil && engram.ErrorCode(err) != engram.EInvalid {
			t.Fatalf("Call(%q): %v", q, err)
		}
		if after := sqliteState(t, path); after != before {
			t.Fatalf("%q changed the database: %s, was %s", q, after, before)
		}
	})
}
