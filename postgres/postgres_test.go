package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/internal/pgtest"
	"github.com/engram-run/engram/storetest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openTemp opens a store on a new, empty database of the test server,
// copied from one migrated once.
func openTemp(t testing.TB) *DB {
	template := pgtest.Template(t, func(url string) error {
		db, err := Open(context.Background(), url)
		if err != nil {
			return err
		}
		return db.Close()
	})
	db, err := Open(context.Background(), pgtest.DatabaseFrom(t, template))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engram.Store { return openTemp(t) })
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
// items), record the output and usage. (The same as the sqlite store's.)
func BenchmarkTurn(b *testing.B) {
	ctx := context.Background()
	db, c := turnFixture(b, 1000)
	tip := c.LastSeq // as the runtime does, a run starts from the tip its caller saw
	for b.Loop() {
		r := &engram.Response{ID: engram.NewID("resp"), ProjectID: c.ProjectID, ConversationID: c.ID, BaseSeq: tip, Model: "scripted/echo", Status: engram.StatusInProgress, Metadata: map[string]string{}}
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
		tip = r.LastSeq
	}
}

// BenchmarkHotPath measures each call of a turn alone, on a conversation of
// about 1,000 items.
func BenchmarkHotPath(b *testing.B) {
	ctx := context.Background()
	db, c := turnFixture(b, 1000)
	pid := c.ProjectID
	tip := c.LastSeq // as the runtime does, a run starts from the tip its caller saw
	newResponse := func() *engram.Response {
		r := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, BaseSeq: tip, Model: "scripted/echo", Status: engram.StatusInProgress, Metadata: map[string]string{}}
		in := []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "a question"}}, Tokens: 100}}
		if err := db.CreateResponse(ctx, r, in); err != nil {
			b.Fatal(err)
		}
		tip = r.LastSeq
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
	b.Run("RecentItems/budget", func(b *testing.B) {
		for b.Loop() {
			if items, err := db.RecentItems(ctx, pid, c.ID, 0, 4096, windowTokens); err != nil || len(items) != windowTokens/100 {
				b.Fatal(len(items), err)
			}
		}
	})
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
			tip = r.LastSeq
		}
	})
}

// TestRecentItemsUnevenTokens: a window is read in chunks sized by the
// conversation's average tokens per item; where the newest items are far
// smaller than the average, the first chunk falls short and more are read.
// The window is the same as reading the whole log back would give.
func TestRecentItemsUnevenTokens(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
	var log []*engram.Item
	for i := range 300 {
		tokens := 1 + i%7
		if i < 20 {
			tokens = 5000 // old, large items raise the average
		}
		log = append(log, &engram.Item{Type: engram.ItemMessage, Role: "user",
			Content: []engram.Content{{Type: engram.ContentInputText, Text: fmt.Sprint(i)}}, Tokens: tokens})
	}
	if err := db.CreateConversation(ctx, c, log); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ maxItems, maxTokens int }{{4096, 500}, {4096, 1000}, {50, 1000}, {4096, 20000}, {4096, 0}, {3, 0}, {4096, 1}} {
		var want []int64
		sum := 0
		for i := len(log) - 1; i >= 0 && len(want) < tc.maxItems; i-- {
			if tc.maxTokens > 0 && sum+log[i].Tokens > tc.maxTokens && len(want) > 0 {
				break
			}
			sum += log[i].Tokens
			want = append([]int64{log[i].Seq}, want...)
		}
		got, err := db.RecentItems(ctx, p.ID, c.ID, 0, tc.maxItems, tc.maxTokens)
		if err != nil {
			t.Fatal(err)
		}
		gotSeqs := make([]int64, len(got))
		for i, it := range got {
			gotSeqs[i] = it.Seq
		}
		if !slices.Equal(gotSeqs, want) {
			t.Errorf("%+v: window %v, want %v", tc, gotSeqs, want)
		}
	}
}

// TestNulInRequestText: a NUL in an id from a request's path is a bad
// request, not a failure of the store.
func TestNulInRequestText(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	_, err := db.GetConversation(ctx, "proj_x", "conv_\x00")
	if code := engram.ErrorCode(err); code != engram.EInvalid {
		t.Fatalf("err = %v (%s), want %s", err, code, engram.EInvalid)
	}
}

// TestTimeoutsAndLostConnections: a statement past the URL's
// statement_timeout, and a transaction whose connection the server killed,
// are unavailable (503, try again), never an internal error; the pool
// serves the next request on a fresh connection.
func TestTimeoutsAndLostConnections(t *testing.T) {
	ctx := context.Background()
	u := pgtest.Database(t)
	db, err := Open(ctx, u+"&statement_timeout=500ms&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT pg_sleep(2)")
		return err
	})
	if engram.ErrorCode(err) != engram.EUnavailable {
		t.Fatalf("statement past statement_timeout: %v (code %q), want unavailable", err, engram.ErrorCode(err))
	}

	// Kill this store's connections from outside, mid-transaction.
	err = db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
			return err
		}
		killer, err := pgx.Connect(ctx, u)
		if err != nil {
			return err
		}
		defer killer.Close(ctx)
		if _, err := killer.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT 1")
		return err
	})
	if engram.ErrorCode(err) != engram.EUnavailable {
		t.Fatalf("transaction on a killed connection: %v (code %q), want unavailable", err, engram.ErrorCode(err))
	}
	if _, err := db.ListProjects(ctx); err != nil {
		t.Fatalf("the pool did not recover: %v", err)
	}
}
