package sqlite

import (
	"context"

	"github.com/engram-run/engram"
)

// usageGroups maps a grouping to its column; the key is checked, so no
// caller's text reaches the query.
var usageGroups = map[string]string{
	"project": "''", "agent": "agent_id", "conversation": "conversation_id", "user": "end_user", "model": "provider || '/' || model",
}

// usageWhere selects a filter's usage rows. A filter's column appears in
// the query only when it is set, so the planner can read the rows of one
// agent or one end user through their index (a budget's spend, on every
// model call) rather than the whole project's period.
//
// SQLite's planner, without statistics, prefers the primary key's range
// (it covers every column) to a secondary index it would have to look rows
// up from, whatever the sizes: the index is named.
func usageWhere(projectID string, from, to int64, f engram.UsageFilter) (string, []any) {
	index := ""
	switch {
	case f.AgentID != "":
		index = "INDEXED BY usage_agent "
	case f.User != "":
		index = "INDEXED BY usage_user "
	}
	where := index + "WHERE project_id = ? AND created_at >= ? AND created_at < ?"
	args := []any{projectID, from, to}
	for _, c := range []struct{ col, val string }{{"agent_id", f.AgentID}, {"conversation_id", f.ConversationID}, {"end_user", f.User}} {
		if c.val != "" {
			where += " AND " + c.col + " = ?"
			args = append(args, c.val)
		}
	}
	return where, args
}

// UsageTotals implements engram.Store.
func (db *DB) UsageTotals(ctx context.Context, projectID string, f engram.UsageFilter) ([]*engram.UsageTotal, error) {
	col, ok := usageGroups[f.GroupBy]
	if !ok {
		return nil, engram.ParamErrorf(engram.EInvalid, "group_by", "Invalid value for 'group_by': expected one of project, agent, conversation, user or model, but got '%s'.", f.GroupBy)
	}
	to := f.To
	if to <= 0 {
		to = 1 << 62
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := usageWhere(projectID, f.From, to, f)
	rows, err := db.r.QueryContext(ctx, `SELECT `+col+`, COUNT(*), COUNT(DISTINCT NULLIF(response_id, '')),
			SUM(input_tokens), SUM(cached_tokens), SUM(output_tokens), SUM(reasoning_tokens), SUM(stateless_input_tokens), MAX(estimated)
		FROM usage `+where+`
		GROUP BY 1 ORDER BY SUM(input_tokens) + SUM(output_tokens) DESC, 1 LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.UsageTotal
	for rows.Next() {
		t := &engram.UsageTotal{}
		var estimated int
		if err := rows.Scan(&t.Group, &t.ModelCalls, &t.Responses, &t.InputTokens, &t.CachedTokens, &t.OutputTokens,
			&t.ReasoningTokens, &t.StatelessInputTokens, &estimated); err != nil {
			return nil, err
		}
		t.Estimated = estimated != 0
		t.TotalTokens = t.InputTokens + t.OutputTokens
		t.SavedInputTokens = t.StatelessInputTokens - t.InputTokens
		if t.StatelessInputTokens > 0 {
			t.SavedRatio = float64(t.SavedInputTokens) / float64(t.StatelessInputTokens)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
