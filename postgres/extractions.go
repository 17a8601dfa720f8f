package postgres

import (
	"context"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

const extractionColumns = `conversation_id, project_id, agent_id, end_user, status, through_seq, last_seq, pending_turns, due_at,
	records, passes, failures, last_error, lease_owner, lease_until, updated_at`

func scanExtraction(s pgx.Row) (*engram.Extraction, error) {
	e := &engram.Extraction{}
	err := s.Scan(&e.ConversationID, &e.ProjectID, &e.AgentID, &e.User, &e.Status, &e.ThroughSeq, &e.LastSeq, &e.PendingTurns, &e.DueAt,
		&e.Records, &e.Passes, &e.Failures, &e.LastError, &e.Lease.Owner, &e.Lease.Until, &e.UpdatedAt)
	return e, err
}

// waitsForTurns is the due_at of an extraction whose policy waits for
// more turns: never due until one comes.
const waitsForTurns = 1 << 62

// NoteTurn implements engram.Store in one statement: the upsert reads the
// row's pending count under its lock, so turns noted at once on several
// replicas are all counted.
func (db *DB) NoteTurn(ctx context.Context, e *engram.Extraction, policy engram.ExtractionPolicy, now int64) error {
	// The policy's due time depends on the count after this turn, which
	// only the row knows: both candidates are passed, and the statement
	// picks by the count it finds.
	dueWhenFull, dueOtherwise := policy.DueAt(policy.EveryTurns, now), policy.DueAt(0, now)
	if dueOtherwise == 0 {
		dueOtherwise = waitsForTurns
	}
	if policy.EveryTurns <= 0 {
		dueWhenFull = dueOtherwise
	}
	return db.pipe(ctx, func(t *pipeTx) error {
		// A running pass keeps its status: its finish sees the log moved
		// on and leaves the extraction pending. One round trip: BEGIN, the
		// upsert and COMMIT go together.
		t.queue(`INSERT INTO extractions AS x (conversation_id, project_id, agent_id, end_user, status, last_seq, pending_turns, due_at, updated_at)
			VALUES ($1, $2, $3, $4, 'pending', $5, 1, CASE WHEN $6::int > 0 AND 1 >= $6::int THEN $7::bigint ELSE $8::bigint END, $9)
			ON CONFLICT (conversation_id) DO UPDATE SET last_seq = greatest(x.last_seq, excluded.last_seq), pending_turns = x.pending_turns + 1,
				due_at = CASE WHEN $6::int > 0 AND x.pending_turns + 1 >= $6::int THEN $7::bigint ELSE $8::bigint END, updated_at = excluded.updated_at,
				status = CASE x.status WHEN 'running' THEN 'running' ELSE 'pending' END, failures = CASE x.status WHEN 'failed' THEN x.failures ELSE 0 END`,
			e.ConversationID, e.ProjectID, e.AgentID, e.User, e.LastSeq, policy.EveryTurns, dueWhenFull, dueOtherwise, now)
		return nil
	})
}

// ClaimExtraction implements engram.Store. Replicas looking for work at
// once skip the rows another is claiming (SKIP LOCKED) rather than wait
// for them, so each claims a different one.
func (db *DB) ClaimExtraction(ctx context.Context, lease engram.Lease, now int64) (*engram.Extraction, error) {
	var claimed *engram.Extraction
	err := db.tx(ctx, func(tx pgx.Tx) error {
		e, err := scanExtraction(tx.QueryRow(ctx, `SELECT `+extractionColumns+` FROM extractions
			WHERE status IN ('pending', 'failed', 'running') AND due_at <= $1 AND lease_until < $2 ORDER BY due_at LIMIT 1
			FOR UPDATE SKIP LOCKED`, now/1000, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return engram.Errorf(engram.ENotFound, "no extraction is due")
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE extractions SET status = 'running', lease_owner = $1, lease_until = $2 WHERE conversation_id = $3`,
			lease.Owner, lease.Until, e.ConversationID); err != nil {
			return err
		}
		e.Status, e.Lease = engram.ExtractionRunning, lease
		claimed = e
		return nil
	})
	return claimed, err
}

// FinishExtraction implements engram.Store: the row is locked while its
// lease is checked, so a pass whose lease another replica took stores
// nothing.
func (db *DB) FinishExtraction(ctx context.Context, e *engram.Extraction, usage []*engram.UsageRecord) error {
	return db.pipe(ctx, func(t *pipeTx) error {
		var owner string
		var lastSeq int64
		err := t.QueryRow(ctx, `SELECT lease_owner, last_seq FROM extractions WHERE conversation_id = $1 AND project_id = $2 FOR UPDATE`,
			e.ConversationID, e.ProjectID).Scan(&owner, &lastSeq)
		if errors.Is(err, pgx.ErrNoRows) {
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
		t.queue(`UPDATE extractions SET status = $1, through_seq = $2, records = $3, passes = $4, failures = $5, last_error = $6,
				due_at = CASE WHEN $7 THEN $8 ELSE due_at END, pending_turns = `+pendingTurns+`, lease_owner = '', lease_until = 0, updated_at = $9
			WHERE conversation_id = $10`,
			e.Status, e.ThroughSeq, e.Records, e.Passes, e.Failures, pgText(e.LastError),
			e.Status == engram.ExtractionFailed, e.DueAt, e.UpdatedAt, e.ConversationID)
		queueUsage(t, e.ProjectID, "", e.ConversationID, usage)
		return nil
	})
}

// GetExtraction implements engram.Store.
func (db *DB) GetExtraction(ctx context.Context, projectID, conversationID string) (*engram.Extraction, error) {
	e, err := scanExtraction(db.pool.QueryRow(ctx, `SELECT `+extractionColumns+` FROM extractions WHERE project_id = $1 AND conversation_id = $2`,
		projectID, conversationID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("extraction", conversationID)
	}
	return e, mapErr(err)
}
