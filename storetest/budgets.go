package storetest

import (
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// testBudgets: budgets round-trip, update, list in creation order, delete,
// and never cross projects.
func testBudgets(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	a := &engram.Budget{ID: engram.NewID("budget"), ProjectID: pid, Scope: engram.BudgetProject, Period: engram.PeriodDay,
		MaxTokens: 1000, Metadata: map[string]string{"team": "bees"}, CreatedAt: 100}
	b := &engram.Budget{ID: engram.NewID("budget"), ProjectID: pid, Scope: engram.BudgetUser, Subject: "ada", Period: engram.PeriodMonth,
		MaxCostUSD: 2.5, CreatedAt: 200}
	must(t, s.CreateBudget(ctx, a))
	must(t, s.CreateBudget(ctx, b))
	wantCode(t, s.CreateBudget(ctx, &engram.Budget{ID: a.ID, ProjectID: pid, Scope: engram.BudgetProject, Period: engram.PeriodDay, MaxTokens: 1}), engram.EConflict)

	got, err := s.GetBudget(ctx, pid, b.ID)
	must(t, err)
	if got.Scope != engram.BudgetUser || got.Subject != "ada" || got.Period != engram.PeriodMonth || got.MaxCostUSD != 2.5 ||
		got.MaxTokens != 0 || got.CreatedAt != 200 || got.ProjectID != pid {
		t.Errorf("budget = %+v", got)
	}
	list, err := s.ListBudgets(ctx, pid)
	must(t, err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID || list[0].Metadata["team"] != "bees" {
		t.Errorf("list = %+v", list)
	}

	a.MaxTokens, a.Period, a.Metadata = 5000, engram.PeriodMonth, map[string]string{}
	must(t, s.UpdateBudget(ctx, a))
	got, err = s.GetBudget(ctx, pid, a.ID)
	must(t, err)
	if got.MaxTokens != 5000 || got.Period != engram.PeriodMonth || len(got.Metadata) != 0 || got.CreatedAt != 100 {
		t.Errorf("updated = %+v", got)
	}

	// Another project sees none of it.
	_, err = s.GetBudget(ctx, other, a.ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.UpdateBudget(ctx, &engram.Budget{ID: a.ID, ProjectID: other, Period: engram.PeriodDay, MaxTokens: 1}), engram.ENotFound)
	wantCode(t, s.DeleteBudget(ctx, other, a.ID), engram.ENotFound)
	list, err = s.ListBudgets(ctx, other)
	must(t, err)
	if len(list) != 0 {
		t.Errorf("other project's budgets = %+v", list)
	}

	must(t, s.DeleteBudget(ctx, pid, a.ID))
	_, err = s.GetBudget(ctx, pid, a.ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteBudget(ctx, pid, a.ID), engram.ENotFound)
}

// testBudgetSpend: a budget's spend is its subject's usage in the UTC
// period, priced per model.
func testBudgetSpend(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	day := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	record := func(pid, agent, user, model string, in, out int, at time.Time) {
		t.Helper()
		c := newConversation(t, s, pid, true)
		r := newResponse(pid, c.ID, 0)
		must(t, s.CreateResponse(ctx, r, msgs("q")))
		r.Status = engram.StatusCompleted
		must(t, s.FinishResponse(ctx, r, engram.RunEnd{Usage: []*engram.UsageRecord{{ID: engram.NewID("usage"), ProjectID: pid,
			ResponseID: r.ID, ConversationID: c.ID, AgentID: agent, User: user, Provider: "openai", Model: model,
			Usage: engram.Usage{InputTokens: in, OutputTokens: out}, CreatedAt: at.Unix()}}}))
	}
	record(pid, "agent_a", "ada", "gpt-4o", 1_000_000, 0, day)                     // $2.50
	record(pid, "agent_a", "bob", "gpt-4o-mini", 0, 1_000_000, day.Add(time.Hour)) // $0.60
	record(pid, "agent_b", "ada", "home-model", 500, 500, day.Add(2*time.Hour))    // unpriced
	record(pid, "agent_a", "ada", "gpt-4o", 7, 0, day.AddDate(0, 0, -1))           // yesterday, same month
	record(pid, "agent_a", "ada", "gpt-4o", 11, 0, day.AddDate(0, -1, 0))          // last month
	record(other, "agent_a", "ada", "gpt-4o", 999, 0, day)                         // another project

	spent := func(b *engram.Budget) *engram.BudgetSpend {
		t.Helper()
		b.ProjectID = pid
		sp, err := b.Spent(ctx, s, engram.DefaultPrices, day)
		must(t, err)
		return sp
	}
	proj := spent(&engram.Budget{Scope: engram.BudgetProject, Period: engram.PeriodDay, MaxTokens: 3_000_000, MaxCostUSD: 10})
	if proj.Tokens != 2_001_000 || proj.CostUSD < 3.0999 || proj.CostUSD > 3.1001 || len(proj.UnpricedModels) != 1 ||
		proj.UnpricedModels[0] != "openai/home-model" || *proj.Remaining.Tokens != 999_000 {
		t.Errorf("project day spend = %+v", proj)
	}
	if start, end := proj.PeriodStart, proj.PeriodEnd; start != time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC).Unix() || end-start != 86400 {
		t.Errorf("day period = [%d, %d)", start, end)
	}
	month := spent(&engram.Budget{Scope: engram.BudgetProject, Period: engram.PeriodMonth, MaxTokens: 1})
	if month.Tokens != 2_001_007 || *month.Remaining.Tokens != 0 || month.PeriodStart != time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Unix() ||
		month.PeriodEnd != time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("project month spend = %+v", month)
	}
	agent := spent(&engram.Budget{Scope: engram.BudgetAgent, Subject: "agent_a", Period: engram.PeriodDay, MaxTokens: 1})
	if agent.Tokens != 2_000_000 {
		t.Errorf("agent_a day spend = %+v", agent)
	}
	ada := spent(&engram.Budget{Scope: engram.BudgetUser, Subject: "ada", Period: engram.PeriodDay, MaxCostUSD: 3})
	if ada.Tokens != 1_001_000 || ada.CostUSD < 2.4999 || ada.CostUSD > 2.5001 || *ada.Remaining.CostUSD < 0.4999 || ada.Remaining.Tokens != nil {
		t.Errorf("ada day spend = %+v", ada)
	}
	nobody := spent(&engram.Budget{Scope: engram.BudgetUser, Subject: "carol", Period: engram.PeriodDay, MaxTokens: 5})
	if nobody.Tokens != 0 || nobody.CostUSD != 0 || *nobody.Remaining.Tokens != 5 {
		t.Errorf("carol day spend = %+v", nobody)
	}
}
