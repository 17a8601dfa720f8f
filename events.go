package engram

// EventBus carries the stream events of runs between the nodes that share a
// store, so that a client attached to one node follows, delta by delta, a
// run executing on another.
//
// The store stays the truth: a run's events reach it at step boundaries,
// and everything on the bus is a best-effort shortcut to what the store
// will have. A node publishes a run's events only once another node has
// asked for them (AskReplay), so a run nobody follows from elsewhere costs
// nothing on the bus. Every message may be lost (a full queue, a lost
// connection); followers number events by Seq, drop what they already
// have, and fill any gap from the store (after a nudge or a CatchUp signal,
// or on their own poll) or from a further replay.
type EventBus interface {
	// Publish hands an event of a run executing on this node to the nodes
	// following the run. It never blocks the run: when the bus is behind,
	// the event is dropped and followers find it in the store or a replay.
	// Events of one run are sent in the order Publish is called.
	Publish(runID string, ev StoredEvent)
	// Nudge tells the nodes following a run to read its events from the
	// store now: it stored some, ended, or paused. It is ordered after the
	// events published before it.
	Nudge(runID string)
	// Subscribe follows a run's events as other nodes publish them. The
	// feed is live when Subscribe returns: nothing published after it is
	// missed unless a CatchUp signal says so.
	Subscribe(runID string) *EventFeed
	// AskReplay asks whichever node executes a run to publish the events
	// it holds with a Seq after `after` (emitted, not yet stored) and to
	// publish the run's events from then on.
	AskReplay(runID string, after int64)
	// OnReplayAsked sets the function called when another node asks for a
	// replay; the runtime answers for the runs it executes. A node's own
	// asks do not reach it: its local subscribers need no bus.
	OnReplayAsked(func(runID string, after int64))
}

// EventFeed is one subscription to a run's events on an EventBus.
type EventFeed struct {
	// Events are the run's events as published, each node's in order;
	// those of a replay may repeat or precede events already received.
	Events <-chan StoredEvent
	// CatchUp says (one signal standing for any number) that the store
	// should be read now: the run stored events, ended or paused, or
	// messages may have been lost (the feed fell behind, or the bus
	// reconnected).
	CatchUp <-chan struct{}
	// Close ends the subscription.
	Close func()
}
