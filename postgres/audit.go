package postgres

import (
	"context"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// AppendAudit implements engram.AuditStore. Replicas append to one
// project's chain one at a time: each takes a transaction-scoped advisory
// lock on the project's chain before reading its last entry, and holds it
// until the entry after is committed. Under READ COMMITTED the read after
// the lock sees the entry the previous holder committed.
func (db *DB) AppendAudit(ctx context.Context, e *engram.AuditEntry) error {
	if e.ProjectID == "" {
		return engram.Errorf(engram.EInvalid, "an audit entry needs a project")
	}
	orig := *e // a transaction that is tried again links from the original
	return db.tx(ctx, func(tx pgx.Tx) error {
		entry := orig
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('engram audit ' || $1, 0))`, pgText(entry.ProjectID)); err != nil {
			return err
		}
		var last engram.AuditEntry
		err := tx.QueryRow(ctx, `SELECT seq, time, hash FROM audit_log WHERE project_id = $1 ORDER BY seq DESC LIMIT 1`,
			pgText(entry.ProjectID)).Scan(&last.Seq, &last.Time, &last.Hash)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			engram.LinkAudit(&entry, nil)
		case err != nil:
			return err
		default:
			engram.LinkAudit(&entry, &last)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_log (project_id, seq, time, actor, action, resource, outcome, details, details_digest, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			entry.ProjectID, entry.Seq, entry.Time, entry.Actor, entry.Action, entry.Resource, entry.Outcome,
			string(entry.Details), entry.DetailsDigest, entry.PrevHash, entry.Hash); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23503" { // foreign key: the project
				return notFound("project", entry.ProjectID)
			}
			return err
		}
		*e = entry
		return nil
	})
}

// ListAudit implements engram.AuditStore, as the sqlite store does: each
// filter column has an index on (project_id, column, seq); cursors are
// seqs, exclusive, in the page's order.
func (db *DB) ListAudit(ctx context.Context, projectID string, f engram.AuditFilter) ([]*engram.AuditEntry, bool, error) {
	p := params{pgText(projectID)}
	q := `SELECT seq, time, actor, action, resource, outcome, details, details_digest, prev_hash, hash FROM audit_log WHERE project_id = $1`
	for _, c := range []struct{ column, value string }{{"actor", f.Actor}, {"action", f.Action}, {"resource", f.Resource}, {"outcome", f.Outcome}} {
		if c.value != "" {
			q += " AND " + c.column + " = " + p.add(pgText(c.value))
		}
	}
	if f.From != 0 {
		q += " AND time >= " + p.add(f.From)
	}
	if f.To != 0 {
		q += " AND time < " + p.add(f.To)
	}
	later, earlier := ">", "<" // in the page's order
	if f.Desc() {
		later, earlier = earlier, later
	}
	if f.AfterSeq > 0 {
		q += " AND seq " + later + " " + p.add(f.AfterSeq)
	}
	if f.BeforeSeq > 0 {
		q += " AND seq " + earlier + " " + p.add(f.BeforeSeq)
	}
	dir := " ASC"
	if f.Desc() != f.Backwards() {
		dir = " DESC"
	}
	q += " ORDER BY seq" + dir + " LIMIT " + p.add(f.Size()+1)
	rows, err := db.pool.Query(ctx, q, p...)
	if err != nil {
		return nil, false, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*engram.AuditEntry, error) {
		e := &engram.AuditEntry{ProjectID: projectID}
		var details string
		err := row.Scan(&e.Seq, &e.Time, &e.Actor, &e.Action, &e.Resource, &e.Outcome, &details, &e.DetailsDigest, &e.PrevHash, &e.Hash)
		if details != "" {
			e.Details = []byte(details)
		}
		return e, err
	})
	if err != nil {
		return nil, false, mapErr(err)
	}
	out, more := engram.FinishAuditPage(out, f)
	return out, more, nil
}
