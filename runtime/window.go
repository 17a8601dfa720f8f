package runtime

import (
	"strings"

	"github.com/engram-run/engram"
)

// contextWindows lists known models' context windows in tokens, by name
// prefix; the longest matching prefix wins. A model not listed gets
// defaultContextWindow, and an agent's budget_tokens overrides both.
var contextWindows = []struct {
	prefix string
	tokens int
}{
	{"gpt-5", 400_000},
	{"gpt-4.1", 1_000_000},
	{"gpt-4o", 128_000},
	{"o1", 200_000},
	{"o3", 200_000},
	{"o4", 200_000},
	{"claude-", 200_000},
	{"gemini-", 1_000_000},
	{"llama3", 128_000},
	{"qwen3", 32_000},
	{"echo", 16_000},   // scripted
	{"recall", 16_000}, // scripted
	{"tools", 16_000},  // scripted
}

const (
	defaultContextWindow = 32_000
	// outputReserve is kept free for the answer when no max_output_tokens
	// is given.
	outputReserve = 4_096
)

// contextWindow returns the context window of a model (without its
// provider prefix).
func contextWindow(model string) int {
	best, n := defaultContextWindow, 0
	for _, w := range contextWindows {
		if len(w.prefix) > n && strings.HasPrefix(model, w.prefix) {
			best, n = w.tokens, len(w.prefix)
		}
	}
	return best
}

// inputBudget is the most input tokens one model call may carry.
func inputBudget(model string, agentBudget, maxOutput int) int {
	window := contextWindow(model)
	reserve := outputReserve
	if maxOutput > 0 {
		reserve = maxOutput
	}
	budget := window - reserve
	if budget < window/4 {
		budget = window / 4
	}
	if agentBudget > 0 && agentBudget < budget {
		budget = agentBudget
	}
	return budget
}

// trimToTurnStart drops leading items that cannot open a model's input: a
// tool call or tool output whose partner fell outside the window would be
// rejected by providers, so the window starts at a message.
func trimToTurnStart(items []*engram.Item) []*engram.Item {
	if len(items) > 0 && items[0].Type == engram.ItemCompaction {
		return append([]*engram.Item{items[0]}, trimToTurnStart(items[1:])...) // the summary opens any window
	}
	for i, it := range items {
		if it.Type == engram.ItemMessage {
			return items[i:]
		}
	}
	return nil
}

// pairedOnly drops tool calls that have no output in the window and outputs
// whose call is not in it, and approval items. Providers refuse either (a call left unanswered
// when a response stopped at a limit, or a pair the window cut in two), and
// neither tells the model anything it can use.
func pairedOnly(items []*engram.Item) []*engram.Item {
	calls, outputs := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		switch it.Type {
		case engram.ItemFunctionCall:
			calls[it.CallID] = true
		case engram.ItemFunctionCallOutput:
			outputs[it.CallID] = true
		}
	}
	keep := func(it *engram.Item) bool {
		switch it.Type {
		case engram.ItemFunctionCall:
			return outputs[it.CallID]
		case engram.ItemFunctionCallOutput:
			return calls[it.CallID]
		case engram.ItemApprovalRequest, engram.ItemApprovalResponse:
			return false // between Engram and a person; the model sees the call's output
		}
		return true
	}
	for i, it := range items {
		if !keep(it) {
			out := append([]*engram.Item(nil), items[:i]...)
			for _, rest := range items[i+1:] {
				if keep(rest) {
					out = append(out, rest)
				}
			}
			return out
		}
	}
	return items // the usual case: nothing to drop, nothing copied
}
