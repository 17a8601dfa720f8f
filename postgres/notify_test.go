package postgres

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

func newBus(t *testing.T, url string) *Bus {
	t.Helper()
	b, err := NewBus(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// next waits for the feed's next event.
func next(t *testing.T, f *engram.EventFeed) engram.StoredEvent {
	t.Helper()
	select {
	case ev := <-f.Events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event came")
	}
	return engram.StoredEvent{}
}

func waitCatchUp(t *testing.T, f *engram.EventFeed) {
	t.Helper()
	select {
	case <-f.CatchUp:
	case <-time.After(10 * time.Second):
		t.Fatal("no catch-up signal came")
	}
}

func event(seq int64, data string) engram.StoredEvent {
	return engram.StoredEvent{Seq: seq, Type: "response.output_text.delta", Data: []byte(data)}
}

// TestBusCarriesEventsInOrder: what one node publishes reaches another's
// subscriber, every event in order; a node does not hear itself, and a
// run's subscriber hears nothing of other runs.
func TestBusCarriesEventsInOrder(t *testing.T) {
	url := pgtest.Database(t)
	a, b := newBus(t, url), newBus(t, url)
	feed := b.Subscribe("resp_1")
	defer feed.Close()
	other := b.Subscribe("resp_2")
	defer other.Close()
	own := a.Subscribe("resp_1")
	defer own.Close()

	const n = 1000
	for i := range int64(n) {
		a.Publish("resp_1", event(i, fmt.Sprintf(`{"delta":"word %d "}`, i)))
	}
	for i := range int64(n) {
		got := next(t, feed)
		if want := event(i, fmt.Sprintf(`{"delta":"word %d "}`, i)); got.Seq != want.Seq || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("event %d: got %+v, want %+v", i, got, want)
		}
	}
	a.Nudge("resp_1")
	waitCatchUp(t, feed)
	select {
	case ev := <-other.Events:
		t.Fatalf("another run's subscriber got %+v", ev)
	case ev := <-own.Events:
		t.Fatalf("the publishing node heard itself: %+v", ev)
	case <-own.CatchUp:
		t.Fatal("the publishing node heard its own nudge")
	default:
	}
}

// TestBusChunksLargeEvents: events past NOTIFY's 8000 bytes arrive whole,
// text cut between characters, binary data intact.
func TestBusChunksLargeEvents(t *testing.T) {
	url := pgtest.Database(t)
	a, b := newBus(t, url), newBus(t, url)
	feed := b.Subscribe("resp_1")
	defer feed.Close()

	// Multi-byte characters at every offset, so some land on a cut.
	long := `{"text":"` + strings.Repeat("abc é 中文 🐝 ", 9000) + `"}`
	binary := bytes.Repeat([]byte{0, 0xff, 'x', 0xc3}, 5000)
	sent := []engram.StoredEvent{
		{Seq: 0, Type: "response.output_text.done", Data: []byte(long)},
		{Seq: 1, Type: "response.output_text.delta", Data: []byte(`{"delta":"short"}`)},
		{Seq: 2, Type: "binary", Data: binary},
		{Seq: 3, Type: "response.output_text.done", Data: []byte(strings.Repeat("x", maxPayload))},
		{Seq: 4, Type: "empty", Data: nil},
	}
	for _, ev := range sent {
		a.Publish("resp_1", ev)
	}
	for _, want := range sent {
		got := next(t, feed)
		if got.Seq != want.Seq || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("event %d: got %s %d bytes, want %s %d bytes", want.Seq, got.Type, len(got.Data), want.Type, len(want.Data))
		}
	}
}

// TestBusReplayForLateSubscriber: a node that subscribes late asks the
// run's node for what it holds; the answer reaches it, and only it asks.
func TestBusReplayForLateSubscriber(t *testing.T) {
	url := pgtest.Database(t)
	a, b := newBus(t, url), newBus(t, url)
	held := []engram.StoredEvent{event(3, `"three"`), event(4, `"four"`), event(5, `"five"`)}
	var mu sync.Mutex
	var asked []string
	a.OnReplayAsked(func(run string, after int64) {
		mu.Lock()
		asked = append(asked, fmt.Sprint(run, " ", after))
		mu.Unlock()
		for _, ev := range held {
			if ev.Seq > after {
				a.Publish(run, ev)
			}
		}
	})
	b.OnReplayAsked(func(run string, after int64) { t.Errorf("a node answered its own ask for %s", run) })

	feed := b.Subscribe("resp_1")
	defer feed.Close()
	b.AskReplay("resp_1", 3)
	for _, want := range held[1:] {
		if got := next(t, feed); got.Seq != want.Seq || string(got.Data) != string(want.Data) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(asked) != "[resp_1 3]" {
		t.Fatalf("asks: %v", asked)
	}
}

// TestBusSurvivesLostConnections: when the database drops the listening
// connection, the bus reconnects, LISTENs again and tells its subscribers
// to catch up; when it drops the sending one, the next message goes out
// on a new connection.
func TestBusSurvivesLostConnections(t *testing.T) {
	url := pgtest.Database(t)
	a, b := newBus(t, url), newBus(t, url)
	feed := b.Subscribe("resp_1")
	defer feed.Close()
	a.Publish("resp_1", event(0, `"before"`))
	if got := next(t, feed); got.Seq != 0 {
		t.Fatalf("got %+v", got)
	}

	terminate(t, url, listenApplication)
	waitCatchUp(t, feed)
	a.Publish("resp_1", event(1, `"after the listener's loss"`))
	if got := next(t, feed); got.Seq != 1 {
		t.Fatalf("got %+v", got)
	}

	terminate(t, url, notifyApplication)
	a.Publish("resp_1", event(2, `"after the sender's loss"`))
	if got := next(t, feed); got.Seq != 2 {
		t.Fatalf("got %+v", got)
	}
}

// terminate ends the database's backends of one application, as a
// failover or an administrator would.
func terminate(t *testing.T, url, application string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, application).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no %s backend to terminate", application)
	}
}

// FuzzBusEventCodec: any event, cut into payloads, comes back whole, and
// every payload fits a NOTIFY.
func FuzzBusEventCodec(f *testing.F) {
	f.Add(int64(0), "response.output_text.delta", []byte(`{"delta":"hi"}`))
	f.Add(int64(7), "t", bytes.Repeat([]byte("é🐝"), 4000))
	f.Add(int64(1<<40), "b", []byte{0, 1, 2, 0xff})
	f.Fuzz(func(t *testing.T, seq int64, typ string, data []byte) {
		if typ == "" || strings.ContainsAny(typ, " \x00") || !utf8.ValidString(typ) || len(typ) > 200 {
			t.Skip("not an event type")
		}
		sender := &Bus{id: "a"}
		receiver := &Bus{id: "b", logger: slog.New(slog.DiscardHandler), feeds: map[string]map[*feed]struct{}{}, partial: map[string]*partialEvent{}}
		fd := receiver.Subscribe("resp_1")
		defer fd.Close()
		ev := engram.StoredEvent{Seq: seq, Type: typ, Data: data}
		for _, p := range sender.eventPayloads("resp_1", ev) {
			if len(p) >= 8000 || !utf8.ValidString(p) || strings.IndexByte(p, 0) >= 0 {
				t.Fatalf("payload of %d bytes unfit for NOTIFY", len(p))
			}
			receiver.receive(p)
		}
		select {
		case got := <-fd.Events:
			if got.Seq != seq || got.Type != typ || !bytes.Equal(got.Data, data) {
				t.Fatalf("got %+v, want %+v", got, ev)
			}
		default:
			t.Fatal("the event did not come back")
		}
	})
}
