package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// TestStartRunFailsWhole: a run's start is one statement of several
// writes; a key taken in any of them fails it whole, with the error of
// that key, and the log stays as it was. A caller that saw an older tip of
// a visible log still starts its run, at the tip; a run behind an active
// one waits.
func TestStartRunFailsWhole(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
	taken := &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "hi"}}, Tokens: 3}
	if err := db.CreateConversation(ctx, c, []*engram.Item{taken}); err != nil {
		t.Fatal(err)
	}
	input := func(id string) []*engram.Item {
		return []*engram.Item{{ID: id, Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "again"}}, Tokens: 5}}
	}
	run := func(id string, base int64) *engram.Response {
		return &engram.Response{ID: id, ProjectID: p.ID, ConversationID: c.ID, BaseSeq: base, Status: engram.StatusInProgress, Metadata: map[string]string{}}
	}
	unchanged := func() {
		t.Helper()
		got, err := db.GetConversation(ctx, p.ID, c.ID)
		if err != nil || got.LastSeq != 1 || got.Tokens != 3 {
			t.Fatalf("conversation moved: %+v %v", got, err)
		}
	}

	err := db.CreateRun(ctx, run(engram.NewID("resp"), 1), input(taken.ID), nil)
	if engram.ErrorCode(err) != engram.EConflict || !strings.Contains(err.Error(), "item with id "+taken.ID) {
		t.Fatalf("an input item with a taken id: %v", err)
	}
	unchanged()

	first := run(engram.NewID("resp"), 0) // an older tip than the log's
	if err := db.CreateRun(ctx, first, input(""), nil); err != nil {
		t.Fatal(err)
	}
	if first.BaseSeq != 1 || first.LastSeq != 2 || first.Status != engram.StatusInProgress {
		t.Fatalf("started at base %d, last %d, %s; want 1, 2, in_progress", first.BaseSeq, first.LastSeq, first.Status)
	}
	second := run(engram.NewID("resp"), 2) // waits behind first, its input held back
	if err := db.CreateRun(ctx, second, input(""), nil); err != nil || second.Status != engram.StatusQueued {
		t.Fatalf("behind an active run: %s, %v", second.Status, err)
	}
	if got, err := db.GetConversation(ctx, p.ID, c.ID); err != nil || got.LastSeq != 2 {
		t.Fatalf("a queued run's input went into the log: %+v %v", got, err)
	}
	if err := db.FinishResponse(ctx, first, engram.RunEnd{}); err != nil {
		t.Fatal(err)
	}

	err = db.CreateRun(ctx, run(first.ID, 2), input(""), nil)
	if engram.ErrorCode(err) != engram.EConflict || strings.Contains(err.Error(), "item with id") {
		t.Fatalf("a run with a taken id: %v", err)
	}
	got, err := db.GetConversation(ctx, p.ID, c.ID)
	if err != nil || got.LastSeq != 2 {
		t.Fatalf("conversation moved: %+v %v", got, err)
	}
}
