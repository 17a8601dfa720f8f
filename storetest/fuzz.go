package storetest

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/engram-run/engram"
)

// FuzzItemRoundTrip: (each store runs it on a store of its own)
// whatever item a client's JSON decodes to is stored and
// read back with the same JSON form (the store's own decoding of its body).
func FuzzItemRoundTrip(f *testing.F, db engram.Store) {
	for _, seed := range []string{
		`{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}`,
		`{"type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":1}","status":"completed"}`,
		`{"type":"function_call_output","call_id":"c","output":"\u0000\ud800"}`,
		`{"type":"reasoning","summary":[{"type":"summary_text","text":"x"}],"encrypted_content":"=="}`,
		`{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a","annotations":[{"type":"x", "n": [1, 2]}]}]}`,
		`{"type":"","content":[{"type":"input_image","image_url":"data:,","detail":"high"},{"type":"input_file","file_data":"AA==","filename":"f"}]}`,
	} {
		f.Add([]byte(seed))
	}
	p := &engram.Project{ID: engram.NewID("proj"), Name: "fuzz", CreatedAt: engram.Now()}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
	if err := db.CreateProject(ctx, p); err != nil {
		f.Fatal(err)
	}
	if err := db.CreateConversation(ctx, c, nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var it engram.Item
		if json.Unmarshal(data, &it) != nil {
			return
		}
		it.ID, it.Tokens = "", len(data)
		want, err := json.Marshal(&it)
		if err != nil {
			return // e.g. an annotation that is not valid JSON on its own
		}
		if err := db.AppendItems(ctx, p.ID, c.ID, []*engram.Item{&it}); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetItem(ctx, p.ID, c.ID, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored := *got
		stored.ID = "" // assigned on append; want was made before
		gotJSON, _ := json.Marshal(&stored)
		if !bytes.Equal(gotJSON, want) || got.Tokens != len(data) || got.Seq == 0 || got.ConversationID != c.ID {
			t.Fatalf("stored %s\nread back %s (tokens %d seq %d)", want, gotJSON, got.Tokens, got.Seq)
		}
	})
}

// FuzzPageCursors: cursors, orders and limits from a request's query never
// make a list fail, overflow its page or leave its order.
func FuzzPageCursors(f *testing.F, db engram.Store) {
	p := &engram.Project{ID: engram.NewID("proj"), Name: "fuzz", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		f.Fatal(err)
	}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
	var items []*engram.Item
	for i := 0; i < 8; i++ {
		items = append(items, &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "x"}}, Tokens: 1})
	}
	if err := db.CreateConversation(ctx, c, items); err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := db.CreateConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, CreatedAt: int64(i % 2)}, nil); err != nil {
			f.Fatal(err)
		}
		if err := db.CreateAgent(ctx, &engram.Agent{ID: engram.NewID("agent"), ProjectID: p.ID, Name: string(rune('a' + i)), Model: "m"}); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(items[2].ID, "", "asc", 3)
	f.Add("", items[5].ID, "desc", 2)
	f.Add(items[1].ID, items[6].ID, "desc", 0)
	f.Add(c.ID, "'; DROP TABLE items; --", "", -1)
	f.Add("msg_", "\x00", "sideways", 5000)
	f.Fuzz(func(t *testing.T, after, before, order string, limit int) {
		page := engram.Page{After: after, Before: before, Order: order, Limit: limit}
		list, _, err := db.ListItems(ctx, p.ID, c.ID, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > page.Size() {
			t.Fatalf("%d items on a page of %d", len(list), page.Size())
		}
		for i := 1; i < len(list); i++ {
			if (list[i].Seq > list[i-1].Seq) == page.Desc() {
				t.Fatalf("items out of order: %d then %d", list[i-1].Seq, list[i].Seq)
			}
		}
		convs, _, err := db.ListConversations(ctx, p.ID, engram.ConversationFilter{Page: page})
		if err != nil || len(convs) > page.Size() {
			t.Fatalf("%d conversations, %v", len(convs), err)
		}
		agents, _, err := db.ListAgents(ctx, p.ID, page)
		if err != nil || len(agents) > page.Size() {
			t.Fatalf("%d agents, %v", len(agents), err)
		}
	})
}
