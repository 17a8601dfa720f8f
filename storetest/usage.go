package storetest

import (
	"testing"

	"github.com/engram-run/engram"
)

// testUsageTotals: usage sums per group, filtered, never across projects.
func testUsageTotals(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	record := func(pid, agent, user string, in, stateless int, at int64) {
		t.Helper()
		c := newConversation(t, s, pid, true)
		r := newResponse(pid, c.ID, 0)
		must(t, s.CreateResponse(ctx, r, msgs("q")))
		r.Status = engram.StatusCompleted
		u := []*engram.UsageRecord{
			{ID: engram.NewID("usage"), ProjectID: pid, ResponseID: r.ID, ConversationID: c.ID, AgentID: agent, User: user,
				Provider: "scripted", Model: "echo", Usage: engram.Usage{InputTokens: in, OutputTokens: 10, StatelessInputTokens: stateless}, CreatedAt: at},
			{ID: engram.NewID("usage"), ProjectID: pid, ResponseID: r.ID, ConversationID: c.ID, AgentID: agent, User: user,
				Provider: "scripted", Model: "recall", Usage: engram.Usage{InputTokens: in, OutputTokens: 10, StatelessInputTokens: stateless}, CreatedAt: at},
		}
		must(t, s.FinishResponse(ctx, r, engram.RunEnd{Usage: u}))
	}
	record(pid, "agent_a", "ada", 100, 400, 1000)
	record(pid, "agent_a", "bob", 100, 100, 2000)
	record(pid, "agent_b", "ada", 50, 50, 3000)
	record(other, "agent_a", "ada", 9999, 9999, 1000)

	totals, err := s.UsageTotals(ctx, pid, engram.UsageFilter{GroupBy: "project"})
	must(t, err)
	if len(totals) != 1 {
		t.Fatalf("project totals: %d groups", len(totals))
	}
	got := totals[0]
	if got.InputTokens != 500 || got.OutputTokens != 60 || got.StatelessInputTokens != 1100 || got.ModelCalls != 6 || got.Responses != 3 ||
		got.SavedInputTokens != 600 || got.SavedRatio < 0.54 || got.SavedRatio > 0.55 || got.TotalTokens != 560 {
		t.Errorf("project total = %+v", got)
	}
	totals, err = s.UsageTotals(ctx, pid, engram.UsageFilter{GroupBy: "agent"})
	must(t, err)
	if len(totals) != 2 || totals[0].Group != "agent_a" || totals[0].InputTokens != 400 || totals[1].Group != "agent_b" {
		t.Errorf("per agent = %+v", totals)
	}
	totals, err = s.UsageTotals(ctx, pid, engram.UsageFilter{GroupBy: "user", AgentID: "agent_a"})
	must(t, err)
	if len(totals) != 2 || totals[0].InputTokens != 200 {
		t.Errorf("per user of agent_a = %+v", totals)
	}
	totals, err = s.UsageTotals(ctx, pid, engram.UsageFilter{GroupBy: "model", From: 2000, To: 3000})
	must(t, err)
	if len(totals) != 2 || totals[0].ModelCalls != 1 || totals[0].InputTokens != 100 {
		t.Errorf("per model in [2000, 3000) = %+v", totals)
	}
	_, err = s.UsageTotals(ctx, pid, engram.UsageFilter{GroupBy: "input_tokens; DROP TABLE usage"})
	wantCode(t, err, engram.EInvalid)
	totals, err = s.UsageTotals(ctx, newProject(t, s), engram.UsageFilter{GroupBy: "project"})
	must(t, err)
	if len(totals) != 0 {
		t.Errorf("an empty project has usage: %+v", totals)
	}
}
