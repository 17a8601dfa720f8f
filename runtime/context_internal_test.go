package runtime

import (
	"fmt"
	"testing"

	"github.com/engram-run/engram"
)

// TestCompactionReplay: a worker resuming a run whose journal holds a
// compaction rebuilds the same window the run had: the summary first, the
// covered items gone, the kept items and the run's own items after it.
func TestCompactionReplay(t *testing.T) {
	var history []*engram.Item
	for i := 1; i <= 6; i++ {
		history = append(history, &engram.Item{ID: fmt.Sprint("msg_", i), Type: engram.ItemMessage, Role: "user", Seq: int64(i), Tokens: 10,
			Content: []engram.Content{{Type: engram.ContentInputText, Text: fmt.Sprint(i)}}})
	}
	r := &engram.Response{ID: "resp_1", Truncation: "auto", CompactThreshold: 1000}
	input := history[5]
	input.ResponseID = r.ID // a resumed run's input is in its history
	cmp := &engram.Item{ID: "cmp_1", Type: engram.ItemCompaction, EncryptedContent: "summary of 1-4", CompactedThrough: 4, Tokens: 5}
	answer := &engram.Item{ID: "msg_a", Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "a"}}}
	steps := []*engram.Step{{N: 1, Kind: engram.StepModel, Status: engram.StepCompleted, Output: []*engram.Item{cmp, answer}}}
	rt := &Runtime{}
	x := rt.newRun(&plan{history: history, budget: 8000}, r, engram.Lease{}, nil, steps, nil)
	var got []string
	for _, it := range x.window {
		got = append(got, it.Text())
	}
	if fmt.Sprint(got) != "[summary of 1-4 5 6 a]" {
		t.Errorf("replayed window = %v, want [summary of 1-4 5 6 a]", got)
	}
	if !x.compacted || x.needsCompaction() {
		t.Error("a replayed compaction must not compact again")
	}
	if len(r.Output) != 2 || r.Output[0] != cmp {
		t.Errorf("output %v", r.Output)
	}
}
