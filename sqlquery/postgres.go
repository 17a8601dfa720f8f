package sqlquery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/engram-run/engram"
)

// connectTimeout bounds reaching the database, apart from the query's own
// time limit.
const connectTimeout = 10 * time.Second

// queryPostgres runs one statement in a READ ONLY transaction on a
// connection of its own, and always rolls it back. Each layer closes a
// hole the others leave:
//   - the extended protocol takes exactly one statement, so "SELECT 1;
//     COMMIT; INSERT …" cannot end the read-only transaction (with the
//     simple protocol it can);
//   - a SELECT 1 before the user's statement takes the transaction's
//     snapshot, after which SET TRANSACTION READ WRITE is refused;
//   - statement_timeout (SET LOCAL) and the context deadline bound time.
//
// A read-only transaction does not stop a superuser's COPY … TO a server
// file: the connector's role must be a SELECT-only one (docs/tools.md).
func queryPostgres(ctx context.Context, rc *engram.ResolvedConnector, cfg config, query string, params []any) (*Result, error) {
	if cfg.URL == "" {
		return nil, engram.Errorf(engram.EInvalid, "%s: connector %q has no url", Name, rc.Connector.Name)
	}
	pc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error may quote the URL: say only that it is wrong.
		return nil, engram.Errorf(engram.EInvalid, "%s: connector %q's url is not a PostgreSQL connection URL", Name, rc.Connector.Name)
	}
	if u := rc.Secret.Fields["user"]; u != "" {
		pc.User = u
	}
	if p := rc.Secret.Fields["password"]; p != "" {
		pc.Password = p
	}
	timeout := cfg.timeout()
	// Whatever the URL asks for (default_query_exec_mode=simple_protocol),
	// user SQL goes through the extended protocol.
	pc.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	pc.StatementCacheCapacity = 0
	pc.DescriptionCacheCapacity = 0
	pc.ConnectTimeout = connectTimeout
	// Settings go in the transaction (SET LOCAL), not the startup
	// packet: connection poolers such as PgBouncer refuse most startup
	// parameters.
	pc.RuntimeParams["application_name"] = "engram sql_query"

	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, engram.Errorf(engram.EInvalid, "%s: cannot connect to the database of connector %q: %v", Name, rc.Connector.Name, err)
	}
	defer conn.Close(context.Background())

	// The server's statement_timeout should fire first (a clean error and
	// a usable connection); the deadline is the backstop if it does not.
	qctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	tx, err := conn.BeginTx(qctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, pgError(err, timeout)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(qctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", timeout.Milliseconds())); err != nil {
		return nil, pgError(err, timeout)
	}
	if _, err := tx.Exec(qctx, "SELECT 1"); err != nil {
		return nil, pgError(err, timeout)
	}

	rows, err := tx.Query(qctx, query, textParams(params)...)
	if err != nil {
		return nil, pgError(err, timeout)
	}
	c := rowCollector{maxRows: cfg.maxRows()}
	for _, f := range rows.FieldDescriptions() {
		c.res.Columns = append(c.res.Columns, f.Name)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			rows.Close()
			return nil, pgError(err, timeout)
		}
		if !c.add(vals) {
			break
		}
	}
	if c.res.Truncated {
		// Closing the rows would read the rest of them: cancel the
		// statement instead (the connection is thrown away anyway).
		cancel()
		rows.Close()
	} else {
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, pgError(err, timeout)
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

// pgError shows the database's refusal to the model, which can correct
// its query; a time limit says so.
func pgError(err error, timeout time.Duration) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57014": // query_canceled: statement_timeout
			return limitError(timeout)
		case "25006": // read_only_sql_transaction
			return engram.Errorf(engram.EInvalid, "%s: refused by the database: %s (SQLSTATE %s): this tool only reads", Name, pe.Message, pe.Code)
		}
		msg := fmt.Sprintf("%s: the database refused the query: %s (SQLSTATE %s)", Name, pe.Message, pe.Code)
		if pe.Hint != "" {
			msg += "; hint: " + pe.Hint
		}
		return engram.Errorf(engram.EInvalid, "%s", msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return limitError(timeout)
	}
	return engram.Errorf(engram.EInvalid, "%s: the query failed: %v", Name, err)
}

// textParams sends numbers and booleans as PostgreSQL's text for them: the
// server parses each as the type its placeholder needs (an untyped $1 is
// text, and pgx cannot encode an int64 as text), as psql would.
func textParams(params []any) []any {
	out := make([]any, len(params))
	for i, p := range params {
		switch p := p.(type) {
		case int64:
			out[i] = strconv.FormatInt(p, 10)
		case float64:
			out[i] = strconv.FormatFloat(p, 'g', -1, 64)
		case bool:
			out[i] = strconv.FormatBool(p)
		default:
			out[i] = p
		}
	}
	return out
}
