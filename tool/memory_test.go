package tool

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// fakeMemory records what the tools asked of the service.
type fakeMemory struct {
	wrote     *engram.MemoryRecord
	query     engram.MemoryQuery
	convScope engram.MemoryScope
	convText  string
	convLimit int
	convExcl  string
	writeErr  error
	hits      []engram.MemoryHit
	itemHits  []engram.ItemHit
}

func (f *fakeMemory) WriteRecord(_ context.Context, r *engram.MemoryRecord) error {
	if f.writeErr != nil {
		return f.writeErr
	}
	if r.Kind == "" {
		r.Kind = engram.RecordFact
	}
	r.ID, r.OccurredAt = "mem_new", time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC).Unix()
	f.wrote = r
	return nil
}

func (f *fakeMemory) SearchRecords(_ context.Context, q engram.MemoryQuery) ([]engram.MemoryHit, error) {
	f.query = q
	for _, k := range q.Kinds {
		if k == "gossip" {
			return nil, engram.ParamErrorf(engram.EInvalid, "kinds", "Invalid value for 'kinds': got 'gossip'.")
		}
	}
	return f.hits, nil
}

func (f *fakeMemory) SearchConversations(_ context.Context, scope engram.MemoryScope, text string, limit int, excl string) ([]engram.ItemHit, error) {
	f.convScope, f.convText, f.convLimit, f.convExcl = scope, text, limit, excl
	return f.itemHits, nil
}

func call(args string) engram.ToolCall {
	return engram.ToolCall{ProjectID: "proj_1", AgentID: "agent_1", User: "ada", ConversationID: "conv_now",
		ResponseID: "resp_1", CallID: "call_1", Arguments: json.RawMessage(args)}
}

var adaScope = engram.MemoryScope{ProjectID: "proj_1", AgentID: "agent_1", User: "ada"}

func TestMemoryTools(t *testing.T) {
	tools := Memory(&fakeMemory{})
	var names []string
	for _, tl := range tools {
		spec := tl.Spec()
		names = append(names, spec.Name)
		var schema map[string]any
		if spec.Type != engram.ToolBuiltin || json.Unmarshal(spec.Parameters, &schema) != nil || schema["additionalProperties"] != false {
			t.Errorf("%s: spec %+v", spec.Name, spec)
		}
	}
	if strings.Join(names, " ") != "memory_search memory_write conversation_search" {
		t.Errorf("tools %v", names)
	}
}

func TestMemorySearchTool(t *testing.T) {
	svc := &fakeMemory{hits: []engram.MemoryHit{{Score: 0.876543, Record: &engram.MemoryRecord{ID: "mem_1", ProjectID: "proj_1", User: "ada",
		Kind: engram.RecordFact, Text: "Ada keeps three hives in Lisbon.", OccurredAt: time.Date(2026, 2, 1, 23, 0, 0, 0, time.UTC).Unix(),
		Metadata: map[string]string{"secret": "x"}, Embedding: []float32{1}}}}}
	out, err := MemorySearch{Service: svc}.Call(context.Background(), call(`{"query":"where are the hives","limit":5,"kinds":["fact"]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"results":[{"id":"mem_1","kind":"fact","text":"Ada keeps three hives in Lisbon.","occurred_at":"2026-02-01","score":0.877}]}`
	if out != want {
		t.Errorf("output\n%s\nwant\n%s", out, want)
	}
	if svc.query.Scope != adaScope || svc.query.Text != "where are the hives" || svc.query.Limit != 5 || len(svc.query.Kinds) != 1 {
		t.Errorf("query %+v", svc.query)
	}
	out, err = MemorySearch{Service: &fakeMemory{}}.Call(context.Background(), call(`{"query":"x"}`))
	if err != nil || out != `{"results":[]}` {
		t.Errorf("no hits: %s %v", out, err)
	}
}

func TestMemoryWriteTool(t *testing.T) {
	svc := &fakeMemory{}
	out, err := MemoryWrite{Service: svc}.Call(context.Background(), call(`{"text":"Hive 2 has a new queen.","kind":"episode","supersedes":"mem_old"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"saved":{"id":"mem_new","kind":"episode","text":"Hive 2 has a new queen.","occurred_at":"2026-03-04","supersedes":"mem_old"}}`; out != want {
		t.Errorf("output\n%s\nwant\n%s", out, want)
	}
	r := svc.wrote
	if r.Scope() != adaScope || r.Source != engram.SourceTool || r.ConversationID != "conv_now" || r.Supersedes != "mem_old" {
		t.Errorf("record %+v", r)
	}
	if _, err := (MemoryWrite{Service: svc}).Call(context.Background(), call(`{"text":"x"}`)); err != nil || svc.wrote.Kind != engram.RecordFact {
		t.Errorf("default kind: %v %+v", err, svc.wrote)
	}
}

func TestConversationSearchTool(t *testing.T) {
	long := strings.Repeat("é", maxItemTextChars+10)
	svc := &fakeMemory{itemHits: []engram.ItemHit{
		{ConversationID: "conv_old", Score: 2.5, Item: &engram.Item{ID: "msg_1", Type: engram.ItemMessage, Role: "user",
			Content: []engram.Content{{Type: engram.ContentInputText, Text: "Hive 2 is queenless."}}, CreatedAt: time.Date(2025, 12, 24, 0, 0, 0, 0, time.UTC).Unix()}},
		{ConversationID: "conv_old", Score: 1, Item: &engram.Item{ID: "msg_2", Type: engram.ItemMessage, Role: "assistant",
			Content: []engram.Content{{Type: engram.ContentOutputText, Text: long}}}},
	}}
	out, err := ConversationSearch{Service: svc}.Call(context.Background(), call(`{"query":"queenless"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Results []struct{ Conversation, ID, Role, Date, Text string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Results) != 2 {
		t.Fatalf("output %s: %v", out, err)
	}
	first := got.Results[0]
	if first.Conversation != "conv_old" || first.ID != "msg_1" || first.Role != "user" || first.Date != "2025-12-24" || first.Text != "Hive 2 is queenless." {
		t.Errorf("first result %+v", first)
	}
	if text := got.Results[1].Text; text != strings.Repeat("é", maxItemTextChars)+"…" {
		t.Errorf("a long message is not cut: %d characters", len([]rune(text)))
	}
	if svc.convScope != adaScope || svc.convText != "queenless" || svc.convLimit != 10 || svc.convExcl != "conv_now" {
		t.Errorf("asked %+v %q %d excluding %q", svc.convScope, svc.convText, svc.convLimit, svc.convExcl)
	}
}

// TestMemoryToolArguments: every mistake in the model's arguments comes
// back as EInvalid, which the model is shown, and reaches no service.
func TestMemoryToolArguments(t *testing.T) {
	tests := []struct {
		tool engram.Tool
		args string
	}{
		{MemorySearch{}, ``},
		{MemorySearch{}, `{"query":" "}`},
		{MemorySearch{}, `{"query":"x","limit":0.5}`},
		{MemorySearch{}, `{"query":"x","limit":51}`},
		{MemorySearch{}, `{"query":"x","limit":-1}`},
		{MemorySearch{}, `{"query":"x","user":"bob"}`},
		{MemorySearch{}, `{"query":"x","project":"proj_2"}`},
		{MemorySearch{}, `["x"]`},
		{MemoryWrite{}, `{}`},
		{MemoryWrite{}, `{"text":42}`},
		{MemoryWrite{}, `{"text":"x","user":"bob"}`},
		{MemoryWrite{}, `{"text":"x","agent":"other"}`},
		{ConversationSearch{}, `{"query":""}`},
		{ConversationSearch{}, `{"query":"x","conversation":"conv_other"}`},
		{ConversationSearch{}, `not json`},
	}
	for _, tt := range tests {
		_, err := tt.tool.Call(context.Background(), call(tt.args)) // a nil service panics if reached
		if engram.ErrorCode(err) != engram.EInvalid {
			t.Errorf("%s(%s): err = %v, want invalid", tt.tool.Spec().Name, tt.args, err)
		}
	}
}

// TestMemoryToolServiceRefusals: the service's refusals of what the model
// asked (a bad kind, a superseded id from another scope or superseded
// already) are shown to the model; other failures fail the call.
func TestMemoryToolServiceRefusals(t *testing.T) {
	if _, err := (MemorySearch{Service: &fakeMemory{}}).Call(context.Background(), call(`{"query":"x","kinds":["gossip"]}`)); engram.ErrorCode(err) != engram.EInvalid {
		t.Errorf("bad kind: %v", err)
	}
	for code, want := range map[string]string{engram.ENotFound: engram.EInvalid, engram.EConflict: engram.EInvalid, engram.EUnavailable: engram.EUnavailable} {
		svc := &fakeMemory{writeErr: engram.Errorf(code, "record mem_x: %s", code)}
		_, err := MemoryWrite{Service: svc}.Call(context.Background(), call(`{"text":"x","supersedes":"mem_x"}`))
		if engram.ErrorCode(err) != want || !strings.Contains(err.Error(), "mem_x") {
			t.Errorf("service %s: err = %v, want %s", code, err, want)
		}
	}
}
