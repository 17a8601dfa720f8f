package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
)

const scheduleColumns = `id, project_id, name, agent, cron, timezone, conversation, input, catch_up, paused,
	next_fire_at, last_fire_at, last_response_id, last_error, metadata, created_at, updated_at`

var scheduleOrder = createdOrder("schedules", "")

func scanSchedule(row interface{ Scan(...any) error }) (*engram.Schedule, error) {
	s := &engram.Schedule{}
	var meta string
	err := row.Scan(&s.ID, &s.ProjectID, &s.Name, &s.Agent, &s.Cron, &s.Timezone, &s.Conversation, &s.Input, &s.CatchUp, &s.Paused,
		&s.NextFireAt, &s.LastFireAt, &s.LastResponseID, &s.LastError, &meta, &s.CreatedAt, &s.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta), &s.Metadata); err != nil {
		return nil, err
	}
	return s, nil
}

func metadataJSON(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// CreateSchedule implements engram.Store.
func (db *DB) CreateSchedule(ctx context.Context, s *engram.Schedule) error {
	if s.CreatedAt == 0 {
		s.CreatedAt = engram.Now()
	}
	s.UpdatedAt = s.CreatedAt
	meta, err := metadataJSON(s.Metadata)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, s.ProjectID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schedules (`+scheduleColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.ProjectID, s.Name, s.Agent, s.Cron, s.Timezone, s.Conversation, s.Input, s.CatchUp, boolInt(s.Paused),
			s.NextFireAt, s.LastFireAt, s.LastResponseID, s.LastError, meta, s.CreatedAt, s.UpdatedAt)
		return mapErr(err)
	})
}

// GetSchedule implements engram.Store.
func (db *DB) GetSchedule(ctx context.Context, projectID, id string) (*engram.Schedule, error) {
	s, err := scanSchedule(db.r.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE project_id = ? AND id = ?`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("schedule", id)
	}
	return s, err
}

// ListSchedules implements engram.Store.
func (db *DB) ListSchedules(ctx context.Context, projectID string, page engram.Page) ([]*engram.Schedule, bool, error) {
	q, args, backwards := pageQuery(`SELECT `+scheduleColumns+` FROM schedules WHERE project_id = ?`, []any{projectID}, scheduleOrder, page)
	out, err := db.querySchedules(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, page, backwards)
	return out, more, nil
}

func (db *DB) querySchedules(ctx context.Context, q string, args ...any) ([]*engram.Schedule, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.Schedule
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// UpdateSchedule implements engram.Store. It leaves the last fire's record
// alone: the scheduler may be writing it at the same moment.
func (db *DB) UpdateSchedule(ctx context.Context, s *engram.Schedule) error {
	meta, err := metadataJSON(s.Metadata)
	if err != nil {
		return err
	}
	s.UpdatedAt = engram.Now()
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET name = ?, agent = ?, cron = ?, timezone = ?, conversation = ?, input = ?,
			catch_up = ?, paused = ?, next_fire_at = ?, metadata = ?, updated_at = ? WHERE project_id = ? AND id = ?`,
			s.Name, s.Agent, s.Cron, s.Timezone, s.Conversation, s.Input, s.CatchUp, boolInt(s.Paused), s.NextFireAt, meta, s.UpdatedAt,
			s.ProjectID, s.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("schedule", s.ID)
		}
		return nil
	})
}

// DeleteSchedule implements engram.Store.
func (db *DB) DeleteSchedule(ctx context.Context, projectID, id string) error {
	return db.changeOne(ctx, "schedule", id, `DELETE FROM schedules WHERE project_id = ? AND id = ?`, projectID, id)
}

// DueSchedules implements engram.Store.
func (db *DB) DueSchedules(ctx context.Context, now int64, limit int) ([]*engram.Schedule, error) {
	return db.querySchedules(ctx, `SELECT `+scheduleColumns+` FROM schedules
		WHERE paused = 0 AND next_fire_at > 0 AND next_fire_at <= ? ORDER BY next_fire_at, id LIMIT ?`, now, limit)
}

// AdvanceSchedule implements engram.Store: the WHERE clause is the
// compare-and-set, and the single writer makes it atomic.
func (db *DB) AdvanceSchedule(ctx context.Context, projectID, id string, expectNext, newNext, firedAt int64) error {
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET next_fire_at = ?,
			last_fire_at = CASE WHEN ? > 0 THEN ? ELSE last_fire_at END,
			last_response_id = CASE WHEN ? > 0 THEN '' ELSE last_response_id END,
			last_error = CASE WHEN ? > 0 THEN '' ELSE last_error END
			WHERE project_id = ? AND id = ? AND next_fire_at = ? AND paused = 0`,
			newNext, firedAt, firedAt, firedAt, firedAt, projectID, id, expectNext)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM schedules WHERE project_id = ? AND id = ?`, projectID, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return notFound("schedule", id)
		} else if err != nil {
			return err
		}
		return engram.Errorf(engram.EConflict, "schedule %s is no longer due at %d", id, expectNext)
	})
}

// RecordScheduleFire implements engram.Store.
func (db *DB) RecordScheduleFire(ctx context.Context, projectID, id string, firedAt int64, responseID, errMsg string) error {
	return db.tx(ctx, func(tx *txConn) error {
		_, err := tx.ExecContext(ctx, `UPDATE schedules SET last_response_id = ?, last_error = ? WHERE project_id = ? AND id = ? AND last_fire_at = ?`,
			responseID, errMsg, projectID, id, firedAt)
		return err
	})
}
