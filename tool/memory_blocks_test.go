package tool

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/sqlite"
)

type blockEnv struct {
	store     *sqlite.DB
	projectID string
}

func newBlockEnv(t *testing.T) *blockEnv {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return &blockEnv{store: db, projectID: p.ID}
}

func (e *blockEnv) block(t *testing.T, b *engram.MemoryBlock) *engram.MemoryBlock {
	t.Helper()
	b.ProjectID = e.projectID
	if err := e.store.CreateBlock(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *blockEnv) value(t *testing.T, id string) string {
	t.Helper()
	b, err := e.store.GetBlock(context.Background(), e.projectID, id)
	if err != nil {
		t.Fatal(err)
	}
	return b.Value
}

func TestMemoryBlockTools(t *testing.T) {
	e := newBlockEnv(t)
	human := e.block(t, &engram.MemoryBlock{Label: "human", Value: "Name: Ada.", Limit: 60})
	empty := e.block(t, &engram.MemoryBlock{Label: "notes"})
	policies := e.block(t, &engram.MemoryBlock{Label: "policies", Value: "Be kind.", ReadOnly: true})
	elsewhere := e.block(t, &engram.MemoryBlock{Label: "elsewhere", Value: "another agent's"})
	tools := MemoryBlocks(e.store)
	appendTool, replaceTool := tools[0], tools[1]
	if appendTool.Spec().Name != MemoryBlockAppendName || replaceTool.Spec().Name != MemoryBlockReplaceName {
		t.Fatalf("tools: %s, %s", appendTool.Spec().Name, replaceTool.Spec().Name)
	}
	for _, tl := range tools {
		if !json.Valid(tl.Spec().Parameters) {
			t.Errorf("%s: parameters are not JSON", tl.Spec().Name)
		}
	}
	n := 0
	call := func(tl engram.Tool, args string) (string, error) {
		n++
		return tl.Call(context.Background(), engram.ToolCall{ProjectID: e.projectID, ConversationID: "conv_1", ResponseID: "resp_1",
			CallID: "call_" + string(rune('a'+n)), Blocks: []string{human.ID, empty.ID, policies.ID, "blk_deleted"}, Arguments: json.RawMessage(args)})
	}

	tests := []struct {
		name     string
		tool     engram.Tool
		args     string
		block    string // whose value to check
		want     string // the block's value after, or the error's words
		wantCode string
	}{
		{"append", appendTool, `{"label":"human","text":"Keeps three hives."}`, human.ID, "Name: Ada.\nKeeps three hives.", ""},
		{"append to empty", appendTool, `{"label":"notes","text":"first"}`, empty.ID, "first", ""},
		{"replace", replaceTool, `{"label":"human","old":"three","new":"four"}`, human.ID, "Name: Ada.\nKeeps four hives.", ""},
		{"delete text", replaceTool, `{"label":"human","old":"\nKeeps four hives.","new":""}`, human.ID, "Name: Ada.", ""},
		{"old not found", replaceTool, `{"label":"human","old":"Bob","new":"x"}`, human.ID, "not in block", engram.EInvalid},
		{"old ambiguous", replaceTool, `{"label":"human","old":"a","new":"x"}`, human.ID, "appears 2 times", engram.EInvalid},
		{"old empty", replaceTool, `{"label":"human","old":"","new":"x"}`, human.ID, "old is empty", engram.EInvalid},
		{"over the limit", appendTool, `{"label":"human","text":"` + strings.Repeat("x", 60) + `"}`, human.ID, "over its limit of 60", engram.EInvalid},
		{"read-only", appendTool, `{"label":"policies","text":"Sell honey."}`, policies.ID, "read-only", engram.EInvalid},
		{"unknown label", appendTool, `{"label":"persona","text":"x"}`, human.ID, "your blocks are: human, notes, policies", engram.EInvalid},
		{"another agent's block", appendTool, `{"label":"elsewhere","text":"x"}`, elsewhere.ID, `no memory block labelled "elsewhere"`, engram.EInvalid},
		{"no label", appendTool, `{"text":"x"}`, human.ID, "label is empty", engram.EInvalid},
		{"no text", appendTool, `{"label":"human"}`, human.ID, "text is empty", engram.EInvalid},
		{"not an object", appendTool, `[1]`, human.ID, "JSON object", engram.EInvalid},
	}
	for _, tt := range tests {
		before := e.value(t, tt.block)
		out, err := call(tt.tool, tt.args)
		if tt.wantCode != "" {
			if engram.ErrorCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: err = %v, want %s with %q", tt.name, err, tt.wantCode, tt.want)
			}
			if after := e.value(t, tt.block); after != before {
				t.Errorf("%s: a refused edit changed the block to %q", tt.name, after)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := e.value(t, tt.block); got != tt.want {
			t.Errorf("%s: block = %q, want %q", tt.name, got, tt.want)
		}
		if !strings.Contains(out, "now version") || !strings.Contains(out, "characters") {
			t.Errorf("%s: confirmation %q", tt.name, out)
		}
	}

	// Every edit is a version recording the call that made it.
	versions, err := e.store.ListBlockVersions(context.Background(), e.projectID, human.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 4 {
		t.Fatalf("human has %d versions, want 4", len(versions))
	}
	last := versions[3]
	if last.EditedBy != engram.EditedByAgent || last.ConversationID != "conv_1" || last.ResponseID != "resp_1" || !strings.HasPrefix(last.CallID, "call_") {
		t.Errorf("last version: %+v", last)
	}
}

// TestMemoryBlockRetriedCall: a call run again after its edit was stored
// (a crash between the write and the step's end) does not edit twice.
func TestMemoryBlockRetriedCall(t *testing.T) {
	e := newBlockEnv(t)
	b := e.block(t, &engram.MemoryBlock{Label: "notes", Value: "a"})
	tl := MemoryBlockAppend{Store: e.store}
	c := engram.ToolCall{ProjectID: e.projectID, ResponseID: "resp_1", CallID: "call_1", Blocks: []string{b.ID}, Arguments: json.RawMessage(`{"label":"notes","text":"b"}`)}
	for range 2 {
		out, err := tl.Call(context.Background(), c)
		if err != nil || !strings.Contains(out, "version 2") {
			t.Fatalf("%q, %v", out, err)
		}
	}
	if v := e.value(t, b.ID); v != "a\nb" {
		t.Errorf("value = %q", v)
	}
}

// racingStore lets another editor change the block just before the tool's
// first writes, as an agent sharing the block would.
type racingStore struct {
	engram.BlockStore
	races int
}

func (s *racingStore) UpdateBlock(ctx context.Context, b *engram.MemoryBlock, expect int) error {
	if s.races > 0 {
		s.races--
		other, err := s.GetBlock(ctx, b.ProjectID, b.ID)
		if err != nil {
			return err
		}
		other.Value += "\nfrom the other agent"
		other.EditedBy, other.CallID = engram.EditedByAgent, "call_other"
		if err := s.BlockStore.UpdateBlock(ctx, other, other.Version); err != nil {
			return err
		}
	}
	return s.BlockStore.UpdateBlock(ctx, b, expect)
}

func TestMemoryBlockConcurrentEdit(t *testing.T) {
	e := newBlockEnv(t)
	b := e.block(t, &engram.MemoryBlock{Label: "shared", Value: "start"})
	call := engram.ToolCall{ProjectID: e.projectID, ResponseID: "resp_1", CallID: "call_1", Blocks: []string{b.ID},
		Arguments: json.RawMessage(`{"label":"shared","text":"from this agent"}`)}

	// One interleaved edit: the tool reads again and keeps both.
	s := &racingStore{BlockStore: e.store, races: 1}
	if _, err := (MemoryBlockAppend{Store: s}).Call(context.Background(), call); err != nil {
		t.Fatal(err)
	}
	if v := e.value(t, b.ID); v != "start\nfrom the other agent\nfrom this agent" {
		t.Errorf("value = %q", v)
	}

	// A block that never holds still: the model is told to try again.
	s.races = blockEditAttempts
	call.CallID = "call_2"
	_, err := (MemoryBlockAppend{Store: s}).Call(context.Background(), call)
	if engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(err.Error(), "kept changing") {
		t.Errorf("err = %v", err)
	}
}

// memBlocks is a BlockStore of one block in memory, for fuzzing without
// a database per input.
type memBlocks struct {
	engram.BlockStore
	b engram.MemoryBlock
}

func (m *memBlocks) GetBlocks(_ context.Context, _ string, ids []string) ([]*engram.MemoryBlock, error) {
	b := m.b
	return []*engram.MemoryBlock{&b}, nil
}

func (m *memBlocks) UpdateBlock(_ context.Context, b *engram.MemoryBlock, expect int) error {
	if err := b.Check(); err != nil {
		return err
	}
	if expect != m.b.Version {
		return engram.Errorf(engram.EConflict, "changed")
	}
	b.Version = expect + 1
	m.b = *b
	return nil
}

// FuzzMemoryBlockTools: whatever a model sends, the tools answer or refuse
// with an error the model sees, and a block never passes its limit.
func FuzzMemoryBlockTools(f *testing.F) {
	f.Add(true, `{"label":"notes","text":"x"}`)
	f.Add(false, `{"label":"notes","old":"ab","new":""}`)
	f.Add(false, `{"label":"notes","old":"a","new":"ééééééééééé"}`)
	f.Add(true, `{"label":"other","text":"x"}`)
	f.Add(true, `null`)
	f.Fuzz(func(t *testing.T, appending bool, args string) {
		s := &memBlocks{b: engram.MemoryBlock{ID: "blk_1", Label: "notes", Value: "abab ação", Limit: 20, Version: 1}}
		var tl engram.Tool = MemoryBlockReplace{Store: s}
		if appending {
			tl = MemoryBlockAppend{Store: s}
		}
		_, err := tl.Call(context.Background(), engram.ToolCall{Blocks: []string{"blk_1"}, CallID: "call_1", Arguments: json.RawMessage(args)})
		if err != nil && engram.ErrorCode(err) != engram.EInvalid {
			t.Fatalf("%s: %v is not shown to the model", args, err)
		}
		if s.b.Chars() > s.b.Limit {
			t.Fatalf("%s: block holds %d characters, limit %d", args, s.b.Chars(), s.b.Limit)
		}
	})
}
