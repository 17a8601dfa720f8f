package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// TestCommonTerms: records rank by BM25 over their scope's statistics. A
// term in more than postingCap of the scope's records weighs little but
// still counts, for the records rarer terms found and alone; a term common
// in another user's records is as rare in this user's as it is there.
// Messages still leave common terms (commonTerm) out of the ranking and
// fill with the newest.
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
		for range max(commonTerm, postingCap) + 10 {
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
	// The shortest of the common term's records follows the rare one:
	// BM25 discounts long records.
	if found[0].Record.ID != rare.ID || found[1].Record.ID != newest.ID || found[1].Score <= 0 || found[0].Score < 10*found[1].Score {
		t.Errorf("want the rare term's record far ahead, then the shortest with the common term: %s %v, %s %v", found[0].Record.Text, found[0].Score, found[1].Record.Text, found[1].Score)
	}
	for _, f := range found[1:] {
		if !strings.Contains(f.Record.Text, c.vocab[0]) || f.Score <= 0 {
			t.Errorf("a record without the term, or unscored: %q %v", f.Record.Text, f.Score)
		}
	}
	found, err = db.SearchRecordsText(ctx, scope, []string{c.vocab[0]}, 3, false)
	if err != nil || len(found) != 3 || found[0].Record.ID != newest.ID {
		t.Errorf("a common term alone: %d found, %v", len(found), err)
	}

	// Another user, in whose few records the word common in ada's is
	// rare: it outweighs a word most of them hold.
	bob := engram.MemoryScope{ProjectID: p.ID, AgentID: scope.AgentID, User: "bob"}
	var bobs []*engram.MemoryRecord
	for _, text := range []string{"honey in the jar", "honey on toast", "the honey " + c.vocab[0], "wax and honey"} {
		r := &engram.MemoryRecord{ProjectID: p.ID, AgentID: bob.AgentID, User: bob.User, Kind: engram.RecordFact, Text: text}
		if err := db.CreateRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		bobs = append(bobs, r)
	}
	found, err = db.SearchRecordsText(ctx, bob, []string{"honey", c.vocab[0]}, 10, false)
	if err != nil || len(found) != 4 || found[0].Record.ID != bobs[2].ID {
		t.Errorf("bob's records: %d found, %v; want the one with the word rare for him first", len(found), err)
	}

	// A common term's postings older than those a search samples still
	// count for the records a rarer term finds there.
	cy := engram.MemoryScope{ProjectID: p.ID, AgentID: scope.AgentID, User: "cy"}
	var early []*engram.MemoryRecord
	for _, text := range []string{"queen " + c.vocab[0], "queen bzzz"} {
		r := &engram.MemoryRecord{ProjectID: p.ID, AgentID: cy.AgentID, User: cy.User, Kind: engram.RecordFact, Text: text}
		if err := db.CreateRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		early = append(early, r)
	}
	err = db.tx(ctx, func(tx *txConn) error {
		for range postingCap + 100 {
			r := &engram.MemoryRecord{ID: engram.NewID("mem"), ProjectID: p.ID, AgentID: cy.AgentID, User: cy.User,
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
	found, err = db.SearchRecordsText(ctx, cy, []string{"queen", c.vocab[0]}, 3, false)
	if err != nil || len(found) != 3 || found[0].Record.ID != early[0].ID || found[1].Record.ID != early[1].ID || found[0].Score <= found[1].Score {
		t.Errorf("cy's records: %d found, %v; want the old record with both terms first, then the one with the rare term", len(found), err)
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
