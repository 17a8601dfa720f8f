package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// responseRecord is a response's stored body: its API fields and the
// internal ones its JSON form leaves out. Output lives in items. (The same
// encoding as the sqlite store's, so rows copy between them.)
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

func encodeResponse(r *engram.Response) (string, error) {
	rec := responseRecord{Response: *r, StoredConversationID: r.ConversationID, StoredConversation: r.Conversation,
		StoredAgentID: r.AgentID, StoredAgentVersion: r.AgentVersion, StoredIncomplete: r.IncompleteReason, StoredBaseSeq: r.BaseSeq,
		StoredConcurrency: r.Concurrency, StoredLimits: r.Limits, StoredStartedAt: r.StartedAt,
		StoredKeyID: r.KeyID, StoredKeyRole: r.KeyRole}
	rec.Output = nil
	body, err := json.Marshal(rec)
	return string(body), err
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

// lockConversation takes a conversation's row lock and returns whether it
// is hidden (false when there is no such conversation: appending then says
// so). Every transaction that changes both a conversation and its
// responses takes this lock first, so two replicas starting runs on one
// conversation decide one after the other, and no two transactions wait
// for each other's locks in opposite orders.
func lockConversation(ctx context.Context, tx pgx.Tx, projectID, convID string) (hidden bool, err error) {
	var h int
	err = tx.QueryRow(ctx, `SELECT hidden FROM conversations WHERE project_id = $1 AND id = $2 FOR UPDATE`, projectID, convID).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return h == 1, err
}

// activeResponseSQL finds a conversation's oldest active response.
const activeResponseSQL = `SELECT id, status FROM responses WHERE conversation_id = $1 AND status IN ('queued', 'in_progress', 'requires_action') ORDER BY id LIMIT 1`

// CreateRun implements engram.Store: in one round trip when the run starts
// at the tip of the log its caller saw or waits behind another (startRun),
// else in two: the conversation's lock with what the run's start depends
// on, then the writes with COMMIT.
func (db *DB) CreateRun(ctx context.Context, r *engram.Response, input []*engram.Item, first *engram.Step) error {
	if r.CreatedAt == 0 {
		r.CreatedAt = engram.Now()
	}
	if r.Concurrency == "" {
		r.Concurrency = engram.ConcurrencyEnqueue
	}
	if done, err := db.startRun(ctx, r, input, first); done || err != nil {
		return err
	}
	orig := *r
	return db.pipe(ctx, func(t *pipeTx) error {
		// A retried attempt starts from r as given, not as the failed
		// attempt left it (queued, its lease cleared).
		*r = orig
		var conv lockedConversation
		queueLock(t, r.ProjectID, r.ConversationID, &conv)
		// Read after the lock is held (a statement of its own, so with a
		// snapshot taken then): a run another transaction started on the
		// conversation just before is seen. A hidden conversation does not
		// need it, and reading it costs nothing more there.
		var activeID, activeStatus string
		t.queue(activeResponseSQL, r.ConversationID).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&activeID, &activeStatus); !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			return nil
		})
		if err := t.flush(ctx); err != nil {
			return err
		}
		if conv.hidden || activeID == "" {
			// A chain's log: a run continues from its tip or conflicts
			// (and the runtime forks); it never waits behind another.
			return startResponse(t, &conv, r, input, first)
		}
		switch r.Concurrency {
		case engram.ConcurrencyReject:
			return engram.ParamErrorf(engram.EConflict, "conversation",
				"Conversation '%s' already has an active response '%s' (%s). Wait for it to finish, cancel it, or send \"concurrency\": \"enqueue\" or \"interrupt\".",
				r.Conversation, activeID, activeStatus)
		case engram.ConcurrencyInterrupt:
			interruptActive(t, r.ConversationID)
		}
		return queueResponse(t, r, input)
	})
}

// startResponse appends r's input to its log and stores r running.
func startResponse(t *pipeTx, conv *lockedConversation, r *engram.Response, input []*engram.Item, first *engram.Step) error {
	last, err := queueAppend(t, conv, r.ProjectID, r.ConversationID, true, r.BaseSeq, input, r.ID, engram.OriginInput)
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
	t.queue(`INSERT INTO responses (id, project_id, conversation_id, status, created_at, base_seq, last_seq, lease_owner, lease_until, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.ID, r.ProjectID, r.ConversationID, r.Status, r.CreatedAt, r.BaseSeq, r.LastSeq, r.Lease.Owner, r.Lease.Until, body)
	if first != nil {
		return queueStep(t, first)
	}
	return nil
}

// queueResponse stores r queued, holding its input back until it starts.
func queueResponse(t *pipeTx, r *engram.Response, input []*engram.Item) error {
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
	t.queue(`INSERT INTO responses (id, project_id, conversation_id, status, created_at, base_seq, last_seq, pending_input, body) VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7)`,
		r.ID, r.ProjectID, r.ConversationID, r.Status, r.CreatedAt, string(pending), body)
	return nil
}

// interruptActive cancels a conversation's queued runs at once and asks
// its running and paused ones to stop, making the paused ones claimable
// so that a worker ends them.
func interruptActive(t *pipeTx, convID string) {
	t.queue(`UPDATE responses SET status = 'cancelled', pending_input = '' WHERE conversation_id = $1 AND status = 'queued'`, convID)
	t.queue(`UPDATE responses SET cancel_requested = 1, status = 'in_progress', wake_at = 0,
		lease_owner = CASE status WHEN 'requires_action' THEN '' ELSE lease_owner END,
		lease_until = CASE WHEN status = 'requires_action' OR wake_at > 0 THEN 0 ELSE lease_until END
		WHERE conversation_id = $1 AND status IN ('in_progress', 'requires_action')`, convID)
}

// GetResponse implements engram.Store. A run not yet ended shows the
// output of its journal's steps; an ended one the items it added to its
// log.
func (db *DB) GetResponse(ctx context.Context, projectID, id string) (*engram.Response, error) {
	r, err := getResponse(ctx, db.pool, projectID, id, false)
	if err != nil {
		return nil, err
	}
	if engram.IsTerminal(r.Status) {
		r.Output, err = scanItems(db.pool.Query(ctx, `SELECT `+itemColumns+` FROM items WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 AND response_id = $4 AND origin = 'output' ORDER BY seq`,
			r.ConversationID, r.BaseSeq, r.LastSeq, id))
	} else {
		var steps []*engram.Step
		steps, err = listSteps(ctx, db.pool, id)
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

// getResponse reads a response; lock takes its row lock (FOR UPDATE) for
// a transaction that decides from what it read.
func getResponse(ctx context.Context, q querier, projectID, id string, lock bool) (*engram.Response, error) {
	sql := `SELECT ` + responseColumns + ` FROM responses WHERE project_id = $1 AND id = $2 AND deleted = 0`
	if lock {
		sql += ` FOR UPDATE`
	}
	r, err := scanResponse(q.QueryRow(ctx, sql, projectID, id), projectID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("response", id)
	}
	return r, mapErr(err)
}

func scanResponse(row pgx.Row, projectID string) (*engram.Response, error) {
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
	return db.tx(ctx, func(tx pgx.Tx) error {
		r, err := getResponse(ctx, tx, projectID, id, true)
		if err != nil {
			return err
		}
		if !engram.IsTerminal(r.Status) {
			return engram.Errorf(engram.EConflict, "Response '%s' is %s: cancel it before deleting it.", id, r.Status)
		}
		_, err = tx.Exec(ctx, `UPDATE responses SET deleted = 1 WHERE project_id = $1 AND id = $2`, projectID, id)
		return err
	})
}

// ListInputItems implements engram.Store.
func (db *DB) ListInputItems(ctx context.Context, projectID, responseID string, page engram.Page) ([]*engram.Item, bool, error) {
	var convID, pending string
	var base, last int64
	err := db.pool.QueryRow(ctx, `SELECT conversation_id, base_seq, last_seq, pending_input FROM responses WHERE project_id = $1 AND id = $2 AND deleted = 0`,
		projectID, responseID).Scan(&convID, &base, &last, &pending)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, notFound("response", responseID)
	} else if err != nil {
		return nil, false, mapErr(err)
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
	p := params{convID, base, last, responseID}
	q, backwards := pageQuery(`SELECT `+itemColumns+` FROM items WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 AND response_id = $4 AND origin = 'input' AND deleted = 0`,
		&p, itemOrder, page)
	items, err := scanItems(db.pool.Query(ctx, q, p...))
	if err != nil {
		return nil, false, err
	}
	items, more := engram.FinishPage(items, page, backwards)
	return items, more, nil
}

// queueUsage records model calls' usage, of a response (responseID) or
// of work done for a conversation outside any response (""), in one
// statement.
func queueUsage(t *pipeTx, projectID, responseID, conversationID string, usage []*engram.UsageRecord) {
	if len(usage) == 0 {
		return
	}
	args := append([]any{projectID, responseID, conversationID}, newUsageArrays(usage).args()...)
	t.queue(`INSERT INTO usage (id, project_id, response_id, conversation_id, agent_id, end_user, provider, model, input_tokens, cached_tokens, output_tokens, reasoning_tokens, stateless_input_tokens, estimated, created_at)
		SELECT x.i, $1, $2, $3, x.a, x.u, x.p, x.m, x.it, x.ct, x.ot, x.rt, x.st, x.e, x.c
		FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[])
			AS x(i, a, u, p, m, it, ct, ot, rt, st, e, c)`, args...)
}

// usageArrays are usage records as columns, for INSERT ... SELECT FROM
// unnest: id, agent_id, end_user, provider, model, then the counts,
// estimated and created_at.
type usageArrays struct {
	ids, agents, users, providers, models                           []string
	input, cached, output, reasoning, stateless, estimated, created []int64
}

func newUsageArrays(usage []*engram.UsageRecord) *usageArrays {
	n := len(usage)
	a := &usageArrays{ids: make([]string, n), agents: make([]string, n), users: make([]string, n), providers: make([]string, n), models: make([]string, n),
		input: make([]int64, n), cached: make([]int64, n), output: make([]int64, n), reasoning: make([]int64, n),
		stateless: make([]int64, n), estimated: make([]int64, n), created: make([]int64, n)}
	for i, u := range usage {
		a.ids[i], a.agents[i], a.users[i], a.providers[i], a.models[i] = u.ID, u.AgentID, u.User, u.Provider, u.Model
		a.input[i], a.cached[i], a.output[i], a.reasoning[i] = int64(u.InputTokens), int64(u.CachedTokens), int64(u.OutputTokens), int64(u.ReasoningTokens)
		a.stateless[i], a.estimated[i], a.created[i] = int64(u.StatelessInputTokens), int64(boolInt(u.Estimated)), u.CreatedAt
	}
	return a
}

func (a *usageArrays) args() []any {
	return []any{a.ids, a.agents, a.users, a.providers, a.models, a.input, a.cached, a.output, a.reasoning, a.stateless, a.estimated, a.created}
}
