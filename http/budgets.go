package http

import (
	"net/http"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// budgetBody is the JSON of POST /v1/budgets. Scope and subject are fixed
// once a budget exists: POST /v1/budgets/{id} takes budgetUpdate.
type budgetBody struct {
	Scope   string `json:"scope"`
	Subject string `json:"subject"`
	budgetUpdate
}

// budgetUpdate is the JSON of POST /v1/budgets/{id}: the given fields
// change.
type budgetUpdate struct {
	Period     *string            `json:"period"`
	MaxTokens  *int64             `json:"max_tokens"`
	MaxCostUSD *float64           `json:"max_cost_usd"`
	Metadata   *map[string]string `json:"metadata"`
}

func (u *budgetUpdate) apply(b *engram.Budget) {
	if u.Period != nil {
		b.Period = *u.Period
	}
	if u.MaxTokens != nil {
		b.MaxTokens = *u.MaxTokens
	}
	if u.MaxCostUSD != nil {
		b.MaxCostUSD = *u.MaxCostUSD
	}
	if u.Metadata != nil {
		b.Metadata = *u.Metadata
	}
}

// budgetJSON is a budget as the API shows it, with what its subject spent
// in the current period.
type budgetJSON struct {
	Object string `json:"object"`
	*engram.Budget
	Spend *engram.BudgetSpend `json:"spend"`
}

func (s *Server) budgetsChanged(projectID string) {
	if s.BudgetsChanged != nil {
		s.BudgetsChanged(projectID)
	}
}

func (s *Server) prices() engram.Prices {
	if s.Prices != nil {
		return s.Prices
	}
	return engram.DefaultPrices
}

func (s *Server) encodeBudget(r *http.Request, b *engram.Budget) (budgetJSON, error) {
	spend, err := b.Spent(r.Context(), s.Store, s.prices(), time.Now())
	if err != nil {
		return budgetJSON{}, err
	}
	if b.Metadata == nil {
		b.Metadata = map[string]string{}
	}
	return budgetJSON{Object: "budget", Budget: b, Spend: spend}, nil
}

func (s *Server) writeBudget(w http.ResponseWriter, r *http.Request, b *engram.Budget) {
	out, err := s.encodeBudget(r, b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createBudget(w http.ResponseWriter, r *http.Request) {
	var body budgetBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	b := &engram.Budget{ID: engram.NewID("budget"), ProjectID: keyOf(r).ProjectID, Scope: body.Scope, Subject: body.Subject}
	body.apply(b)
	err := b.Check()
	if err == nil && b.Scope == engram.BudgetAgent {
		// An agent is named by id or name; the budget keeps its id, which
		// its runs carry.
		var a *engram.Agent
		if a, err = s.Store.GetAgent(r.Context(), b.ProjectID, b.Subject, 0); err == nil {
			b.Subject = a.ID
		} else if engram.ErrorCode(err) == engram.ENotFound {
			err = engram.ParamErrorf(engram.ENotFound, "subject", "Agent '%s' not found.", b.Subject)
		}
	}
	if err == nil {
		err = s.Store.CreateBudget(r.Context(), b)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.budgetsChanged(b.ProjectID)
	s.writeBudget(w, r, b)
}

func (s *Server) getBudget(w http.ResponseWriter, r *http.Request) {
	b, err := s.Store.GetBudget(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeBudget(w, r, b)
}

func (s *Server) listBudgets(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.ListBudgets(r.Context(), keyOf(r).ProjectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data := make([]budgetJSON, 0, len(list))
	for _, b := range list {
		out, err := s.encodeBudget(r, b)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		data = append(data, out)
	}
	page := map[string]any{"object": "list", "data": data, "has_more": false, "first_id": nil, "last_id": nil}
	if len(list) > 0 {
		page["first_id"], page["last_id"] = list[0].ID, list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) updateBudget(w http.ResponseWriter, r *http.Request) {
	var body budgetUpdate
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.Store.GetBudget(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
	if err == nil {
		body.apply(b)
		err = b.Check()
	}
	if err == nil {
		err = s.Store.UpdateBudget(r.Context(), b)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.budgetsChanged(b.ProjectID)
	s.writeBudget(w, r, b)
}

func (s *Server) deleteBudget(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Store.DeleteBudget(r.Context(), keyOf(r).ProjectID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.budgetsChanged(keyOf(r).ProjectID)
	writeJSON(w, http.StatusOK, openai.Deleted{ID: id, Object: "budget.deleted", Deleted: true})
}
