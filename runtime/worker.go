package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/engram-run/engram"
)

// Start runs the worker pool until ctx ends: it claims runs that are ready
// (queued behind a finished one, background, woken from a wait, answered
// by a person, or left by a worker that died) and executes them. Runs this
// node held before a restart are taken back at once.
func (rt *Runtime) Start(ctx context.Context) error {
	if err := rt.Store.ReleaseLeases(ctx, rt.Node); err != nil {
		return err
	}
	rt.mu.Lock()
	rt.runCtx, rt.stopRuns = context.WithCancel(context.WithoutCancel(ctx))
	rt.mu.Unlock()
	if rt.Bus != nil {
		rt.broker.attach(rt.Bus)
	}
	rt.workers.Add(1)
	go func() {
		defer rt.workers.Done()
		rt.dispatch(ctx)
	}()
	rt.workers.Go(func() { rt.RunSchedules(ctx) })
	rt.workers.Go(func() { rt.RunExtractions(ctx) })
	rt.workers.Go(func() { rt.RunRetention(ctx) })
	return nil
}

// Stop ends the pool and the runs executing here without ending them:
// they stay in progress in the store and their leases are given up, so the
// next start (or another node) resumes them from their journals.
func (rt *Runtime) Stop() {
	rt.mu.Lock()
	stop := rt.stopRuns
	rt.mu.Unlock()
	if stop != nil {
		stop()
	}
	rt.workers.Wait()
	_ = rt.Store.ReleaseLeases(context.Background(), rt.Node)
}

func (rt *Runtime) context() context.Context {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.runCtx == nil {
		return context.Background()
	}
	return rt.runCtx
}

// stopping reports whether the node is shutting down.
func (rt *Runtime) stopping() bool { return rt.context().Err() != nil }

// wakePool asks the pool to look for ready runs now.
func (rt *Runtime) wakePool() {
	select {
	case rt.wake <- struct{}{}:
	default:
	}
}

func (rt *Runtime) dispatch(ctx context.Context) {
	slots := make(chan struct{}, rt.Workers)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rt.context().Done():
			return
		case <-rt.wake:
		case <-timer.C:
		}
		for {
			select {
			case slots <- struct{}{}:
			default:
				goto wait // every worker is busy; a finishing run wakes the pool
			}
			lease := rt.newLease()
			r, err := rt.Store.ClaimRun(ctx, lease, time.Now().UnixMilli(), "")
			if err != nil {
				<-slots
				if engram.ErrorCode(err) != engram.ENotFound && ctx.Err() == nil {
					rt.Logger.Error("claiming a run failed", "err", err)
				}
				break
			}
			rt.workers.Add(1)
			go func() {
				defer rt.workers.Done()
				defer func() { <-slots; rt.wakePool() }()
				if _, err := rt.resume(r, lease); err != nil && !rt.stopping() {
					rt.Logger.Warn("run ended with an error", "response", r.ID, "err", err)
				}
			}()
		}
	wait:
		timer.Reset(rt.PollInterval)
	}
}

// newLease is a fresh claim by this node: the node's id and a nonce, so
// that two claims by one node are still told apart.
func (rt *Runtime) newLease() engram.Lease {
	var b [6]byte
	rand.Read(b[:])
	return engram.Lease{Owner: rt.Node + "/" + hex.EncodeToString(b[:]), Until: time.Now().Add(rt.LeaseDuration).UnixMilli()}
}

// resume executes a run a worker has claimed: it rebuilds the plan from the
// stored response and replays the journal, then carries on.
func (rt *Runtime) resume(r *engram.Response, lease engram.Lease) (*engram.Response, error) {
	ctx := rt.context()
	p, err := rt.planFor(ctx, r)
	if engram.ErrorCode(err) == engram.EUnavailable {
		// The store is away for now: leave the run as it is; a node
		// claims it again when this lease passes.
		return r, err
	}
	if err != nil {
		// The run cannot go on (its agent or model is gone): end it
		// failed rather than claim it for ever.
		r.Status, r.CompletedAt = engram.StatusFailed, engram.Now()
		r.Error = &engram.ResponseError{Code: "server_error", Message: "the run cannot resume: " + engram.ErrorMessage(err)}
		if ferr := rt.Store.FinishResponse(ctx, r, engram.RunEnd{Lease: lease}); ferr != nil {
			return r, ferr
		}
		rt.broker.ended(r.ID)
		return r, err
	}
	steps, err := rt.Store.ListSteps(ctx, r.ProjectID, r.ID)
	if err != nil {
		return r, err
	}
	x := rt.newRun(p, r, lease, nil, steps, nil)
	// Events stored when the run paused came after its last step's.
	if later, err := rt.Store.ListEvents(ctx, r.ProjectID, r.ID, x.seq-1); err == nil && len(later) > 0 {
		x.seq = later[len(later)-1].Seq + 1
	}
	r.Status = engram.StatusInProgress
	return rt.execute(x, len(steps) == 0 && x.seq == 0)
}

// execute runs x under its lease until it ends or pauses. The run's
// context is the node's, not the caller's: a client that goes away does
// not stop a run, and a node that stops leaves its runs for the next.
func (rt *Runtime) execute(x *run, fresh bool) (*engram.Response, error) {
	ctx, abort := context.WithCancel(rt.context())
	defer abort()
	if fresh {
		x.emit(engram.StreamEvent{Type: engram.EventResponseCreated, Response: snapshot(x.r)})
		x.emit(engram.StreamEvent{Type: engram.EventResponseInProgress, Response: snapshot(x.r)})
	}
	if x.p.persist {
		rt.live.Store(x.r.ID, x)
		defer rt.live.Delete(x.r.ID)
		if _, ok := rt.cancelling.Load(x.r.ID); ok {
			x.cancel.Store(true) // asked while the run was being claimed
		}
		stop := rt.heartbeat(x, abort)
		defer stop()
	}
	runErr := x.loop(ctx)
	if runErr != nil && !errorsIsPaused(runErr) && rt.stopping() {
		// Shutting down: the run stays in progress for the next start.
		rt.broker.ended(x.r.ID)
		return x.r, engram.Errorf(engram.EUnavailable, "the server is shutting down; response %s resumes when it starts again", x.r.ID)
	}
	if runErr != nil && (x.storeDown.Load() || engram.ErrorCode(runErr) == engram.EUnavailable) {
		// The database went away mid-run. Ending the run failed would be
		// a second write that may not land either, and would throw away
		// a run that can go on: it stays in progress as last stored, and
		// a node claims it when its lease passes and resumes it from the
		// journal.
		rt.broker.ended(x.r.ID)
		return x.r, engram.Errorf(engram.EUnavailable, "The database became unavailable during response %s; it resumes from its last step when the database is back. Retrieve it later with GET /v1/responses/%s.", x.r.ID, x.r.ID)
	}
	return x.finish(context.WithoutCancel(ctx), runErr)
}

// heartbeat renews x's lease while it runs and passes on a cancel asked
// through the store (from another node, or a paused run's canceller).
func (rt *Runtime) heartbeat(x *run, abort func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(rt.LeaseDuration / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			until := time.Now().Add(rt.LeaseDuration).UnixMilli()
			cancel, err := rt.Store.RenewLease(context.Background(), x.r.ID, engram.Lease{Owner: x.lease.Owner, Until: until})
			switch {
			case engram.ErrorCode(err) == engram.EConflict:
				x.lost.Store(true)
				abort()
				return
			case err != nil:
				rt.Logger.Warn("renewing a lease failed", "response", x.r.ID, "err", err)
			case cancel:
				x.cancel.Store(true)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// Cancel asks a response to stop: at once when it is queued or paused, at
// its next step boundary when it is running. It waits a little for the run
// to end and returns the response as it then stands.
func (rt *Runtime) Cancel(ctx context.Context, projectID, id string) (*engram.Response, error) {
	r, err := rt.Store.RequestCancel(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	if engram.IsTerminal(r.Status) {
		return rt.Store.GetResponse(ctx, projectID, id)
	}
	// Noted before looking for the run here, and looked for by a run
	// after it registers: a run a worker is just starting cannot miss it.
	rt.cancelling.Store(id, true)
	defer rt.cancelling.Delete(id)
	if v, ok := rt.live.Load(id); ok {
		v.(*run).cancel.Store(true)
	}
	rt.wakePool()
	deadline := time.Now().Add(rt.CancelWait)
	for time.Now().Before(deadline) {
		got, err := rt.Store.GetResponse(ctx, projectID, id)
		if err != nil || engram.IsTerminal(got.Status) {
			return got, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return rt.Store.GetResponse(ctx, projectID, id)
}

// Approve records a person's decision on a paused run's approval request;
// once every request is answered the run resumes on a worker.
func (rt *Runtime) Approve(ctx context.Context, projectID, id string, a engram.Approval) (*engram.Response, error) {
	if _, err := rt.Store.DecideApproval(ctx, projectID, id, a); err != nil {
		return nil, err
	}
	rt.wakePool()
	return rt.Store.GetResponse(ctx, projectID, id)
}

// Stream sends a response's stream events after seq `after` (-1: from the
// start) until the run ends or stops for a person, or ctx ends: stored
// events first, then events held in this process, then live ones. A run
// executing on another node is followed through the store, read every
// PollInterval; with a bus, also live: its node replays the events it
// holds and publishes the rest, and nudges when the store has more.
func (rt *Runtime) Stream(ctx context.Context, projectID, id string, after int64, send func(engram.StoredEvent) error) error {
	last := after
	// early keeps events from the bus that came before ones preceding
	// them (live events overtaking a replay, or a message lost): each is
	// sent once the gap before it is filled.
	early := map[int64]engram.StoredEvent{}
	deliver := func(ev engram.StoredEvent) (done bool, err error) {
		for ev.Seq > last {
			last = ev.Seq
			if err := send(ev); err != nil {
				return true, err
			}
			if endsStream(ev.Type) {
				return true, nil
			}
			next, ok := early[last+1]
			if !ok {
				break
			}
			delete(early, next.Seq)
			ev = next
		}
		return false, nil
	}
	var busEvents <-chan engram.StoredEvent
	var catchUp <-chan struct{}
	ask := true // ask the executing node to replay what it holds
	if rt.Bus != nil {
		feed := rt.Bus.Subscribe(id)
		defer feed.Close()
		busEvents, catchUp = feed.Events, feed.CatchUp
	}
	for {
		held, ch, unsubscribe := rt.broker.subscribe(id)
		stored, err := rt.Store.ListEvents(ctx, projectID, id, last)
		if err != nil {
			unsubscribe()
			return err
		}
		done := false
		for _, batch := range [][]engram.StoredEvent{stored, held} {
			for _, ev := range batch {
				if done, err = deliver(ev); done || err != nil {
					unsubscribe()
					return err
				}
			}
		}
		for seq := range early {
			if seq <= last {
				delete(early, seq)
			}
		}
		r, err := rt.Store.GetResponse(ctx, projectID, id)
		if err != nil {
			unsubscribe()
			return err
		}
		if engram.IsTerminal(r.Status) || r.Status == engram.StatusRequiresAction {
			// Ended or paused with every event stored and sent.
			if more, err := rt.Store.ListEvents(ctx, projectID, id, last); err != nil || len(more) == 0 {
				unsubscribe()
				return err
			}
			unsubscribe()
			continue
		}
		if _, here := rt.live.Load(id); ask && !here && rt.Bus != nil {
			// Whichever node executes it sends what it holds after
			// what was read here, then the rest as it comes. Asked on
			// arrival and at each poll tick (the run may have moved to
			// another node), not after a nudge: the executing node
			// already publishes to us.
			rt.Bus.AskReplay(id, last)
			ask = false
		}
		tick := time.NewTicker(rt.PollInterval)
	live:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				unsubscribe()
				return ctx.Err()
			case ev, ok := <-ch:
				if !ok {
					break live // ended here, or fell behind: catch up from the store
				}
				if ev.Seq > last+1 {
					break live // a gap: the store has what is missing
				}
				if done, err = deliver(ev); done || err != nil {
					tick.Stop()
					unsubscribe()
					return err
				}
			case ev := <-busEvents:
				if ev.Seq > last+1 {
					if len(early) < subscriberBuffer {
						early[ev.Seq] = ev
					}
					continue
				}
				if done, err = deliver(ev); done || err != nil {
					tick.Stop()
					unsubscribe()
					return err
				}
			case <-catchUp:
				break live
			case <-tick.C:
				if _, ok := rt.live.Load(id); !ok {
					ask = true
					break live // not executing here: follow it through the store
				}
			}
		}
		tick.Stop()
		unsubscribe()
	}
}

// endsStream reports whether an event is a stream's last.
func endsStream(eventType string) bool {
	switch eventType {
	case engram.EventResponseCompleted, engram.EventResponseFailed, engram.EventResponseIncomplete,
		engram.EventResponseCancelled, engram.EventResponseRequiresAction:
		return true
	}
	return false
}
