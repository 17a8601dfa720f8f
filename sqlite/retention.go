package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/engram-run/engram"
)

// SetRetention implements engram.RetentionStore.
func (db *DB) SetRetention(ctx context.Context, projectID string, r engram.Retention) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return db.changeOne(ctx, "project", projectID, `UPDATE projects SET retention = ? WHERE id = ?`, body, projectID)
}

// Purge implements engram.RetentionStore. Every query it makes walks an
// index from the oldest expired row and reads nothing it does not delete
// (but for conversations kept by their forks or active runs): the
// distinct agents of the project's rows are found by seeking the index
// agent by agent, and each agent's expired rows are one range of it.
func (db *DB) Purge(ctx context.Context, p engram.Purge) (engram.PurgeResult, error) {
	p = p.WithDefaults()
	var total engram.PurgeResult
	err := db.tx(ctx, func(tx *txConn) error {
		pg := &purge{ctx: ctx, tx: tx, PurgeTally: engram.NewPurgeTally(p)}
		var err error
		switch p.Kind {
		case engram.PurgeConversations:
			err = pg.conversations()
		case engram.PurgeResponses:
			err = pg.responses(false)
		case engram.PurgeEvents:
			err = pg.responses(true)
		default:
			return engram.Errorf(engram.EInvalid, "unknown purge kind %q", p.Kind)
		}
		if err != nil {
			return err
		}
		total = pg.Total
		return pg.writeLog()
	})
	return total, err
}

// purge is one batch of a purge, inside its transaction.
type purge struct {
	ctx context.Context
	tx  *txConn
	engram.PurgeTally
}

// writeLog adds the batch's counts to the pass's entries.
func (pg *purge) writeLog() error {
	now := engram.Now()
	for k, e := range pg.Log {
		if e.Deleted == 0 && e.Rows == 0 {
			continue
		}
		if _, err := pg.tx.ExecContext(pg.ctx, `INSERT INTO retention_log (id, project_id, pass, agent_id, kind, cutoff, deleted, rows, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (pass, project_id, agent_id, kind, cutoff) DO UPDATE SET
				deleted = deleted + excluded.deleted, rows = rows + excluded.rows, updated_at = excluded.updated_at`,
			engram.NewID("rlog"), pg.ProjectID, pg.Pass, k.AgentID, pg.Kind, k.Cutoff, e.Deleted, e.Rows, now, now); err != nil {
			return err
		}
	}
	return nil
}

// agents returns the distinct agent ids of the project's rows in table
// that match where, seeking an index on (project_id, agent_id, …) once
// per agent rather than reading the rows.
func (pg *purge) agents(table, where string) ([]string, error) {
	q := `SELECT agent_id FROM ` + table + ` WHERE project_id = ?` + where + ` AND agent_id %s ? ORDER BY agent_id LIMIT 1`
	var out []string
	op, after := ">=", "" // "" sorts first: the first seek may find it
	for {
		var id string
		err := pg.tx.QueryRowContext(pg.ctx, fmt.Sprintf(q, op), pg.ProjectID, after).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, id)
		op, after = ">", id
	}
}

// ids runs a query of ids and returns them all, so that the statement is
// done before the rows it names are deleted on the same connection.
func (pg *purge) ids(q string, args ...any) ([]string, error) {
	rows, err := pg.tx.QueryContext(pg.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (pg *purge) exec(q string, args ...any) (int64, error) {
	res, err := pg.tx.ExecContext(pg.ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// conversations purges idle conversations, leaves of fork trees first.
func (pg *purge) conversations() error {
	agents, err := pg.agents("conversations", "")
	if err != nil {
		return err
	}
	for _, agentID := range agents {
		for _, hidden := range []int{0, 1} {
			cutoff := pg.PolicyOf(agentID).Cutoff(engram.PurgeConversations, hidden == 1, pg.Now)
			for cutoff > 0 && pg.Budget > 0 {
				ids, err := pg.ids(`SELECT id FROM conversations c WHERE project_id = ? AND agent_id = ? AND hidden = ? AND updated_at < ?
					AND NOT EXISTS (SELECT 1 FROM conversations f WHERE f.fork_of = c.id AND f.fork_of != '')
					AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.conversation_id = c.id AND r.status IN ('queued', 'in_progress', 'requires_action'))
					ORDER BY updated_at LIMIT ?`, pg.ProjectID, agentID, hidden, cutoff-engram.RetentionTouchSlack, engram.PurgeCandidateBatch)
				if err != nil {
					return err
				}
				for _, id := range ids {
					if pg.Budget <= 0 {
						break
					}
					if err := pg.conversation(agentID, cutoff, id); err != nil {
						return err
					}
				}
				if len(ids) < engram.PurgeCandidateBatch {
					break
				}
			}
		}
	}
	return nil
}

// conversation deletes what the budget allows of one expired
// conversation: its responses first, then its items from the oldest, then
// the conversation itself. It is hidden from every read at once, so a
// conversation deleted over several batches is never seen half gone.
func (pg *purge) conversation(agentID string, cutoff int64, id string) error {
	if _, err := pg.exec(`UPDATE conversations SET deleted = 1 WHERE id = ? AND deleted = 0`, id); err != nil {
		return err
	}
	responses, err := pg.ids(`SELECT id FROM responses WHERE conversation_id = ? LIMIT ?`, id, engram.PurgeCandidateBatch)
	if err != nil {
		return err
	}
	for _, rid := range responses {
		if pg.Budget <= 0 {
			return nil
		}
		n, err := pg.deleteResponse(rid)
		if err != nil {
			return err
		}
		pg.Count(agentID, cutoff, 0, n)
	}
	if len(responses) == engram.PurgeCandidateBatch {
		return nil // more responses: the next batch goes on
	}
	var lo sql.NullInt64
	if err := pg.tx.QueryRowContext(pg.ctx, `SELECT MIN(seq) FROM items WHERE conversation_id = ?`, id).Scan(&lo); err != nil {
		return err
	}
	if lo.Valid {
		if pg.Budget <= 0 {
			return nil
		}
		hi := lo.Int64 + pg.Budget - 1
		if _, err := pg.exec(`DELETE FROM items_fts WHERE rowid IN (SELECT search_rowid FROM items WHERE conversation_id = ? AND seq BETWEEN ? AND ? AND search_rowid != 0)`, id, lo.Int64, hi); err != nil {
			return err
		}
		n, err := pg.exec(`DELETE FROM items WHERE conversation_id = ? AND seq BETWEEN ? AND ?`, id, lo.Int64, hi)
		if err != nil {
			return err
		}
		pg.Count(agentID, cutoff, 0, n)
		var more int
		err = pg.tx.QueryRowContext(pg.ctx, `SELECT 1 FROM items WHERE conversation_id = ? LIMIT 1`, id).Scan(&more)
		if err == nil {
			return nil // the rest in the next batch
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	n, err := pg.exec(`DELETE FROM extractions WHERE conversation_id = ?`, id)
	if err != nil {
		return err
	}
	m, err := pg.exec(`DELETE FROM conversations WHERE id = ?`, id)
	if err != nil {
		return err
	}
	pg.Count(agentID, cutoff, 1, n+m)
	return nil
}

// deleteResponse deletes a response with its steps and events, returning
// the rows deleted.
func (pg *purge) deleteResponse(id string) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM steps WHERE response_id = ?`,
		`DELETE FROM response_events WHERE response_id = ?`,
		`DELETE FROM responses WHERE id = ?`,
	} {
		n, err := pg.exec(q, id)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// responses purges responses that ended before their cutoff or, with
// events set, only their stream events.
func (pg *purge) responses(events bool) error {
	kind, pending := engram.PurgeResponses, ""
	if events {
		kind, pending = engram.PurgeEvents, " AND events_purged = 0"
	}
	agents, err := pg.agents("responses", " AND ended_at > 0"+pending)
	if err != nil {
		return err
	}
	for _, agentID := range agents {
		cutoff := pg.PolicyOf(agentID).Cutoff(kind, false, pg.Now)
		for cutoff > 0 && pg.Budget > 0 {
			ids, err := pg.ids(`SELECT id FROM responses WHERE project_id = ? AND agent_id = ? AND ended_at > 0`+pending+` AND ended_at < ? ORDER BY ended_at LIMIT ?`,
				pg.ProjectID, agentID, cutoff, engram.PurgeCandidateBatch)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if pg.Budget <= 0 {
					break
				}
				var n int64
				if events {
					if n, err = pg.exec(`DELETE FROM response_events WHERE response_id = ?`, id); err == nil {
						_, err = pg.exec(`UPDATE responses SET events_purged = 1 WHERE id = ?`, id)
					}
				} else {
					n, err = pg.deleteResponse(id)
				}
				if err != nil {
					return err
				}
				pg.Count(agentID, cutoff, 1, n)
				if n == 0 {
					pg.Budget-- // a response with no events still costs its update
				}
			}
			if len(ids) < engram.PurgeCandidateBatch {
				break
			}
		}
	}
	return nil
}

var retentionLogOrder = createdOrder("retention_log", "")

// ListRetentionLog implements engram.RetentionStore.
func (db *DB) ListRetentionLog(ctx context.Context, projectID string, page engram.Page) ([]*engram.RetentionLogEntry, bool, error) {
	q, args, backwards := pageQuery(`SELECT id, pass, agent_id, kind, cutoff, deleted, rows, created_at, updated_at FROM retention_log WHERE project_id = ?`,
		[]any{projectID}, retentionLogOrder, page)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*engram.RetentionLogEntry
	for rows.Next() {
		e := &engram.RetentionLogEntry{ProjectID: projectID}
		if err := rows.Scan(&e.ID, &e.Pass, &e.AgentID, &e.Kind, &e.Cutoff, &e.Deleted, &e.Rows, &e.CreatedAt, &e.UpdatedAt); err != nil {
			return nil, false, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, page, backwards)
	return out, more, nil
}
