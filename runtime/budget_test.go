package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/runtime"
)

// budgetClock is a settable clock for budget periods.
type budgetClock struct{ t atomic.Pointer[time.Time] }

func (c *budgetClock) set(t time.Time)        { c.t.Store(&t) }
func (c *budgetClock) now() time.Time         { return *c.t.Load() }
func (c *budgetClock) days(n int) time.Time   { return c.now().AddDate(0, 0, n) }
func newBudgetClock(t time.Time) *budgetClock { c := &budgetClock{}; c.set(t); return c }

func setupBudgets(t *testing.T, clock *budgetClock, prices engram.Prices) (*runtime.Runtime, string) {
	rt, _, pid := setupWith(t, func(rt *runtime.Runtime, _ engram.Store) {
		rt.Clock = clock.now
		if prices != nil {
			rt.Prices = prices
		}
	})
	return rt, pid
}

func addBudget(t *testing.T, rt *runtime.Runtime, pid string, b engram.Budget) *engram.Budget {
	t.Helper()
	b.ID, b.ProjectID = engram.NewID("budget"), pid
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	if err := rt.Store.CreateBudget(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	rt.BudgetsChanged(pid)
	return &b
}

// turn runs one turn as user (and agent, when set) in conv.
func turn(t *testing.T, rt *runtime.Runtime, pid, conv, agent, user, text string) *engram.Response {
	t.Helper()
	req := &engram.ResponseRequest{Model: "scripted/echo", Conversation: conv, User: user,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}}}
	if agent != "" {
		req.Model = "agent/" + agent
	}
	r, err := rt.CreateResponse(context.Background(), pid, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantBudgetStop(t *testing.T, r *engram.Response, b *engram.Budget) {
	t.Helper()
	if r.Status != engram.StatusIncomplete || r.IncompleteReason != runtime.IncompleteBudget {
		t.Fatalf("response %s: status %s, reason %q; want incomplete budget_exceeded", r.ID, r.Status, r.IncompleteReason)
	}
	if r.Error == nil || r.Error.Code != runtime.IncompleteBudget || !strings.Contains(r.Error.Message, b.ID) || !strings.Contains(r.Error.Message, "per "+b.Period) {
		t.Fatalf("error = %+v; want a message naming budget %s and its period", r.Error, b.ID)
	}
	if len(r.Output) != 0 || (r.Usage != nil && r.Usage.TotalTokens != 0) {
		t.Errorf("a stopped response called the model: output %d items, usage %+v", len(r.Output), r.Usage)
	}
}

// spent is what the project's usage records hold in [from, to).
func spent(t *testing.T, rt *runtime.Runtime, pid string, f engram.UsageFilter) int {
	t.Helper()
	f.GroupBy = "project"
	totals, err := rt.Store.UsageTotals(context.Background(), pid, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(totals) == 0 {
		return 0
	}
	return totals[0].TotalTokens
}

// TestProjectDayBudget: a conversation runs until its next call would pass
// the project's daily tokens, then ends incomplete; stored, the stop is
// the same; the next UTC day it runs again.
func TestProjectDayBudget(t *testing.T) {
	clock := newBudgetClock(time.Now())
	rt, pid := setupBudgets(t, clock, nil)
	conv := newConversation(t, rt, pid)
	first := turn(t, rt, pid, conv, "", "", "The hives are calm today.")
	if first.Status != engram.StatusCompleted {
		t.Fatalf("first turn: %s", first.Status)
	}
	b := addBudget(t, rt, pid, engram.Budget{Scope: engram.BudgetProject, Period: engram.PeriodDay, MaxTokens: int64(first.Usage.TotalTokens) * 4})
	var stopped *engram.Response
	for i := 0; i < 20 && stopped == nil; i++ {
		r := turn(t, rt, pid, conv, "", "", fmt.Sprint("Turn ", i, ": the queen is laying well."))
		if r.Status != engram.StatusCompleted {
			stopped = r
		}
	}
	if stopped == nil {
		t.Fatal("20 turns ran within a budget of 4 turns' tokens")
	}
	wantBudgetStop(t, stopped, b)
	if got := spent(t, rt, pid, engram.UsageFilter{}); int64(got) > b.MaxTokens {
		t.Errorf("spent %d tokens under a cap of %d", got, b.MaxTokens)
	}
	stored, err := rt.Store.GetResponse(context.Background(), pid, stopped.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantBudgetStop(t, stored, b)
	// Still today: still stopped.
	wantBudgetStop(t, turn(t, rt, pid, conv, "", "", "Again?"), b)

	clock.set(clock.days(1))
	if r := turn(t, rt, pid, conv, "", "", "A new day."); r.Status != engram.StatusCompleted {
		t.Fatalf("next day: %s (%+v)", r.Status, r.Error)
	}
}

// TestMonthBudget: a month budget still stops a run the next day, and
// lets it run the next month.
func TestMonthBudget(t *testing.T) {
	clock := newBudgetClock(time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC))
	rt, pid := setupBudgets(t, clock, nil)
	conv := newConversation(t, rt, pid)
	b := addBudget(t, rt, pid, engram.Budget{Scope: engram.BudgetProject, Period: engram.PeriodMonth, MaxTokens: 100})
	// Usage recorded now (the records carry the real time) falls in the
	// clock's month only when the clock is now: spend it through a record.
	// The record's run is held by the test, so the runtime's workers do not
	// take it for an orphan and claim it meanwhile.
	held := engram.Lease{Owner: "test", Until: time.Now().Add(time.Hour).UnixMilli()}
	rec := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: conv, Model: "scripted/echo", Status: engram.StatusInProgress, Lease: held}
	ctx := context.Background()
	if err := rt.Store.CreateResponse(ctx, rec, nil); err != nil {
		t.Fatal(err)
	}
	rec.Status = engram.StatusCompleted
	if err := rt.Store.FinishResponse(ctx, rec, engram.RunEnd{Lease: held, Usage: []*engram.UsageRecord{{ID: engram.NewID("usage"), ProjectID: pid,
		ResponseID: rec.ID, ConversationID: conv, Provider: "scripted", Model: "echo", Usage: engram.Usage{InputTokens: 60, OutputTokens: 40},
		CreatedAt: time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC).Unix()}}}); err != nil {
		t.Fatal(err)
	}
	wantBudgetStop(t, turn(t, rt, pid, conv, "", "", "Early May."), b)
	clock.set(time.Date(2026, 5, 31, 23, 59, 0, 0, time.UTC))
	wantBudgetStop(t, turn(t, rt, pid, conv, "", "", "Late May."), b)
	clock.set(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if r := turn(t, rt, pid, conv, "", "", "June."); r.Status != engram.StatusCompleted {
		t.Fatalf("next month: %s (%+v)", r.Status, r.Error)
	}
}

// TestUserAndAgentBudgetsIsolate: a user over budget is stopped while
// another user runs; an agent over budget is stopped while another agent
// runs.
func TestUserAndAgentBudgetsIsolate(t *testing.T) {
	clock := newBudgetClock(time.Now())
	rt, pid := setupBudgets(t, clock, nil)
	ctx := context.Background()
	for _, name := range []string{"keeper", "scribe"} {
		if err := rt.Store.CreateAgent(ctx, &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: name, Model: "scripted/echo"}); err != nil {
			t.Fatal(err)
		}
	}
	keeper, err := rt.Store.GetAgent(ctx, pid, "keeper", 0)
	if err != nil {
		t.Fatal(err)
	}
	ada := addBudget(t, rt, pid, engram.Budget{Scope: engram.BudgetUser, Subject: "ada", Period: engram.PeriodDay, MaxTokens: 1})
	wantBudgetStop(t, turn(t, rt, pid, "", "scribe", "ada", "Hello from Ada."), ada)
	if r := turn(t, rt, pid, "", "scribe", "bob", "Hello from Bob."); r.Status != engram.StatusCompleted {
		t.Fatalf("bob: %s (%+v)", r.Status, r.Error)
	}

	if r := turn(t, rt, pid, "", "keeper", "bob", "Keeper, once."); r.Status != engram.StatusCompleted {
		t.Fatalf("keeper before its budget: %s", r.Status)
	}
	kb := addBudget(t, rt, pid, engram.Budget{Scope: engram.BudgetAgent, Subject: keeper.ID, Period: engram.PeriodDay, MaxTokens: int64(spent(t, rt, pid, engram.UsageFilter{AgentID: keeper.ID})) + 1})
	wantBudgetStop(t, turn(t, rt, pid, "", "keeper", "bob", "Keeper, twice."), kb)
	if r := turn(t, rt, pid, "", "scribe", "bob", "Scribe, still."); r.Status != engram.StatusCompleted {
		t.Fatalf("scribe beside keeper's budget: %s (%+v)", r.Status, r.Error)
	}
}

// TestCostBudget: a dollar cap stops a run once priced usage would pass it;
// a model with no price costs nothing.
func TestCostBudget(t *testing.T) {
	clock := newBudgetClock(time.Now())
	// $1 per input or output token: a turn costs tens of dollars.
	rt, pid := setupBudgets(t, clock, engram.Prices{"scripted/echo": {Input: 1e6, Output: 1e6}})
	conv := newConversation(t, rt, pid)
	first := turn(t, rt, pid, conv, "", "", "Price this.")
	if first.Status != engram.StatusCompleted {
		t.Fatal(first.Status)
	}
	b := addBudget(t, rt, pid, engram.Budget{Scope: engram.BudgetProject, Period: engram.PeriodDay, MaxCostUSD: float64(first.Usage.TotalTokens) + 1})
	r := turn(t, rt, pid, conv, "", "", "And this?")
	wantBudgetStop(t, r, b)
	if !strings.Contains(r.Error.Message, "$") {
		t.Errorf("message %q names no dollars", r.Error.Message)
	}
	// scripted/recall has no price: it runs under the same cap.
	resp, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/recall",
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "free"}}}}}, nil)
	if err != nil || resp.Status != engram.StatusCompleted {
		t.Fatalf("an unpriced model under a dollar cap: %v %+v", err, resp)
	}
}

// TestBudgetStopStreamed: the stream of a stopped response ends with
// response.incomplete carrying the reason.
func TestBudgetStopStreamed(t *testing.T) {
	clock := newBudgetClock(time.Now())
	rt, pid := setupBudgets(t, clock, nil)
	b := addBudget(t, rt, pid, engram.Budget{Scope: engram.BudgetProject, Period: engram.PeriodDay, MaxTokens: 1})
	var events []engram.StoredEvent
	r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/echo", Stream: true,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "hi"}}}}},
		func(ev engram.StoredEvent) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	wantBudgetStop(t, r, b)
	if len(events) == 0 || events[len(events)-1].Type != engram.EventResponseIncomplete ||
		!strings.Contains(string(events[len(events)-1].Data), "budget_exceeded") {
		t.Fatalf("last event = %+v", events)
	}
}

// BenchmarkTurnWithBudgets is an agent's turn for an end user under no
// budget, then under three that apply (project, agent, user), none
// reached: the difference is the runtime's cost of enforcing them.
func BenchmarkTurnWithBudgets(b *testing.B) {
	for _, n := range []int{0, 3} {
		b.Run(fmt.Sprintf("budgets=%d", n), func(b *testing.B) { benchmarkBudgets(b, n) })
	}
}

func benchmarkBudgets(b *testing.B, n int) {
	rt, _, pid := setup(b)
	ctx := context.Background()
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "keeper", Model: "scripted/echo"}
	if err := rt.Store.CreateAgent(ctx, a); err != nil {
		b.Fatal(err)
	}
	for _, bu := range []engram.Budget{{Scope: engram.BudgetProject, Period: engram.PeriodMonth, MaxTokens: 1 << 50},
		{Scope: engram.BudgetAgent, Subject: a.ID, Period: engram.PeriodDay, MaxTokens: 1 << 50},
		{Scope: engram.BudgetUser, Subject: "ada", Period: engram.PeriodDay, MaxCostUSD: 1e9}}[:n] {
		bu.ID, bu.ProjectID = engram.NewID("budget"), pid
		if err := rt.Store.CreateBudget(ctx, &bu); err != nil {
			b.Fatal(err)
		}
	}
	conv := newConversation(b, rt, pid)
	msg := strings.Repeat("the colony was calm after we added a super ", 10)
	turn := func() error {
		r, err := rt.CreateResponse(ctx, pid, &engram.ResponseRequest{Model: "agent/keeper", User: "ada", Conversation: conv, Truncation: "auto",
			Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: msg}}}}}, nil)
		if err == nil && r.Status != engram.StatusCompleted {
			err = fmt.Errorf("turn %s: %+v", r.Status, r.Error)
		}
		return err
	}
	for i := 0; i < 10; i++ {
		if err := turn(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := turn(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBudgetListCache: a node keeps a project's budget list for
// BudgetCacheTTL unless told it changed (the API tells it).
func TestBudgetListCache(t *testing.T) {
	clock := newBudgetClock(time.Now())
	rt, pid := setupBudgets(t, clock, nil)
	rt.BudgetCacheTTL = time.Hour
	if r := turn(t, rt, pid, "", "", "", "Read the budgets."); r.Status != engram.StatusCompleted {
		t.Fatal(r.Status)
	}
	b := &engram.Budget{ID: engram.NewID("budget"), ProjectID: pid, Scope: engram.BudgetProject, Period: engram.PeriodDay, MaxTokens: 1}
	if err := rt.Store.CreateBudget(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if r := turn(t, rt, pid, "", "", "", "Not told yet."); r.Status != engram.StatusCompleted {
		t.Fatalf("the cached list (no budget) should apply for the hour: %s", r.Status)
	}
	rt.BudgetsChanged(pid)
	wantBudgetStop(t, turn(t, rt, pid, "", "", "", "Told."), b)

	// Without a cache every run reads the list.
	rt.BudgetCacheTTL = 0
	if err := rt.Store.DeleteBudget(context.Background(), pid, b.ID); err != nil {
		t.Fatal(err)
	}
	if r := turn(t, rt, pid, "", "", "", "Deleted."); r.Status != engram.StatusCompleted {
		t.Fatalf("after delete, uncached: %s", r.Status)
	}
}
