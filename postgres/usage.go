package postgres

import (
	"context"
	"strconv"

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
func usageWhere(projectID string, from, to int64, f engram.UsageFilter) (string, []any) {
	where := "project_id = $1 AND created_at >= $2 AND created_at < $3"
	args := []any{projectID, from, to}
	for _, c := range []struct{ col, val string }{{"agent_id", f.AgentID}, {"conversation_id", f.ConversationID}, {"end_user", f.User}} {
		if c.val != "" {
			args = append(args, c.val)
			where += " AND " + c.col + " = $" + strconv.Itoa(len(args))
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
	// SUMs of bigint are numeric in PostgreSQL; they are cast back, as a
	// project's totals stay far below 2^63.
	rows, err := db.pool.Query(ctx, `SELECT `+col+`::text, COUNT(*), COUNT(DISTINCT NULLIF(response_id, '')),
			SUM(input_tokens)::bigint, SUM(cached_tokens)::bigint, SUM(output_tokens)::bigint, SUM(reasoning_tokens)::bigint,
			SUM(stateless_input_tokens)::bigint, MAX(estimated)
		FROM usage WHERE `+where+`
		GROUP BY 1 ORDER BY SUM(input_tokens) + SUM(output_tokens) DESC, 1 LIMIT $`+strconv.Itoa(len(args)+1),
		append(args, limit)...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.UsageTotal
	for rows.Next() {
		t := &engram.UsageTotal{}
		var estimated int
		if err := rows.Scan(&t.Group, &t.ModelCalls, &t.Responses, &t.InputTokens, &t.CachedTokens, &t.OutputTokens,
			&t.ReasoningTokens, &t.StatelessInputTokens, &estimated); err != nil {
			return nil, mapErr(err)
		}
		t.Estimated = estimated != 0
		t.TotalTokens = t.InputTokens + t.OutputTokens
		t.SavedInputTokens = t.StatelessInputTokens - t.InputTokens
		if t.StatelessInputTokens > 0 {
			t.SavedRatio = float64(t.SavedInputTokens) / float64(t.StatelessInputTokens)
		}
		out = append(out, t)
	}
	return out, mapErr(rows.Err())
}
