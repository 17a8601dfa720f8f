package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"slices"

	"github.com/engram-run/engram"
)

type querier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

const convColumns = `id, project_id, agent_id, end_user, metadata, created_at, hidden, fork_of, fork_seq, last_seq, tokens`

func scanConversation(s interface{ Scan(...any) error }) (*engram.Conversation, error) {
	c := &engram.Conversation{}
	var meta []byte
	var hidden int
	if err := s.Scan(&c.ID, &c.ProjectID, &c.AgentID, &c.User, &meta, &c.CreatedAt, &hidden, &c.ForkOf, &c.ForkSeq, &c.LastSeq, &c.Tokens); err != nil {
		return nil, err
	}
	c.Hidden = hidden != 0
	if err := json.Unmarshal(meta, &c.Metadata); err != nil {
		return nil, err
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	return c, nil
}

func getConversation(ctx context.Context, q querier, projectID, id string) (*engram.Conversation, error) {
	c, err := scanConversation(q.QueryRowContext(ctx, `SELECT `+convColumns+` FROM conversations WHERE project_id = ? AND id = ? AND deleted = 0`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("conversation", id)
	}
	return c, err
}

// CreateConversation implements engram.Store.
func (db *DB) CreateConversation(ctx context.Context, c *engram.Conversation, items []*engram.Item) error {
	if c.CreatedAt == 0 {
		c.CreatedAt = engram.Now()
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	meta, _ := json.Marshal(c.Metadata)
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, c.ProjectID); err != nil {
			return err
		}
		c.LastSeq, c.Tokens = 0, 0
		if _, err := tx.ExecContext(ctx, `INSERT INTO conversations (id, project_id, agent_id, end_user, metadata, created_at, hidden, fork_of, fork_seq, last_seq, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, '', 0, 0, 0)`,
			c.ID, c.ProjectID, c.AgentID, c.User, meta, c.CreatedAt, boolInt(c.Hidden)); err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		last, err := appendLog(ctx, tx, c.ProjectID, c.ID, false, 0, items, "", "")
		c.LastSeq = last
		for _, it := range items {
			c.Tokens += int64(it.Tokens)
		}
		return err
	})
}

// ForkConversation implements engram.Store.
func (db *DB) ForkConversation(ctx context.Context, c *engram.Conversation) error {
	if c.CreatedAt == 0 {
		c.CreatedAt = engram.Now()
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	meta, _ := json.Marshal(c.Metadata)
	return db.tx(ctx, func(tx *txConn) error {
		parent, err := getConversation(ctx, tx, c.ProjectID, c.ForkOf)
		if err != nil {
			return err
		}
		if c.ForkSeq > parent.LastSeq || c.ForkSeq < 0 {
			return engram.Errorf(engram.EInvalid, "fork point %d is past the end of conversation %s", c.ForkSeq, parent.ID)
		}
		// The fork's history is that of the conversation whose own items
		// reach back to the fork point (the parent, or when the fork point
		// lies in history the parent itself shares, an ancestor): its
		// total less what it added after the fork point. That reads only
		// the items after the fork point, which are few.
		owner := parent
		for owner.ForkOf != "" && c.ForkSeq < owner.ForkSeq {
			if owner, err = scanConversation(tx.QueryRowContext(ctx, `SELECT `+convColumns+` FROM conversations WHERE project_id = ? AND id = ?`, c.ProjectID, owner.ForkOf)); err != nil {
				return err
			}
		}
		var after int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(tokens), 0) FROM items WHERE conversation_id = ? AND seq > ? AND deleted = 0`, owner.ID, c.ForkSeq).Scan(&after); err != nil {
			return err
		}
		c.LastSeq, c.Tokens, c.Hidden = c.ForkSeq, owner.Tokens-after, true
		_, err = tx.ExecContext(ctx, `INSERT INTO conversations (id, project_id, agent_id, end_user, metadata, created_at, hidden, fork_of, fork_seq, last_seq, tokens) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)`,
			c.ID, c.ProjectID, c.AgentID, c.User, meta, c.CreatedAt, c.ForkOf, c.ForkSeq, c.LastSeq, c.Tokens)
		return err
	})
}

// GetConversation implements engram.Store.
func (db *DB) GetConversation(ctx context.Context, projectID, id string) (*engram.Conversation, error) {
	return getConversation(ctx, db.r, projectID, id)
}

// UpdateConversation implements engram.Store.
func (db *DB) UpdateConversation(ctx context.Context, projectID, id string, metadata map[string]string) (*engram.Conversation, error) {
	if metadata == nil {
		metadata = map[string]string{}
	}
	meta, _ := json.Marshal(metadata)
	var c *engram.Conversation
	err := db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET metadata = ? WHERE project_id = ? AND id = ? AND deleted = 0`, meta, projectID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("conversation", id)
		}
		c, err = getConversation(ctx, tx, projectID, id)
		return err
	})
	return c, err
}

// DeleteConversation implements engram.Store. The row is marked deleted;
// forks made from it keep reading the history they share.
func (db *DB) DeleteConversation(ctx context.Context, projectID, id string) error {
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET deleted = 1 WHERE project_id = ? AND id = ? AND deleted = 0`, projectID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("conversation", id)
		}
		return unindexConversation(ctx, tx, id)
	})
}

// ListConversations implements engram.Store.
func (db *DB) ListConversations(ctx context.Context, projectID string, f engram.ConversationFilter) ([]*engram.Conversation, bool, error) {
	q := `SELECT ` + convColumns + ` FROM conversations WHERE project_id = ? AND hidden = 0 AND deleted = 0`
	args := []any{projectID}
	if f.AgentID != "" {
		q += ` AND agent_id = ?`
		args = append(args, f.AgentID)
	}
	if f.User != "" {
		q += ` AND end_user = ?`
		args = append(args, f.User)
	}
	q, args, backwards := pageQuery(q, args, conversationOrder, f.Page)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*engram.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, f.Page, backwards)
	return out, more, nil
}

// appendLog appends items to the end of a conversation's log inside tx
// and returns its new last_seq. One statement both checks the conversation
// (its project, not deleted and, when checkBase is set and the log is
// hidden, still at baseSeq) and reserves the sequence numbers and tokens.
func appendLog(ctx context.Context, tx *txConn, projectID, convID string, checkBase bool, baseSeq int64, items []*engram.Item, responseID, origin string) (int64, error) {
	var added int64
	for _, it := range items {
		added += int64(it.Tokens)
	}
	var last int64
	search := itemSearch{projectID: projectID, convID: convID}
	err := tx.QueryRowContext(ctx, `UPDATE conversations SET last_seq = last_seq + ?, tokens = tokens + ? WHERE project_id = ? AND id = ? AND deleted = 0 AND (? = 0 OR hidden = 0 OR last_seq = ?) RETURNING last_seq, agent_id, end_user`,
		len(items), added, projectID, convID, boolInt(checkBase), baseSeq).Scan(&last, &search.agentID, &search.user)
	if errors.Is(err, sql.ErrNoRows) {
		c, gerr := getConversation(ctx, tx, projectID, convID)
		if gerr != nil {
			return 0, gerr
		}
		return 0, engram.Errorf(engram.EConflict, "conversation %s moved on from seq %d to %d", c.ID, baseSeq, c.LastSeq)
	} else if err != nil {
		return 0, err
	}
	now := engram.Now()
	seq := last - int64(len(items))
	for _, it := range items {
		if it.ID == "" {
			it.ID = engram.NewID(engram.ItemIDPrefix(it.Type))
		}
		if responseID != "" {
			it.ResponseID, it.Origin = responseID, origin
		}
		seq++
		it.Seq, it.ConversationID, it.CreatedAt = seq, convID, now
		body, err := json.Marshal(it)
		if err != nil {
			return 0, err
		}
		searchRowid, err := search.index(ctx, tx, it)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO items (conversation_id, seq, id, project_id, type, response_id, origin, tokens, created_at, body, search_rowid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			convID, it.Seq, it.ID, projectID, it.Type, it.ResponseID, it.Origin, it.Tokens, now, body, searchRowid); err != nil {
			if engram.ErrorCode(mapErr(err)) == engram.EConflict {
				return 0, engram.Errorf(engram.EConflict, "an item with id %s already exists", it.ID)
			}
			return 0, err
		}
	}
	return last, nil
}

// AppendItems implements engram.Store.
func (db *DB) AppendItems(ctx context.Context, projectID, conversationID string, items []*engram.Item) error {
	return db.tx(ctx, func(tx *txConn) error {
		_, err := appendLog(ctx, tx, projectID, conversationID, false, 0, items, "", "")
		return err
	})
}

const itemColumns = `body, conversation_id, seq, response_id, origin, tokens, created_at`

func scanItem(s interface{ Scan(...any) error }) (*engram.Item, error) {
	var body []byte
	it := &engram.Item{}
	if err := s.Scan(&body, &it.ConversationID, &it.Seq, &it.ResponseID, &it.Origin, &it.Tokens, &it.CreatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, it); err != nil {
		return nil, err
	}
	return it, nil
}

func scanItems(rows *sql.Rows, err error) ([]*engram.Item, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// liveConversation limits a query over items to those of a conversation
// that is not deleted.
const liveConversation = ` AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = items.conversation_id AND c.project_id = items.project_id AND c.deleted = 0)`

// GetItem implements engram.Store.
func (db *DB) GetItem(ctx context.Context, projectID, conversationID, itemID string) (*engram.Item, error) {
	it, err := scanItem(db.r.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items WHERE id = ? AND conversation_id = ? AND project_id = ? AND deleted = 0`+liveConversation, itemID, conversationID, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := getConversation(ctx, db.r, projectID, conversationID); err != nil {
			return nil, err
		}
		return nil, notFound("item", itemID)
	}
	return it, err
}

// ListItems implements engram.Store.
func (db *DB) ListItems(ctx context.Context, projectID, conversationID string, page engram.Page) ([]*engram.Item, bool, error) {
	if _, err := getConversation(ctx, db.r, projectID, conversationID); err != nil {
		return nil, false, err
	}
	q, args, backwards := pageQuery(`SELECT `+itemColumns+` FROM items WHERE conversation_id = ? AND deleted = 0`, []any{conversationID}, itemOrder, page)
	items, err := scanItems(db.r.QueryContext(ctx, q, args...))
	if err != nil {
		return nil, false, err
	}
	items, more := engram.FinishPage(items, page, backwards)
	return items, more, nil
}

// DeleteItem implements engram.Store. The item leaves the token count of
// its conversation and of every fork sharing it.
func (db *DB) DeleteItem(ctx context.Context, projectID, conversationID, itemID string) error {
	return db.tx(ctx, func(tx *txConn) error {
		var tokens, seq, searchRowid int64
		err := tx.QueryRowContext(ctx, `UPDATE items SET deleted = 1 WHERE id = ? AND conversation_id = ? AND project_id = ? AND deleted = 0`+liveConversation+` RETURNING tokens, seq, search_rowid`,
			itemID, conversationID, projectID).Scan(&tokens, &seq, &searchRowid)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := getConversation(ctx, tx, projectID, conversationID); err != nil {
				return err
			}
			return notFound("item", itemID)
		} else if err != nil {
			return err
		}
		if err := unindexItem(ctx, tx, searchRowid); err != nil {
			return err
		}
		if tokens == 0 {
			return nil
		}
		// A fork shares its parent's items up to its fork point, and a fork
		// of that fork those the fork shares up to its own.
		_, err = tx.ExecContext(ctx, `WITH RECURSIVE sharing(id, seq) AS (
				SELECT ?, ?
				UNION ALL
				SELECT f.id, s.seq FROM conversations f JOIN sharing s ON f.fork_of = s.id AND f.fork_seq >= s.seq WHERE f.fork_of != ''
			)
			UPDATE conversations SET tokens = tokens - ? WHERE id IN (SELECT id FROM sharing)`, conversationID, seq, tokens)
		return err
	})
}

// RecentItems implements engram.Store.
func (db *DB) RecentItems(ctx context.Context, projectID, conversationID string, upTo int64, maxItems, maxTokens int) ([]*engram.Item, error) {
	chain, err := db.forkChain(ctx, projectID, conversationID, upTo)
	if err != nil {
		return nil, err
	}
	// The newest compaction item stands for everything it covers: the
	// window is that item and what came after what it covers.
	var compaction *engram.Item
	var lower int64 // read items above this seq
	for _, seg := range chain {
		it, err := scanItem(db.r.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items WHERE conversation_id = ? AND seq <= ? AND type = 'compaction' AND deleted = 0 ORDER BY seq DESC LIMIT 1`, seg.convID, seg.upper))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return nil, err
		}
		compaction, lower = it, it.CompactedThrough
		if lower == 0 {
			lower = it.Seq - 1
		}
		break
	}
	var newestFirst []*engram.Item
	sum := 0
	if compaction != nil {
		sum, maxItems = compaction.Tokens, maxItems-1
	}
	for _, seg := range chain {
		if seg.upper <= lower {
			break
		}
		full, err := db.readBack(ctx, seg.convID, seg.upper, lower, maxItems-len(newestFirst), maxTokens, &sum, &newestFirst)
		if err != nil {
			return nil, err
		}
		if full {
			break
		}
	}
	if compaction != nil {
		newestFirst = append(newestFirst, compaction)
	}
	slices.Reverse(newestFirst)
	return newestFirst, nil
}

// segment is one conversation of a fork chain and the highest seq of it
// the chain reads.
type segment struct {
	convID string
	upper  int64
}

// forkChain returns the logs a conversation's history lies in, itself
// first, then each parent below its fork point. A deleted parent still
// lends its history to its forks.
func (db *DB) forkChain(ctx context.Context, projectID, conversationID string, upTo int64) ([]segment, error) {
	var forkOf string
	var forkSeq int64
	err := db.r.QueryRowContext(ctx, `SELECT fork_of, fork_seq FROM conversations WHERE project_id = ? AND id = ? AND deleted = 0`, projectID, conversationID).Scan(&forkOf, &forkSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("conversation", conversationID)
	} else if err != nil {
		return nil, err
	}
	upper := int64(math.MaxInt64)
	if upTo > 0 {
		upper = upTo
	}
	chain := []segment{{conversationID, upper}}
	for forkOf != "" {
		upper = min(upper, forkSeq)
		chain = append(chain, segment{forkOf, upper})
		if err := db.r.QueryRowContext(ctx, `SELECT fork_of, fork_seq FROM conversations WHERE project_id = ? AND id = ?`, projectID, forkOf).Scan(&forkOf, &forkSeq); err != nil {
			return nil, err
		}
	}
	return chain, nil
}

// readBack reads c's items above seq lower and at or below seq upper
// (older compaction items left out: the newest one stands for them),
// newest first, adding them to out until the budget is spent; full reports
// that it was.
func (db *DB) readBack(ctx context.Context, convID string, upper, lower int64, limit, maxTokens int, sum *int, out *[]*engram.Item) (full bool, err error) {
	if limit <= 0 {
		return true, nil
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+itemColumns+` FROM items WHERE conversation_id = ? AND seq <= ? AND seq > ? AND deleted = 0 AND type != 'compaction' ORDER BY seq DESC LIMIT ?`, convID, upper, lower, limit)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return false, err
		}
		if maxTokens > 0 && *sum+it.Tokens > maxTokens && len(*out) > 0 {
			return true, nil
		}
		*sum += it.Tokens
		*out = append(*out, it)
		n++
	}
	return n == limit, rows.Err()
}
