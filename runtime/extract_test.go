package runtime

import (
	"context"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/memory"
)

// TestExtractionPassRepeats: a pass that runs again over the same range
// (its node died before storing the outcome) writes nothing twice; a pass
// whose model fails is retried later, and the log is not marked done.
func TestExtractionPassRepeats(t *testing.T) {
	rt, pid, conv := resumeSetup(t)
	rt.Memory = &memory.Service{Store: rt.Store}
	rt.Audit = engram.StoreAuditor{Store: rt.Store}
	ctx := context.Background()
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "keeper", Model: "scripted/echo",
		Memory: engram.AgentMemory{Extraction: engram.ExtractionPolicy{EveryTurns: 1}}}
	if err := rt.Store.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	said := []*engram.Item{
		{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "I moved to Porto. My dog is called Rui."}}},
		{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "Noted."}}},
	}
	if err := rt.Store.AppendItems(ctx, pid, conv, said); err != nil {
		t.Fatal(err)
	}
	e := &engram.Extraction{ConversationID: conv, ProjectID: pid, AgentID: a.ID, User: "ada", LastSeq: said[1].Seq}
	n, usage, err := rt.extract(ctx, e)
	if err != nil || n != 2 {
		t.Fatalf("first pass wrote %d (%v), want 2", n, err)
	}
	if len(usage) != 1 || usage[0].InputTokens == 0 || usage[0].ConversationID != conv {
		t.Errorf("the pass's usage: %+v", usage)
	}
	n, _, err = rt.extract(ctx, e)
	if err != nil || n != 0 {
		t.Errorf("the same pass again wrote %d (%v), want 0", n, err)
	}
	recs, _, _ := rt.Store.ListRecords(ctx, engram.MemoryScope{ProjectID: pid, AgentID: a.ID, User: "ada"}, engram.RecordFilter{Page: engram.Page{Limit: 10}})
	if len(recs) != 2 {
		t.Errorf("%d records after two runs of one pass, want 2", len(recs))
	}

	// A failing model: the pass is failed, due again later, the log not done.
	a.Memory.Extraction.Model = "scripted/silent" // answers nothing: no JSON
	if err := rt.Store.UpdateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := rt.Store.NoteTurn(ctx, e, a.Memory.Extraction, engram.Now()); err != nil {
		t.Fatal(err)
	}
	if !rt.extractDue(ctx) {
		t.Fatal("no pass was due")
	}
	got, err := rt.Store.GetExtraction(ctx, pid, conv)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != engram.ExtractionFailed || got.Failures != 1 || got.ThroughSeq != 0 || got.DueAt <= engram.Now() || got.LastError == "" {
		t.Errorf("after a failed pass: %+v", got)
	}
	if rt.extractDue(ctx) {
		t.Error("a failed pass ran again before its backoff")
	}
	// The failed pass is in the audit log (the direct passes above are not
	// extractDue's: only a pass the runtime runs records itself).
	passes, _, err := rt.Store.ListAudit(ctx, pid, engram.AuditFilter{Action: "memory.extract"})
	if err != nil || len(passes) != 1 || passes[0].Outcome != engram.AuditFailure || passes[0].Resource != conv || passes[0].Actor != "system:extraction" {
		t.Errorf("audit of the failed pass: %+v %v", passes, err)
	}
}

// FuzzParseMemories: whatever a model answers to an extraction, reading it
// gives memories or a coded error, never a panic.
func FuzzParseMemories(f *testing.F) {
	f.Add(`{"memories":[{"kind":"fact","text":"The user keeps bees.","evidence":["msg_1"],"supersedes":""}]}`)
	f.Add("Here you go:\n```json\n{\"memories\":[]}\n```")
	f.Add(`{"memories":[{"kind":7}]}`)
	f.Add(`}{`)
	f.Fuzz(func(t *testing.T, answer string) {
		if _, err := parseMemories(answer); err != nil && engram.ErrorCode(err) != engram.EUpstream {
			t.Fatalf("error without a code: %v", err)
		}
	})
}
