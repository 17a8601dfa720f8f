package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
)

// responseRecord is a response's stored body: its API fields and the
// internal ones its JSON form leaves out. Output lives in items.
type responseRecord struct {
	engram.Response
	StoredConversationID string `json:"_conversation_id"`
	StoredConversation   string `json:"_conversation,omitempty"`
	StoredAgentID        string `json:"_agent_id,omitempty"`
	StoredAgentVersion   int    `json:"_agent_version,omitempty"`
	StoredIncomplete     string `json:"_incomplete_reason,omitempty"`
	StoredBaseSeq        int64  `json:"_base_seq"`
}

func encodeResponse(r *engram.Response) ([]byte, error) {
	rec := responseRecord{Response: *r, StoredConversationID: r.ConversationID, StoredConversation: r.Conversation,
		StoredAgentID: r.AgentID, StoredAgentVersion: r.AgentVersion, StoredIncomplete: r.IncompleteReason, StoredBaseSeq: r.BaseSeq}
	rec.Output = nil
	return json.Marshal(rec)
}

func decodeResponse(body []byte, projectID string, lastSeq int64) (*engram.Response, error) {
	var rec responseRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, err
	}
	r := rec.Response
	r.ProjectID, r.ConversationID, r.Conversation = projectID, rec.StoredConversationID, rec.StoredConversation
	r.AgentID, r.AgentVersion, r.IncompleteReason = rec.StoredAgentID, rec.StoredAgentVersion, rec.StoredIncomplete
	r.BaseSeq, r.LastSeq = rec.StoredBaseSeq, lastSeq
	return &r, nil
}

// CreateResponse implements engram.Store.
func (db *DB) CreateResponse(ctx context.Context, r *engram.Response, input []*engram.Item) error {
	if r.CreatedAt == 0 {
		r.CreatedAt = engram.Now()
	}
	body, err := encodeResponse(r)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *txConn) error {
		last, err := appendLog(ctx, tx, r.ProjectID, r.ConversationID, true, r.BaseSeq, input, r.ID, engram.OriginInput)
		if err != nil {
			return err
		}
		r.LastSeq = last
		// The response's items all come after the tip of the log before its
		// input, which may be past r.BaseSeq on a visible conversation:
		// reading from there reads only the response's own turn.
		start := last - int64(len(input))
		_, err = tx.ExecContext(ctx, `INSERT INTO responses (id, project_id, conversation_id, status, created_at, base_seq, last_seq, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.ProjectID, r.ConversationID, r.Status, r.CreatedAt, start, r.LastSeq, body)
		return err
	})
}

// FinishResponse implements engram.Store.
func (db *DB) FinishResponse(ctx context.Context, r *engram.Response, output []*engram.Item, usage []*engram.UsageRecord) error {
	return db.tx(ctx, func(tx *txConn) error {
		last, err := appendLog(ctx, tx, r.ProjectID, r.ConversationID, false, 0, output, r.ID, engram.OriginOutput)
		if err != nil {
			return err
		}
		if len(output) > 0 {
			r.LastSeq = last
		}
		body, err := encodeResponse(r)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE responses SET status = ?, last_seq = ?, body = ? WHERE project_id = ? AND id = ?`,
			r.Status, r.LastSeq, body, r.ProjectID, r.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("response", r.ID)
		}
		for _, u := range usage {
			if _, err := tx.ExecContext(ctx, `INSERT INTO usage (id, project_id, response_id, conversation_id, agent_id, end_user, provider, model, input_tokens, cached_tokens, output_tokens, reasoning_tokens, stateless_input_tokens, estimated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				u.ID, r.ProjectID, r.ID, r.ConversationID, u.AgentID, u.User, u.Provider, u.Model,
				u.InputTokens, u.CachedTokens, u.OutputTokens, u.ReasoningTokens, u.StatelessInputTokens, boolInt(u.Estimated), u.CreatedAt); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetResponse implements engram.Store.
func (db *DB) GetResponse(ctx context.Context, projectID, id string) (*engram.Response, error) {
	var body []byte
	var startSeq, lastSeq int64
	err := db.r.QueryRowContext(ctx, `SELECT body, base_seq, last_seq FROM responses WHERE project_id = ? AND id = ? AND deleted = 0`, projectID, id).Scan(&body, &startSeq, &lastSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("response", id)
	} else if err != nil {
		return nil, err
	}
	r, err := decodeResponse(body, projectID, lastSeq)
	if err != nil {
		return nil, err
	}
	r.Output, err = scanItems(db.r.QueryContext(ctx, `SELECT `+itemColumns+` FROM items WHERE conversation_id = ? AND seq > ? AND seq <= ? AND response_id = ? AND origin = 'output' ORDER BY seq`,
		r.ConversationID, startSeq, lastSeq, id))
	if r.Output == nil {
		r.Output = []*engram.Item{}
	}
	return r, err
}

// DeleteResponse implements engram.Store. The items the response added stay
// in their conversation's log.
func (db *DB) DeleteResponse(ctx context.Context, projectID, id string) error {
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE responses SET deleted = 1 WHERE project_id = ? AND id = ? AND deleted = 0`, projectID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("response", id)
		}
		return nil
	})
}

// ListInputItems implements engram.Store.
func (db *DB) ListInputItems(ctx context.Context, projectID, responseID string, page engram.Page) ([]*engram.Item, bool, error) {
	var convID string
	var base, last int64
	err := db.r.QueryRowContext(ctx, `SELECT conversation_id, base_seq, last_seq FROM responses WHERE project_id = ? AND id = ? AND deleted = 0`, projectID, responseID).Scan(&convID, &base, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, notFound("response", responseID)
	} else if err != nil {
		return nil, false, err
	}
	q, args, backwards := pageQuery(`SELECT `+itemColumns+` FROM items WHERE conversation_id = ? AND seq > ? AND seq <= ? AND response_id = ? AND origin = 'input' AND deleted = 0`,
		[]any{convID, base, last, responseID}, itemOrder, page)
	items, err := scanItems(db.r.QueryContext(ctx, q, args...))
	if err != nil {
		return nil, false, err
	}
	items, more := finishPage(items, page, backwards)
	return items, more, nil
}
