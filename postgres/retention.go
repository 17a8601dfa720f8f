package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// SetRetention implements engram.RetentionStore.
func (db *DB) SetRetention(ctx context.Context, projectID string, r engram.Retention) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return db.changeOne(ctx, "project", projectID, `UPDATE projects SET retention = $1 WHERE id = $2`, string(body), projectID)
}

// Purge implements engram.RetentionStore, as the sqlite store does: every
// query walks an index from the oldest expired row and reads nothing it
// does not delete (but for conversations kept by their forks or active
// runs). One replica at a time purges a project: a batch that finds
// another replica's batch holding the project's advisory lock deletes
// nothing, and its pass moves on, the other replica carrying on instead.
func (db *DB) Purge(ctx context.Context, p engram.Purge) (engram.PurgeResult, error) {
	p = p.WithDefaults()
	var total engram.PurgeResult
	err := db.tx(ctx, func(tx pgx.Tx) error {
		total = engram.PurgeResult{}
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended('engram retention ' || $1, 0))`, p.ProjectID).Scan(&mine); err != nil || !mine {
			return err
		}
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
	tx  pgx.Tx
	engram.PurgeTally
}

// writeLog adds the batch's counts to the pass's entries.
func (pg *purge) writeLog() error {
	now := engram.Now()
	for k, e := range pg.Log {
		if e.Deleted == 0 && e.Rows == 0 {
			continue
		}
		if _, err := pg.tx.Exec(pg.ctx, `INSERT INTO retention_log (id, project_id, pass, agent_id, kind, cutoff, deleted, rows, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
			ON CONFLICT (pass, project_id, agent_id, kind, cutoff) DO UPDATE SET
				deleted = retention_log.deleted + excluded.deleted, rows = retention_log.rows + excluded.rows, updated_at = excluded.updated_at`,
			engram.NewID("rlog"), pg.ProjectID, pg.Pass, k.AgentID, pg.Kind, k.Cutoff, e.Deleted, e.Rows, now); err != nil {
			return err
		}
	}
	return nil
}

// agents returns the distinct agent ids of the project's rows in table
// that match where, seeking an index on (project_id, agent_id, …) once
// per agent rather than reading the rows.
func (pg *purge) agents(table, where string) ([]string, error) {
	var out []string
	for {
		q := `SELECT agent_id FROM ` + table + ` WHERE project_id = $1` + where + ` AND agent_id > $2 ORDER BY agent_id LIMIT 1`
		after := ""
		if len(out) == 0 {
			q = `SELECT agent_id FROM ` + table + ` WHERE project_id = $1` + where + ` AND agent_id >= $2 ORDER BY agent_id LIMIT 1`
		} else {
			after = out[len(out)-1]
		}
		var id string
		err := pg.tx.QueryRow(pg.ctx, q, pg.ProjectID, after).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
}

func (pg *purge) ids(q string, args ...any) ([]string, error) {
	rows, err := pg.tx.Query(pg.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (pg *purge) exec(q string, args ...any) (int64, error) {
	tag, err := pg.tx.Exec(pg.ctx, q, args...)
	return tag.RowsAffected(), err
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
				ids, err := pg.ids(`SELECT id FROM conversations c WHERE project_id = $1 AND agent_id = $2 AND hidden = $3 AND updated_at < $4
					AND NOT EXISTS (SELECT 1 FROM conversations f WHERE f.fork_of = c.id AND f.fork_of <> '')
					AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.conversation_id = c.id AND r.status IN ('queued', 'in_progress', 'requires_action'))
					ORDER BY updated_at LIMIT $5`, pg.ProjectID, agentID, hidden, cutoff-engram.RetentionTouchSlack, engram.PurgeCandidateBatch)
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
//
// Its row is locked first, as appends lock it (and forks share it), and
// what made it a candidate is checked again under the lock: a replica that
// appended to it, forked it or started a run in it a moment before wins,
// and one that comes a moment after finds it deleted.
func (pg *purge) conversation(agentID string, cutoff int64, id string) error {
	var busy bool
	err := pg.tx.QueryRow(pg.ctx, `SELECT false FROM conversations WHERE id = $1 AND updated_at < $2 FOR UPDATE`, id, cutoff-engram.RetentionTouchSlack).Scan(&busy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // appended to since, or gone
	} else if err != nil {
		return err
	}
	if err := pg.tx.QueryRow(pg.ctx, `SELECT EXISTS (SELECT 1 FROM conversations f WHERE f.fork_of = $1 AND f.fork_of <> '')
		OR EXISTS (SELECT 1 FROM responses r WHERE r.conversation_id = $1 AND r.status IN ('queued', 'in_progress', 'requires_action'))`, id).Scan(&busy); err != nil || busy {
		return err
	}
	if _, err := pg.exec(`UPDATE conversations SET deleted = 1 WHERE id = $1`, id); err != nil {
		return err
	}
	responses, err := pg.ids(`SELECT id FROM responses WHERE conversation_id = $1 LIMIT $2`, id, engram.PurgeCandidateBatch)
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
	var lo *int64
	if err := pg.tx.QueryRow(pg.ctx, `SELECT MIN(seq) FROM items WHERE conversation_id = $1`, id).Scan(&lo); err != nil {
		return err
	}
	if lo != nil {
		if pg.Budget <= 0 {
			return nil
		}
		n, err := pg.exec(`DELETE FROM items WHERE conversation_id = $1 AND seq BETWEEN $2 AND $3`, id, *lo, *lo+pg.Budget-1)
		if err != nil {
			return err
		}
		pg.Count(agentID, cutoff, 0, n)
		var more bool
		if err := pg.tx.QueryRow(pg.ctx, `SELECT EXISTS (SELECT 1 FROM items WHERE conversation_id = $1)`, id).Scan(&more); err != nil || more {
			return err // the rest in the next batch
		}
	}
	n, err := pg.exec(`DELETE FROM extractions WHERE conversation_id = $1`, id)
	if err != nil {
		return err
	}
	m, err := pg.exec(`DELETE FROM conversations WHERE id = $1`, id)
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
		`DELETE FROM steps WHERE response_id = $1`,
		`DELETE FROM response_events WHERE response_id = $1`,
		`DELETE FROM responses WHERE id = $1`,
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
			ids, err := pg.ids(`SELECT id FROM responses WHERE project_id = $1 AND agent_id = $2 AND ended_at > 0`+pending+` AND ended_at < $3 ORDER BY ended_at LIMIT $4`,
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
					if n, err = pg.exec(`DELETE FROM response_events WHERE response_id = $1`, id); err == nil {
						_, err = pg.exec(`UPDATE responses SET events_purged = 1 WHERE id = $1`, id)
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
	p := params{projectID}
	q, backwards := pageQuery(`SELECT id, pass, agent_id, kind, cutoff, deleted, rows, created_at, updated_at FROM retention_log WHERE project_id = $1`,
		&p, retentionLogOrder, page)
	rows, err := db.pool.Query(ctx, q, p...)
	if err != nil {
		return nil, false, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*engram.RetentionLogEntry, error) {
		e := &engram.RetentionLogEntry{ProjectID: projectID}
		err := row.Scan(&e.ID, &e.Pass, &e.AgentID, &e.Kind, &e.Cutoff, &e.Deleted, &e.Rows, &e.CreatedAt, &e.UpdatedAt)
		return e, err
	})
	if err != nil {
		return nil, false, mapErr(err)
	}
	out, more := engram.FinishPage(out, page, backwards)
	return out, more, nil
}
