package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/storetest"
)

func openTemp(t testing.TB) *DB {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engram.Store { return openTemp(t) })
}

// TestReopen: what was written is there after a restart, and migrating an
// up-to-date database again changes nothing.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engram.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	item := &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "kept"}}, Tokens: 5}
	if err := db.CreateConversation(ctx, c, []*engram.Item{item}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for i := 0; i < 2; i++ {
		db, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		items, _, err := db.ListItems(ctx, p.ID, c.ID, engram.Page{})
		if err != nil || len(items) != 1 || items[0].Text() != "kept" {
			t.Fatalf("reopen %d: items %v, %v", i, items, err)
		}
		db.Close()
	}
}

// BenchmarkTurn is a turn's storage work at a given log length when the
// runtime's window cache hits (the usual case): read the conversation,
// record the response and its input, then its output. BenchmarkRecentItems
// measures the window read of a cache miss.
func BenchmarkTurn(b *testing.B) {
	for _, at := range []int{10, 1000} {
		b.Run(fmt.Sprintf("at=%d", at), func(b *testing.B) {
			ctx := context.Background()
			db := openTemp(b)
			defer db.Close()
			p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
			db.CreateProject(ctx, p)
			c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
			var history []*engram.Item
			for i := 0; i < 2*at; i++ {
				history = append(history, &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "some history text of a turn"}}, Tokens: 100})
			}
			if err := db.CreateConversation(ctx, c, history); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				conv, err := db.GetConversation(ctx, p.ID, c.ID)
				if err != nil {
					b.Fatal(err)
				}
				r := &engram.Response{ID: engram.NewID("resp"), ProjectID: p.ID, ConversationID: c.ID, Status: engram.StatusInProgress, BaseSeq: conv.LastSeq}
				in := []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "question"}}, Tokens: 100}}
				if err := db.CreateResponse(ctx, r, in); err != nil {
					b.Fatal(err)
				}
				out := []*engram.Item{{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "answer"}}, Tokens: 100}}
				r.Status = engram.StatusCompleted
				if err := db.FinishResponse(ctx, r, out, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRecentItems(b *testing.B) {
	ctx := context.Background()
	db := openTemp(b)
	defer db.Close()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	db.CreateProject(ctx, p)
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
	var history []*engram.Item
	for i := 0; i < 2000; i++ {
		history = append(history, &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "some history text of a turn"}}, Tokens: 100})
	}
	if err := db.CreateConversation(ctx, c, history); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		items, err := db.RecentItems(ctx, p.ID, c.ID, 4096, 8000) // 80 items
		if err != nil || len(items) != 80 {
			b.Fatal(len(items), err)
		}
	}
}
