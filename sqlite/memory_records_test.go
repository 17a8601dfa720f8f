package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// TestCommonTerms: a term in commonTerm records or more takes no part in
// the ranking, yet its records still fill the results the rarer terms
// leave, newest first; and a query of common terms alone still finds the
// newest of its records.
func TestCommonTerms(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	scope := engram.MemoryScope{ProjectID: p.ID, AgentID: "agent_keeper", User: "ada"}
	c := newRecordCorpus(50)
	c.vocab[0] = "hipoporu" // in every record, so common whatever the draw
	err := db.tx(ctx, func(tx *txConn) error {
		for range commonTerm + 10 {
			r := &engram.MemoryRecord{ID: engram.NewID("mem"), ProjectID: p.ID, AgentID: scope.AgentID, User: scope.User,
				Kind: engram.RecordFact, Text: c.text() + " hipoporu", CreatedAt: engram.Now()}
			if err := insertRecord(ctx, tx, r, []byte("{}"), []byte("[]"), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rare := &engram.MemoryRecord{ProjectID: p.ID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact, Text: "the queen " + c.vocab[0]}
	if err := db.CreateRecord(ctx, rare); err != nil {
		t.Fatal(err)
	}
	newest := &engram.MemoryRecord{ProjectID: p.ID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact, Text: c.vocab[0] + " again"}
	if err := db.CreateRecord(ctx, newest); err != nil {
		t.Fatal(err)
	}

	found, err := db.SearchRecordsText(ctx, scope, []string{c.vocab[0], "queen"}, 5, false)
	if err != nil || len(found) != 5 {
		t.Fatalf("found %d, %v; want 5", len(found), err)
	}
	if found[0].Record.ID != rare.ID || found[0].Score <= 0 || found[1].Record.ID != newest.ID || found[1].Score != 0 {
		t.Errorf("want the rare term's record ranked, then the newest of the common term's: %s %v, %s %v", found[0].Record.Text, found[0].Score, found[1].Record.Text, found[1].Score)
	}
	for _, f := range found[1:] {
		if !strings.Contains(f.Record.Text, c.vocab[0]) {
			t.Errorf("a filler without the term: %q", f.Record.Text)
		}
	}
	found, err = db.SearchRecordsText(ctx, scope, []string{c.vocab[0]}, 3, false)
	if err != nil || len(found) != 3 || found[0].Record.ID != newest.ID {
		t.Errorf("a common term alone: %d found, %v", len(found), err)
	}

	// The same for messages.
	conv := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, AgentID: scope.AgentID, User: scope.User}
	items := make([]*engram.Item, commonTerm+10)
	for i := range items {
		items[i] = &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: c.text() + " " + c.vocab[0]}}}
	}
	items = append(items, &engram.Item{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "the queen"}}})
	if err := db.CreateConversation(ctx, conv, items); err != nil {
		t.Fatal(err)
	}
	hits, err := db.SearchItemsText(ctx, scope, []string{c.vocab[0], "queen"}, 5, "")
	if err != nil || len(hits) != 5 || hits[0].Item.Role != "assistant" || hits[1].Item.ID != items[len(items)-2].ID {
		t.Errorf("messages: %d found, %v; want the queen, then the newest with the common term", len(hits), err)
	}
	if hits, err := db.SearchItemsText(ctx, scope, []string{c.vocab[0], "queen"}, 5, conv.ID); err != nil || len(hits) != 0 {
		t.Errorf("messages of the excluded conversation: %d found, %v", len(hits), err)
	}
}
