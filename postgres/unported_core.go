package postgres

// Temporary: the core half of the store (branch pgcore) replaces this file.

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

func notYet() error { return engram.Errorf(engram.EUnsupported, "not yet") }

func (db *DB) CreateProject(ctx context.Context, p *engram.Project) error { return notYet() }
func (db *DB) GetProject(ctx context.Context, id string) (*engram.Project, error) {
	return nil, notYet()
}
func (db *DB) ListProjects(ctx context.Context) ([]*engram.Project, error) { return nil, notYet() }
func (db *DB) CreateAPIKey(ctx context.Context, k *engram.APIKey) error     { return notYet() }
func (db *DB) FindAPIKey(ctx context.Context, hash string) (*engram.APIKey, error) {
	return nil, notYet()
}
func (db *DB) ListAPIKeys(ctx context.Context, projectID string) ([]*engram.APIKey, error) {
	return nil, notYet()
}
func (db *DB) RevokeAPIKey(ctx context.Context, projectID, id string) error { return notYet() }
func (db *DB) CreateAgent(ctx context.Context, a *engram.Agent) error        { return notYet() }
func (db *DB) UpdateAgent(ctx context.Context, a *engram.Agent) error        { return notYet() }
func (db *DB) GetAgent(ctx context.Context, projectID, idOrName string, version int) (*engram.Agent, error) {
	return nil, notYet()
}
func (db *DB) ListAgents(ctx context.Context, projectID string, page engram.Page) ([]*engram.Agent, bool, error) {
	return nil, false, notYet()
}
func (db *DB) ListAgentVersions(ctx context.Context, projectID, idOrName string) ([]*engram.Agent, error) {
	return nil, notYet()
}
func (db *DB) DeleteAgent(ctx context.Context, projectID, idOrName string) error { return notYet() }
func (db *DB) CreateConversation(ctx context.Context, c *engram.Conversation, items []*engram.Item) error {
	return notYet()
}
func (db *DB) GetConversation(ctx context.Context, projectID, id string) (*engram.Conversation, error) {
	return nil, notYet()
}
func (db *DB) UpdateConversation(ctx context.Context, projectID, id string, metadata map[string]string) (*engram.Conversation, error) {
	return nil, notYet()
}
func (db *DB) DeleteConversation(ctx context.Context, projectID, id string) error { return notYet() }
func (db *DB) ListConversations(ctx context.Context, projectID string, f engram.ConversationFilter) ([]*engram.Conversation, bool, error) {
	return nil, false, notYet()
}
func (db *DB) AppendItems(ctx context.Context, projectID, conversationID string, items []*engram.Item) error {
	return notYet()
}
func (db *DB) GetItem(ctx context.Context, projectID, conversationID, itemID string) (*engram.Item, error) {
	return nil, notYet()
}
func (db *DB) ListItems(ctx context.Context, projectID, conversationID string, page engram.Page) ([]*engram.Item, bool, error) {
	return nil, false, notYet()
}
func (db *DB) DeleteItem(ctx context.Context, projectID, conversationID, itemID string) error {
	return notYet()
}
func (db *DB) RecentItems(ctx context.Context, projectID, conversationID string, upTo int64, maxItems, maxTokens int) ([]*engram.Item, error) {
	return nil, notYet()
}
func (db *DB) CreateResponse(ctx context.Context, r *engram.Response, input []*engram.Item) error {
	return notYet()
}
func (db *DB) FinishResponse(ctx context.Context, r *engram.Response, end engram.RunEnd) error {
	return notYet()
}
func (db *DB) GetResponse(ctx context.Context, projectID, id string) (*engram.Response, error) {
	return nil, notYet()
}
func (db *DB) DeleteResponse(ctx context.Context, projectID, id string) error { return notYet() }
func (db *DB) ListInputItems(ctx context.Context, projectID, responseID string, page engram.Page) ([]*engram.Item, bool, error) {
	return nil, false, notYet()
}
func (db *DB) ForkConversation(ctx context.Context, c *engram.Conversation) error { return notYet() }
func (db *DB) UsageTotals(ctx context.Context, projectID string, f engram.UsageFilter) ([]*engram.UsageTotal, error) {
	return nil, notYet()
}
func (db *DB) CreateRun(ctx context.Context, r *engram.Response, input []*engram.Item, first *engram.Step) error {
	return notYet()
}
func (db *DB) ClaimRun(ctx context.Context, lease engram.Lease, now int64, responseID string) (*engram.Response, error) {
	return nil, notYet()
}
func (db *DB) RenewLease(ctx context.Context, responseID string, lease engram.Lease) (bool, error) {
	return false, notYet()
}
func (db *DB) PauseRun(ctx context.Context, r *engram.Response, lease engram.Lease, events []engram.StoredEvent) error {
	return notYet()
}
func (db *DB) ReleaseLeases(ctx context.Context, node string) error { return notYet() }
func (db *DB) RequestCancel(ctx context.Context, projectID, responseID string) (*engram.Response, error) {
	return nil, notYet()
}
func (db *DB) SaveStep(ctx context.Context, s *engram.Step, lease engram.Lease, events []engram.StoredEvent) error {
	return notYet()
}
func (db *DB) ListSteps(ctx context.Context, projectID, responseID string) ([]*engram.Step, error) {
	return nil, notYet()
}
func (db *DB) DecideApproval(ctx context.Context, projectID, responseID string, a engram.Approval) (*engram.Response, error) {
	return nil, notYet()
}
func (db *DB) ListResponses(ctx context.Context, projectID string, f engram.ResponseFilter) ([]*engram.Response, bool, error) {
	return nil, false, notYet()
}
func (db *DB) ListEvents(ctx context.Context, projectID, responseID string, after int64) ([]engram.StoredEvent, error) {
	return nil, notYet()
}

func putUsage(ctx context.Context, tx pgx.Tx, projectID, responseID, conversationID string, usage []*engram.UsageRecord) error {
	if len(usage) > 0 {
		return notYet()
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func searchText(it *engram.Item) string {
	if it.Type != engram.ItemMessage || it.Role != "user" && it.Role != "assistant" {
		return ""
	}
	return pgText(it.Text())
}

func pgText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", " ")
}

var _ = json.Marshal

type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

type listOrder struct {
	columns []string
	cursor  func(p *params, id, fallback string) string
}

func createdOrder(table, prefix string) listOrder {
	return listOrder{
		columns: []string{prefix + "created_at", prefix + "id"},
		cursor: func(p *params, id, fallback string) string {
			ph := p.add(id)
			return `(COALESCE((SELECT created_at FROM ` + table + ` WHERE id = ` + ph + `), ` + fallback + `), ` + ph + `::text)`
		},
	}
}

const (
	minInt64 = "(-9223372036854775808)::bigint"
	maxInt64 = "9223372036854775807::bigint"
)

func pageQuery(q string, p *params, o listOrder, page engram.Page) (_ string, backwards bool) {
	key := "(" + strings.Join(o.columns, ", ") + ")"
	later, earlier := ">", "<"
	if page.Desc() {
		later, earlier = earlier, later
	}
	bound := func(op, id string) {
		fallback := minInt64
		if op == "<" {
			fallback = maxInt64
		}
		q += " AND " + key + " " + op + " " + o.cursor(p, id, fallback)
	}
	if page.After != "" {
		bound(later, page.After)
	}
	if page.Before != "" {
		bound(earlier, page.Before)
	}
	backwards = page.Before != "" && page.After == ""
	dir := " ASC"
	if page.Desc() != backwards {
		dir = " DESC"
	}
	q += " ORDER BY " + strings.Join(o.columns, dir+", ") + dir + " LIMIT " + p.add(pageLimit(page)+1)
	return q, backwards
}

func finishPage[T any](rows []T, page engram.Page, backwards bool) ([]T, bool) {
	more := false
	if n := pageLimit(page); len(rows) > n {
		rows, more = rows[:n], true
	}
	if backwards {
		slices.Reverse(rows)
	}
	return rows, more
}
