package engram_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

func TestPrices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(`{"gpt-4o":{"input":1,"output":2},"ollama/qwen3":{"input":0.5,"cached":0.1,"output":0.5}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := engram.LoadPrices(path)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	tests := []struct {
		model string
		u     engram.Usage
		cost  float64
		ok    bool
	}{
		{"openai/gpt-4o", engram.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}, 3, true},    // overridden
		{"openai/gpt-4o-mini", engram.Usage{InputTokens: 1_000_000}, 0.15, true},                     // built in
		{"anthropic/claude-sonnet-4-5-20250929", engram.Usage{OutputTokens: 1_000_000}, 15, true},    // a dated snapshot
		{"ollama/qwen3", engram.Usage{InputTokens: 2_000_000, CachedTokens: 1_000_000}, 0.6, true},   // cached at its own price
		{"openai/gpt-4.1", engram.Usage{InputTokens: 1_000_000, CachedTokens: 1_000_000}, 0.5, true}, // all cached
		{"ollama/llama3", engram.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}, 0, false},   // unpriced
		{"openai/gpt-4o-mini-2024-07-18", engram.Usage{InputTokens: 1_000_000}, 0.15, true},          // the longest known prefix: gpt-4o-mini, not gpt-4o
	}
	for _, tt := range tests {
		cost, ok := p.Cost(tt.model, tt.u)
		if !near(cost, tt.cost) || ok != tt.ok {
			t.Errorf("%s: cost %g %v, want %g %v", tt.model, cost, ok, tt.cost, tt.ok)
		}
	}
	if err := os.WriteFile(path, []byte(`{"m":{"input":1,"ouput":2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := engram.LoadPrices(path); err == nil {
		t.Error("a misspelt field was accepted")
	}
}

func TestBudgetPeriods(t *testing.T) {
	day := &engram.Budget{Period: engram.PeriodDay}
	month := &engram.Budget{Period: engram.PeriodMonth}
	// 01:30 in Tokyo on 1 January is still 31 December in UTC: periods
	// are UTC's.
	tokyo := time.FixedZone("JST", 9*3600)
	at := time.Date(2026, 1, 1, 1, 30, 0, 0, tokyo)
	start, end := day.PeriodBounds(at)
	if start != time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC).Unix() || end != time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("day of %v = [%d, %d)", at, start, end)
	}
	start, end = month.PeriodBounds(at)
	if start != time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC).Unix() || end != time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("month of %v = [%d, %d)", at, start, end)
	}
	b := &engram.Budget{MaxCostUSD: 0.1234567}
	if b.MaxCostMicroUSD() != 123457 {
		t.Errorf("micro-dollars = %d", b.MaxCostMicroUSD())
	}
}
