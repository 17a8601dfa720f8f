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
	StoredConversationID string           `json:"_conversation_id"`
	StoredConversation   string           `json:"_conversation,omitempty"`
	StoredAgentID        string           `json:"_agent_id,omitempty"`
	StoredAgentVersion   int              `json:"_agent_version,omitempty"`
	StoredIncomplete     string           `json:"_incomplete_reason,omitempty"`
	StoredBaseSeq        int64            `json:"_base_seq"`
	StoredConcurrency    string           `json:"_concurrency,omitempty"`
	StoredLimits         engram.RunLimits `json:"_limits"`
	StoredStartedAt      int64            `json:"_started_at,omitempty"`
	StoredKeyID          string           `json:"_key_id,omitempty"`
	StoredKeyRole        string           `json:"_key_role,omitempty"`
}

func encodeResponse(r *engram.Response) ([]byte, error) {
	rec := responseRecord{Response: *r, StoredConversationID: r.ConversationID, StoredConversation: r.Conversation,
		StoredAgentID: r.AgentID, StoredAgentVersion: r.AgentVersion, StoredIncomplete: r.IncompleteReason, StoredBaseSeq: r.BaseSeq,
		StoredConcurrency: r.Concurrency, StoredLimits: r.Limits, StoredStartedAt: r.StartedAt,
		StoredKeyID: r.KeyID, StoredKeyRole: r.KeyRole}
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
	r.Concurrency, r.Limits, r.StartedAt = rec.StoredConcurrency, rec.StoredLimits, rec.StoredStartedAt
	r.KeyID, r.KeyRole = rec.StoredKeyID, rec.StoredKeyRole
	return &r, nil
}

// CreateResponse implements engram.Store.
func (db *DB) CreateResponse(ctx context.Context, r *engram.Response, input []*engram.Item) error {
	return db.CreateRun(ctx, r, input, nil)
}

// CreateRun implements engram.Store.
func (db *DB) CreateRun(ctx context.Context, r *engram.Response, input []*engram.Item, first *engram.Step) error {
	if r.CreatedAt == 0 {
		r.CreatedAt = engram.Now()
	}
	if r.Concurrency == "" {
		r.Concurrency = engram.ConcurrencyEnqueue
	}
	return db.tx(ctx, func(tx *txConn) error {
		var hidden int
		if err := tx.QueryRowContext(ctx, `SELECT hidden FROM conversations WHERE project_id = ? AND id = ?`, r.ProjectID, r.ConversationID).Scan(&hidden); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if hidden == 1 {
			// A chain's log: a run continues from its tip or conflicts
			// (and the runtime forks); it never waits behind another.
			return startResponse(ctx, tx, r, input, first)
		}
		var activeID, activeStatus string
		err := tx.QueryRowContext(ctx, `SELECT id, status FROM responses WHERE conversation_id = ? AND status IN ('queued', 'in_progress', 'requires_action') ORDER BY id LIMIT 1`,
			r.ConversationID).Scan(&activeID, &activeStatus)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if activeID == "" {
			return startResponse(ctx, tx, r, input, first)
		}
		switch r.Concurrency {
		case engram.ConcurrencyReject:
			return engram.ParamErrorf(engram.EConflict, "conversation",
				"Conversation '%s' already has an active response '%s' (%s). Wait for it to finish, cancel it, or send \"concurrency\": \"enqueue\" or \"interrupt\".",
				r.Conversation, activeID, activeStatus)
		case engram.ConcurrencyInterrupt:
			if err := interruptActive(ctx, tx, r.ConversationID); err != nil {
				return err
			}
		}
		return queueResponse(ctx, tx, r, input)
	})
}

// startResponse appends r's input to its log and stores r running.
func startResponse(ctx context.Context, tx *txConn, r *engram.Response, input []*engram.Item, first *engram.Step) error {
	last, err := appendLog(ctx, tx, r.ProjectID, r.ConversationID, true, r.BaseSeq, input, r.ID, engram.OriginInput)
	if err != nil {
		return err
	}
	r.Status, r.LastSeq, r.StartedAt = engram.StatusInProgress, last, engram.Now()
	// The response's items all come after the tip of the log before its
	// input, which may be past r.BaseSeq on a visible conversation:
	// reading from there reads only the response's own turn.
	r.BaseSeq = last - int64(len(input))
	body, err := encodeResponse(r)
	if err != nil {
		return err
	}
	if _, err = tx.ExecContext(ctx, `INSERT INTO responses (id, project_id, conversation_id, status, created_at, base_seq, last_seq, lease_owner, lease_until, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ProjectID, r.ConversationID, r.Status, r.CreatedAt, r.BaseSeq, r.LastSeq, r.Lease.Owner, r.Lease.Until, body); err != nil {
		return err
	}
	if first != nil {
		return putStep(ctx, tx, first)
	}
	return nil
}

// queueResponse stores r queued, holding its input back until it starts.
func queueResponse(ctx context.Context, tx *txConn, r *engram.Response, input []*engram.Item) error {
	for _, it := range input {
		if it.ID == "" {
			it.ID = engram.NewID(engram.ItemIDPrefix(it.Type))
		}
		it.ResponseID, it.Origin = r.ID, engram.OriginInput
	}
	pending, err := engram.EncodeHeldInput(input)
	if err != nil {
		return err
	}
	r.Status, r.Lease = engram.StatusQueued, engram.Lease{}
	body, err := encodeResponse(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO responses (id, project_id, conversation_id, status, created_at, base_seq, last_seq, pending_input, body) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)`,
		r.ID, r.ProjectID, r.ConversationID, r.Status, r.CreatedAt, pending, body)
	return err
}

// interruptActive cancels a conversation's queued runs at once and asks
// its running and paused ones to stop, making the paused ones claimable
// so that a worker ends them.
func interruptActive(ctx context.Context, tx *txConn, convID string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE responses SET status = 'cancelled', pending_input = '' WHERE conversation_id = ? AND status = 'queued'`, convID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE responses SET cancel_requested = 1, status = 'in_progress', wake_at = 0,
		lease_owner = CASE status WHEN 'requires_action' THEN '' ELSE lease_owner END,
		lease_until = CASE WHEN status = 'requires_action' OR wake_at > 0 THEN 0 ELSE lease_until END
		WHERE conversation_id = ? AND status IN ('in_progress', 'requires_action')`, convID)
	return err
}

// FinishResponse implements engram.Store.
func (db *DB) FinishResponse(ctx context.Context, r *engram.Response, end engram.RunEnd) error {
	return db.tx(ctx, func(tx *txConn) error {
		if err := checkLease(ctx, tx, r.ID, end.Lease); err != nil {
			return err
		}
		last, err := appendLog(ctx, tx, r.ProjectID, r.ConversationID, false, 0, end.Output, r.ID, engram.OriginOutput)
		if err != nil {
			return err
		}
		if len(end.Output) > 0 {
			r.LastSeq = last
		}
		r.Lease = engram.Lease{}
		body, err := encodeResponse(r)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE responses SET status = ?, last_seq = ?, body = ?, lease_owner = '', lease_until = 0, wake_at = 0, pending_input = '' WHERE project_id = ? AND id = ?`,
			r.Status, r.LastSeq, body, r.ProjectID, r.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("response", r.ID)
		}
		if err := putUsage(ctx, tx, r.ProjectID, r.ID, r.ConversationID, end.Usage); err != nil {
			return err
		}
		if end.Step != nil {
			if err := putStep(ctx, tx, end.Step); err != nil {
				return err
			}
		}
		return putEvents(ctx, tx, r.ID, end.Events)
	})
}

// GetResponse implements engram.Store. A run not yet ended shows the
// output of its journal's steps; an ended one the items it added to its
// log.
func (db *DB) GetResponse(ctx context.Context, projectID, id string) (*engram.Response, error) {
	r, err := getResponse(ctx, db.r, projectID, id)
	if err != nil {
		return nil, err
	}
	if engram.IsTerminal(r.Status) {
		r.Output, err = scanItems(db.r.QueryContext(ctx, `SELECT `+itemColumns+` FROM items WHERE conversation_id = ? AND seq > ? AND seq <= ? AND response_id = ? AND origin = 'output' ORDER BY seq`,
			r.ConversationID, r.BaseSeq, r.LastSeq, id))
	} else {
		var steps []*engram.Step
		steps, err = listSteps(ctx, db.r, id)
		for _, s := range steps {
			r.Output = append(r.Output, s.Output...)
		}
	}
	if r.Output == nil {
		r.Output = []*engram.Item{}
	}
	return r, err
}

const responseColumns = `body, status, base_seq, last_seq, lease_owner, lease_until, wake_at, cancel_requested`

func getResponse(ctx context.Context, q querier, projectID, id string) (*engram.Response, error) {
	r, err := scanResponse(q.QueryRowContext(ctx, `SELECT `+responseColumns+` FROM responses WHERE project_id = ? AND id = ? AND deleted = 0`, projectID, id), projectID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("response", id)
	}
	return r, err
}

func scanResponse(row interface{ Scan(...any) error }, projectID string) (*engram.Response, error) {
	var body []byte
	var status string
	var base, last, wake int64
	var cancel int
	var lease engram.Lease
	if err := row.Scan(&body, &status, &base, &last, &lease.Owner, &lease.Until, &wake, &cancel); err != nil {
		return nil, err
	}
	r, err := decodeResponse(body, projectID, last)
	if err != nil {
		return nil, err
	}
	r.Status, r.BaseSeq, r.Lease, r.WakeAt, r.CancelRequested = status, base, lease, wake, cancel != 0
	return r, nil
}

// DeleteResponse implements engram.Store. The items the response added stay
// in their conversation's log.
func (db *DB) DeleteResponse(ctx context.Context, projectID, id string) error {
	return db.tx(ctx, func(tx *txConn) error {
		r, err := getResponse(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if !engram.IsTerminal(r.Status) {
			return engram.Errorf(engram.EConflict, "Response '%s' is %s: cancel it before deleting it.", id, r.Status)
		}
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
	var convID, pending string
	var base, last int64
	err := db.r.QueryRowContext(ctx, `SELECT conversation_id, base_seq, last_seq, pending_input FROM responses WHERE project_id = ? AND id = ? AND deleted = 0`, projectID, responseID).Scan(&convID, &base, &last, &pending)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, notFound("response", responseID)
	} else if err != nil {
		return nil, false, err
	}
	if pending != "" {
		// A queued run's input is not in the log yet.
		items, err := engram.DecodeHeldInput(pending)
		if err != nil {
			return nil, false, err
		}
		items, more := engram.PageItems(items, page)
		return items, more, nil
	}
	q, args, backwards := pageQuery(`SELECT `+itemColumns+` FROM items WHERE conversation_id = ? AND seq > ? AND seq <= ? AND response_id = ? AND origin = 'input' AND deleted = 0`,
		[]any{convID, base, last, responseID}, itemOrder, page)
	items, err := scanItems(db.r.QueryContext(ctx, q, args...))
	if err != nil {
		return nil, false, err
	}
	items, more := engram.FinishPage(items, page, backwards)
	return items, more, nil
}

// putUsage records model calls' usage, of a response (responseID) or of
// work done for a conversation outside any response ("").
func putUsage(ctx context.Context, tx *txConn, projectID, responseID, conversationID string, usage []*engram.UsageRecord) error {
	for _, u := range usage {
		if _, err := tx.ExecContext(ctx, `INSERT INTO usage (id, project_id, response_id, conversation_id, agent_id, end_user, provider, model, input_tokens, cached_tokens, output_tokens, reasoning_tokens, stateless_input_tokens, estimated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, projectID, responseID, conversationID, u.AgentID, u.User, u.Provider, u.Model,
			u.InputTokens, u.CachedTokens, u.OutputTokens, u.ReasoningTokens, u.StatelessInputTokens, boolInt(u.Estimated), u.CreatedAt); err != nil {
			return err
		}
	}
	return nil
}
