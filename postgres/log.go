package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const convColumns = `id, project_id, agent_id, end_user, metadata, created_at, hidden, fork_of, fork_seq, last_seq, tokens`

func scanConversation(s pgx.Row) (*engram.Conversation, error) {
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
	c, err := scanConversation(q.QueryRow(ctx, `SELECT `+convColumns+` FROM conversations WHERE project_id = $1 AND id = $2 AND deleted = 0`, projectID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("conversation", id)
	}
	return c, mapErr(err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
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
	return db.tx(ctx, func(tx pgx.Tx) error {
		if err := projectExists(ctx, tx, c.ProjectID); err != nil {
			return err
		}
		c.LastSeq, c.Tokens = 0, 0
		if _, err := tx.Exec(ctx, `INSERT INTO conversations (id, project_id, agent_id, end_user, metadata, created_at, hidden) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			c.ID, c.ProjectID, c.AgentID, c.User, string(meta), c.CreatedAt, boolInt(c.Hidden)); err != nil {
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
	return db.tx(ctx, func(tx pgx.Tx) error {
		// The parent (and the ancestor whose log the fork point lies in)
		// is locked FOR SHARE: a deletion of one of its items, which locks
		// it first, then runs wholly before the fork is made or wholly
		// after, when it finds the fork among those sharing the item.
		parent, err := scanConversation(tx.QueryRow(ctx, `SELECT `+convColumns+` FROM conversations WHERE project_id = $1 AND id = $2 AND deleted = 0 FOR SHARE`, c.ProjectID, c.ForkOf))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("conversation", c.ForkOf)
		} else if err != nil {
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
			if owner, err = scanConversation(tx.QueryRow(ctx, `SELECT `+convColumns+` FROM conversations WHERE project_id = $1 AND id = $2 FOR SHARE`, c.ProjectID, owner.ForkOf)); err != nil {
				return err
			}
		}
		var after int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(SUM(tokens), 0)::bigint FROM items WHERE conversation_id = $1 AND seq > $2 AND deleted = 0`, owner.ID, c.ForkSeq).Scan(&after); err != nil {
			return err
		}
		c.LastSeq, c.Tokens, c.Hidden = c.ForkSeq, owner.Tokens-after, true
		_, err = tx.Exec(ctx, `INSERT INTO conversations (id, project_id, agent_id, end_user, metadata, created_at, hidden, fork_of, fork_seq, last_seq, tokens) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10)`,
			c.ID, c.ProjectID, c.AgentID, c.User, string(meta), c.CreatedAt, c.ForkOf, c.ForkSeq, c.LastSeq, c.Tokens)
		return err
	})
}

// GetConversation implements engram.Store.
func (db *DB) GetConversation(ctx context.Context, projectID, id string) (*engram.Conversation, error) {
	return getConversation(ctx, db.pool, projectID, id)
}

// UpdateConversation implements engram.Store.
func (db *DB) UpdateConversation(ctx context.Context, projectID, id string, metadata map[string]string) (*engram.Conversation, error) {
	if metadata == nil {
		metadata = map[string]string{}
	}
	meta, _ := json.Marshal(metadata)
	var c *engram.Conversation
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanConversation(tx.QueryRow(ctx, `UPDATE conversations SET metadata = $1 WHERE project_id = $2 AND id = $3 AND deleted = 0 RETURNING `+convColumns,
			string(meta), projectID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("conversation", id)
		}
		return err
	})
	return c, err
}

// DeleteConversation implements engram.Store. The row is marked deleted;
// forks made from it keep reading the history they share.
func (db *DB) DeleteConversation(ctx context.Context, projectID, id string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE conversations SET deleted = 1 WHERE project_id = $1 AND id = $2 AND deleted = 0`, projectID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("conversation", id)
		}
		// Its messages leave search, as in the sqlite store: forks share
		// these items but an item is found only as the conversation's that
		// appended it.
		_, err = tx.Exec(ctx, `UPDATE items SET search_text = '' WHERE conversation_id = $1 AND search_text != ''`, id)
		return err
	})
}

// ListConversations implements engram.Store.
func (db *DB) ListConversations(ctx context.Context, projectID string, f engram.ConversationFilter) ([]*engram.Conversation, bool, error) {
	var p params
	q := `SELECT ` + convColumns + ` FROM conversations WHERE project_id = ` + p.add(projectID) + ` AND hidden = 0 AND deleted = 0`
	if f.AgentID != "" {
		q += ` AND agent_id = ` + p.add(f.AgentID)
	}
	if f.User != "" {
		q += ` AND end_user = ` + p.add(f.User)
	}
	q, backwards := pageQuery(q, &p, conversationOrder, f.Page)
	rows, err := db.pool.Query(ctx, q, p...)
	if err != nil {
		return nil, false, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, false, mapErr(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, mapErr(err)
	}
	out, more := engram.FinishPage(out, f.Page, backwards)
	return out, more, nil
}

// searchText is what message search indexes of an item: the text of a
// user's or an assistant's message, empty for any other item (the same items
// the sqlite store puts in its FTS5 index).
func searchText(it *engram.Item) string {
	if it.Type != engram.ItemMessage || it.Role != "user" && it.Role != "assistant" {
		return ""
	}
	return pgText(it.Text())
}

// pgText makes s storable in a text column: PostgreSQL refuses NUL
// characters and invalid UTF-8, which a client's JSON may carry
// ("\u0000", lone surrogates). The item's body keeps them, escaped.
func pgText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", " ")
}

// appendLog appends items to the end of a conversation's log inside tx
// and returns its new last_seq. One statement both checks the conversation
// (its project, not deleted and, when checkBase is set and the log is
// hidden, still at baseSeq) and reserves the sequence numbers and tokens;
// it locks the conversation's row until the transaction ends, so appends
// to one log from any number of replicas take gapless numbers in order.
func appendLog(ctx context.Context, tx pgx.Tx, projectID, convID string, checkBase bool, baseSeq int64, items []*engram.Item, responseID, origin string) (int64, error) {
	var last int64
	err := tx.QueryRow(ctx, `UPDATE conversations SET last_seq = last_seq + $1, tokens = tokens + $2
		WHERE project_id = $3 AND id = $4 AND deleted = 0 AND ($5 = 0 OR hidden = 0 OR last_seq = $6) RETURNING last_seq`,
		len(items), addedTokens(items), projectID, convID, boolInt(checkBase), baseSeq).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		c, gerr := getConversation(ctx, tx, projectID, convID)
		if gerr != nil {
			return 0, gerr
		}
		return 0, engram.Errorf(engram.EConflict, "conversation %s moved on from seq %d to %d", c.ID, baseSeq, c.LastSeq)
	} else if err != nil {
		return 0, err
	}
	if len(items) == 0 {
		return last, nil
	}
	rows, err := newLogRows(projectID, convID, last-int64(len(items)), items, responseID, origin)
	if err != nil {
		return 0, err
	}
	_, err = tx.Exec(ctx, insertItems, rows.args()...)
	return last, itemInsertErr(err)
}

func addedTokens(items []*engram.Item) int64 {
	var added int64
	for _, it := range items {
		added += int64(it.Tokens)
	}
	return added
}

// lockedConversation is what a pipelined transaction reads of a
// conversation with its row lock (lockConversationSQL), to decide an
// append without another round trip: nothing changes the row until the
// transaction ends.
type lockedConversation struct {
	found, deleted, hidden bool
	lastSeq                int64
}

// lockConversationSQL takes a conversation's row lock (see
// lockConversation) and reads what an append decides on.
const lockConversationSQL = `SELECT deleted, hidden, last_seq FROM conversations WHERE project_id = $1 AND id = $2 FOR UPDATE`

// queueLock queues the conversation's lock for t's next round trip.
func queueLock(t *pipeTx, projectID, convID string, c *lockedConversation) {
	t.queue(lockConversationSQL, projectID, convID).QueryRow(func(row pgx.Row) error {
		var deleted, hidden int
		err := row.Scan(&deleted, &hidden, &c.lastSeq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		c.found, c.deleted, c.hidden = err == nil, deleted != 0, hidden != 0
		return err
	})
}

// queueAppend is appendLog for a pipeTx that holds the conversation's
// lock (c, read by queueLock): it decides in Go what appendLog's UPDATE
// decides in its WHERE clause, failing the same way, and queues the
// writes. It returns the log's new last_seq.
func queueAppend(t *pipeTx, c *lockedConversation, projectID, convID string, checkBase bool, baseSeq int64, items []*engram.Item, responseID, origin string) (int64, error) {
	switch {
	case !c.found || c.deleted:
		return 0, notFound("conversation", convID)
	case checkBase && c.hidden && c.lastSeq != baseSeq:
		return 0, engram.Errorf(engram.EConflict, "conversation %s moved on from seq %d to %d", convID, baseSeq, c.lastSeq)
	case len(items) == 0:
		return c.lastSeq, nil
	}
	rows, err := newLogRows(projectID, convID, c.lastSeq, items, responseID, origin)
	if err != nil {
		return 0, err
	}
	t.queue(`UPDATE conversations SET last_seq = last_seq + $1, tokens = tokens + $2 WHERE project_id = $3 AND id = $4`,
		len(items), addedTokens(items), projectID, convID)
	t.queue(insertItems, rows.args()...).Fn = func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return itemInsertErr(err)
	}
	c.lastSeq += int64(len(items))
	return c.lastSeq, nil
}

// logRows are items to be added to a log after seq, as insertItems's
// columns. Making them gives each item its id (when it has none), seq,
// response and creation time.
type logRows struct {
	convID, projectID string
	now               int64
	seqs              []int64
	ids, types        []string
	respIDs, origins  []string
	tokens            []int64
	bodies, searches  []string
}

func newLogRows(projectID, convID string, seq int64, items []*engram.Item, responseID, origin string) (*logRows, error) {
	n := len(items)
	r := &logRows{convID: convID, projectID: projectID, now: engram.Now(),
		seqs: make([]int64, n), ids: make([]string, n), types: make([]string, n), respIDs: make([]string, n),
		origins: make([]string, n), tokens: make([]int64, n), bodies: make([]string, n), searches: make([]string, n)}
	for i, it := range items {
		if it.ID == "" {
			it.ID = engram.NewID(engram.ItemIDPrefix(it.Type))
		}
		if responseID != "" {
			it.ResponseID, it.Origin = responseID, origin
		}
		seq++
		it.Seq, it.ConversationID, it.CreatedAt = seq, convID, r.now
		body, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		r.seqs[i], r.ids[i], r.types[i], r.respIDs[i], r.origins[i], r.tokens[i], r.bodies[i], r.searches[i] =
			it.Seq, it.ID, pgText(it.Type), it.ResponseID, it.Origin, int64(it.Tokens), string(body), searchText(it)
	}
	return r, nil
}

func (r *logRows) args() []any {
	return []any{r.convID, r.projectID, r.now, r.seqs, r.ids, r.types, r.respIDs, r.origins, r.tokens, r.bodies, r.searches}
}

// insertItems adds a batch of items in one statement: a conversation
// imported with a thousand items costs one round trip, not a thousand.
const insertItems = `INSERT INTO items (conversation_id, seq, id, project_id, type, response_id, origin, tokens, created_at, body, search_text)
	SELECT $1, s, i, $2, t, r, o, k, $3, b, x
	FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[]) AS u(s, i, t, r, o, k, b, x)`

// itemInsertErr names the item whose id is taken. (A statement that
// writes other tables too may fail on their keys: those errors stay as
// they are.)
func itemInsertErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == "items" {
		return engram.Errorf(engram.EConflict, "an item with id %s already exists", duplicateKey(pe.Detail))
	}
	return err
}

// duplicateKey is the value of a unique violation's detail, "Key (id)=(v)
// already exists.", or the whole detail when it has another form.
func duplicateKey(detail string) string {
	_, rest, ok := strings.Cut(detail, ")=(")
	if !ok {
		return detail
	}
	v, _, ok := strings.Cut(rest, ") already exists")
	if !ok {
		return detail
	}
	return v
}

// AppendItems implements engram.Store.
func (db *DB) AppendItems(ctx context.Context, projectID, conversationID string, items []*engram.Item) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := appendLog(ctx, tx, projectID, conversationID, false, 0, items, "", "")
		return err
	})
}

const itemColumns = `body, conversation_id, seq, response_id, origin, tokens, created_at`

func scanItem(s pgx.Row) (*engram.Item, error) {
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

func scanItems(rows pgx.Rows, err error) ([]*engram.Item, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, it)
	}
	return out, mapErr(rows.Err())
}

// liveConversation limits a query over items to those of a conversation
// that is not deleted.
const liveConversation = ` AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = items.conversation_id AND c.project_id = items.project_id AND c.deleted = 0)`

// GetItem implements engram.Store.
func (db *DB) GetItem(ctx context.Context, projectID, conversationID, itemID string) (*engram.Item, error) {
	it, err := scanItem(db.pool.QueryRow(ctx, `SELECT `+itemColumns+` FROM items WHERE id = $1 AND conversation_id = $2 AND project_id = $3 AND deleted = 0`+liveConversation, itemID, conversationID, projectID))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := getConversation(ctx, db.pool, projectID, conversationID); err != nil {
			return nil, err
		}
		return nil, notFound("item", itemID)
	}
	return it, mapErr(err)
}

// ListItems implements engram.Store.
func (db *DB) ListItems(ctx context.Context, projectID, conversationID string, page engram.Page) ([]*engram.Item, bool, error) {
	if _, err := getConversation(ctx, db.pool, projectID, conversationID); err != nil {
		return nil, false, err
	}
	var p params
	q, backwards := pageQuery(`SELECT `+itemColumns+` FROM items WHERE conversation_id = `+p.add(conversationID)+` AND deleted = 0`, &p, itemOrder, page)
	items, err := scanItems(db.pool.Query(ctx, q, p...))
	if err != nil {
		return nil, false, err
	}
	items, more := engram.FinishPage(items, page, backwards)
	return items, more, nil
}

// DeleteItem implements engram.Store. The item leaves the token count of
// its conversation and of every fork sharing it.
func (db *DB) DeleteItem(ctx context.Context, projectID, conversationID, itemID string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		// The conversation is locked first, as every writer of it does
		// (see lockConversation), and so that a fork being made from it
		// waits or is waited for (see ForkConversation).
		if _, err := lockConversation(ctx, tx, projectID, conversationID); err != nil {
			return err
		}
		var tokens, seq int64
		err := tx.QueryRow(ctx, `UPDATE items SET deleted = 1, search_text = '' WHERE id = $1 AND conversation_id = $2 AND project_id = $3 AND deleted = 0`+liveConversation+` RETURNING tokens, seq`,
			itemID, conversationID, projectID).Scan(&tokens, &seq)
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := getConversation(ctx, tx, projectID, conversationID); err != nil {
				return err
			}
			return notFound("item", itemID)
		} else if err != nil {
			return err
		}
		if tokens == 0 {
			return nil
		}
		// A fork shares its parent's items up to its fork point, and a fork
		// of that fork those the fork shares up to its own.
		_, err = tx.Exec(ctx, `WITH RECURSIVE sharing(id, seq) AS (
				SELECT $1::text, $2::bigint
				UNION ALL
				SELECT f.id, s.seq FROM conversations f JOIN sharing s ON f.fork_of = s.id AND f.fork_seq >= s.seq WHERE f.fork_of != ''
			)
			UPDATE conversations SET tokens = tokens - $3 WHERE id IN (SELECT id FROM sharing)`, conversationID, seq, tokens)
		return err
	})
}

// RecentItems implements engram.Store. Two round trips in the common
// case: one finds the fork chain and the newest compaction item of each
// of its logs, one reads the window.
func (db *DB) RecentItems(ctx context.Context, projectID, conversationID string, upTo int64, maxItems, maxTokens int) ([]*engram.Item, error) {
	chain, avg, err := db.forkChain(ctx, projectID, conversationID, upTo)
	if err != nil {
		return nil, err
	}
	// The newest compaction item stands for everything it covers: the
	// window is that item and what came after what it covers.
	var compaction *engram.Item
	var lower int64 // read items above this seq
	for _, seg := range chain {
		if seg.compaction == nil {
			continue
		}
		compaction, lower = seg.compaction, seg.compaction.CompactedThrough
		if lower == 0 {
			lower = compaction.Seq - 1
		}
		break
	}
	w := window{maxTokens: maxTokens, avg: avg}
	if compaction != nil {
		w.sum, maxItems = compaction.Tokens, maxItems-1
	}
	for _, seg := range chain {
		if seg.upper <= lower {
			break
		}
		full, err := db.readBack(ctx, seg.convID, seg.upper, lower, maxItems-len(w.newestFirst), &w)
		if err != nil {
			return nil, err
		}
		if full {
			break
		}
	}
	if compaction != nil {
		w.newestFirst = append(w.newestFirst, compaction)
	}
	slices.Reverse(w.newestFirst)
	return w.newestFirst, nil
}

// segment is one conversation of a fork chain, the highest seq of it the
// chain reads, and its newest compaction item at or below that seq.
type segment struct {
	convID     string
	upper      int64
	compaction *engram.Item
}

// forkChain returns the logs a conversation's history lies in, itself
// first, then each parent below its fork point, and the average tokens of
// an item of the conversation (to guess how many items a token budget
// holds). A deleted parent still lends its history to its forks. One
// statement walks the chain and looks up each log's newest compaction item
// in the partial index items_compactions, reading no other item.
func (db *DB) forkChain(ctx context.Context, projectID, conversationID string, upTo int64) ([]segment, int, error) {
	upper := int64(math.MaxInt64)
	if upTo > 0 {
		upper = upTo
	}
	rows, err := db.pool.Query(ctx, `WITH RECURSIVE chain(id, fork_of, fork_seq, upper, last_seq, tokens, depth) AS (
			SELECT id, fork_of, fork_seq, $3::bigint, last_seq, tokens, 0 FROM conversations WHERE project_id = $1 AND id = $2 AND deleted = 0
			UNION ALL
			SELECT c.id, c.fork_of, c.fork_seq, LEAST(chain.upper, chain.fork_seq), 0::bigint, 0::bigint, chain.depth + 1
			FROM chain JOIN conversations c ON c.id = chain.fork_of AND c.project_id = $1
			WHERE chain.fork_of != ''
		)
		SELECT chain.id, chain.upper, chain.last_seq, chain.tokens, k.body, k.conversation_id, k.seq, k.response_id, k.origin, k.tokens, k.created_at
		FROM chain LEFT JOIN LATERAL (
			SELECT `+itemColumns+` FROM items WHERE conversation_id = chain.id AND seq <= chain.upper AND type = 'compaction' AND deleted = 0
			ORDER BY seq DESC LIMIT 1
		) k ON true
		ORDER BY chain.depth`, projectID, conversationID, upper)
	if err != nil {
		return nil, 0, mapErr(err)
	}
	defer rows.Close()
	var chain []segment
	avg := 0
	for rows.Next() {
		var seg segment
		var lastSeq, tokens int64
		var body []byte
		var k struct {
			convID, responseID, origin *string
			seq, tokens, createdAt     *int64
		}
		if err := rows.Scan(&seg.convID, &seg.upper, &lastSeq, &tokens, &body, &k.convID, &k.seq, &k.responseID, &k.origin, &k.tokens, &k.createdAt); err != nil {
			return nil, 0, mapErr(err)
		}
		if body != nil {
			it := &engram.Item{ConversationID: *k.convID, Seq: *k.seq, ResponseID: *k.responseID, Origin: *k.origin, Tokens: int(*k.tokens), CreatedAt: *k.createdAt}
			if err := json.Unmarshal(body, it); err != nil {
				return nil, 0, err
			}
			seg.compaction = it
		}
		if len(chain) == 0 && lastSeq > 0 && tokens > 0 {
			avg = int(tokens / lastSeq)
		}
		chain = append(chain, seg)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, mapErr(err)
	}
	if len(chain) == 0 {
		return nil, 0, notFound("conversation", conversationID)
	}
	return chain, avg, nil
}

// window is a context window being read back from the newest item.
type window struct {
	maxTokens   int // 0: no token budget
	avg         int // average tokens of an item, 0 when unknown
	scale       int // how much a chunk is grown by after falling short
	sum         int // tokens taken so far
	newestFirst []*engram.Item
}

// chunk is how many rows to ask for when at most limit remain: about what
// the token budget left holds, so that a window of 80 items on a log of
// thousands does not ship thousands of rows to be dropped (PostgreSQL
// sends every row a query selects, where SQLite stops when the reader
// does). A short guess costs one more round trip, not a wrong window.
func (w *window) chunk(limit int) int {
	if w.maxTokens <= 0 || w.avg <= 0 {
		return limit
	}
	left := max(w.maxTokens-w.sum, 0)
	return min(limit, max(w.scale, 1)*(left/w.avg+left/(4*w.avg)+8))
}

// readBack reads c's items above seq lower and at or below seq upper
// (older compaction items left out: the newest one stands for them),
// newest first, adding them to the window until its budget or limit is
// spent; full reports that it was.
func (db *DB) readBack(ctx context.Context, convID string, upper, lower int64, limit int, w *window) (full bool, err error) {
	for limit > 0 {
		n := w.chunk(limit)
		rows, err := db.pool.Query(ctx, `SELECT `+itemColumns+` FROM items WHERE conversation_id = $1 AND seq <= $2 AND seq > $3 AND deleted = 0 AND type != 'compaction' ORDER BY seq DESC LIMIT $4`, convID, upper, lower, n)
		if err != nil {
			return false, mapErr(err)
		}
		items, err := scanItems(rows, nil)
		if err != nil {
			return false, err
		}
		for _, it := range items {
			if w.maxTokens > 0 && w.sum+it.Tokens > w.maxTokens && len(w.newestFirst) > 0 {
				return true, nil
			}
			w.sum += it.Tokens
			w.newestFirst = append(w.newestFirst, it)
			limit--
		}
		if len(items) < n {
			return false, nil // this log has no more
		}
		upper = items[len(items)-1].Seq - 1
		w.scale = max(w.scale, 1) * 2 // the guess fell short: guess wider
	}
	return true, nil
}
