package postgres

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// ClaimRun implements engram.Store. Replicas look for work at once: each
// candidate row is locked FOR UPDATE SKIP LOCKED, so a replica passes over
// a run another is claiming instead of waiting for it, and PostgreSQL
// checks the conditions again on a row changed since the query began, so a
// run is claimed by one replica only.
func (db *DB) ClaimRun(ctx context.Context, lease engram.Lease, now int64, responseID string) (*engram.Response, error) {
	var claimed *engram.Response
	err := db.tx(ctx, func(tx pgx.Tx) error {
		claimed = nil
		nowSec := now / 1000
		// A run whose worker stopped renewing its lease (it died, or the
		// node restarted), or that slept until now, or that a person just
		// answered.
		var id, projectID string
		err := tx.QueryRow(ctx, `UPDATE responses SET lease_owner = $1, lease_until = $2, wake_at = 0
			WHERE id = (SELECT id FROM responses WHERE status = 'in_progress' AND lease_until < $3 AND wake_at <= $4 AND ($5 = '' OR id = $5)
				ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING id, project_id`, lease.Owner, lease.Until, now, nowSec, responseID).Scan(&id, &projectID)
		switch {
		case err == nil:
			claimed, err = getResponse(ctx, tx, projectID, id, false)
			return err
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		// The oldest queued run of a conversation that nothing else holds.
		// The conversation's row is locked with it (its log grows by the
		// run's input), skipped too when another transaction holds it.
		var pending string
		err = tx.QueryRow(ctx, `SELECT q.id, q.project_id, q.pending_input FROM responses q JOIN conversations c ON c.id = q.conversation_id
			WHERE q.status = 'queued' AND ($1 = '' OR q.id = $1)
				AND NOT EXISTS (SELECT 1 FROM responses a WHERE a.conversation_id = q.conversation_id AND a.id != q.id
					AND a.status IN ('queued', 'in_progress', 'requires_action') AND (a.status != 'queued' OR a.id < q.id))
			ORDER BY q.id LIMIT 1 FOR UPDATE OF q, c SKIP LOCKED`, responseID).Scan(&id, &projectID, &pending)
		if errors.Is(err, pgx.ErrNoRows) {
			return engram.Errorf(engram.ENotFound, "no run is ready")
		} else if err != nil {
			return err
		}
		r, err := getResponse(ctx, tx, projectID, id, false)
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
		if _, err := tx.Exec(ctx, `UPDATE responses SET status = 'in_progress', base_seq = $1, last_seq = $2, lease_owner = $3, lease_until = $4, pending_input = '', body = $5 WHERE id = $6`,
			r.BaseSeq, r.LastSeq, lease.Owner, lease.Until, body, id); err != nil {
			return err
		}
		claimed = r
		return nil
	})
	return claimed, err
}

// leaseState is what a run's lease check reads of it, under its row lock.
type leaseState struct {
	found                    bool
	owner, status, projectID string
}

// queueLeaseCheck queues the read of a run's lease for t's next round
// trip. It locks the run's row for the rest of the transaction.
func queueLeaseCheck(t *pipeTx, responseID string, s *leaseState) {
	t.queue(`SELECT lease_owner, status, project_id FROM responses WHERE id = $1 FOR UPDATE`, responseID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&s.owner, &s.status, &s.projectID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		s.found = err == nil
		return err
	})
}

// check fails with EConflict unless lease is the run's current one (a
// zero lease: the run is held by nobody) and the run has not ended.
func (s *leaseState) check(responseID string, lease engram.Lease) error {
	if !s.found {
		return notFound("response", responseID)
	}
	if engram.IsTerminal(s.status) {
		return engram.Errorf(engram.EConflict, "response %s has already ended (%s)", responseID, s.status)
	}
	if s.owner != lease.Owner {
		return engram.Errorf(engram.EConflict, "response %s is no longer held by %q (held by %q)", responseID, lease.Owner, s.owner)
	}
	return nil
}

// checkLease is a lease check in one round trip of its own.
func checkLease(ctx context.Context, t *pipeTx, responseID string, lease engram.Lease) error {
	var s leaseState
	queueLeaseCheck(t, responseID, &s)
	if err := t.flush(ctx); err != nil {
		return err
	}
	return s.check(responseID, lease)
}

// RenewLease implements engram.Store in one round trip.
func (db *DB) RenewLease(ctx context.Context, responseID string, lease engram.Lease) (bool, error) {
	var cancel int
	var held bool
	err := db.pipe(ctx, func(t *pipeTx) error {
		// It changes nothing when the run is not held by lease, so its
		// answer may be read with the COMMIT's.
		t.queue(`UPDATE responses SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'in_progress' RETURNING cancel_requested`,
			lease.Until, responseID, lease.Owner).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&cancel)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			held = err == nil
			return err
		})
		return nil
	})
	if err == nil && !held {
		err = engram.Errorf(engram.EConflict, "response %s is no longer held by %q", responseID, lease.Owner)
	}
	return cancel != 0, err
}

// PauseRun implements engram.Store.
func (db *DB) PauseRun(ctx context.Context, r *engram.Response, lease engram.Lease, events []engram.StoredEvent) error {
	return db.pipe(ctx, func(t *pipeTx) error {
		if err := checkLease(ctx, t, r.ID, lease); err != nil {
			return err
		}
		r.Lease = engram.Lease{}
		body, err := encodeResponse(r)
		if err != nil {
			return err
		}
		// A cancel that arrived while the run was running stays asked for:
		// the run is claimable at once so a worker ends it.
		t.queue(`UPDATE responses SET
				status = CASE cancel_requested WHEN 1 THEN 'in_progress' ELSE $1 END,
				wake_at = CASE cancel_requested WHEN 1 THEN 0 ELSE $2 END,
				lease_owner = '', lease_until = 0, body = $3 WHERE id = $4`,
			r.Status, r.WakeAt, body, r.ID)
		return queueEvents(t, r.ID, events)
	})
}

// ReleaseLeases implements engram.Store.
func (db *DB) ReleaseLeases(ctx context.Context, node string) error {
	// starts_with, not LIKE: a node id may hold % or _.
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE responses SET lease_until = 0
			WHERE status = 'in_progress' AND (lease_owner = $1 OR starts_with(lease_owner, $2))`, node, node+"/")
		return err
	})
}

// RequestCancel implements engram.Store.
func (db *DB) RequestCancel(ctx context.Context, projectID, responseID string) (*engram.Response, error) {
	var r *engram.Response
	err := db.pipe(ctx, func(t *pipeTx) error {
		var err error
		if r, err = getResponse(ctx, t, projectID, responseID, true); err != nil {
			return err
		}
		switch r.Status {
		case engram.StatusQueued:
			r.Status, r.CompletedAt = engram.StatusCancelled, engram.Now()
			body, err := encodeResponse(r)
			if err != nil {
				return err
			}
			t.queue(`UPDATE responses SET status = 'cancelled', pending_input = '', body = $1 WHERE id = $2`, body, r.ID)
			return nil
		case engram.StatusInProgress, engram.StatusRequiresAction:
			r.CancelRequested = true
			// A paused run (waiting for a person or a time) has no worker
			// to notice: make it claimable now, and the worker that takes
			// it ends it.
			t.queue(`UPDATE responses SET cancel_requested = 1, status = 'in_progress',
				lease_until = CASE WHEN status = 'requires_action' OR wake_at > 0 THEN 0 ELSE lease_until END,
				lease_owner = CASE status WHEN 'requires_action' THEN '' ELSE lease_owner END,
				wake_at = 0 WHERE id = $1`, r.ID)
			if r.Status == engram.StatusRequiresAction {
				r.Status = engram.StatusInProgress
			}
			return nil
		}
		return nil // already ended: cancelling is a no-op, as in OpenAI's API
	})
	return r, err
}

// SaveStep implements engram.Store in two round trips.
func (db *DB) SaveStep(ctx context.Context, s *engram.Step, lease engram.Lease, events []engram.StoredEvent) error {
	return db.pipe(ctx, func(t *pipeTx) error {
		if err := checkLease(ctx, t, s.ResponseID, lease); err != nil {
			return err
		}
		if err := queueStep(t, s); err != nil {
			return err
		}
		return queueEvents(t, s.ResponseID, events)
	})
}

func queueStep(t *pipeTx, s *engram.Step) error {
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	t.queue(`INSERT INTO steps (response_id, n, project_id, kind, status, body) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (response_id, n) DO UPDATE SET status = excluded.status, body = excluded.body`,
		s.ResponseID, s.N, s.ProjectID, s.Kind, s.Status, string(body))
	return nil
}

func queueEvents(t *pipeTx, responseID string, events []engram.StoredEvent) error {
	if len(events) == 0 {
		return nil
	}
	packed, err := packEvents(events)
	if err != nil {
		return err
	}
	t.queue(`INSERT INTO response_events (response_id, seq_to, body) VALUES ($1, $2, $3)`,
		responseID, events[len(events)-1].Seq, packed)
	return nil
}

func packEvents(events []engram.StoredEvent) ([]byte, error) {
	body, err := json.Marshal(events)
	if err != nil {
		return nil, err
	}
	return pack(body)
}

// pack compresses a batch of events (raw deflate, as the sqlite store
// does, so rows copy between the stores as they are). A stream repeats
// itself (every delta event carries the same envelope, the first and last
// events the whole response), so a batch shrinks several times over for
// little CPU.
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
	if _, err := getResponse(ctx, db.pool, projectID, responseID, false); err != nil {
		return nil, err
	}
	return listSteps(ctx, db.pool, responseID)
}

func listSteps(ctx context.Context, q querier, responseID string) ([]*engram.Step, error) {
	rows, err := q.Query(ctx, `SELECT project_id, body FROM steps WHERE response_id = $1 ORDER BY n`, responseID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var steps []*engram.Step
	for rows.Next() {
		var projectID string
		var body []byte
		if err := rows.Scan(&projectID, &body); err != nil {
			return nil, mapErr(err)
		}
		s := &engram.Step{}
		if err := json.Unmarshal(body, s); err != nil {
			return nil, err
		}
		s.ProjectID = projectID
		steps = append(steps, s)
	}
	return steps, mapErr(rows.Err())
}

// DecideApproval implements engram.Store. The run's row is locked first,
// so two decisions on one run from two replicas are taken one after the
// other and the second sees the first.
func (db *DB) DecideApproval(ctx context.Context, projectID, responseID string, a engram.Approval) (*engram.Response, error) {
	var r *engram.Response
	err := db.pipe(ctx, func(t *pipeTx) error {
		var err error
		if r, err = getResponse(ctx, t, projectID, responseID, true); err != nil {
			return err
		}
		steps, err := listSteps(ctx, t, responseID)
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
		if err := queueStep(t, target); err != nil {
			return err
		}
		if waiting == 0 {
			r.Status = engram.StatusInProgress
			t.queue(`UPDATE responses SET status = 'in_progress', lease_owner = '', lease_until = 0, wake_at = 0 WHERE id = $1`, r.ID)
		}
		return nil
	})
	return r, err
}

// ListEvents implements engram.Store.
func (db *DB) ListEvents(ctx context.Context, projectID, responseID string, after int64) ([]engram.StoredEvent, error) {
	if _, err := getResponse(ctx, db.pool, projectID, responseID, false); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT body FROM response_events WHERE response_id = $1 AND seq_to > $2 ORDER BY seq_to`, responseID, after)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []engram.StoredEvent
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, mapErr(err)
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
	return out, mapErr(rows.Err())
}

// ListResponses implements engram.Store.
func (db *DB) ListResponses(ctx context.Context, projectID string, f engram.ResponseFilter) ([]*engram.Response, bool, error) {
	var p params
	q := `SELECT ` + responseColumns + ` FROM responses WHERE project_id = ` + p.add(projectID) + ` AND deleted = 0`
	if f.Status != "" {
		q += ` AND status = ` + p.add(f.Status)
	}
	q, backwards := pageQuery(q, &p, responseOrder, f.Page)
	rows, err := db.pool.Query(ctx, q, p...)
	if err != nil {
		return nil, false, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.Response
	for rows.Next() {
		r, err := scanResponse(rows, projectID)
		if err != nil {
			return nil, false, mapErr(err)
		}
		if f.User != "" && r.User != f.User {
			continue
		}
		r.Output = []*engram.Item{}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, mapErr(err)
	}
	out, more := engram.FinishPage(out, f.Page, backwards)
	return out, more, nil
}
