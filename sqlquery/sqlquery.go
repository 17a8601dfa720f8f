// Package sqlquery is the sql_query built-in tool: read-only SQL against a
// project's PostgreSQL or SQLite connector, with row and time limits.
//
// Read-only is enforced by the database, never by looking at the SQL:
// PostgreSQL runs each query alone (extended protocol: one statement) in a
// READ ONLY transaction that is always rolled back; SQLite opens the file
// read-only and installs an authorizer that refuses every action but
// reading.
package sqlquery

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tool"
)

// Name is the tool's name.
const Name = "sql_query"

// Limits. A connector may lower or raise max_rows and timeout_ms within
// these bounds.
const (
	DefaultMaxRows = 100
	MaxRows        = 1000
	DefaultTimeout = 5 * time.Second
	MaxTimeout     = 60 * time.Second
	// MaxResultBytes bounds the JSON rows put in front of the model: more
	// is truncated like a row limit, whatever the row count.
	MaxResultBytes = 256 << 10
)

// SQLQuery is the sql_query tool. One value serves every agent: each call
// uses the connector its agent's tool spec names, with the credential of
// the user the run acts for.
type SQLQuery struct {
	Connectors engram.Connectors
}

// Tool returns the sql_query tool over conns.
func Tool(conns engram.Connectors) engram.Tool { return &SQLQuery{Connectors: conns} }

// ConnectorKinds implements tool.ConnectorTool.
func (*SQLQuery) ConnectorKinds() []string {
	return []string{engram.ConnectorPostgres, engram.ConnectorSQLite}
}

// Spec implements engram.Tool.
func (*SQLQuery) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type: engram.ToolBuiltin,
		Name: Name,
		// A call a crash left unfinished may simply be made again:
		// it only reads.
		Idempotent: true,
		Description: "Runs one read-only SQL query (a SELECT, WITH … SELECT, EXPLAIN …) against the database this tool is connected to " +
			"and returns {columns, rows, truncated}. Pass values as params ($1, $2 … on PostgreSQL; ? on SQLite) rather than in the text. " +
			"Writes are refused by the database. Only the first rows are returned (truncated says so): ask for fewer or aggregated rows.",
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"query":{"type":"string","description":"one SQL statement"},` +
			`"params":{"type":"array","description":"values for the statement's placeholders: strings, numbers, booleans or null","items":{}}},` +
			`"required":["query"],"additionalProperties":false}`),
	}
}

// config is a postgres or sqlite connector's settings (see docs/tools.md).
type config struct {
	URL       string `json:"url"`
	Path      string `json:"path"`
	MaxRows   int    `json:"max_rows"`
	TimeoutMS int    `json:"timeout_ms"`
}

func (c config) maxRows() int {
	if c.MaxRows <= 0 {
		return DefaultMaxRows
	}
	return min(c.MaxRows, MaxRows)
}

func (c config) timeout() time.Duration {
	if c.TimeoutMS <= 0 {
		return DefaultTimeout
	}
	return min(time.Duration(c.TimeoutMS)*time.Millisecond, MaxTimeout)
}

// Result is what the model reads.
type Result struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"`
	Note      string   `json:"note,omitempty"`
}

// Call implements engram.Tool.
func (q *SQLQuery) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	var args struct {
		Query  string `json:"query"`
		Params []any  `json:"params"`
	}
	dec := json.NewDecoder(bytes.NewReader(call.Arguments))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&args); err != nil || args.Query == "" {
		msg := "query is required"
		if err != nil {
			msg = err.Error()
		}
		return "", engram.Errorf(engram.EInvalid, `%s: arguments must be a JSON object like {"query":"SELECT name FROM hives WHERE id = $1","params":[2]}: %s`, Name, msg)
	}
	params, err := queryParams(args.Params)
	if err != nil {
		return "", err
	}
	rc, err := tool.ResolveConnector(ctx, q.Connectors, Name, call, q.ConnectorKinds()...)
	if err != nil {
		return "", err
	}
	var cfg config
	if err := json.Unmarshal(rc.Connector.Config, &cfg); err != nil {
		return "", engram.Errorf(engram.EInvalid, "%s: connector %q has an unreadable config: %v", Name, rc.Connector.Name, err)
	}
	var res *Result
	if rc.Connector.Kind == engram.ConnectorPostgres {
		res, err = queryPostgres(ctx, rc, cfg, args.Query, params)
	} else {
		res, err = querySQLite(ctx, rc, cfg, args.Query, params)
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", ctx.Err() // the run was cancelled: not the query's fault
		}
		return "", err
	}
	if res.Truncated {
		res.Note = fmt.Sprintf("only the first %d rows are shown; narrow the query or aggregate to see the rest", len(res.Rows))
	}
	out, err := json.Marshal(res)
	if err != nil {
		return "", engram.Errorf(engram.EInternal, "%s: encoding the result: %v", Name, err)
	}
	return string(out), nil
}

// queryParams turns the model's JSON params into driver arguments:
// integral numbers become int64 (so they compare with integer columns),
// others float64.
func queryParams(in []any) ([]any, error) {
	out := make([]any, len(in))
	for i, v := range in {
		switch v := v.(type) {
		case nil, string, bool:
			out[i] = v
		case json.Number:
			if n, err := v.Int64(); err == nil {
				out[i] = n
			} else if f, err := v.Float64(); err == nil {
				out[i] = f
			} else {
				return nil, engram.Errorf(engram.EInvalid, "%s: params[%d] = %s is not a number the database can take", Name, i, v)
			}
		default:
			return nil, engram.Errorf(engram.EInvalid, "%s: params[%d] must be a string, number, boolean or null (pass JSON as a string)", Name, i)
		}
	}
	return out, nil
}

// rowCollector bounds the rows and the bytes a query puts in the result.
type rowCollector struct {
	res     Result
	maxRows int
	bytes   int
}

// add appends a row unless a limit is reached; false means stop reading.
func (c *rowCollector) add(vals []any) bool {
	if len(c.res.Rows) >= c.maxRows {
		c.res.Truncated = true
		return false
	}
	row := make([]any, len(vals))
	size := 0
	for i, v := range vals {
		row[i] = jsonValue(v)
		b, _ := json.Marshal(row[i])
		size += len(b) + 1
	}
	if c.bytes+size > MaxResultBytes {
		c.res.Truncated = true
		return false
	}
	c.bytes += size
	c.res.Rows = append(c.res.Rows, row)
	return true
}

// jsonValue shows a database value as JSON the model reads well: text as
// text, binary as base64, times as RFC 3339, UUIDs in their usual form.
func jsonValue(v any) any {
	switch v := v.(type) {
	case nil, bool, string, int64, int32, int16, int8, int, uint32, uint64:
		return v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v)
		}
		return v
	case float32:
		return jsonValue(float64(v))
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
		return "base64:" + base64.StdEncoding.EncodeToString(v)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonValue(x)
		}
		return out
	case map[string]any:
		return v
	}
	// A type that knows its JSON (pgtype.Numeric) says it; one that only
	// knows its database value (pgtype.Interval: "1 day") shows that.
	if m, ok := v.(json.Marshaler); ok {
		if b, err := m.MarshalJSON(); err == nil && json.Valid(b) {
			return json.RawMessage(b)
		}
	}
	if dv, ok := v.(driver.Valuer); ok {
		if x, err := dv.Value(); err == nil {
			if _, same := x.(driver.Valuer); !same {
				return jsonValue(x)
			}
		}
	}
	if b, err := json.Marshal(v); err == nil {
		return json.RawMessage(b)
	}
	return fmt.Sprint(v)
}

// limitError is the message a query that ran out of time gets.
func limitError(d time.Duration) error {
	return engram.Errorf(engram.EInvalid, "%s: the query ran past its time limit of %d ms and was cancelled; make it cheaper (filter, limit, use an index)", Name, d.Milliseconds())
}
