package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/internal/pgtest"
	"github.com/engram-run/engram/postgres"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/tool"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// drip is a model that answers word by word: the first words at once, the
// rest once the test opens the gate, so a test can attach a client between
// them.
type drip struct {
	words   int
	reached chan struct{} // closed when the first half is out
	gate    chan struct{} // the test closes it to let the rest come
}

func (*drip) Name() string { return "drip" }

func (d *drip) Generate(ctx context.Context, req *engram.ModelRequest, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	emit(engram.ModelEvent{Type: engram.ModelItemAdded, Item: &engram.Item{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusInProgress}})
	var text strings.Builder
	for i := range d.words {
		if i == d.words/2 {
			close(d.reached)
			select {
			case <-d.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		w := fmt.Sprintf("word%d ", i)
		text.WriteString(w)
		emit(engram.ModelEvent{Type: engram.ModelTextDelta, Delta: w})
		if i > d.words/2 {
			time.Sleep(time.Millisecond) // live deltas spread out in time
		}
	}
	done := &engram.Item{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusCompleted,
		Content: []engram.Content{{Type: engram.ContentOutputText, Text: text.String()}}}
	emit(engram.ModelEvent{Type: engram.ModelItemDone, Item: done})
	return &engram.ModelResult{Output: []*engram.Item{done}, StopReason: engram.StopEnd}, nil
}

// node starts a runtime on the shared sqlite file with a bus on the shared
// PostgreSQL database: one replica.
func node(t *testing.T, name, path, busURL string, poll time.Duration, providers ...engram.Provider) *runtime.Runtime {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bus, err := postgres.NewBus(context.Background(), busURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	rt := runtime.New(db, provider.NewRegistry(append([]engram.Provider{scripted.New()}, providers...)...), tool.Builtins(), nil)
	rt.Node, rt.PollInterval, rt.Bus = name, poll, bus
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)
	return rt
}

// TestStreamAcrossNodes: a client on node B follows a run executing on
// node A and sees every event A emits, in order, none missing: the deltas
// A emitted before B attached and has not stored yet (replayed by A), the
// live ones after, and the end. B polls the store only once a minute, so
// all of it came over the bus.
func TestStreamAcrossNodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engram.db")
	busURL := pgtest.Database(t)
	model := &drip{words: 200, reached: make(chan struct{}), gate: make(chan struct{})}
	a := node(t, "a", path, busURL, 50*time.Millisecond, model)
	b := node(t, "b", path, busURL, time.Minute)
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := a.Store.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}

	// The run executes on A, its client attached there.
	ids := make(chan string, 1)
	var onA []engram.StoredEvent
	ranOnA := make(chan error, 1)
	go func() {
		_, err := a.CreateResponse(context.Background(), p.ID, &engram.ResponseRequest{Model: "drip/answer", Stream: true,
			Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "talk"}}}}},
			func(ev engram.StoredEvent) {
				if ev.Seq == 0 {
					var r struct{ Response struct{ ID string } }
					if err := json.Unmarshal(ev.Data, &r); err != nil {
						t.Error(err)
					}
					ids <- r.Response.ID
				}
				onA = append(onA, ev)
			})
		ranOnA <- err
	}()
	id := <-ids
	<-model.reached
	if stored, err := b.Store.ListEvents(context.Background(), p.ID, id, -1); err != nil || len(stored) != 0 {
		t.Fatalf("the store already has %d events (%v): the test would not show a replay", len(stored), err)
	}

	// B attaches mid-answer, and so does a client resuming from seq 20.
	got := make(chan engram.StoredEvent, 1024)
	followed := make(chan error, 1)
	go func() {
		followed <- b.Stream(context.Background(), p.ID, id, -1, func(ev engram.StoredEvent) error { got <- ev; return nil })
	}()
	var resumed []engram.StoredEvent
	resumedDone := make(chan error, 1)
	go func() {
		resumedDone <- b.Stream(context.Background(), p.ID, id, 20, func(ev engram.StoredEvent) error { resumed = append(resumed, ev); return nil })
	}()
	var onB []engram.StoredEvent
	receive := func() {
		t.Helper()
		select {
		case ev := <-got:
			onB = append(onB, ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("B got nothing more after %d events", len(onB))
		}
	}
	// created, in_progress, output_item.added, content_part.added and
	// half the deltas: emitted, held by A, not stored.
	held := 4 + model.words/2
	for len(onB) < held {
		receive()
	}
	close(model.gate)
	select {
	case err := <-followed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("B's stream did not end with the run")
	}
	for len(got) > 0 {
		onB = append(onB, <-got)
	}
	if err := <-ranOnA; err != nil {
		t.Fatal(err)
	}

	stored, err := b.Store.ListEvents(context.Background(), p.ID, id, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(onB) != len(stored) || len(onA) != len(stored) {
		t.Fatalf("B got %d events, A's client %d, the store has %d", len(onB), len(onA), len(stored))
	}
	for i, ev := range onB {
		if ev.Seq != int64(i) || ev.Type != stored[i].Type || string(ev.Data) != string(stored[i].Data) || string(onA[i].Data) != string(ev.Data) {
			t.Fatalf("event %d on B: %d %s %s; stored: %d %s %s", i, ev.Seq, ev.Type, ev.Data, stored[i].Seq, stored[i].Type, stored[i].Data)
		}
	}
	if last := onB[len(onB)-1].Type; last != engram.EventResponseCompleted {
		t.Fatalf("B's stream ended with %s", last)
	}
	select {
	case err := <-resumedDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the resumed stream did not end with the run")
	}
	if len(resumed) != len(stored)-21 {
		t.Fatalf("the stream resumed after 20 got %d events of %d", len(resumed), len(stored)-21)
	}
	for i, ev := range resumed {
		if ev.Seq != int64(21+i) || string(ev.Data) != string(stored[21+i].Data) {
			t.Fatalf("resumed event %d: %d %s", i, ev.Seq, ev.Data)
		}
	}
}

// TestUnfollowedRunsStayOffTheBus: a run nobody follows from another node
// sends nothing over the bus.
func TestUnfollowedRunsStayOffTheBus(t *testing.T) {
	busURL := pgtest.Database(t)
	listener, err := pgx.Connect(context.Background(), busURL)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(context.Background(), "LISTEN engram_stream"); err != nil {
		t.Fatal(err)
	}
	rt := node(t, "a", filepath.Join(t.TempDir(), "engram.db"), busURL, 50*time.Millisecond)
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := rt.Store.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	conv := newConversation(t, rt, p.ID)
	for range 3 {
		if _, err := say(rt, p.ID, conv, "scripted/echo", "hello"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if n, err := listener.WaitForNotification(ctx); err == nil {
		t.Fatalf("the bus carried %q", n.Payload)
	}
	// The listener does hear the bus when it carries something.
	rt.Bus.Nudge("resp_1")
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := listener.WaitForNotification(ctx); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkTurnWithBus is BenchmarkTurn at=10 on a node
// with a bus and nobody following from elsewhere: what the bus costs a
// turn.
func BenchmarkTurnWithBus(b *testing.B) {
	busURL := pgtest.Database(b)
	rt, _, pid := setupWith(b, func(rt *runtime.Runtime, _ engram.Store) {
		bus, err := postgres.NewBus(context.Background(), busURL, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(bus.Close)
		rt.Bus = bus
	})
	conv := newConversation(b, rt, pid)
	msg := strings.Repeat("the colony was calm after we added a super ", 10)
	turn := func() error {
		_, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/echo", Conversation: conv, Truncation: "auto",
			Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: msg}}}}}, nil)
		return err
	}
	for range 10 {
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
}
