package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/engram-run/engram"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// AppendAudit implements engram.AuditStore. SQLite's one writer is the
// chain's lock: the last entry is read and the next inserted in one write
// transaction, which no other writer (of this process or another) can
// interleave.
func (db *DB) AppendAudit(ctx context.Context, e *engram.AuditEntry) error {
	if e.ProjectID == "" {
		return engram.Errorf(engram.EInvalid, "an audit entry needs a project")
	}
	orig := *e // a batch that fails is run again: link from the original each time
	return db.tx(ctx, func(tx *txConn) error {
		entry := orig
		var last engram.AuditEntry
		err := tx.QueryRowContext(ctx, `SELECT seq, time, hash FROM audit_log WHERE project_id = ? ORDER BY seq DESC LIMIT 1`,
			entry.ProjectID).Scan(&last.Seq, &last.Time, &last.Hash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			engram.LinkAudit(&entry, nil)
		case err != nil:
			return err
		default:
			engram.LinkAudit(&entry, &last)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (project_id, seq, time, actor, action, resource, outcome, details, details_digest, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			entry.ProjectID, entry.Seq, entry.Time, entry.Actor, entry.Action, entry.Resource, entry.Outcome,
			string(entry.Details), entry.DetailsDigest, entry.PrevHash, entry.Hash); err != nil {
			var se *sqlite.Error
			if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
				return notFound("project", entry.ProjectID)
			}
			return err
		}
		*e = entry
		return nil
	})
}

// ListAudit implements engram.AuditStore. Each filter column has an index
// on (project_id, column, seq), so a filtered page reads about what it
// returns; cursors are seqs, exclusive, in the page's order.
func (db *DB) ListAudit(ctx context.Context, projectID string, f engram.AuditFilter) ([]*engram.AuditEntry, bool, error) {
	q := `SELECT seq, time, actor, action, resource, outcome, details, details_digest, prev_hash, hash FROM audit_log WHERE project_id = ?`
	args := []any{projectID}
	for _, c := range []struct{ column, value string }{{"actor", f.Actor}, {"action", f.Action}, {"resource", f.Resource}, {"outcome", f.Outcome}} {
		if c.value != "" {
			q += " AND " + c.column + " = ?"
			args = append(args, c.value)
		}
	}
	if f.From != 0 {
		q, args = q+" AND time >= ?", append(args, f.From)
	}
	if f.To != 0 {
		q, args = q+" AND time < ?", append(args, f.To)
	}
	later, earlier := ">", "<" // in the page's order
	if f.Desc() {
		later, earlier = earlier, later
	}
	if f.AfterSeq > 0 {
		q, args = q+" AND seq "+later+" ?", append(args, f.AfterSeq)
	}
	if f.BeforeSeq > 0 {
		q, args = q+" AND seq "+earlier+" ?", append(args, f.BeforeSeq)
	}
	dir := " ASC"
	if f.Desc() != f.Backwards() {
		dir = " DESC"
	}
	q, args = q+" ORDER BY seq"+dir+" LIMIT ?", append(args, f.Size()+1)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*engram.AuditEntry
	for rows.Next() {
		e := &engram.AuditEntry{ProjectID: projectID}
		var details string
		if err := rows.Scan(&e.Seq, &e.Time, &e.Actor, &e.Action, &e.Resource, &e.Outcome, &details, &e.DetailsDigest, &e.PrevHash, &e.Hash); err != nil {
			return nil, false, err
		}
		if details != "" {
			e.Details = []byte(details)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	out, more := engram.FinishAuditPage(out, f)
	return out, more, nil
}
