package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const scheduleColumns = `id, project_id, name, agent, cron, timezone, conversation, input, catch_up, paused,
	next_fire_at, last_fire_at, last_response_id, last_error, metadata, created_at, updated_at`

var scheduleOrder = createdOrder("schedules", "")

func scanSchedule(row pgx.Row) (*engram.Schedule, error) {
	s := &engram.Schedule{}
	var meta string
	var paused int
	err := row.Scan(&s.ID, &s.ProjectID, &s.Name, &s.Agent, &s.Cron, &s.Timezone, &s.Conversation, &s.Input, &s.CatchUp, &paused,
		&s.NextFireAt, &s.LastFireAt, &s.LastResponseID, &s.LastError, &meta, &s.CreatedAt, &s.UpdatedAt)
	if err != nil {
		return nil, err
	}
	s.Paused = paused != 0
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
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO schedules (`+scheduleColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			s.ID, s.ProjectID, s.Name, s.Agent, s.Cron, s.Timezone, s.Conversation, pgText(s.Input), s.CatchUp, boolInt(s.Paused),
			s.NextFireAt, s.LastFireAt, s.LastResponseID, s.LastError, meta, s.CreatedAt, s.UpdatedAt)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign key: the project
			return notFound("project", s.ProjectID)
		}
		return err
	})
}

// GetSchedule implements engram.Store.
func (db *DB) GetSchedule(ctx context.Context, projectID, id string) (*engram.Schedule, error) {
	s, err := scanSchedule(db.pool.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE project_id = $1 AND id = $2`, projectID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("schedule", id)
	}
	return s, mapErr(err)
}

// ListSchedules implements engram.Store.
func (db *DB) ListSchedules(ctx context.Context, projectID string, page engram.Page) ([]*engram.Schedule, bool, error) {
	var p params
	q, backwards := pageQuery(`SELECT `+scheduleColumns+` FROM schedules WHERE project_id = `+p.add(projectID), &p, scheduleOrder, page)
	out, err := db.querySchedules(ctx, q, p...)
	if err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, page, backwards)
	return out, more, nil
}

func (db *DB) querySchedules(ctx context.Context, q string, args ...any) ([]*engram.Schedule, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.Schedule
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, s)
	}
	return out, mapErr(rows.Err())
}

// UpdateSchedule implements engram.Store. It leaves the last fire's record
// alone: a scheduler on any replica may be writing it at the same moment.
func (db *DB) UpdateSchedule(ctx context.Context, s *engram.Schedule) error {
	meta, err := metadataJSON(s.Metadata)
	if err != nil {
		return err
	}
	s.UpdatedAt = engram.Now()
	return db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE schedules SET name = $1, agent = $2, cron = $3, timezone = $4, conversation = $5, input = $6,
			catch_up = $7, paused = $8, next_fire_at = $9, metadata = $10, updated_at = $11 WHERE project_id = $12 AND id = $13`,
			s.Name, s.Agent, s.Cron, s.Timezone, s.Conversation, pgText(s.Input), s.CatchUp, boolInt(s.Paused), s.NextFireAt, meta, s.UpdatedAt,
			s.ProjectID, s.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("schedule", s.ID)
		}
		return nil
	})
}

// DeleteSchedule implements engram.Store.
func (db *DB) DeleteSchedule(ctx context.Context, projectID, id string) error {
	return db.changeOne(ctx, "schedule", id, `DELETE FROM schedules WHERE project_id = $1 AND id = $2`, projectID, id)
}

// DueSchedules implements engram.Store. Every replica's scheduler may read
// the same due schedules; AdvanceSchedule decides which one fires each.
func (db *DB) DueSchedules(ctx context.Context, now int64, limit int) ([]*engram.Schedule, error) {
	return db.querySchedules(ctx, `SELECT `+scheduleColumns+` FROM schedules
		WHERE paused = 0 AND next_fire_at > 0 AND next_fire_at <= $1 ORDER BY next_fire_at, id LIMIT $2`, now, limit)
}

// AdvanceSchedule implements engram.Store. The WHERE clause is the
// compare-and-set: of several replicas updating the row at once, the
// first takes its lock and changes next_fire_at; the others, once it
// commits, find the condition false on the new row (PostgreSQL re-checks
// an UPDATE's condition on the latest version of a row it waited for) and
// change nothing. So exactly one replica owns each fire.
func (db *DB) AdvanceSchedule(ctx context.Context, projectID, id string, expectNext, newNext, firedAt int64) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE schedules SET next_fire_at = $1,
			last_fire_at = CASE WHEN $2::bigint > 0 THEN $2 ELSE last_fire_at END,
			last_response_id = CASE WHEN $2::bigint > 0 THEN '' ELSE last_response_id END,
			last_error = CASE WHEN $2::bigint > 0 THEN '' ELSE last_error END
			WHERE project_id = $3 AND id = $4 AND next_fire_at = $5 AND paused = 0`,
			newNext, firedAt, projectID, id, expectNext)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM schedules WHERE project_id = $1 AND id = $2`, projectID, id).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return notFound("schedule", id)
		} else if err != nil {
			return err
		}
		return engram.Errorf(engram.EConflict, "schedule %s is no longer due at %d", id, expectNext)
	})
}

// RecordScheduleFire implements engram.Store. The last_fire_at condition
// keeps a later fire's record from being overwritten by an earlier one's.
func (db *DB) RecordScheduleFire(ctx context.Context, projectID, id string, firedAt int64, responseID, errMsg string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE schedules SET last_response_id = $1, last_error = $2 WHERE project_id = $3 AND id = $4 AND last_fire_at = $5`,
			responseID, pgText(errMsg), projectID, id, firedAt)
		return err
	})
}
