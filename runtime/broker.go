package runtime

import (
	"sync"

	"github.com/engram-run/engram"
)

// broker hands the stream events of runs executing in this process to the
// clients attached to them. Events reach the store at step boundaries; the
// broker holds the ones emitted since, so that a client attaching in the
// middle of a model call still sees every delta: it reads the store, then
// the broker's held events, then live ones, each from where the last left
// off.
//
// With an event bus, clients on other nodes follow too: once one asks for a
// run (bus.AskReplay), the broker republishes the run's held events on the
// bus, then publishes its events as they come and nudges the followers at
// each step boundary and when the run ends or pauses. Runs nobody follows
// from elsewhere never touch the bus.
type broker struct {
	mu   sync.Mutex
	runs map[string]*liveStream
	bus  engram.EventBus // nil: single node
}

type liveStream struct {
	held    []engram.StoredEvent // emitted, not yet stored
	subs    map[chan engram.StoredEvent]struct{}
	running bool  // the run executes here (it has published)
	remote  bool  // another node follows it: publish on the bus too
	stored  int64 // events before this seq are in the store
}

// subscriberBuffer is how far a client may fall behind before it is cut
// off and catches up from the store instead.
const subscriberBuffer = 4096

func newBroker() *broker { return &broker{runs: map[string]*liveStream{}} }

// attach connects the broker to the nodes sharing the store and answers
// their replay requests.
func (b *broker) attach(bus engram.EventBus) {
	b.mu.Lock()
	b.bus = bus
	b.mu.Unlock()
	bus.OnReplayAsked(b.replay)
}

func (b *broker) stream(id string) *liveStream {
	ls := b.runs[id]
	if ls == nil {
		ls = &liveStream{subs: map[chan engram.StoredEvent]struct{}{}}
		b.runs[id] = ls
	}
	return ls
}

func (b *broker) publish(id string, ev engram.StoredEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ls := b.stream(id)
	ls.running = true
	ls.held = append(ls.held, ev)
	if ls.remote {
		b.bus.Publish(id, ev)
	}
	for ch := range ls.subs {
		select {
		case ch <- ev:
		default: // too slow: cut off; it catches up from the store
			close(ch)
			delete(ls.subs, ch)
		}
	}
}

// replay answers another node's request for a run's events: when the run
// executes here, it republishes the held events after `after` and marks the
// run followed. Under the broker's lock, so the replay and the live events
// after it reach the bus in order.
func (b *broker) replay(id string, after int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ls := b.runs[id]
	if ls == nil || !ls.running || b.bus == nil {
		return // not executing here; its node (if any) answers
	}
	ls.remote = true
	for _, ev := range ls.held {
		if ev.Seq > after {
			b.bus.Publish(id, ev)
		}
	}
	if after+1 < ls.stored {
		// The follower lacks events stored since it read the store: have
		// it read the store again. (Not otherwise: a follower answers a
		// nudge by reading the store, and one with nothing new to read
		// would ask again and be nudged again, for ever.)
		b.bus.Nudge(id)
	}
}

// stored drops the held events before seq: the store has them now.
func (b *broker) stored(id string, seq int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ls := b.runs[id]
	if ls == nil {
		return
	}
	n := 0
	for n < len(ls.held) && ls.held[n].Seq < seq {
		n++
	}
	ls.held = append(ls.held[:0:0], ls.held[n:]...)
	ls.stored = max(ls.stored, seq)
	if ls.remote {
		b.bus.Nudge(id)
	}
}

// ended closes a run's stream in this process: it ended or paused, and
// its subscribers read the rest from the store.
func (b *broker) ended(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ls := b.runs[id]; ls != nil {
		for ch := range ls.subs {
			close(ch)
		}
		if ls.remote {
			b.bus.Nudge(id)
		}
		delete(b.runs, id)
	}
}

func (b *broker) paused(id string) { b.ended(id) }

// subscribe returns the held events and a channel of the ones to come,
// closed when the run's stream here ends or the subscriber falls behind.
func (b *broker) subscribe(id string) ([]engram.StoredEvent, chan engram.StoredEvent, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ls := b.stream(id)
	ch := make(chan engram.StoredEvent, subscriberBuffer)
	ls.subs[ch] = struct{}{}
	held := append([]engram.StoredEvent(nil), ls.held...)
	return held, ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if ls := b.runs[id]; ls != nil {
			if _, ok := ls.subs[ch]; ok {
				delete(ls.subs, ch)
				close(ch)
			}
			if len(ls.subs) == 0 && len(ls.held) == 0 && !ls.running {
				delete(b.runs, id)
			}
		}
	}
}
