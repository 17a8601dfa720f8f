// Package storecopy moves an Engram store from SQLite to PostgreSQL
// without losing a row, and proves it: every base table is copied as it
// is (the two schemas share table names, columns and value encodings),
// the PostgreSQL store rebuilds its search structures from the copied
// rows, and each table is then read back on both sides, in key order, and
// compared row by row: counts and a hash of a canonical form of every row.
//
// The sqlite and postgres packages each expose what a copy needs (a
// consistent snapshot to read, typed columns, a COPY loader, Reindex);
// which tables there are, in which order, and what a row's canonical form
// is, are decided here.
package storecopy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/engram-run/engram/postgres"
	"github.com/engram-run/engram/sqlite"
)

// table is a base table: the rows a store is made of.
type table struct {
	name string
	key  []string // its primary key: the order rows are compared in
}

// tables lists the base tables in an order their foreign keys allow.
var tables = []table{
	{"projects", []string{"id"}},
	{"api_keys", []string{"id"}},
	{"agents", []string{"id"}},
	{"agent_versions", []string{"agent_id", "version"}},
	{"conversations", []string{"id"}},
	{"items", []string{"conversation_id", "seq"}},
	{"responses", []string{"id"}},
	{"steps", []string{"response_id", "n"}},
	{"response_events", []string{"response_id", "seq_to"}},
	{"usage", []string{"project_id", "created_at", "id"}},
	{"schedules", []string{"id"}},
	{"memory_records", []string{"pk"}},
	{"memory_blocks", []string{"project_id", "id"}},
	{"memory_block_versions", []string{"project_id", "block_id", "version"}},
	{"extractions", []string{"conversation_id"}},
	{"retention_log", []string{"id"}},
	{"audit_log", []string{"project_id", "seq"}},
	// Credentials are copied sealed, as they are: the target needs the
	// same master key to open them.
	{"connectors", []string{"id"}},
	{"connector_credentials", []string{"project_id", "connector_id", "end_user"}},
	{"policies", []string{"id"}},
	{"budgets", []string{"id"}},
}

// derived are SQLite's search structures (and their FTS5 shadow tables,
// named after them): PostgreSQL has its own, which Reindex builds from the
// base rows. goose_db_version is each database's own migration state.
var derived = []string{"memory_scopes", "memory_record_terms", "memory_records_fts", "items_fts", "goose_db_version"}

// sqliteOnly and postgresOnly are the columns of a base table that only
// one side has: pointers into SQLite's full-text index, and what Reindex
// derives on PostgreSQL. Any other difference stops the copy, so that a
// column added to one schema and not the other is never silently lost.
var (
	sqliteOnly   = []string{"items.search_rowid"}
	postgresOnly = []string{"items.search_text", "memory_records.embedding_vector"}
)

// Options tune a migration.
type Options struct {
	// Progress receives a line per table copied and verified, and a
	// progress line every ProgressEvery while a large table is copied;
	// nil is quiet.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// TableReport is what a table's copy and check found.
type TableReport struct {
	Name   string
	Rows   int64  // on each side, once verified
	Hash   string // of the canonical form of its rows in key order (hex)
	Copied bool
	Took   time.Duration // copying it
}

// Report is the outcome of a migration.
type Report struct {
	// Copied is false when the target already held exactly the source's
	// rows (a migration run again): it was verified and reindexed only.
	Copied bool
	Tables []TableReport
}

// Rows counts the rows of every table.
func (r *Report) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// plan is a table's copy: the columns both sides have, and the target's
// type of each (which fixes the canonical form of its values).
type plan struct {
	table
	columns []string
	types   []string
}

// Migrate copies src into dst and verifies the copy. dst must be empty
// (every base table) or hold exactly src's rows already, in which case it
// is only reindexed and verified: a migration can be run again safely,
// and one that failed part way left nothing (the copy is one transaction)
// and can simply be run again. Stop the server using src first: the copy
// reads one snapshot of it, and rows written after would not be copied.
func Migrate(ctx context.Context, src *sqlite.DB, dst *postgres.DB, opts Options) (*Report, error) {
	if opts.ProgressEvery == 0 {
		opts.ProgressEvery = time.Second
	}
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	plans, err := plans(ctx, snap, dst)
	if err != nil {
		return nil, err
	}
	empty, err := targetEmpty(ctx, dst, plans)
	if err != nil {
		return nil, err
	}
	report := &Report{Copied: empty}
	if empty {
		if report.Tables, err = load(ctx, snap, dst, plans, opts); err != nil {
			return nil, err
		}
	} else {
		opts.printf("The target is not empty: checking that it holds this store already.\n")
		if _, err := verify(ctx, snap, dst, plans, opts); err != nil {
			return nil, fmt.Errorf("the target database is not empty and differs from the source (%w); migrate into a new, empty database", err)
		}
	}
	opts.printf("Rebuilding PostgreSQL's search structures…\n")
	start := time.Now()
	if err := dst.Reindex(ctx); err != nil {
		return nil, fmt.Errorf("reindex: %w", err)
	}
	opts.printf("Rebuilt in %s.\n", time.Since(start).Round(time.Millisecond))
	verified, err := verify(ctx, snap, dst, plans, opts)
	if err != nil {
		return nil, err
	}
	for i := range verified {
		if i < len(report.Tables) {
			verified[i].Copied, verified[i].Took = report.Tables[i].Copied, report.Tables[i].Took
		}
	}
	report.Tables = verified
	return report, nil
}

// Verify checks that dst holds exactly src's rows, table by table.
func Verify(ctx context.Context, src *sqlite.DB, dst *postgres.DB, opts Options) ([]TableReport, error) {
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	plans, err := plans(ctx, snap, dst)
	if err != nil {
		return nil, err
	}
	return verify(ctx, snap, dst, plans, opts)
}

func (o Options) printf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format, args...)
	}
}

// plans checks that the two schemas are the ones this package knows (every
// SQLite table copied or known to be derived, the columns alike but for
// the known exceptions) and returns each table's copy.
func plans(ctx context.Context, snap *sqlite.Snapshot, dst *postgres.DB) ([]plan, error) {
	have, err := snap.Tables(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range have {
		known := slices.ContainsFunc(tables, func(t table) bool { return t.name == name }) ||
			slices.ContainsFunc(derived, func(d string) bool { return name == d || strings.HasPrefix(name, d+"_") })
		if !known {
			return nil, fmt.Errorf("the SQLite store has a table this version does not know how to copy: %s", name)
		}
	}
	var out []plan
	for _, t := range tables {
		srcCols, err := snap.Columns(ctx, t.name)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		dstCols, err := dst.Columns(ctx, t.name)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		p := plan{table: t}
		for _, c := range dstCols {
			if slices.Contains(srcCols, c.Name) {
				p.columns, p.types = append(p.columns, c.Name), append(p.types, c.Type)
			} else if !slices.Contains(postgresOnly, t.name+"."+c.Name) {
				return nil, fmt.Errorf("the target's %s.%s has no counterpart in the source: are both at the same version?", t.name, c.Name)
			}
		}
		for _, c := range srcCols {
			if !slices.Contains(p.columns, c) && !slices.Contains(sqliteOnly, t.name+"."+c) {
				return nil, fmt.Errorf("the source's %s.%s has no counterpart in the target: are both at the same version?", t.name, c)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func targetEmpty(ctx context.Context, dst *postgres.DB, plans []plan) (bool, error) {
	s, err := dst.Snapshot(ctx)
	if err != nil {
		return false, err
	}
	defer s.Close(ctx)
	for _, p := range plans {
		n, err := s.Count(ctx, p.name)
		if err != nil {
			return false, err
		}
		if n > 0 {
			return false, nil
		}
	}
	return true, nil
}

// load copies every table in one transaction of dst.
func load(ctx context.Context, snap *sqlite.Snapshot, dst *postgres.DB, plans []plan, opts Options) ([]TableReport, error) {
	var out []TableReport
	err := dst.Load(ctx, func(l *postgres.Loader) error {
		out = out[:0]
		for _, p := range plans {
			total, err := snap.Count(ctx, p.name)
			if err != nil {
				return err
			}
			rows, err := snap.Rows(ctx, p.name, p.columns, p.key)
			if err != nil {
				return err
			}
			src := &progress{rows: rows, table: p.name, total: total, opts: opts, start: time.Now(), last: time.Now()}
			n, err := l.Copy(ctx, p.name, p.columns, src)
			rows.Close()
			if err != nil {
				return fmt.Errorf("copying %s (row %d): %w", p.name, src.n, err)
			}
			if n != total {
				return fmt.Errorf("copying %s: %d rows written of %d", p.name, n, total)
			}
			took := time.Since(src.start)
			opts.printf("copied   %-22s %10d rows in %8s  (%s)\n", p.name, n, took.Round(time.Millisecond), rate(n, took))
			out = append(out, TableReport{Name: p.name, Rows: n, Copied: true, Took: took})
		}
		opts.printf("Committing…\n")
		return nil
	})
	return out, err
}

// progress passes a table's rows to COPY, reporting how far it got.
type progress struct {
	rows  *sqlite.Rows
	table string
	total int64
	n     int64
	opts  Options
	start time.Time
	last  time.Time
}

func (p *progress) Next() bool {
	if !p.rows.Next() {
		return false
	}
	p.n++
	if p.n%1024 == 0 && p.opts.Progress != nil && time.Since(p.last) >= p.opts.ProgressEvery {
		p.last = time.Now()
		took := time.Since(p.start)
		p.opts.printf("copying  %-22s %10d of %d rows (%d%%), %s\n", p.table, p.n, p.total, 100*p.n/max(p.total, 1), rate(p.n, took))
	}
	return true
}

func (p *progress) Values() ([]any, error) { return p.rows.Values() }
func (p *progress) Err() error             { return p.rows.Err() }

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f rows/s", float64(n)/d.Seconds())
}

// verify reads every table on both sides in key order and compares them
// row by row, in their canonical form.
func verify(ctx context.Context, snap *sqlite.Snapshot, dst *postgres.DB, plans []plan, opts Options) ([]TableReport, error) {
	ds, err := dst.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer ds.Close(ctx)
	var out []TableReport
	var failed []error
	for _, p := range plans {
		start := time.Now()
		r, err := compare(ctx, snap, ds, p)
		if err != nil {
			var d *difference
			if !errors.As(err, &d) {
				return nil, err
			}
			failed = append(failed, err)
			opts.printf("DIFFERS  %-22s %v\n", p.name, err)
			continue
		}
		opts.printf("verified %-22s %10d rows, sha256 %s…  (%s)\n", p.name, r.Rows, r.Hash[:16], time.Since(start).Round(time.Millisecond))
		out = append(out, r)
	}
	if len(failed) > 0 {
		return out, errors.Join(failed...)
	}
	return out, nil
}

// difference is a table whose two sides differ.
type difference struct {
	table              string
	srcRows, dstRows   int64
	srcHash, dstHash   string
	firstKey, firstWhy string
}

func (d *difference) Error() string {
	return fmt.Sprintf("%s differs: %d rows in the source, %d in the target; first at key %s (%s)", d.table, d.srcRows, d.dstRows, d.firstKey, d.firstWhy)
}

func compare(ctx context.Context, snap *sqlite.Snapshot, ds *postgres.Snapshot, p plan) (TableReport, error) {
	srows, err := snap.Rows(ctx, p.name, p.columns, p.key)
	if err != nil {
		return TableReport{}, err
	}
	defer srows.Close()
	drows, err := ds.Rows(ctx, p.name, p.columns, p.key)
	if err != nil {
		return TableReport{}, err
	}
	defer drows.Close()
	keyAt := make([]int, len(p.key))
	for i, k := range p.key {
		keyAt[i] = slices.Index(p.columns, k)
	}
	d := &difference{table: p.name}
	sh, dh := sha256.New(), sha256.New()
	var sbuf, dbuf []byte
	var svals, dvals []any
	sok, dok := srows.Next(), drows.Next()
	for sok || dok {
		sbuf, dbuf = sbuf[:0], dbuf[:0]
		if sok {
			if svals, err = srows.Values(); err != nil {
				return TableReport{}, err
			}
			if sbuf, err = canonical(sbuf, svals, p); err != nil {
				return TableReport{}, fmt.Errorf("source %s: %w", p.name, err)
			}
			writeRow(sh, sbuf)
			d.srcRows++
		}
		if dok {
			if dvals, err = drows.Values(); err != nil {
				return TableReport{}, err
			}
			if dbuf, err = canonical(dbuf, dvals, p); err != nil {
				return TableReport{}, fmt.Errorf("target %s: %w", p.name, err)
			}
			writeRow(dh, dbuf)
			d.dstRows++
		}
		if d.firstKey == "" {
			switch {
			case !dok:
				d.firstKey, d.firstWhy = keyString(svals, keyAt), "only in the source"
			case !sok:
				d.firstKey, d.firstWhy = keyString(dvals, keyAt), "only in the target"
			case string(sbuf) != string(dbuf):
				d.firstKey, d.firstWhy = keyString(svals, keyAt), "rows differ"
				if other := keyString(dvals, keyAt); other != d.firstKey {
					d.firstWhy = "the target has " + other + " there"
				}
			}
		}
		sok, dok = srows.Next(), drows.Next()
	}
	if err := srows.Err(); err != nil {
		return TableReport{}, err
	}
	if err := drows.Err(); err != nil {
		return TableReport{}, err
	}
	d.srcHash, d.dstHash = hex.EncodeToString(sh.Sum(nil)), hex.EncodeToString(dh.Sum(nil))
	if d.firstKey != "" || d.srcRows != d.dstRows || d.srcHash != d.dstHash {
		return TableReport{}, d
	}
	return TableReport{Name: p.name, Rows: d.srcRows, Hash: d.srcHash}, nil
}

func keyString(vals []any, keyAt []int) string {
	parts := make([]string, len(keyAt))
	for i, at := range keyAt {
		switch v := vals[at].(type) {
		case []byte:
			parts[i] = string(v)
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func writeRow(h hash.Hash, row []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(row)))])
	h.Write(row)
}

// canonical appends a row's canonical form to buf: each value tagged by
// the kind its target column holds, so that a value reads the same from
// either side however its driver returned it (SQLite may hold a TEXT
// column's value as a blob; PostgreSQL returns an integer column as
// int32). Integers are 8 bytes big-endian; text and bytes are their
// length, then their bytes; NULL is its tag alone.
func canonical(buf []byte, vals []any, p plan) ([]byte, error) {
	for i, v := range vals {
		if v == nil {
			buf = append(buf, 'N')
			continue
		}
		switch p.types[i] {
		case "bigint", "integer", "smallint":
			var n int64
			switch x := v.(type) {
			case int64:
				n = x
			case int32:
				n = int64(x)
			case int16:
				n = int64(x)
			default:
				return nil, fmt.Errorf("column %s: %T where an integer belongs", p.columns[i], v)
			}
			buf = append(buf, 'I')
			buf = binary.BigEndian.AppendUint64(buf, uint64(n))
		case "text", "bytea":
			var b []byte
			switch x := v.(type) {
			case string:
				b = []byte(x)
			case []byte:
				b = x
			default:
				return nil, fmt.Errorf("column %s: %T where %s belongs", p.columns[i], v, p.types[i])
			}
			tag := byte('T')
			if p.types[i] == "bytea" {
				tag = 'B'
			}
			buf = append(buf, tag)
			buf = binary.AppendUvarint(buf, uint64(len(b)))
			buf = append(buf, b...)
		default:
			return nil, fmt.Errorf("column %s: no canonical form for type %s", p.columns[i], p.types[i])
		}
	}
	return buf, nil
}
