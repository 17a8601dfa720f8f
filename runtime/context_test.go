package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/tokens"
)

// capture is a provider that keeps every turn's request (summaries and
// extractions pass through) and answers as the scripted model of the same
// name does.
type capture struct {
	mu    sync.Mutex
	turns []*engram.ModelRequest
	tasks []*engram.ModelRequest
}

func (*capture) Name() string { return "capture" }
func (c *capture) Generate(ctx context.Context, req *engram.ModelRequest, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	c.mu.Lock()
	if req.Task == "" {
		c.turns = append(c.turns, req)
	} else {
		c.tasks = append(c.tasks, req)
	}
	c.mu.Unlock()
	return scripted.New().Generate(ctx, req, emit)
}

func (c *capture) last() *engram.ModelRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.turns[len(c.turns)-1]
}

func agentWith(t *testing.T, rt *runtime.Runtime, pid, name, model string, policy engram.ContextPolicy) {
	t.Helper()
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: name, Model: model, Context: policy}
	if err := rt.ValidateAgent(a); err != nil {
		t.Fatal(err)
	}
	if err := rt.Store.CreateAgent(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// turnText is a user message of about 60 tokens whose first sentence is a
// fact the summary must keep.
func turnText(i int) string {
	return fmt.Sprintf("Fact %d: hive %d weighs %d kilograms. ", i, i, 20+i) +
		strings.Repeat(fmt.Sprintf("The bees of hive %d were calm and the frames were full of capped brood today. ", i), 3)
}

func userItems(items []*engram.Item) int {
	n := 0
	for _, it := range items {
		if it.Type == engram.ItemMessage && it.Role == "user" {
			n++
		}
	}
	return n
}

// TestCompaction: an agent's conversation grows far past its budget; older
// turns are summarised into compaction items, every call stays within the
// budget, the summary carries the early facts, and the log loses nothing.
func TestCompaction(t *testing.T) {
	rt, _, pid := setup(t)
	prov := &capture{}
	rt.Providers.Add(prov)
	agentWith(t, rt, pid, "keeper", "capture/echo", engram.ContextPolicy{BudgetTokens: 1500})
	conv := newConversation(t, rt, pid)
	const turns = 40
	var compactions []*engram.Response
	for i := 0; i < turns; i++ {
		r, err := say(rt, pid, conv, "agent/keeper", turnText(i))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != engram.StatusCompleted {
			t.Fatalf("turn %d: %s %+v", i, r.Status, r.Error)
		}
		if r.Output[0].Type == engram.ItemCompaction {
			compactions = append(compactions, r)
			if len(compactions) == 1 && !strings.Contains(r.Output[0].EncryptedContent, "Fact 0: hive 0 weighs 20 kilograms.") {
				t.Errorf("the first summary lost the first fact: %q", r.Output[0].EncryptedContent)
			}
		}
		req := prov.last()
		if n := tokens.Items(req.Input); n > 1500 {
			t.Errorf("turn %d sent %d tokens of items, over the budget of 1500", i, n)
		}
	}
	if len(compactions) == 0 {
		t.Fatal("no turn compacted")
	}
	// The call after a compaction reads the summary first.
	steps, err := rt.Store.ListSteps(context.Background(), pid, compactions[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if c := steps[0].Context; c == nil || c.Compacted == 0 || c.CompactionID != compactions[0].Output[0].ID {
		t.Errorf("the step does not record the compaction: %+v", steps[0].Context)
	}
	req := prov.last()
	if first := req.Input[0]; first.Role != "developer" || !strings.HasPrefix(first.Text(), "Summary of the earlier conversation:") {
		t.Errorf("the last call did not start with the summary: %+v", first)
	}
	// Nothing said is lost: the log has every turn.
	items, _, err := rt.Store.ListItems(context.Background(), pid, conv, engram.Page{Limit: 100, Order: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	if n := userItems(items); n != turns {
		t.Errorf("the log holds %d user messages, want %d", n, turns)
	}
	last, err := rt.Store.GetResponse(context.Background(), pid, compactions[len(compactions)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if u := last.Usage; u.StatelessInputTokens <= u.InputTokens {
		t.Errorf("a compacted turn's stateless counterfactual %d is not above what it sent (%d)", u.StatelessInputTokens, u.InputTokens)
	}
}

// TestCompactionFallback: a summariser that answers nothing costs the turn
// nothing: the window is truncated instead, and the step says why.
func TestCompactionFallback(t *testing.T) {
	rt, _, pid := setup(t)
	prov := &capture{}
	rt.Providers.Add(prov)
	agentWith(t, rt, pid, "keeper", "capture/echo", engram.ContextPolicy{BudgetTokens: 1500, CompactionModel: "scripted/silent"})
	conv := newConversation(t, rt, pid)
	var fellBack *engram.Step
	for i := 0; i < 30 && fellBack == nil; i++ {
		r, err := say(rt, pid, conv, "agent/keeper", turnText(i))
		if err != nil || r.Status != engram.StatusCompleted {
			t.Fatalf("turn %d: %v %+v", i, err, r)
		}
		for _, it := range r.Output {
			if it.Type == engram.ItemCompaction {
				t.Fatalf("an empty summary became a compaction item")
			}
		}
		steps, _ := rt.Store.ListSteps(context.Background(), pid, r.ID)
		if c := steps[0].Context; c != nil && c.Truncated > 0 {
			fellBack = steps[0]
		}
		if n := tokens.Items(prov.last().Input); n > 1500 {
			t.Errorf("turn %d sent %d tokens, over the budget", i, n)
		}
	}
	if fellBack == nil {
		t.Fatal("no turn fell back to truncation")
	}
	if !strings.Contains(fellBack.Context.Note, "empty") {
		t.Errorf("the fallback's note = %q, want it to say the summary was empty", fellBack.Context.Note)
	}
}

// TestTruncation: a bare model's conversation past its window fails with
// context_length_exceeded when truncation is disabled (OpenAI's default),
// and drops its oldest items with auto; context_management compacts it.
func TestTruncation(t *testing.T) {
	rt, _, pid := setup(t)
	conv := newConversation(t, rt, pid)
	big := &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText,
		Text: "First words. " + strings.Repeat("honey ", 13_000)}}}
	tokens.Stamp([]*engram.Item{big})
	if err := rt.Store.AppendItems(context.Background(), pid, conv, []*engram.Item{big}); err != nil {
		t.Fatal(err)
	}
	_, err := say(rt, pid, conv, "scripted/recall", "and now?")
	if engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(engram.ErrorMessage(err), "exceeds the context window") {
		t.Fatalf("disabled truncation over the window: %v, want context_length_exceeded", err)
	}
	r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/recall", Conversation: conv, Truncation: "auto",
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "and now?"}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Output[0].Text(); got != "and now?" {
		t.Fatalf("auto truncation left the model %q, want only the new message", got)
	}
	r, err = rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/recall", Conversation: conv,
		ContextManagement: []engram.ContextManagement{{Type: "compaction", CompactThreshold: 1000}},
		Input:             []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "still there?"}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Output[0].Type != engram.ItemCompaction || !strings.Contains(r.Output[0].EncryptedContent, "First words.") {
		t.Fatalf("context_management compaction: output %s", itemTypes(r.Output))
	}
	if r.CompactThreshold != 1000 {
		t.Errorf("compact threshold %d, want 1000", r.CompactThreshold)
	}
}

// TestCompactConversation: /v1/responses/compact on a stored conversation
// appends a compaction item its next turn starts from; on a bare input it
// gives the summary and the kept items back without storing anything.
func TestCompactConversation(t *testing.T) {
	rt, _, pid := setup(t)
	prov := &capture{}
	rt.Providers.Add(prov)
	agentWith(t, rt, pid, "keeper", "capture/echo", engram.ContextPolicy{BudgetTokens: 8000, Compaction: "off"})
	conv := newConversation(t, rt, pid)
	for i := 0; i < 12; i++ {
		if _, err := say(rt, pid, conv, "agent/keeper", turnText(i)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := rt.Compact(context.Background(), pid, &engram.ResponseRequest{Model: "agent/keeper", Conversation: conv})
	if err != nil {
		t.Fatal(err)
	}
	if c.Output[0].Type != engram.ItemCompaction || !strings.Contains(c.Output[0].EncryptedContent, "Fact 0:") {
		t.Fatalf("compact output %s %q", itemTypes(c.Output), c.Output[0].EncryptedContent)
	}
	if _, err := say(rt, pid, conv, "agent/keeper", "what do you remember?"); err != nil {
		t.Fatal(err)
	}
	req := prov.last()
	if !strings.HasPrefix(req.Input[0].Text(), "Summary of the earlier conversation:") {
		t.Errorf("the turn after compact did not start with the summary: %q", req.Input[0].Text())
	}
	if len(req.Input) >= 2*12 {
		t.Errorf("the turn after compact still read %d items", len(req.Input))
	}

	// Stateless: the summary and the kept items, under new ids, nothing stored.
	var input []*engram.Item
	for i := 0; i < 12; i++ {
		input = append(input, &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: turnText(i)}}})
	}
	c, err = rt.Compact(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/echo", Input: input})
	if err != nil {
		t.Fatal(err)
	}
	if c.Output[0].Type != engram.ItemCompaction || c.Output[0].CompactedThrough != 0 || len(c.Output) < 2 || len(c.Output) >= 12 {
		t.Fatalf("stateless compact output %s", itemTypes(c.Output))
	}
	if c.Usage.InputTokens == 0 {
		t.Error("compact reported no usage")
	}
}
