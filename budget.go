package engram

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// Budget scopes.
const (
	BudgetProject = "project"
	BudgetAgent   = "agent"
	BudgetUser    = "user"
)

// Budget periods: a UTC calendar day or month.
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Budget caps what a project, one of its agents or one of its end users may
// spend on models in a UTC calendar day or month: total tokens (input plus
// output) and, optionally, cost in US dollars from a price table. A run
// whose next model call would pass a budget that applies to it ends
// incomplete with reason budget_exceeded.
type Budget struct {
	ID        string `json:"id"`
	ProjectID string `json:"-"`
	// Scope is project, agent or user; Subject is the agent's id (agent)
	// or the end user (user), "" for a project budget.
	Scope   string `json:"scope"`
	Subject string `json:"subject,omitempty"`
	Period  string `json:"period"`
	// MaxTokens caps total tokens (0: no token cap); MaxCostUSD caps cost
	// (0: no cost cap). At least one is set.
	MaxTokens  int64             `json:"max_tokens,omitempty"`
	MaxCostUSD float64           `json:"max_cost_usd,omitempty"`
	Metadata   map[string]string `json:"metadata"`
	CreatedAt  int64             `json:"created_at"`
	UpdatedAt  int64             `json:"updated_at"`
}

// Check validates a budget's fields.
func (b *Budget) Check() error {
	switch b.Scope {
	case BudgetProject:
		if b.Subject != "" {
			return ParamErrorf(EInvalid, "subject", "A project budget has no subject (got '%s').", b.Subject)
		}
	case BudgetAgent, BudgetUser:
		if b.Subject == "" {
			return ParamErrorf(EInvalid, "subject", "A budget of scope '%s' needs a subject (the %s it caps).", b.Scope, b.Scope)
		}
	default:
		return ParamErrorf(EInvalid, "scope", "Invalid value for 'scope': expected one of 'project', 'agent' or 'user', but got '%s'.", b.Scope)
	}
	switch b.Period {
	case PeriodDay, PeriodMonth:
	default:
		return ParamErrorf(EInvalid, "period", "Invalid value for 'period': expected one of 'day' or 'month', but got '%s'.", b.Period)
	}
	if b.MaxTokens < 0 {
		return ParamErrorf(EInvalid, "max_tokens", "Invalid 'max_tokens': expected a positive integer, but got %d.", b.MaxTokens)
	}
	if b.MaxCostUSD < 0 {
		return ParamErrorf(EInvalid, "max_cost_usd", "Invalid 'max_cost_usd': expected a positive number, but got %g.", b.MaxCostUSD)
	}
	if b.MaxTokens == 0 && b.MaxCostUSD == 0 {
		return ParamErrorf(EInvalid, "max_tokens", "A budget needs max_tokens, max_cost_usd or both.")
	}
	return nil
}

// MaxCostMicroUSD is MaxCostUSD in whole micro-dollars, as stored: a cap
// is exact to the millionth of a dollar.
func (b *Budget) MaxCostMicroUSD() int64 { return int64(math.Round(b.MaxCostUSD * 1e6)) }

// Applies reports whether the budget caps a run of agentID for user.
func (b *Budget) Applies(agentID, user string) bool {
	switch b.Scope {
	case BudgetProject:
		return true
	case BudgetAgent:
		return agentID != "" && b.Subject == agentID
	case BudgetUser:
		return user != "" && b.Subject == user
	}
	return false
}

// PeriodBounds returns the UTC calendar day or month holding now, as Unix
// seconds [start, end).
func (b *Budget) PeriodBounds(now time.Time) (start, end int64) {
	now = now.UTC()
	if b.Period == PeriodMonth {
		s := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return s.Unix(), s.AddDate(0, 1, 0).Unix()
	}
	s := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return s.Unix(), s.AddDate(0, 0, 1).Unix()
}

// Filter is the usage filter of the budget's subject in the period
// [from, to), grouped by model (cost is priced per model).
func (b *Budget) Filter(from, to int64) UsageFilter {
	f := UsageFilter{GroupBy: "model", From: from, To: to, Limit: 1000}
	switch b.Scope {
	case BudgetAgent:
		f.AgentID = b.Subject
	case BudgetUser:
		f.User = b.Subject
	}
	return f
}

// BudgetStore keeps budgets. Every method is scoped by project.
type BudgetStore interface {
	CreateBudget(ctx context.Context, b *Budget) error
	GetBudget(ctx context.Context, projectID, id string) (*Budget, error)
	// ListBudgets returns all the project's budgets, oldest first (a
	// project has few).
	ListBudgets(ctx context.Context, projectID string) ([]*Budget, error)
	// UpdateBudget stores b's limits, period and metadata (scope and
	// subject are fixed at creation).
	UpdateBudget(ctx context.Context, b *Budget) error
	DeleteBudget(ctx context.Context, projectID, id string) error
}

// Price is what a model costs, in US dollars per million tokens. Cached is
// the price of input tokens read from the provider's cache (0: Input).
type Price struct {
	Input  float64 `json:"input"`
	Cached float64 `json:"cached,omitempty"`
	Output float64 `json:"output"`
}

// Prices maps a model ("provider/model" or the bare model name) to its
// price.
type Prices map[string]Price

// DefaultPrices are list prices of well-known models (USD per million
// tokens, as published by their vendors; check yours and override them
// with ENGRAM_PRICES).
var DefaultPrices = Prices{
	"gpt-5.1":           {Input: 1.25, Cached: 0.125, Output: 10},
	"gpt-5":             {Input: 1.25, Cached: 0.125, Output: 10},
	"gpt-5-mini":        {Input: 0.25, Cached: 0.025, Output: 2},
	"gpt-5-nano":        {Input: 0.05, Cached: 0.005, Output: 0.4},
	"gpt-4.1":           {Input: 2, Cached: 0.5, Output: 8},
	"gpt-4.1-mini":      {Input: 0.4, Cached: 0.1, Output: 1.6},
	"gpt-4.1-nano":      {Input: 0.1, Cached: 0.025, Output: 0.4},
	"gpt-4o":            {Input: 2.5, Cached: 1.25, Output: 10},
	"gpt-4o-mini":       {Input: 0.15, Cached: 0.075, Output: 0.6},
	"o3":                {Input: 2, Cached: 0.5, Output: 8},
	"o4-mini":           {Input: 1.1, Cached: 0.275, Output: 4.4},
	"claude-opus-4-1":   {Input: 15, Cached: 1.5, Output: 75},
	"claude-opus-4-5":   {Input: 5, Cached: 0.5, Output: 25},
	"claude-sonnet-4-5": {Input: 3, Cached: 0.3, Output: 15},
	"claude-sonnet-4":   {Input: 3, Cached: 0.3, Output: 15},
	"claude-haiku-4-5":  {Input: 1, Cached: 0.1, Output: 5},
	"claude-3-5-haiku":  {Input: 0.8, Cached: 0.08, Output: 4},
}

// LoadPrices reads a JSON object {"model": {"input": …, "cached": …,
// "output": …}} from path and lays it over the defaults.
func LoadPrices(path string) (Prices, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var over Prices
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&over); err != nil {
		return nil, fmt.Errorf("prices %s: %w", path, err)
	}
	out := make(Prices, len(DefaultPrices)+len(over))
	for k, v := range DefaultPrices {
		out[k] = v
	}
	for k, v := range over {
		if v.Input < 0 || v.Cached < 0 || v.Output < 0 {
			return nil, fmt.Errorf("prices %s: model %q has a negative price", path, k)
		}
		out[k] = v
	}
	return out, nil
}

// Lookup finds a model's price by "provider/model", then by the bare
// model name, then by the longest known name it starts with (a dated
// snapshot such as claude-sonnet-4-5-20250929).
func (p Prices) Lookup(model string) (Price, bool) {
	if pr, ok := p[model]; ok {
		return pr, true
	}
	bare := model
	if i := strings.IndexByte(model, '/'); i >= 0 {
		bare = model[i+1:]
		if pr, ok := p[bare]; ok {
			return pr, true
		}
	}
	best := ""
	for name := range p {
		if len(name) > len(best) && strings.HasPrefix(bare, name+"-") {
			best = name
		}
	}
	if best != "" {
		return p[best], true
	}
	return Price{}, false
}

// Cost prices usage of a model; ok is false when the model has no price
// (its cost then counts as 0). InputTokens includes CachedTokens, as
// OpenAI counts them.
func (p Prices) Cost(model string, u Usage) (cost float64, ok bool) {
	pr, ok := p.Lookup(model)
	if !ok {
		return 0, false
	}
	cached := pr.Cached
	if cached == 0 {
		cached = pr.Input
	}
	fresh := max(u.InputTokens-u.CachedTokens, 0)
	return (float64(fresh)*pr.Input + float64(u.CachedTokens)*cached + float64(u.OutputTokens)*pr.Output) / 1e6, true
}

// BudgetSpend is what a budget's subject spent in the current period.
type BudgetSpend struct {
	Tokens      int64   `json:"tokens"`
	CostUSD     float64 `json:"cost_usd"`
	PeriodStart int64   `json:"period_start"`
	PeriodEnd   int64   `json:"period_end"`
	// Remaining is what is left of each cap that is set.
	Remaining struct {
		Tokens  *int64   `json:"tokens,omitempty"`
		CostUSD *float64 `json:"cost_usd,omitempty"`
	} `json:"remaining"`
	// UnpricedModels are models used in the period with no price: their
	// cost counts as 0.
	UnpricedModels []string `json:"unpriced_models,omitempty"`
}

// SpendOf totals usage grouped by model ("provider/model") into a budget's
// spend.
func (b *Budget) SpendOf(totals []*UsageTotal, prices Prices, start, end int64) *BudgetSpend {
	s := &BudgetSpend{PeriodStart: start, PeriodEnd: end}
	for _, t := range totals {
		s.Tokens += int64(t.InputTokens + t.OutputTokens)
		c, ok := prices.Cost(t.Group, t.Usage)
		if !ok && t.InputTokens+t.OutputTokens > 0 {
			s.UnpricedModels = append(s.UnpricedModels, t.Group)
		}
		s.CostUSD += c
	}
	sort.Strings(s.UnpricedModels)
	if b.MaxTokens > 0 {
		r := max(b.MaxTokens-s.Tokens, 0)
		s.Remaining.Tokens = &r
	}
	if b.MaxCostUSD > 0 {
		r := max(b.MaxCostUSD-s.CostUSD, 0)
		s.Remaining.CostUSD = &r
	}
	return s
}

// Spent reads what b's subject spent in the period holding now from the
// store's usage records: one grouped, indexed query.
func (b *Budget) Spent(ctx context.Context, usage interface {
	UsageTotals(context.Context, string, UsageFilter) ([]*UsageTotal, error)
}, prices Prices, now time.Time) (*BudgetSpend, error) {
	start, end := b.PeriodBounds(now)
	totals, err := usage.UsageTotals(ctx, b.ProjectID, b.Filter(start, end))
	if err != nil {
		return nil, err
	}
	return b.SpendOf(totals, prices, start, end), nil
}

// Describe names a budget in a message: "the agent budget bud_… (agent
// agent_…) of 1000 tokens per day".
func (b *Budget) Describe() string {
	var limits []string
	if b.MaxTokens > 0 {
		limits = append(limits, fmt.Sprintf("%d tokens", b.MaxTokens))
	}
	if b.MaxCostUSD > 0 {
		limits = append(limits, fmt.Sprintf("$%.4f", b.MaxCostUSD))
	}
	who := ""
	if b.Subject != "" {
		who = fmt.Sprintf(" (%s %s)", b.Scope, b.Subject)
	}
	return fmt.Sprintf("the %s budget %s%s of %s per %s (UTC)", b.Scope, b.ID, who, strings.Join(limits, " and "), b.Period)
}
