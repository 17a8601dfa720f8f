package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// A turn's two writes, starting a run and finishing it, are each one
// round trip in the common case: BEGIN, the locks (conversation first, as
// everywhere), one statement that writes everything only if what it
// depends on holds, and COMMIT go together. The statement's conditions are
// those the two-round-trip path decides on in Go; when they do not hold it
// writes nothing, the COMMIT commits nothing, and the answer is taken from
// what the locks read, or the two-round-trip path runs as a new
// transaction. The locks are statements of their own so that the write,
// a later statement, reads with a snapshot taken once they are held.

// itemArrays are the columns of items that do not depend on their seqs,
// which the statement numbers from the log's tip (WITH ORDINALITY).
func itemArrays(items []*engram.Item, responseID, origin string) (ids, types []string, tokens []int64, bodies, searches []string, err error) {
	n := len(items)
	ids, types, tokens, bodies, searches = make([]string, n), make([]string, n), make([]int64, n), make([]string, n), make([]string, n)
	for i, it := range items {
		if it.ID == "" {
			it.ID = engram.NewID(engram.ItemIDPrefix(it.Type))
		}
		it.ResponseID, it.Origin = responseID, origin
		body, err := jsonString(it)
		if err != nil {
			return nil, nil, nil, nil, nil, err
		}
		ids[i], types[i], tokens[i], bodies[i], searches[i] = it.ID, pgText(it.Type), int64(it.Tokens), body, searchText(it)
	}
	return ids, types, tokens, bodies, searches, nil
}

// numberItems gives items the seqs the statement gave them (those after
// last-len(items)) and their time.
func numberItems(items []*engram.Item, convID string, last, now int64) {
	seq := last - int64(len(items))
	for _, it := range items {
		seq++
		it.Seq, it.ConversationID, it.CreatedAt = seq, convID, now
	}
}

// startRunSQL starts a run at the tip of its conversation's log, which it
// expects at $4: the log is not deleted, is still at $4, and when visible
// has no active run. Or it queues the run, with its input held back
// ($23), behind the active run of a visible log. It returns the log's new
// last_seq (NULL when it did not start the run) and whether it queued it.
const startRunSQL = `WITH c AS (
		UPDATE conversations SET last_seq = last_seq + $5::bigint, tokens = tokens + $6::bigint
		WHERE project_id = $2 AND id = $3 AND deleted = 0 AND last_seq = $4::bigint
			AND (hidden = 1 OR NOT EXISTS (SELECT 1 FROM responses WHERE conversation_id = $3 AND status IN ('queued', 'in_progress', 'requires_action')))
		RETURNING last_seq
	), i AS (
		INSERT INTO items (conversation_id, seq, id, project_id, type, response_id, origin, tokens, created_at, body, search_text)
		SELECT $3, c.last_seq - $5::bigint + u.n, u.i, $2, u.t, $1, 'input', u.k, $7::bigint, u.b, u.x
		FROM c, unnest($8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[]) WITH ORDINALITY AS u(i, t, k, b, x, n)
	), r AS (
		INSERT INTO responses (id, project_id, conversation_id, status, created_at, base_seq, last_seq, lease_owner, lease_until, body)
		SELECT $1, $2, $3, 'in_progress', $13::bigint, $4::bigint, c.last_seq, $14, $15::bigint, $16 FROM c
	), s AS (
		INSERT INTO steps (response_id, n, project_id, kind, status, body)
		SELECT $17, $18::int, $19, $20, $21, $22 FROM c WHERE $22::text <> ''
		ON CONFLICT (response_id, n) DO UPDATE SET status = excluded.status, body = excluded.body
	), q AS (
		INSERT INTO responses (id, project_id, conversation_id, status, created_at, base_seq, last_seq, pending_input, body)
		SELECT $1, $2, $3, 'queued', $13::bigint, 0, 0, $23, $24 FROM conversations
		WHERE project_id = $2 AND id = $3 AND hidden = 0 AND $23::text <> ''
			AND EXISTS (SELECT 1 FROM responses WHERE conversation_id = $3 AND status IN ('queued', 'in_progress', 'requires_action'))
		RETURNING 1
	)
	SELECT (SELECT last_seq FROM c), EXISTS (SELECT 1 FROM q)`

// startRun is CreateRun's common cases in one round trip: a run that
// starts at once at r.BaseSeq, the tip of the log as the caller last saw
// it, or that waits (ConcurrencyEnqueue) behind the active run of a
// visible log. done is false when neither (the log moved on, or the run
// conflicts or interrupts): nothing was written, and r is as given.
func (db *DB) startRun(ctx context.Context, r *engram.Response, input []*engram.Item, first *engram.Step) (done bool, err error) {
	now := engram.Now()
	ids, types, tokens, bodies, searches, err := itemArrays(input, r.ID, engram.OriginInput)
	if err != nil {
		return false, err
	}
	run := *r
	run.Status, run.StartedAt = engram.StatusInProgress, engram.Now()
	body, err := encodeResponse(&run)
	if err != nil {
		return false, err
	}
	waiting := *r
	waiting.Status, waiting.Lease = engram.StatusQueued, engram.Lease{}
	var pending, waitingBody string
	if r.Concurrency == engram.ConcurrencyEnqueue {
		held, err := engram.EncodeHeldInput(input)
		if err != nil {
			return false, err
		}
		pending = string(held)
		if waitingBody, err = encodeResponse(&waiting); err != nil {
			return false, err
		}
	}
	var step struct {
		responseID, projectID, kind, status, body string
		n                                         int
	}
	if first != nil {
		if step.body, err = jsonString(first); err != nil {
			return false, err
		}
		step.responseID, step.projectID, step.kind, step.status, step.n = first.ResponseID, first.ProjectID, first.Kind, first.Status, first.N
	}
	var last *int64
	var queued bool
	err = db.pipe(ctx, func(t *pipeTx) error {
		last, queued = nil, false
		var conv lockedConversation
		queueLock(t, r.ProjectID, r.ConversationID, &conv)
		t.queue(startRunSQL, r.ID, r.ProjectID, r.ConversationID, r.BaseSeq, len(input), addedTokens(input), now,
			ids, types, tokens, bodies, searches, r.CreatedAt, r.Lease.Owner, r.Lease.Until, body,
			step.responseID, step.n, step.projectID, step.kind, step.status, step.body, pending, waitingBody).Fn = func(br pgx.BatchResults) error {
			return itemInsertErr(br.QueryRow().Scan(&last, &queued))
		}
		return nil
	})
	switch {
	case err != nil:
		return false, err
	case last != nil:
		numberItems(input, r.ConversationID, *last, now)
		r.Status, r.StartedAt, r.LastSeq = run.Status, run.StartedAt, *last
		return true, nil
	case queued:
		r.Status, r.Lease = waiting.Status, waiting.Lease
		return true, nil
	}
	return false, nil
}

// finishRunSQL ends a run held by lease owner $3 that has not ended, on a
// conversation not deleted. It returns the log's new last_seq, or no row.
const finishRunSQL = `WITH run AS (
		SELECT 1 FROM responses WHERE id = $1 AND project_id = $2 AND lease_owner = $3 AND status NOT IN ('completed', 'failed', 'cancelled', 'incomplete')
	), c AS (
		UPDATE conversations SET last_seq = last_seq + $5::bigint, tokens = tokens + $6::bigint
		WHERE project_id = $2 AND id = $4 AND deleted = 0 AND EXISTS (SELECT 1 FROM run)
		RETURNING last_seq
	), i AS (
		INSERT INTO items (conversation_id, seq, id, project_id, type, response_id, origin, tokens, created_at, body, search_text)
		SELECT $4, c.last_seq - $5::bigint + u.n, u.i, $2, u.t, $1, 'output', u.k, $7::bigint, u.b, u.x
		FROM c, unnest($8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[]) WITH ORDINALITY AS u(i, t, k, b, x, n)
	), r AS (
		UPDATE responses SET status = $13, last_seq = CASE WHEN $5::bigint > 0 THEN c.last_seq ELSE $14::bigint END, body = $15,
			lease_owner = '', lease_until = 0, wake_at = 0, pending_input = ''
		FROM c WHERE responses.id = $1
	), u AS (
		INSERT INTO usage (id, project_id, response_id, conversation_id, agent_id, end_user, provider, model, input_tokens, cached_tokens, output_tokens, reasoning_tokens, stateless_input_tokens, estimated, created_at)
		SELECT x.i, $2, $1, $4, x.a, x.u, x.p, x.m, x.it, x.ct, x.ot, x.rt, x.st, x.e, x.c
		FROM c, unnest($16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[], $25::bigint[], $26::bigint[], $27::bigint[])
			AS x(i, a, u, p, m, it, ct, ot, rt, st, e, c)
	), s AS (
		INSERT INTO steps (response_id, n, project_id, kind, status, body)
		SELECT $28, $29::int, $30, $31, $32, $33 FROM c WHERE $33::text <> ''
		ON CONFLICT (response_id, n) DO UPDATE SET status = excluded.status, body = excluded.body
	), e AS (
		INSERT INTO response_events (response_id, seq_to, body) SELECT $1, $34::bigint, $35::bytea FROM c WHERE $35::bytea IS NOT NULL
	)
	SELECT last_seq FROM c`

// FinishResponse implements engram.Store in one round trip.
func (db *DB) FinishResponse(ctx context.Context, r *engram.Response, end engram.RunEnd) error {
	now := engram.Now()
	ids, types, tokens, bodies, searches, err := itemArrays(end.Output, r.ID, engram.OriginOutput)
	if err != nil {
		return err
	}
	ended := *r
	ended.Lease = engram.Lease{}
	body, err := encodeResponse(&ended)
	if err != nil {
		return err
	}
	usage := newUsageArrays(end.Usage)
	var step struct {
		responseID, projectID, kind, status, body string
		n                                         int
	}
	if s := end.Step; s != nil {
		if step.body, err = jsonString(s); err != nil {
			return err
		}
		step.responseID, step.projectID, step.kind, step.status, step.n = s.ResponseID, s.ProjectID, s.Kind, s.Status, s.N
	}
	var events []byte
	var eventsTo int64
	if len(end.Events) > 0 {
		if events, err = packEvents(end.Events); err != nil {
			return err
		}
		eventsTo = end.Events[len(end.Events)-1].Seq
	}
	var (
		conv lockedConversation
		run  leaseState
		done bool
		last int64
	)
	err = db.pipe(ctx, func(t *pipeTx) error {
		conv, run, done = lockedConversation{}, leaseState{}, false
		queueLock(t, r.ProjectID, r.ConversationID, &conv)
		queueLeaseCheck(t, r.ID, &run)
		args := []any{r.ID, r.ProjectID, end.Lease.Owner, r.ConversationID, len(end.Output), addedTokens(end.Output), now,
			ids, types, tokens, bodies, searches, r.Status, r.LastSeq, body}
		args = append(args, usage.args()...)
		args = append(args, step.responseID, step.n, step.projectID, step.kind, step.status, step.body, eventsTo, events)
		t.queue(finishRunSQL, args...).Fn = func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&last)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			done = err == nil
			return itemInsertErr(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !done {
		// The statement's conditions, in the order the checks fail in.
		if err := run.check(r.ID, end.Lease); err != nil {
			return err
		}
		if !conv.found || conv.deleted {
			return notFound("conversation", r.ConversationID)
		}
		return notFound("response", r.ID)
	}
	numberItems(end.Output, r.ConversationID, last, now)
	if len(end.Output) > 0 {
		r.LastSeq = last
	}
	r.Lease = engram.Lease{}
	return nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
