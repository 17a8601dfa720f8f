package sqlite

import (
	"bytes"
	"compress/flate"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/engram-run/engram"
)

// ClaimRun implements engram.Store.
func (db *DB) ClaimRun(ctx context.Context, lease engram.Lease, now int64, responseID string) (*engram.Response, error) {
	var claimed *engram.Response
	err := db.tx(ctx, func(tx *txConn) error {
		claimed = nil
		nowSec := now / 1000
		// A run whose worker stopped renewing its lease (it died, or the
		// node restarted), or that slept until now, or that a person just
		// answered.
		var id, projectID string
		err := tx.QueryRowContext(ctx, `SELECT id, project_id FROM responses WHERE status = 'in_progress' AND lease_until < ? AND wake_at <= ? AND (? = '' OR id = ?) ORDER BY id LIMIT 1`,
			now, nowSec, responseID, responseID).Scan(&id, &projectID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if id != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE responses SET lease_owner = ?, lease_until = ?, wake_at = 0 WHERE id = ?`, lease.Owner, lease.Until, id); err != nil {
				return err
			}
			claimed, err = getResponse(ctx, tx, projectID, id)
			return err
		}
		// The oldest queued run of a conversation that nothing else holds.
		var pending string
		err = tx.QueryRowContext(ctx, `SELECT q.id, q.project_id, q.pending_input FROM responses q WHERE q.status = 'queued' AND (? = '' OR q.id = ?)
			AND NOT EXISTS (SELECT 1 FROM responses a WHERE a.conversation_id = q.conversation_id AND a.id != q.id
				AND a.status IN ('queued', 'in_progress', 'requires_action') AND (a.status != 'queued' OR a.id < q.id))
			ORDER BY q.id LIMIT 1`, responseID, responseID).Scan(&id, &projectID, &pending)
		if errors.Is(err, sql.ErrNoRows) {
			return engram.Errorf(engram.ENotFound, "no run is ready")
		} else if err != nil {
			return err
		}
		r, err := getResponse(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		input, err := engram.DecodeHeldInput(pending)
		if err != nil {
			return err
		}
		last, err := appendLog(ctx, tx, r.ProjectID, r.ConversationID, false, 0, input, r.ID, engram.OriginInput)
		if err != nil {
			return err
		}
		r.Status, r.LastSeq, r.BaseSeq, r.StartedAt, r.Lease = engram.StatusInProgress, last, last-int64(len(input)), nowSec, lease
		body, err := encodeResponse(r)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE responses SET status = 'in_progress', base_seq = ?, last_seq = ?, lease_owner = ?, lease_until = ?, pending_input = '', body = ? WHERE id = ?`,
			r.BaseSeq, r.LastSeq, lease.Owner, lease.Until, body, id); err != nil {
			return err
		}
		claimed = r
		return nil
	})
	return claimed, err
}

// checkLease fails with EConflict unless lease is the run's current one
// (a zero lease: the run is held by nobody) and the run has not ended.
func checkLease(ctx context.Context, tx *txConn, responseID string, lease engram.Lease) error {
	var owner, status string
	err := tx.QueryRowContext(ctx, `SELECT lease_owner, status FROM responses WHERE id = ?`, responseID).Scan(&owner, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("response", responseID)
	} else if err != nil {
		return err
	}
	if engram.IsTerminal(status) {
		return engram.Errorf(engram.EConflict, "response %s has already ended (%s)", responseID, status)
	}
	if owner != lease.Owner {
		return engram.Errorf(engram.EConflict, "response %s is no longer held by %q (held by %q)", responseID, lease.Owner, owner)
	}
	return nil
}

// RenewLease implements engram.Store.
func (db *DB) RenewLease(ctx context.Context, responseID string, lease engram.Lease) (bool, error) {
	var cancel int
	err := db.tx(ctx, func(tx *txConn) error {
		err := tx.QueryRowContext(ctx, `UPDATE responses SET lease_until = ? WHERE id = ? AND lease_owner = ? AND status = 'in_progress' RETURNING cancel_requested`,
			lease.Until, responseID, lease.Owner).Scan(&cancel)
		if errors.Is(err, sql.ErrNoRows) {
			return engram.Errorf(engram.EConflict, "response %s is no longer held by %q", responseID, lease.Owner)
		}
		return err
	})
	return cancel != 0, err
}

// PauseRun implements engram.Store.
func (db *DB) PauseRun(ctx context.Context, r *engram.Response, lease engram.Lease, events []engram.StoredEvent) error {
	return db.tx(ctx, func(tx *txConn) error {
		if err := checkLease(ctx, tx, r.ID, lease); err != nil {
			return err
		}
		r.Lease = engram.Lease{}
		body, err := encodeResponse(r)
		if err != nil {
			return err
		}
		// A cancel that arrived while the run was running stays asked for:
		// the run is claimable at once so a worker ends it.
		if _, err := tx.ExecContext(ctx, `UPDATE responses SET
				status = CASE cancel_requested WHEN 1 THEN 'in_progress' ELSE ? END,
				wake_at = CASE cancel_requested WHEN 1 THEN 0 ELSE ? END,
				lease_owner = '', lease_until = 0, body = ? WHERE id = ?`,
			r.Status, r.WakeAt, body, r.ID); err != nil {
			return err
		}
		return putEvents(ctx, tx, r.ID, events)
	})
}

// ReleaseLeases implements engram.Store.
func (db *DB) ReleaseLeases(ctx context.Context, node string) error {
	// substr, not LIKE: a node id may hold % or _.
	prefix := node + "/"
	return db.tx(ctx, func(tx *txConn) error {
		_, err := tx.ExecContext(ctx, `UPDATE responses SET lease_until = 0
			WHERE status = 'in_progress' AND (lease_owner = ? OR substr(lease_owner, 1, ?) = ?)`, node, len(prefix), prefix)
		return err
	})
}

// RequestCancel implements engram.Store.
func (db *DB) RequestCancel(ctx context.Context, projectID, responseID string) (*engram.Response, error) {
	var r *engram.Response
	err := db.tx(ctx, func(tx *txConn) error {
		var err error
		if r, err = getResponse(ctx, tx, projectID, responseID); err != nil {
			return err
		}
		switch r.Status {
		case engram.StatusQueued:
			r.Status, r.CompletedAt = engram.StatusCancelled, engram.Now()
			body, err := encodeResponse(r)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE responses SET status = 'cancelled', pending_input = '', body = ? WHERE id = ?`, body, r.ID)
			return err
		case engram.StatusInProgress, engram.StatusRequiresAction:
			r.CancelRequested = true
			// A paused run (waiting for a person or a time) has no worker
			// to notice: make it claimable now, and the worker that takes
			// it ends it.
			_, err := tx.ExecContext(ctx, `UPDATE responses SET cancel_requested = 1, status = 'in_progress',
				lease_until = CASE WHEN status = 'requires_action' OR wake_at > 0 THEN 0 ELSE lease_until END,
				lease_owner = CASE status WHEN 'requires_action' THEN '' ELSE lease_owner END,
				wake_at = 0 WHERE id = ?`, r.ID)
			if r.Status == engram.StatusRequiresAction {
				r.Status = engram.StatusInProgress
			}
			return err
		}
		return nil // already ended: cancelling is a no-op, as in OpenAI's API
	})
	return r, err
}

// SaveStep implements engram.Store.
func (db *DB) SaveStep(ctx context.Context, s *engram.Step, lease engram.Lease, events []engram.StoredEvent) error {
	return db.tx(ctx, func(tx *txConn) error {
		if err := checkLease(ctx, tx, s.ResponseID, lease); err != nil {
			return err
		}
		if err := putStep(ctx, tx, s); err != nil {
			return err
		}
		return putEvents(ctx, tx, s.ResponseID, events)
	})
}

func putStep(ctx context.Context, tx *txConn, s *engram.Step) error {
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO steps (response_id, n, project_id, kind, status, body) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (response_id, n) DO UPDATE SET status = excluded.status, body = excluded.body`,
		s.ResponseID, s.N, s.ProjectID, s.Kind, s.Status, body)
	return err
}

func putEvents(ctx context.Context, tx *txConn, responseID string, events []engram.StoredEvent) error {
	if len(events) == 0 {
		return nil
	}
	body, err := json.Marshal(events)
	if err != nil {
		return err
	}
	packed, err := pack(body)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO response_events (response_id, seq_to, body) VALUES (?, ?, ?)`,
		responseID, events[len(events)-1].Seq, packed)
	return err
}

// pack compresses a batch of events. A stream repeats itself (every delta
// event carries the same envelope, the first and last events the whole
// response), so a batch shrinks several times over for little CPU.
func pack(body []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// flateWriters are reused: a flate writer's state is large to allocate.
var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

func unpack(packed []byte) ([]byte, error) {
	return io.ReadAll(flate.NewReader(bytes.NewReader(packed)))
}

// ListSteps implements engram.Store.
func (db *DB) ListSteps(ctx context.Context, projectID, responseID string) ([]*engram.Step, error) {
	if _, err := getResponse(ctx, db.r, projectID, responseID); err != nil {
		return nil, err
	}
	return listSteps(ctx, db.r, responseID)
}

func listSteps(ctx context.Context, q querier, responseID string) ([]*engram.Step, error) {
	rows, err := q.QueryContext(ctx, `SELECT project_id, body FROM steps WHERE response_id = ? ORDER BY n`, responseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var steps []*engram.Step
	for rows.Next() {
		var projectID string
		var body []byte
		if err := rows.Scan(&projectID, &body); err != nil {
			return nil, err
		}
		s := &engram.Step{}
		if err := json.Unmarshal(body, s); err != nil {
			return nil, err
		}
		s.ProjectID = projectID
		steps = append(steps, s)
	}
	return steps, rows.Err()
}

// DecideApproval implements engram.Store.
func (db *DB) DecideApproval(ctx context.Context, projectID, responseID string, a engram.Approval) (*engram.Response, error) {
	var r *engram.Response
	err := db.tx(ctx, func(tx *txConn) error {
		var err error
		if r, err = getResponse(ctx, tx, projectID, responseID); err != nil {
			return err
		}
		steps, err := listSteps(ctx, tx, responseID)
		if err != nil {
			return err
		}
		var target *engram.Step
		waiting := 0
		for _, s := range steps {
			if s.Approval == nil || s.Status != engram.StepAwaitingApproval {
				if s.Approval != nil && s.Approval.RequestID == a.RequestID {
					return engram.ParamErrorf(engram.EConflict, "approval_request_id", "Approval request '%s' has already been answered.", a.RequestID)
				}
				continue
			}
			if s.Approval.RequestID == a.RequestID {
				target = s
			} else {
				waiting++
			}
		}
		if target == nil {
			return engram.ParamErrorf(engram.ENotFound, "approval_request_id", "Response '%s' has no approval request '%s'.", responseID, a.RequestID)
		}
		if r.Status != engram.StatusRequiresAction {
			return engram.ParamErrorf(engram.EConflict, "approval_request_id", "Response '%s' is %s, not waiting for approval.", responseID, r.Status)
		}
		a.Reason, a.Decided, a.Decision = target.Approval.Reason, true, engram.Now()
		target.Approval = &a
		target.Status = engram.StepDecided
		if err := putStep(ctx, tx, target); err != nil {
			return err
		}
		if waiting == 0 {
			r.Status = engram.StatusInProgress
			_, err = tx.ExecContext(ctx, `UPDATE responses SET status = 'in_progress', lease_owner = '', lease_until = 0, wake_at = 0 WHERE id = ?`, r.ID)
		}
		return err
	})
	return r, err
}

// ListEvents implements engram.Store.
func (db *DB) ListEvents(ctx context.Context, projectID, responseID string, after int64) ([]engram.StoredEvent, error) {
	if _, err := getResponse(ctx, db.r, projectID, responseID); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT body FROM response_events WHERE response_id = ? AND seq_to > ? ORDER BY seq_to`, responseID, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engram.StoredEvent
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		if body, err = unpack(body); err != nil {
			return nil, err
		}
		var batch []engram.StoredEvent
		if err := json.Unmarshal(body, &batch); err != nil {
			return nil, err
		}
		for _, e := range batch {
			if e.Seq > after {
				out = append(out, e)
			}
		}
	}
	return out, rows.Err()
}

var responseOrder = createdOrder("responses", "")

// ListResponses implements engram.Store.
func (db *DB) ListResponses(ctx context.Context, projectID string, f engram.ResponseFilter) ([]*engram.Response, bool, error) {
	q := `SELECT ` + responseColumns + ` FROM responses WHERE project_id = ? AND deleted = 0`
	args := []any{projectID}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	q, args, backwards := pageQuery(q, args, responseOrder, f.Page)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*engram.Response
	for rows.Next() {
		r, err := scanResponse(rows, projectID)
		if err != nil {
			return nil, false, err
		}
		if f.User != "" && r.User != f.User {
			continue
		}
		r.Output = []*engram.Item{}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, f.Page, backwards)
	return out, more, nil
}
