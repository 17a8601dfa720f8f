package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// TestUsagePlans: a budget's spend of one agent or one end user reads
// their rows through their index, not the whole project's period.
func TestUsagePlans(t *testing.T) {
	db := openTemp(t)
	for _, tt := range []struct {
		f     engram.UsageFilter
		index string
	}{
		{engram.UsageFilter{AgentID: "agent_a"}, "usage_agent"},
		{engram.UsageFilter{User: "ada"}, "usage_user"},
	} {
		where, args := usageWhere("proj_x", 0, 100, tt.f)
		rows, err := db.r.QueryContext(context.Background(), `EXPLAIN QUERY PLAN SELECT provider || '/' || model, SUM(input_tokens) FROM usage `+where+` GROUP BY 1`, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(detail + "\n")
		}
		rows.Close()
		if !strings.Contains(plan.String(), tt.index) {
			t.Errorf("%+v: plan does not use %s:\n%s", tt.f, tt.index, plan.String())
		}
	}
}
