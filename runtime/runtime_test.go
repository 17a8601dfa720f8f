package runtime_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/tool"
)

// countingStore is the real store, counting the window reads that reach it.
type countingStore struct {
	engram.Store
	recent atomic.Int64
	forks  atomic.Int64
}

func (c *countingStore) ForkConversation(ctx context.Context, conv *engram.Conversation) error {
	c.forks.Add(1)
	return c.Store.ForkConversation(ctx, conv)
}

func (c *countingStore) RecentItems(ctx context.Context, projectID, conversationID string, upTo int64, maxItems, maxTokens int) ([]*engram.Item, error) {
	c.recent.Add(1)
	return c.Store.RecentItems(ctx, projectID, conversationID, upTo, maxItems, maxTokens)
}

func setup(t testing.TB) (*runtime.Runtime, *countingStore, string) { return setupWith(t, nil) }

// setupWith is setup with configure applied to the runtime before it starts.
func setupWith(t testing.TB, configure func(*runtime.Runtime, engram.Store)) (*runtime.Runtime, *countingStore, string) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := &countingStore{Store: db}
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	rt := runtime.New(store, provider.NewRegistry(scripted.New()), tool.Builtins(), nil)
	rt.PollInterval = 50 * time.Millisecond
	if configure != nil {
		configure(rt, store)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)
	return rt, store, p.ID
}

func say(rt *runtime.Runtime, pid, conv, model, text string) (*engram.Response, error) {
	return rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: model, Conversation: conv,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}}}, nil)
}

func newConversation(t testing.TB, rt *runtime.Runtime, pid string) string {
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid}
	if err := rt.Store.CreateConversation(context.Background(), c, nil); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// TestWindowCache: after the first turn, a conversation's window comes from
// memory, and what the model sees is the same as a fresh read would give.
func TestWindowCache(t *testing.T) {
	rt, store, pid := setup(t)
	conv := newConversation(t, rt, pid)
	for i := 0; i < 5; i++ {
		if _, err := say(rt, pid, conv, "scripted/recall", fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.recent.Load(); n != 1 {
		t.Errorf("window read from the store %d times over 5 turns, want 1 (then the cache)", n)
	}
	// Another writer (here: an item deleted through the store) invalidates it.
	items, _, _ := rt.Store.ListItems(context.Background(), pid, conv, engram.Page{Limit: 1, Order: "asc"})
	if err := rt.Store.DeleteItem(context.Background(), pid, conv, items[0].ID); err != nil {
		t.Fatal(err)
	}
	r, err := say(rt, pid, conv, "scripted/recall", "m5")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Output[0].Text(); got != "m1 | m2 | m3 | m4 | m5" {
		t.Errorf("after a deletion the model saw %q", got)
	}
	if n := store.recent.Load(); n != 2 {
		t.Errorf("window reads = %d, want 2 (the deletion forces one)", n)
	}
}

// TestForkedChains: two continuations of the same response each see only
// their own branch.
func TestForkedChains(t *testing.T) {
	rt, _, pid := setup(t)
	ask := func(prev, text string) *engram.Response {
		r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/recall", PreviousResponseID: prev,
			Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	root := ask("", "a")
	left := ask(root.ID, "b")
	right := ask(root.ID, "c")
	if got := right.Output[0].Text(); got != "a | c" {
		t.Errorf("right branch saw %q, want a | c", got)
	}
	if got := ask(left.ID, "d").Output[0].Text(); got != "a | b | d" {
		t.Errorf("left branch saw %q, want a | b | d", got)
	}
	if got := ask(right.ID, "e").Output[0].Text(); got != "a | c | e" {
		t.Errorf("right branch continued saw %q", got)
	}
}

// TestFailedProviderKeepsState: an unknown scripted model fails the call;
// nothing is stored for a request refused before the run.
func TestRefusedRequestStoresNothing(t *testing.T) {
	rt, _, pid := setup(t)
	conv := newConversation(t, rt, pid)
	_, err := say(rt, pid, conv, "nowhere/model", "x")
	if engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("err = %v", err)
	}
	items, _, _ := rt.Store.ListItems(context.Background(), pid, conv, engram.Page{})
	if len(items) != 0 {
		t.Errorf("a refused request left %d items", len(items))
	}
}

// BenchmarkTurn is the runtime's own cost of one turn (store included,
// HTTP not) at a given conversation length, with the instant scripted model.
func BenchmarkTurn(b *testing.B) {
	for _, at := range []int{10, 1000} {
		b.Run(fmt.Sprintf("at=%d", at), func(b *testing.B) {
			rt, _, pid := setup(b)
			conv := newConversation(b, rt, pid)
			msg := strings.Repeat("the colony was calm after we added a super ", 10)
			// truncation auto: 1,000 turns outgrow the scripted model's window.
			turn := func() error {
				_, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/echo", Conversation: conv, Truncation: "auto",
					Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: msg}}}}}, nil)
				return err
			}
			for i := 0; i < at; i++ {
				if err := turn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if err := turn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestConcurrentContinuations: many continuations of one response at once
// each get their own branch, whichever wins the race to the chain's tip,
// and many conversations at once keep their own histories.
func TestConcurrentContinuations(t *testing.T) {
	rt, _, pid := setup(t)
	root, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/recall",
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "root"}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	answers := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/recall", PreviousResponseID: root.ID,
				Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: fmt.Sprint("b", i)}}}}}, nil)
			errs[i] = err
			if err == nil {
				answers[i] = r.Output[0].Text()
			}
		}(i)
	}
	convs := make([]string, 8)
	for i := range convs {
		convs[i] = newConversation(t, rt, pid)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for turn := 0; turn < 5; turn++ {
				if _, err := say(rt, pid, convs[i], "scripted/echo", fmt.Sprintf("c%d-%d", i, turn)); err != nil {
					t.Error(err)
				}
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("continuation %d: %v", i, errs[i])
		}
		if want := fmt.Sprintf("root | b%d", i); answers[i] != want {
			t.Errorf("continuation %d saw %q, want %q", i, answers[i], want)
		}
	}
	for i, c := range convs {
		items, _, err := rt.Store.ListItems(context.Background(), pid, c, engram.Page{Limit: 100, Order: "asc"})
		if err != nil || len(items) != 10 {
			t.Fatalf("conversation %d: %d items, %v", i, len(items), err)
		}
		for turn := 0; turn < 5; turn++ {
			if got, want := items[2*turn].Text(), fmt.Sprintf("c%d-%d", i, turn); got != want {
				t.Errorf("conversation %d item %d = %q, want %q", i, 2*turn, got, want)
			}
		}
	}
}

// TestUnansweredCallLeftOut: a function call the client never answered
// (it sent a new message instead) does not reach the model again.
func TestUnansweredCallLeftOut(t *testing.T) {
	rt, _, pid := setup(t)
	conv := newConversation(t, rt, pid)
	r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/tools", Conversation: conv,
		Tools: []engram.ToolSpec{{Type: engram.ToolFunction, Name: "get_weather"}},
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "weather?"}}}}}, nil)
	if err != nil || r.Output[0].Type != engram.ItemFunctionCall {
		t.Fatalf("%v %+v", err, r)
	}
	var seen []*engram.Item
	rt.Providers.Add(recorder{into: &seen})
	if _, err := say(rt, pid, conv, "recorder/x", "never mind"); err != nil {
		t.Fatal(err)
	}
	for _, it := range seen {
		if it.Type == engram.ItemFunctionCall {
			t.Errorf("the unanswered call reached the model: %+v", it)
		}
	}
	if len(seen) != 2 {
		t.Errorf("the model saw %d items, want the two user messages", len(seen))
	}
}

// recorder is a provider that records what it is sent and answers "ok".
type recorder struct{ into *[]*engram.Item }

func (recorder) Name() string { return "recorder" }
func (r recorder) Generate(ctx context.Context, req *engram.ModelRequest, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	*r.into = req.Input
	return scripted.New().Generate(ctx, &engram.ModelRequest{Model: "echo", Input: req.Input}, emit)
}

// TestForkOnlyWhenRun: continuing from inside a chain forks it, but only
// when a run starts: counting its input tokens, compacting it, or a
// request refused after planning stores no fork.
func TestForkOnlyWhenRun(t *testing.T) {
	rt, store, pid := setup(t)
	ctx := context.Background()
	user := func(text string) []*engram.Item {
		return []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}}
	}
	first, err := rt.CreateResponse(ctx, pid, &engram.ResponseRequest{Model: "scripted/recall", Input: user("a")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.CreateResponse(ctx, pid, &engram.ResponseRequest{Model: "scripted/recall", PreviousResponseID: first.ID, Input: user("b")}, nil); err != nil {
		t.Fatal(err)
	}
	// first is no longer the chain's tip: continuing from it forks.
	from := &engram.ResponseRequest{Model: "scripted/recall", PreviousResponseID: first.ID, Input: user("c")}
	n, err := rt.CountInputTokens(ctx, pid, from)
	if err != nil || n == 0 {
		t.Fatalf("count: %d %v", n, err)
	}
	if _, err := rt.Compact(ctx, pid, from); err != nil {
		t.Fatal(err)
	}
	orphan := &engram.ResponseRequest{Model: "scripted/recall", PreviousResponseID: first.ID,
		Input: []*engram.Item{{Type: engram.ItemFunctionCallOutput, CallID: "call_nobody_made", Output: "x"}}}
	if _, err := rt.CreateResponse(ctx, pid, orphan, nil); engram.ErrorCode(err) != engram.EInvalid {
		t.Fatalf("an output for a call never made: %v", err)
	}
	if got := store.forks.Load(); got != 0 {
		t.Fatalf("%d forks stored before any run continued from inside the chain", got)
	}
	r, err := rt.CreateResponse(ctx, pid, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Output[0].Text() != "a | c" || store.forks.Load() != 1 {
		t.Errorf("the fork's run saw %q, forks %d; want \"a | c\" and 1", r.Output[0].Text(), store.forks.Load())
	}
}
