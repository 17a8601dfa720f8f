package http_test

import (
	"encoding/json"
	"strings"
	"testing"
)

type budgetOut struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	Scope      string  `json:"scope"`
	Subject    string  `json:"subject"`
	Period     string  `json:"period"`
	MaxTokens  int64   `json:"max_tokens"`
	MaxCostUSD float64 `json:"max_cost_usd"`
	Spend      struct {
		Tokens      int64   `json:"tokens"`
		CostUSD     float64 `json:"cost_usd"`
		PeriodStart int64   `json:"period_start"`
		PeriodEnd   int64   `json:"period_end"`
		Remaining   struct {
			Tokens  *int64   `json:"tokens"`
			CostUSD *float64 `json:"cost_usd"`
		} `json:"remaining"`
	} `json:"spend"`
}

func (e *env) budget(t *testing.T, key, method, path, body string) budgetOut {
	t.Helper()
	status, out := e.do(t, key, method, path, body)
	if status != 200 {
		t.Fatalf("%s %s: %d %s", method, path, status, out)
	}
	var b budgetOut
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBudgets: budgets through the API, their spend, and a response they
// stop, as an OpenAI client sees it.
func TestBudgets(t *testing.T) {
	e := newEnv(t)
	_, agent := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo"}`)
	b := e.budget(t, "mine/admin", "POST", "/v1/budgets", `{"scope":"agent","subject":"keeper","period":"day","max_tokens":100000,"metadata":{"team":"bees"}}`)
	if b.Object != "budget" || b.Subject != id(agent) || b.Spend.Tokens != 0 || b.Spend.Remaining.Tokens == nil || *b.Spend.Remaining.Tokens != 100000 ||
		b.Spend.PeriodEnd-b.Spend.PeriodStart != 86400 || b.Spend.Remaining.CostUSD != nil {
		t.Fatalf("created = %+v", b)
	}
	status, out := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","input":"Hive two is queenless."}`)
	if status != 200 || !strings.Contains(out, `"status":"completed"`) {
		t.Fatalf("turn: %d %s", status, out)
	}
	got := e.budget(t, "mine/developer", "GET", "/v1/budgets/"+b.ID, ``)
	if got.Spend.Tokens == 0 || *got.Spend.Remaining.Tokens != 100000-got.Spend.Tokens {
		t.Errorf("spend after a turn = %+v", got.Spend)
	}

	// Lowered below what was spent: the next turn stops.
	low := e.budget(t, "mine/admin", "POST", "/v1/budgets/"+b.ID, `{"max_tokens":1}`)
	if low.MaxTokens != 1 || low.Period != "day" || *low.Spend.Remaining.Tokens != 0 {
		t.Errorf("updated = %+v", low)
	}
	status, out = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","input":"And now?"}`)
	var resp struct {
		Status            string `json:"status"`
		IncompleteDetails struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || status != 200 {
		t.Fatalf("%d %s", status, out)
	}
	if resp.Status != "incomplete" || resp.IncompleteDetails.Reason != "budget_exceeded" || resp.Error.Code != "budget_exceeded" ||
		!strings.Contains(resp.Error.Message, b.ID) || !strings.Contains(resp.Error.Message, "1 tokens per day") {
		t.Errorf("stopped response = %s", out)
	}
	// Streamed, the stop is response.incomplete.
	status, out = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","input":"Streamed?","stream":true}`)
	if status != 200 || !strings.Contains(out, "event: response.incomplete") || !strings.Contains(out, `"reason":"budget_exceeded"`) {
		t.Errorf("streamed stop: %d %s", status, out)
	}

	status, out = e.do(t, "mine/developer", "GET", "/v1/budgets", ``)
	if status != 200 || !strings.Contains(out, `"object":"list"`) || !strings.Contains(out, `"first_id":"`+b.ID+`"`) || !strings.Contains(out, `"team":"bees"`) {
		t.Errorf("list: %d %s", status, out)
	}
	if status, out = e.do(t, "mine/admin", "DELETE", "/v1/budgets/"+b.ID, ``); status != 200 || !strings.Contains(out, `"budget.deleted"`) {
		t.Errorf("delete: %d %s", status, out)
	}
	status, out = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","input":"Free again?"}`)
	if status != 200 || !strings.Contains(out, `"status":"completed"`) {
		t.Errorf("after delete: %d %s", status, out)
	}
}

func TestBudgetErrors(t *testing.T) {
	e := newEnv(t)
	_, theirs := e.do(t, "theirs/admin", "POST", "/v1/budgets", `{"scope":"project","period":"month","max_cost_usd":5}`)
	if id(theirs) == "" {
		t.Fatalf("setup: %s", theirs)
	}
	tests := []struct {
		name, key, method, path, body string
		status                        int
		contains                      string
	}{
		{"bad scope", "mine/admin", "POST", "/v1/budgets", `{"scope":"team","period":"day","max_tokens":5}`, 400, `"param":"scope"`},
		{"bad period", "mine/admin", "POST", "/v1/budgets", `{"scope":"project","period":"week","max_tokens":5}`, 400, `"param":"period"`},
		{"no limit", "mine/admin", "POST", "/v1/budgets", `{"scope":"project","period":"day"}`, 400, `"param":"max_tokens"`},
		{"negative cost", "mine/admin", "POST", "/v1/budgets", `{"scope":"project","period":"day","max_cost_usd":-1}`, 400, `"param":"max_cost_usd"`},
		{"user without subject", "mine/admin", "POST", "/v1/budgets", `{"scope":"user","period":"day","max_tokens":5}`, 400, `"param":"subject"`},
		{"project with subject", "mine/admin", "POST", "/v1/budgets", `{"scope":"project","subject":"ada","period":"day","max_tokens":5}`, 400, `"param":"subject"`},
		{"unknown agent", "mine/admin", "POST", "/v1/budgets", `{"scope":"agent","subject":"nobody","period":"day","max_tokens":5}`, 404, `"param":"subject"`},
		{"unknown field", "mine/admin", "POST", "/v1/budgets", `{"scope":"project","period":"day","max_tokens":5,"hard":true}`, 400, `"param":"hard"`},
		{"scope is fixed", "mine/admin", "POST", "/v1/budgets/" + id(theirs), `{"scope":"user"}`, 400, `"param":"scope"`},
		{"developer cannot create", "mine/developer", "POST", "/v1/budgets", `{"scope":"project","period":"day","max_tokens":5}`, 403, ``},
		{"invoker cannot read", "mine/invoker", "GET", "/v1/budgets", ``, 403, ``},
		{"another project's budget", "mine/admin", "GET", "/v1/budgets/" + id(theirs), ``, 404, ``},
		{"another project's budget, update", "mine/admin", "POST", "/v1/budgets/" + id(theirs), `{"max_tokens":1}`, 404, ``},
		{"another project's budget, delete", "mine/admin", "DELETE", "/v1/budgets/" + id(theirs), ``, 404, ``},
	}
	for _, tt := range tests {
		status, body := e.do(t, tt.key, tt.method, tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, status, body, tt.status, tt.contains)
		}
	}
}
