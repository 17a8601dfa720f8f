package runtime

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/engram-run/engram"
)

// IncompleteBudget is the incomplete_details.reason of a run stopped by a
// budget.
const IncompleteBudget = "budget_exceeded"

// now is the runtime's clock for budget periods.
func (rt *Runtime) now() time.Time {
	if rt.Clock != nil {
		return rt.Clock()
	}
	return time.Now()
}

// applicableBudgets reads, once per run, the project's budgets that cap
// it: the project's, its agent's and its end user's. The project's list
// comes from memory when read less than BudgetCacheTTL ago (most projects
// have none, and every run asks).
func (x *run) applicableBudgets(ctx context.Context) ([]*engram.Budget, error) {
	if x.budgetsRead {
		return x.budgets, nil
	}
	all, err := x.rt.spends.budgets(ctx, x.rt, x.p.projectID)
	if err != nil {
		return nil, err
	}
	x.budgets = x.budgets[:0]
	for _, b := range all {
		if b.Applies(x.r.AgentID, x.r.User) {
			x.budgets = append(x.budgets, b)
		}
	}
	x.budgetsRead = true
	return x.budgets, nil
}

// checkBudgets stops the run before a model call that would pass a budget:
// what the budget's subject spent this period (the usage records stored,
// plus this run's calls, recorded only when it ends) and, with
// countInput, this call's input tokens. It returns the message naming the
// budget, or "". Without countInput it stops only a run whose budget is
// already spent: the check made before recall and compaction, which call
// models of their own.
func (x *run) checkBudgets(ctx context.Context, countInput bool) (string, error) {
	budgets, err := x.applicableBudgets(ctx)
	if err != nil || len(budgets) == 0 {
		return "", err
	}
	model := x.p.provider.Name() + "/" + x.p.model
	input := 0
	if countInput {
		// The call's input as the window's items count it (each carries
		// its count): building the request here would copy the window.
		input = x.callTokens()
		if x.recalled != nil {
			input += x.recalled.Tokens
		}
	}
	callCost, _ := x.rt.Prices.Cost(model, engram.Usage{InputTokens: input})
	var runTokens int64
	var runCost float64
	for _, u := range x.usage {
		runTokens += int64(u.InputTokens + u.OutputTokens)
		c, _ := x.rt.Prices.Cost(u.Provider+"/"+u.Model, u.Usage)
		runCost += c
	}
	now := x.rt.now()
	for _, b := range budgets {
		spent, err := x.rt.spends.spent(ctx, x.rt, b, now)
		if err != nil {
			return "", err
		}
		tokens := spent.Tokens + runTokens
		cost := spent.CostUSD + runCost
		switch {
		case !countInput && (b.MaxTokens > 0 && tokens >= b.MaxTokens || b.MaxCostUSD > 0 && cost >= b.MaxCostUSD):
			return fmt.Sprintf("This response stopped before a model call: %s is spent (%d tokens, $%.4f since %s). It resets at %s.",
				b.Describe(), tokens, cost, formatTime(spent.PeriodStart), formatTime(spent.PeriodEnd)), nil
		case !countInput:
		case b.MaxTokens > 0 && tokens+int64(input) > b.MaxTokens:
			return fmt.Sprintf("This response stopped before a model call that would pass %s: %d tokens spent since %s, and the call's input is %d tokens. It resets at %s.",
				b.Describe(), tokens, formatTime(spent.PeriodStart), input, formatTime(spent.PeriodEnd)), nil
		case b.MaxCostUSD > 0 && cost+callCost > b.MaxCostUSD:
			return fmt.Sprintf("This response stopped before a model call that would pass %s: $%.4f spent since %s, and the call's input costs $%.4f. It resets at %s.",
				b.Describe(), cost, formatTime(spent.PeriodStart), callCost, formatTime(spent.PeriodEnd)), nil
		}
	}
	return "", nil
}

func formatTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// budgetStop checks the budgets before step s's model call (see
// checkBudgets) and ends the run when one is passed.
func (x *run) budgetStop(ctx context.Context, s *engram.Step, countInput bool) (bool, error) {
	msg, err := x.checkBudgets(ctx, countInput)
	if err != nil {
		s.Status, s.Error, s.CompletedAt = engram.StepFailed, engram.ErrorMessage(err), engram.Now()
		x.dirty = s
		return true, err
	}
	if msg == "" {
		return false, nil
	}
	x.stopForBudget(s, msg)
	return true, nil
}

// stopForBudget ends the run incomplete, before the model call of step s.
func (x *run) stopForBudget(s *engram.Step, msg string) {
	s.Status, s.Error, s.CompletedAt = engram.StepFailed, msg, engram.Now()
	x.dirty = s
	x.r.IncompleteReason = IncompleteBudget
	// incomplete_details has only a reason in OpenAI's shape; the message
	// naming the budget goes in the response's error, which OpenAI's
	// clients read as they read any error object.
	x.r.Error = &engram.ResponseError{Code: IncompleteBudget, Message: msg}
}

// spendCache keeps what each budget's subject spent in its current period,
// as read from the store, plus the usage of the runs this node has ended
// since: a budget check reads the store's usage (an aggregate over the
// period's records) at most once per BudgetCacheTTL, not on every model
// call. What other nodes spend is seen when the entry is read again, so
// with several nodes a budget may be passed by what they spend in one TTL.
type spendCache struct {
	mu      sync.Mutex
	entries map[spendKey]*spendEntry
	lists   map[string]*budgetList // by project
	forgot  map[string]time.Time   // when BudgetsChanged last forgot a project's list
}

// budgetList is a project's budgets as read at readAt.
type budgetList struct {
	budgets []*engram.Budget
	readAt  time.Time
}

// budgets returns the project's budgets, read at most once per
// BudgetCacheTTL (BudgetsChanged forgets them at once).
func (c *spendCache) budgets(ctx context.Context, rt *Runtime, projectID string) ([]*engram.Budget, error) {
	if rt.BudgetCacheTTL > 0 {
		c.mu.Lock()
		l := c.lists[projectID]
		c.mu.Unlock()
		if l != nil && time.Since(l.readAt) < rt.BudgetCacheTTL {
			return l.budgets, nil
		}
	}
	readAt := time.Now()
	list, err := rt.Store.ListBudgets(ctx, projectID)
	if err != nil || rt.BudgetCacheTTL <= 0 {
		return list, err
	}
	c.mu.Lock()
	if readAt.After(c.forgot[projectID]) {
		if len(c.lists) > 10000 {
			clear(c.lists)
			clear(c.forgot)
		}
		c.lists[projectID] = &budgetList{budgets: list, readAt: readAt}
	}
	c.mu.Unlock()
	return list, nil
}

// BudgetsChanged forgets what this node knows of a project's budgets, so
// that its next model call reads them: the API calls it when a budget is
// written. Other nodes see the change within BudgetCacheTTL.
func (rt *Runtime) BudgetsChanged(projectID string) {
	c := rt.spends
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.lists, projectID)
	// A list being read now may predate the change: it is not kept.
	c.forgot[projectID] = time.Now()
}

// spendKey is a budget's subject and period: budgets of the same subject
// and period share one entry.
type spendKey struct {
	project, scope, subject string
	start, end              int64
}

type spendEntry struct {
	byModel map[string]*engram.UsageTotal
	readAt  time.Time
}

func newSpendCache() *spendCache {
	return &spendCache{entries: map[spendKey]*spendEntry{}, lists: map[string]*budgetList{}, forgot: map[string]time.Time{}}
}

// spent is b's spend in the period holding now.
func (c *spendCache) spent(ctx context.Context, rt *Runtime, b *engram.Budget, now time.Time) (*engram.BudgetSpend, error) {
	start, end := b.PeriodBounds(now)
	if rt.BudgetCacheTTL <= 0 {
		return b.Spent(ctx, rt.Store, rt.Prices, now)
	}
	key := spendKey{b.ProjectID, b.Scope, b.Subject, start, end}
	c.mu.Lock()
	e := c.entries[key]
	if e != nil && time.Since(e.readAt) < rt.BudgetCacheTTL {
		s := b.SpendOf(e.totals(), rt.Prices, start, end)
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	readAt := time.Now()
	totals, err := rt.Store.UsageTotals(ctx, b.ProjectID, b.Filter(start, end))
	if err != nil {
		return nil, err
	}
	e = &spendEntry{byModel: make(map[string]*engram.UsageTotal, len(totals)), readAt: readAt}
	for _, t := range totals {
		e.byModel[t.Group] = t
	}
	c.mu.Lock()
	if len(c.entries) > 10000 {
		clear(c.entries) // old periods and departed subjects; refilled as read
	}
	c.entries[key] = e
	c.mu.Unlock()
	return b.SpendOf(totals, rt.Prices, start, end), nil
}

func (e *spendEntry) totals() []*engram.UsageTotal {
	out := make([]*engram.UsageTotal, 0, len(e.byModel))
	for _, t := range e.byModel {
		out = append(out, t)
	}
	return out
}

// note adds the usage records a run stored (with a write begun at
// writing) to the entries they count in. Only entries read before the
// write began are sure not to hold them already: one read while it
// committed may miss them until it is read again, never count them twice.
func (c *spendCache) note(records []*engram.UsageRecord, writing time.Time) {
	if len(records) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.entries {
		if !e.readAt.Before(writing) {
			continue
		}
		for _, u := range records {
			if u.ProjectID != key.project || u.CreatedAt < key.start || u.CreatedAt >= key.end {
				continue
			}
			if (key.scope == engram.BudgetAgent && u.AgentID != key.subject) || (key.scope == engram.BudgetUser && u.User != key.subject) {
				continue
			}
			model := u.Provider + "/" + u.Model
			t := e.byModel[model]
			if t == nil {
				t = &engram.UsageTotal{Group: model}
				e.byModel[model] = t
			}
			t.Usage.Add(u.Usage)
		}
	}
}
