package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/storetest"
	"github.com/pressly/goose/v3"
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
	path := filepath.Join(t.TempDir(), "nested", "dir", "engram.db") // Open makes the directories
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, Metadata: map[string]string{"k": "v"}}
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: p.ID, Name: "keeper", Model: "scripted/echo"}
	k := &engram.APIKey{ID: engram.NewID("key"), ProjectID: p.ID, Hash: engram.HashKey("sk-engram-x"), Role: engram.RoleAdmin}
	r := &engram.Response{ID: engram.NewID("resp"), ProjectID: p.ID, ConversationID: c.ID, Status: engram.StatusInProgress}
	item := &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "kept"}}, Tokens: 5}
	for _, step := range []func() error{
		func() error { return db.CreateProject(ctx, p) },
		func() error { return db.CreateConversation(ctx, c, []*engram.Item{item}) },
		func() error { return db.CreateAgent(ctx, a) },
		func() error { return db.CreateAPIKey(ctx, k) },
		func() error { return db.CreateResponse(ctx, r, nil) },
		func() error {
			r.Status = engram.StatusCompleted
			return db.FinishResponse(ctx, r, engram.RunEnd{Output: []*engram.Item{{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "said"}}, Tokens: 3}}})
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		db, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		items, _, err := db.ListItems(ctx, p.ID, c.ID, engram.Page{})
		if err != nil || len(items) != 2 || items[0].Text() != "kept" || items[1].Text() != "said" {
			t.Fatalf("reopen %d: items %v, %v", i, items, err)
		}
		conv, err := db.GetConversation(ctx, p.ID, c.ID)
		if err != nil || conv.Metadata["k"] != "v" || conv.LastSeq != 2 || conv.Tokens != 8 {
			t.Fatalf("reopen %d: conversation %+v, %v", i, conv, err)
		}
		resp, err := db.GetResponse(ctx, p.ID, r.ID)
		if err != nil || resp.Status != engram.StatusCompleted || len(resp.Output) != 1 {
			t.Fatalf("reopen %d: response %+v, %v", i, resp, err)
		}
		if _, err := db.GetAgent(ctx, p.ID, "keeper", 1); err != nil {
			t.Fatalf("reopen %d: agent: %v", i, err)
		}
		if _, err := db.FindAPIKey(ctx, k.Hash); err != nil {
			t.Fatalf("reopen %d: key: %v", i, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrationsIdempotent: every migration is applied once; running them
// again on an up-to-date database applies none and fails nothing.
func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engram.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The store holds its one write connection, so goose gets its own.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	provider, err := goose.NewProvider(goose.DialectSQLite3, raw, sub)
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := provider.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(sub, "*.sql")
	if len(statuses) != len(files) || len(files) < 2 {
		t.Fatalf("%d migration statuses for %d files", len(statuses), len(files))
	}
	for _, s := range statuses {
		if s.State != goose.StateApplied {
			t.Errorf("migration %s is %s after Open", s.Source.Path, s.State)
		}
	}
	results, err := provider.Up(ctx)
	if err != nil || len(results) != 0 {
		t.Fatalf("migrating again applied %d: %v", len(results), err)
	}
}

// turnFixture is a project with one conversation of n items of 100
// tokens, as a long chat leaves it.
func turnFixture(b *testing.B, n int) (*DB, *engram.Conversation) {
	ctx := context.Background()
	db := openTemp(b)
	b.Cleanup(func() { db.Close() })
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
	var history []*engram.Item
	for i := 0; i < n; i++ {
		role, part := "user", engram.ContentInputText
		if i%2 == 1 {
			role, part = "assistant", engram.ContentOutputText
		}
		history = append(history, &engram.Item{Type: engram.ItemMessage, Role: role, Status: engram.StatusCompleted,
			Content: []engram.Content{{Type: part, Text: strings.Repeat("some history text of a turn ", 14)}}, Tokens: 100})
	}
	if err := db.CreateConversation(ctx, c, history); err != nil {
		b.Fatal(err)
	}
	return db, c
}

// windowTokens is the context budget of the benchmarks' turns: 80 items.
const windowTokens = 8000

// BenchmarkTurn is a turn's storage work on a conversation of about 1,000
// items: record the response and its input, read the context window (80
// items), record the output and usage.
func BenchmarkTurn(b *testing.B) {
	ctx := context.Background()
	db, c := turnFixture(b, 1000)
	for b.Loop() {
		r := &engram.Response{ID: engram.NewID("resp"), ProjectID: c.ProjectID, ConversationID: c.ID, Model: "scripted/echo", Status: engram.StatusInProgress, Metadata: map[string]string{}}
		in := []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "a question"}}, Tokens: 100}}
		if err := db.CreateResponse(ctx, r, in); err != nil {
			b.Fatal(err)
		}
		window, err := db.RecentItems(ctx, c.ProjectID, c.ID, 0, 4096, windowTokens)
		if err != nil || len(window) != windowTokens/100 {
			b.Fatal(len(window), err)
		}
		out := []*engram.Item{{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "an answer"}}, Tokens: 100}}
		r.Status, r.CompletedAt, r.Usage = engram.StatusCompleted, engram.Now(), &engram.Usage{InputTokens: 8000, OutputTokens: 100, TotalTokens: 8100}
		usage := []*engram.UsageRecord{{ID: engram.NewID("usage"), ResponseID: r.ID, ConversationID: c.ID, Provider: "scripted", Model: "echo", Usage: *r.Usage, CreatedAt: r.CompletedAt}}
		if err := db.FinishResponse(ctx, r, engram.RunEnd{Output: out, Usage: usage}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHotPath measures each call of a turn alone, on a conversation of
// about 1,000 items.
func BenchmarkHotPath(b *testing.B) {
	ctx := context.Background()
	db, c := turnFixture(b, 1000)
	pid := c.ProjectID
	newResponse := func() *engram.Response {
		r := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Model: "scripted/echo", Status: engram.StatusInProgress, Metadata: map[string]string{}}
		in := []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "a question"}}, Tokens: 100}}
		if err := db.CreateResponse(ctx, r, in); err != nil {
			b.Fatal(err)
		}
		return r
	}
	b.Run("GetConversation", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.GetConversation(ctx, pid, c.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	last := newResponse()
	b.Run("GetResponse", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.GetResponse(ctx, pid, last.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateResponse", func(b *testing.B) {
		for b.Loop() {
			newResponse()
		}
	})
	for _, n := range []int{1, 10, 80} {
		b.Run(fmt.Sprintf("RecentItems/%d", n), func(b *testing.B) {
			for b.Loop() {
				if items, err := db.RecentItems(ctx, pid, c.ID, 0, n, 0); err != nil || len(items) != n {
					b.Fatal(len(items), err)
				}
			}
		})
	}
	b.Run("FinishResponse", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			r := newResponse()
			b.StartTimer()
			r.Status = engram.StatusCompleted
			out := []*engram.Item{{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "an answer"}}, Tokens: 100}}
			if err := db.FinishResponse(ctx, r, engram.RunEnd{Output: out}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
