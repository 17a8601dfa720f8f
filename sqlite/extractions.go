package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/engram-run/engram"
)

const extractionColumns = `conversation_id, project_id, agent_id, end_user, status, through_seq, last_seq, pending_turns, due_at,
	records, passes, failures, last_error, lease_owner, lease_until, updated_at`

func scanExtraction(s interface{ Scan(...any) error }) (*engram.Extraction, error) {
	e := &engram.Extraction{}
	err := s.Scan(&e.ConversationID, &e.ProjectID, &e.AgentID, &e.User, &e.Status, &e.ThroughSeq, &e.LastSeq, &e.PendingTurns, &e.DueAt,
		&e.Records, &e.Passes, &e.Failures, &e.LastError, &e.Lease.Owner, &e.Lease.Until, &e.UpdatedAt)
	return e, err
}

// NoteTurn implements engram.Store.
func (db *DB) NoteTurn(ctx context.Context, e *engram.Extraction, policy engram.ExtractionPolicy, now int64) error {
	return db.tx(ctx, func(tx *txConn) error {
		pending := 0
		err := tx.QueryRowContext(ctx, `SELECT pending_turns FROM extractions WHERE conversation_id = ? AND project_id = ?`, e.ConversationID, e.ProjectID).Scan(&pending)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		due := policy.DueAt(pending+1, now)
		if due == 0 {
			due = 1 << 62 // waits for more turns
		}
		// A running pass keeps its status: its finish sees the log moved
		// on and leaves the extraction pending.
		_, err = tx.ExecContext(ctx, `INSERT INTO extractions (conversation_id, project_id, agent_id, end_user, status, last_seq, pending_turns, due_at, updated_at)
			VALUES (?, ?, ?, ?, 'pending', ?, 1, ?, ?)
			ON CONFLICT (conversation_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq), pending_turns = pending_turns + 1,
				due_at = excluded.due_at, updated_at = excluded.updated_at,
				status = CASE status WHEN 'running' THEN 'running' ELSE 'pending' END, failures = CASE status WHEN 'failed' THEN failures ELSE 0 END`,
			e.ConversationID, e.ProjectID, e.AgentID, e.User, e.LastSeq, due, now)
		return err
	})
}

// ClaimExtraction implements engram.Store.
func (db *DB) ClaimExtraction(ctx context.Context, lease engram.Lease, now int64) (*engram.Extraction, error) {
	var claimed *engram.Extraction
	err := db.tx(ctx, func(tx *txConn) error {
		e, err := scanExtraction(tx.QueryRowContext(ctx, `SELECT `+extractionColumns+` FROM extractions
			WHERE status IN ('pending', 'failed', 'running') AND due_at <= ? AND lease_until < ? ORDER BY due_at LIMIT 1`, now/1000, now))
		if errors.Is(err, sql.ErrNoRows) {
			return engram.Errorf(engram.ENotFound, "no extraction is due")
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE extractions SET status = 'running', lease_owner = ?, lease_until = ? WHERE conversation_id = ?`,
			lease.Owner, lease.Until, e.ConversationID); err != nil {
			return err
		}
		e.Status, e.Lease = engram.ExtractionRunning, lease
		claimed = e
		return nil
	})
	return claimed, err
}

// FinishExtraction implements engram.Store.
func (db *DB) FinishExtraction(ctx context.Context, e *engram.Extraction, usage []*engram.UsageRecord) error {
	return db.tx(ctx, func(tx *txConn) error {
		var owner string
		var lastSeq int64
		err := tx.QueryRowContext(ctx, `SELECT lease_owner, last_seq FROM extractions WHERE conversation_id = ? AND project_id = ?`, e.ConversationID, e.ProjectID).Scan(&owner, &lastSeq)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("extraction", e.ConversationID)
		} else if err != nil {
			return err
		}
		if owner != e.Lease.Owner {
			return engram.Errorf(engram.EConflict, "the extraction of %s passed to another worker", e.ConversationID)
		}
		if e.Status == engram.ExtractionIdle && lastSeq > e.ThroughSeq {
			e.Status = engram.ExtractionPending // turns came while it ran: due as they set it
		}
		pendingTurns := "0"
		if e.Status != engram.ExtractionIdle {
			pendingTurns = "pending_turns"
		}
		e.UpdatedAt = engram.Now()
		_, err = tx.ExecContext(ctx, `UPDATE extractions SET status = ?, through_seq = ?, records = ?, passes = ?, failures = ?, last_error = ?,
				due_at = CASE WHEN ? THEN ? ELSE due_at END, pending_turns = `+pendingTurns+`, lease_owner = '', lease_until = 0, updated_at = ?
			WHERE conversation_id = ?`,
			e.Status, e.ThroughSeq, e.Records, e.Passes, e.Failures, e.LastError,
			e.Status == engram.ExtractionFailed, e.DueAt, e.UpdatedAt, e.ConversationID)
		if err != nil {
			return err
		}
		return putUsage(ctx, tx, e.ProjectID, "", e.ConversationID, usage)
	})
}

// GetExtraction implements engram.Store.
func (db *DB) GetExtraction(ctx context.Context, projectID, conversationID string) (*engram.Extraction, error) {
	e, err := scanExtraction(db.r.QueryRowContext(ctx, `SELECT `+extractionColumns+` FROM extractions WHERE project_id = ? AND conversation_id = ?`, projectID, conversationID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("extraction", conversationID)
	}
	return e, err
}
