package runtime_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/memory"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/tool"
)

// withMemory gives rt a memory service over its own store.
func withMemory(rt *runtime.Runtime, store engram.Store) {
	rt.Memory = &memory.Service{Store: store}
}

func sayAs(t *testing.T, rt *runtime.Runtime, pid, conv, user, text string) *engram.Response {
	t.Helper()
	r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "agent/keeper", Conversation: conv, User: user,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}}}, nil)
	if err != nil || r.Status != engram.StatusCompleted {
		t.Fatalf("%q: %v %+v", text, err, r)
	}
	return r
}

func waitExtracted(t *testing.T, rt *runtime.Runtime, pid, conv string, through int64) *engram.Extraction {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e, err := rt.Store.GetExtraction(context.Background(), pid, conv)
		if err == nil && e.Status == engram.ExtractionIdle && e.ThroughSeq >= through {
			return e
		}
		time.Sleep(20 * time.Millisecond)
	}
	e, err := rt.Store.GetExtraction(context.Background(), pid, conv)
	t.Fatalf("extraction of %s did not reach seq %d: %+v %v", conv, through, e, err)
	return nil
}

// TestExtractionAndRecall: every second turn of a conversation, a pass off
// the request path writes what the user said about themselves as records,
// superseding a contradicted one; in another conversation, the user's next
// message recalls them into the model's context, and the step lists them.
func TestExtractionAndRecall(t *testing.T) {
	rt, _, pid := setupWith(t, withMemory)
	prov := &capture{}
	rt.Providers.Add(prov)
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "keeper", Model: "capture/echo",
		Memory: engram.AgentMemory{Extraction: engram.ExtractionPolicy{EveryTurns: 2}}}
	if err := rt.Store.CreateAgent(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	conv := userConversation(t, rt, pid, a.ID, "ada")
	sayAs(t, rt, pid, conv, "ada", "My favourite colour is blue. What a day.")
	r := sayAs(t, rt, pid, conv, "ada", "I keep three hives in Lisbon.")
	e := waitExtracted(t, rt, pid, conv, r.LastSeq)
	if e.Records != 2 || e.Passes != 1 {
		t.Errorf("after the first pass: %+v", e)
	}
	scope := engram.MemoryScope{ProjectID: pid, AgentID: a.ID, User: "ada"}
	recs, _, err := rt.Store.ListRecords(context.Background(), scope, engram.RecordFilter{Page: engram.Page{Limit: 10}})
	if err != nil || len(recs) != 2 {
		t.Fatalf("records %v %v", recs, err)
	}
	for _, rec := range recs {
		if rec.Source != engram.SourceExtraction || rec.ConversationID != conv || len(rec.ItemIDs) != 1 {
			t.Errorf("record without its provenance: %+v", rec)
		}
	}

	sayAs(t, rt, pid, conv, "ada", "My favourite colour is green now.")
	r = sayAs(t, rt, pid, conv, "ada", "Thanks.")
	e = waitExtracted(t, rt, pid, conv, r.LastSeq)
	all, _, _ := rt.Store.ListRecords(context.Background(), scope, engram.RecordFilter{IncludeSuperseded: true, Page: engram.Page{Limit: 10}})
	superseded, stale := 0, ""
	for _, rec := range all {
		if rec.SupersededBy != "" {
			superseded++
			stale = rec.ID
			if !strings.Contains(rec.Text, "blue") {
				t.Errorf("the wrong record was superseded: %+v", rec)
			}
		}
	}
	if len(all) != 3 || superseded != 1 || e.Records != 3 {
		t.Errorf("after the correction: %d records, %d superseded, extraction %+v", len(all), superseded, e)
	}

	// Another conversation of the same user: the turn recalls them.
	other := userConversation(t, rt, pid, a.ID, "ada")
	r = sayAs(t, rt, pid, other, "ada", "Which colour do I like, and where are my hives?")
	steps, err := rt.Store.ListSteps(context.Background(), pid, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if steps[0].Context == nil || len(steps[0].Context.Recalled) == 0 {
		t.Fatalf("nothing recalled: %+v", steps[0].Context)
	}
	kinds := map[string]int{}
	for _, m := range steps[0].Context.Recalled {
		kinds[m.Type]++
		if m.ID == stale {
			t.Errorf("the superseded record was recalled")
		}
		if m.Type == "item" && m.ConversationID != conv {
			t.Errorf("recalled an item of conversation %s, want %s", m.ConversationID, conv)
		}
	}
	if kinds["record"] == 0 || kinds["item"] == 0 {
		t.Errorf("recalled %v, want records and earlier messages", kinds)
	}
	seen := prov.last().Input
	text := seen[len(seen)-1].Text()
	if !strings.Contains(text, "green") || !strings.Contains(text, "Lisbon") || !strings.HasSuffix(text, "where are my hives?") {
		t.Errorf("the model's last message does not carry the current memories before the question: %q", text)
	}
	// A turn in ada's conversation that names no user acts for her.
	r = sayAs(t, rt, pid, other, "", "And where are my hives again?")
	steps, _ = rt.Store.ListSteps(context.Background(), pid, r.ID)
	if r.User != "ada" || steps[0].Context == nil || len(steps[0].Context.Recalled) == 0 {
		t.Errorf("a turn without user in ada's conversation: user %q, context %+v", r.User, steps[0].Context)
	}
	// Another user of the same agent recalls none of it.
	r = sayAs(t, rt, pid, userConversation(t, rt, pid, a.ID, "bob"), "bob", "Which colour do I like, and where are my hives?")
	steps, _ = rt.Store.ListSteps(context.Background(), pid, r.ID)
	if steps[0].Context != nil && len(steps[0].Context.Recalled) > 0 {
		t.Errorf("bob recalled ada's memories: %+v", steps[0].Context.Recalled)
	}
	if text := prov.last().Input[0].Text(); strings.Contains(text, "Lisbon") || strings.Contains(text, "green") {
		t.Errorf("bob's model saw ada's memories: %q", text)
	}
}

func userConversation(t *testing.T, rt *runtime.Runtime, pid, agentID, user string) string {
	t.Helper()
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: agentID, User: user}
	if err := rt.Store.CreateConversation(context.Background(), c, nil); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// TestMemoryBlocksInContext: an agent's blocks follow its instructions in
// every call; the block tools come with them; an edit the agent makes is a
// tool call and output in the log, a new version pointing at that call,
// and what the run's next call reads.
func TestMemoryBlocksInContext(t *testing.T) {
	rt, _, pid := setupWith(t, func(rt *runtime.Runtime, store engram.Store) {
		withMemory(rt, store)
		rt.Tools = tool.WithMemory(rt.Memory, store)
	})
	prov := &capture{}
	rt.Providers.Add(prov)
	ctx := context.Background()
	b := &engram.MemoryBlock{ID: engram.NewID("blk"), ProjectID: pid, Label: "persona", Value: "Patient and precise.", EditedBy: engram.EditedByAPI}
	if err := rt.Store.CreateBlock(ctx, b); err != nil {
		t.Fatal(err)
	}
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "keeper", Model: "capture/echo", Instructions: "You help a beekeeper.",
		Memory: engram.AgentMemory{Blocks: []engram.BlockRef{{ID: b.ID}}}}
	if err := rt.Store.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	conv := userConversation(t, rt, pid, a.ID, "ada")
	r := sayAs(t, rt, pid, conv, "ada", `call memory_block_append {"label":"persona","text":"Ada keeps bees in Lisbon."}`)

	prov.mu.Lock()
	turns := append([]*engram.ModelRequest(nil), prov.turns...)
	prov.mu.Unlock()
	if len(turns) != 2 {
		t.Fatalf("%d model calls, want the call and the answer after the tool", len(turns))
	}
	first, second := turns[0], turns[1]
	if !strings.HasPrefix(first.Instructions, "You help a beekeeper.") || !strings.Contains(first.Instructions, `<block label="persona"`) ||
		!strings.Contains(first.Instructions, "Patient and precise.") || strings.Contains(first.Instructions, "Lisbon") {
		t.Errorf("first call's instructions: %q", first.Instructions)
	}
	names := map[string]bool{}
	for _, s := range first.Tools {
		names[s.Name] = true
	}
	if !names["memory_block_append"] || !names["memory_block_replace"] {
		t.Errorf("the block tools did not come with the block: %v", names)
	}
	if !strings.Contains(second.Instructions, "Ada keeps bees in Lisbon.") {
		t.Errorf("the call after the edit did not read it: %q", second.Instructions)
	}
	got, err := rt.Store.GetBlock(ctx, pid, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	var call *engram.Item
	for _, it := range r.Output {
		if it.Type == engram.ItemFunctionCall && it.Name == "memory_block_append" {
			call = it
		}
	}
	if call == nil || got.Version != 2 || got.EditedBy != engram.EditedByAgent || got.CallID != call.CallID || got.ResponseID != r.ID {
		t.Errorf("block after the edit %+v, call %+v", got, call)
	}
	if itemTypes(r.Output) != "function_call function_call_output message" {
		t.Errorf("the edit's items in the output: %s", itemTypes(r.Output))
	}
}
