package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPricesFile: ENGRAM_PRICES prices the spend budgets show and stop on.
func TestPricesFile(t *testing.T) {
	prices := filepath.Join(t.TempDir(), "prices.json")
	// A dollar per token: a turn's cost is its token count.
	if err := os.WriteFile(prices, []byte(`{"scripted/echo":{"input":1000000,"output":1000000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startEngram(t, map[string]string{"ENGRAM_PRICES": prices})
	var b struct{ ID string }
	if st := srv.call(t, "POST", "/v1/budgets", `{"scope":"project","period":"month","max_cost_usd":100000}`, &b); st != http.StatusOK {
		t.Fatalf("create budget: %d", st)
	}
	var r respBody
	if st := srv.call(t, "POST", "/v1/responses", `{"model":"scripted/echo","input":"What does a turn cost?"}`, &r); st != http.StatusOK || r.Status != "completed" {
		t.Fatalf("turn: %d %+v", st, r)
	}
	var got struct {
		Spend struct {
			Tokens  int64   `json:"tokens"`
			CostUSD float64 `json:"cost_usd"`
		} `json:"spend"`
	}
	if st := srv.call(t, "GET", "/v1/budgets/"+b.ID, ``, &got); st != http.StatusOK {
		t.Fatalf("get budget: %d", st)
	}
	if got.Spend.Tokens == 0 || got.Spend.CostUSD != float64(got.Spend.Tokens) {
		t.Errorf("spend = %+v; want a dollar per token", got.Spend)
	}
}

// TestBadPricesFile: a prices file that does not parse stops the server
// from starting, naming the variable.
func TestBadPricesFile(t *testing.T) {
	prices := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(prices, []byte(`{"gpt-4o":{"input":"cheap"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"ENGRAM_DATA": t.TempDir(), "ENGRAM_ADDR": "127.0.0.1:0", "ENGRAM_PRICES": prices, "ENGRAM_LOG_LEVEL": "error"}
	var out strings.Builder
	err := run(context.Background(), []string{"serve"}, func(k string) string { return vars[k] }, strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "ENGRAM_PRICES") {
		t.Errorf("err = %v", err)
	}
}
