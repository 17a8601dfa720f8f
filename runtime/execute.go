package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tokens"
)

// errPaused ends a worker's hold on a run that now waits (for a time or a
// person) without ending the run.
var errPaused = errors.New("run paused")

// errCancelled ends a run that was asked to stop.
var errCancelled = errors.New("run cancelled")

// run is the state of one response while a worker holds it. Everything in
// it can be rebuilt from the store: the response, its log and its journal.
type run struct {
	rt     *Runtime
	p      *plan
	r      *engram.Response
	lease  engram.Lease
	emitTo func(engram.StoredEvent) // the foreground caller; may be nil

	window  []*engram.Item // what the next model call reads
	usage   []*engram.UsageRecord
	steps   []*engram.Step
	input   []*engram.Item
	toolRun int // server-side tool calls made
	models  int // model calls made

	cs         contextSettings
	compacted  bool         // the window already starts at this run's summary
	recalled   *engram.Item // the memories recalled for this turn, shown beside its input
	recallDone bool
	// blocksEdited is set when a tool changed the agent's memory blocks.
	blocksEdited bool
	// budgets are those that cap the run, read at its first model call.
	budgets     []*engram.Budget
	budgetsRead bool
	// outputFilters are the agent's output guardrails (nil: none).
	outputFilters *filters

	seq     int64                // the next stream event's number
	pending []engram.StoredEvent // events not yet in the store
	dirty   *engram.Step         // a completed step not yet saved: saved with the next write
	stored  *engram.Step         // a started step already in the store (written with the response)

	// holding keeps events from listeners until the write that stores
	// them commits: a client that sees a run end finds it ended in the
	// store.
	holding bool
	held    []engram.StoredEvent

	cancel atomic.Bool // asked to stop at the next step boundary
	lost   atomic.Bool // the lease passed to another worker
	// storeDown: a write of the run's state failed because the store was
	// unreachable. The run is left as the store last has it, in progress
	// under a lease that will pass, and resumes from its journal then.
	storeDown atomic.Bool
}

// newRun prepares a run of r from its plan and journal.
func (rt *Runtime) newRun(p *plan, r *engram.Response, lease engram.Lease, input []*engram.Item, steps []*engram.Step, emitTo func(engram.StoredEvent)) *run {
	x := &run{rt: rt, p: p, r: r, lease: lease, emitTo: emitTo, input: input, steps: steps, cs: p.context(r)}
	x.outputFilters = rt.guardsFor(p.agent).output
	x.window = make([]*engram.Item, 0, len(p.history)+len(input)+4)
	x.window = append(append(x.window, p.history...), input...)
	r.Output = r.Output[:0]
	for _, s := range steps {
		for _, it := range s.Output {
			x.addOutput(it)
			if it.Type == engram.ItemCompaction {
				x.applyCompaction(it)
			}
		}
		switch {
		case s.Kind == engram.StepModel && s.Status == engram.StepCompleted:
			x.models++
			if s.Usage != nil {
				x.addUsage(*s.Usage)
			}
		case s.Kind == engram.StepTool && s.Status == engram.StepCompleted:
			x.toolRun++
		}
		x.seq = max(x.seq, s.EventSeq)
	}
	if r.CancelRequested {
		x.cancel.Store(true)
	}
	return x
}

// emit numbers an event, hands it to whoever listens and keeps it for the
// store.
func (x *run) emit(ev engram.StreamEvent) {
	ev.Seq = x.seq
	x.seq++
	se := engram.StoredEvent{Seq: ev.Seq, Type: ev.Type, Data: x.rt.EncodeEvent(ev)}
	if x.p.persist {
		x.pending = append(x.pending, se)
	}
	if x.holding {
		x.held = append(x.held, se)
		return
	}
	x.deliver(se)
}

func (x *run) deliver(se engram.StoredEvent) {
	x.rt.broker.publish(x.r.ID, se)
	if x.emitTo != nil {
		x.emitTo(se)
	}
}

// release hands the held events to listeners.
func (x *run) release() {
	x.holding = false
	for _, se := range x.held {
		x.deliver(se)
	}
	x.held = nil
}

// takeEvents returns the events to store with the next write.
func (x *run) takeEvents() []engram.StoredEvent {
	ev := x.pending
	x.pending = nil
	return ev
}

// saveStep writes s (and any step completed before it) to the journal.
func (x *run) saveStep(ctx context.Context, s *engram.Step) error {
	if !x.p.persist {
		return nil
	}
	if x.dirty != nil && x.dirty != s {
		d := x.dirty
		x.dirty = nil
		if err := x.saveStep(ctx, d); err != nil {
			return err
		}
	}
	x.dirty = nil
	s.EventSeq = x.seq
	events := x.takeEvents()
	if err := x.rt.Store.SaveStep(ctx, s, x.lease, events); err != nil {
		return x.storeErr(err)
	}
	x.rt.broker.stored(x.r.ID, x.seq)
	return nil
}

// storeErr notes a refused write as the loss of the lease, and an
// unreachable store as such.
func (x *run) storeErr(err error) error {
	switch engram.ErrorCode(err) {
	case engram.EConflict:
		x.lost.Store(true)
	case engram.EUnavailable:
		x.storeDown.Store(true)
	}
	return err
}

func (x *run) newStep(kind string) *engram.Step {
	s := &engram.Step{ResponseID: x.r.ID, ProjectID: x.p.projectID, N: len(x.steps) + 1, Kind: kind,
		Status: engram.StepStarted, StartedAt: engram.Now()}
	x.steps = append(x.steps, s)
	return s
}

// loop runs model and tool steps until the run ends, pauses or fails. On
// a resumed run the journal's completed steps are already in the output,
// so the loop picks up at the first step not done.
func (x *run) loop(ctx context.Context) error {
	limits := x.limits()
	for {
		if x.cancel.Load() {
			return errCancelled
		}
		if x.lost.Load() {
			return engram.Errorf(engram.EConflict, "the run's lease passed to another worker")
		}
		if reason := x.overLimit(limits); reason != "" {
			x.r.IncompleteReason = reason
			return nil
		}
		last := x.lastModelStep()
		if last == nil || (last.Status != engram.StepCompleted) {
			if err := x.modelStep(ctx, last); err != nil || x.r.IncompleteReason != "" {
				return err
			}
			continue
		}
		switch last.StopReason {
		case engram.StopMaxTokens:
			x.r.IncompleteReason = "max_output_tokens"
			return nil
		case engram.StopContentFilter:
			x.r.IncompleteReason = "content_filter"
			return nil
		}
		var next *engram.Item
		server, client := 0, 0
		for _, it := range last.Output {
			if it.Type != engram.ItemFunctionCall {
				continue
			}
			if x.p.toolKind(it.Name) == engram.ToolFunction {
				client++
				continue
			}
			server++
			if next == nil && !x.answered(it.CallID) {
				next = it
			}
		}
		switch {
		case next != nil:
			if x.toolRun >= limits.MaxToolCalls {
				x.r.IncompleteReason = "max_tool_calls"
				return nil
			}
			if err := x.toolStep(ctx, next); err != nil {
				return err
			}
		case server == 0 || client > 0:
			return nil // an answer, or calls for the client to make
		default:
			if err := x.modelStep(ctx, nil); err != nil || x.r.IncompleteReason != "" {
				return err
			}
		}
	}
}

// limits are the run's limits with the runtime's defaults filled in.
func (x *run) limits() engram.RunLimits {
	l := x.r.Limits
	if x.r.MaxToolCalls > 0 {
		l = l.Tighter(engram.RunLimits{MaxToolCalls: x.r.MaxToolCalls})
	}
	if x.p.agent != nil {
		l = l.Tighter(x.p.agent.Limits)
		if x.p.agent.MaxToolCalls > 0 && x.r.MaxToolCalls == 0 && x.r.Limits.MaxToolCalls == 0 {
			l.MaxToolCalls = x.p.agent.MaxToolCalls
		}
	}
	if l.MaxToolCalls == 0 {
		l.MaxToolCalls = x.rt.MaxToolCalls
	}
	if l.MaxSteps == 0 {
		l.MaxSteps = x.rt.MaxSteps
	}
	return l
}

// overLimit names the limit the run has reached, if any.
func (x *run) overLimit(l engram.RunLimits) string {
	switch {
	case len(x.steps) >= l.MaxSteps && x.nextNeedsStep():
		return "max_steps"
	case x.models >= x.rt.MaxModelCalls && x.nextNeedsStep():
		return "max_model_calls"
	case l.MaxWallSeconds > 0 && x.r.StartedAt > 0 && time.Now().Unix()-x.r.StartedAt >= int64(l.MaxWallSeconds):
		return "max_wall_time"
	case l.MaxTotalTokens > 0 && x.r.Usage != nil && x.r.Usage.TotalTokens >= l.MaxTotalTokens:
		return "max_total_tokens"
	}
	return ""
}

// nextNeedsStep reports whether the run has more to do than its journal
// holds: a step limit only ends a run that wants another step.
func (x *run) nextNeedsStep() bool {
	if len(x.steps) == 0 {
		return true
	}
	last := x.steps[len(x.steps)-1]
	if last.Status != engram.StepCompleted {
		return false // the unfinished step is already counted
	}
	if last.Kind == engram.StepTool {
		return true
	}
	for _, it := range last.Output {
		if it.Type == engram.ItemFunctionCall && x.p.toolKind(it.Name) != engram.ToolFunction {
			return true
		}
	}
	return false
}

func (x *run) lastModelStep() *engram.Step {
	for i := len(x.steps) - 1; i >= 0; i-- {
		if x.steps[i].Kind == engram.StepModel {
			return x.steps[i]
		}
	}
	return nil
}

// answered reports whether a tool call has its output in the run.
func (x *run) answered(callID string) bool {
	for i := len(x.r.Output) - 1; i >= 0; i-- {
		if it := x.r.Output[i]; it.Type == engram.ItemFunctionCallOutput && it.CallID == callID {
			return true
		}
	}
	return false
}

// modelStep journals a model call, makes it and records its result. A
// model call whose outcome a crash left unknown (s, started) is simply
// made again: it has no effect outside the run.
func (x *run) modelStep(ctx context.Context, s *engram.Step) error {
	if s == nil {
		s = x.newStep(engram.StepModel)
	}
	if s == x.stored {
		x.stored = nil // journaled with the response
	} else {
		s.Status, s.StartedAt = engram.StepStarted, engram.Now()
		if err := x.saveStep(ctx, s); err != nil {
			return err
		}
	}
	s.Output, s.Context, s.Usage = nil, nil, nil
	if x.blocksEdited {
		// The agent edited its blocks in this run: the next call sees them.
		x.blocksEdited = false
		if err := x.rt.loadBlocks(ctx, x.p); err != nil {
			return err
		}
	}
	if stop, err := x.budgetStop(ctx, s, false); stop || err != nil {
		return err
	}
	if !x.recallDone {
		x.recall(ctx, s)
	}
	if x.needsCompaction() {
		x.compact(ctx, s)
	}
	if stop, err := x.budgetStop(ctx, s, true); stop || err != nil {
		return err
	}
	res, req, err := x.callModel(ctx)
	if err != nil {
		s.Status, s.Error, s.CompletedAt = engram.StepFailed, engram.ErrorMessage(err), engram.Now()
		x.dirty = s
		return err
	}
	u := x.recordUsage(req, res)
	x.models++
	if s.Usage != nil { // the summariser's
		u.Add(*s.Usage)
	}
	s.Output, s.Usage, s.StopReason = append(s.Output, res.Output...), &u, res.StopReason
	s.Status, s.CompletedAt = engram.StepCompleted, engram.Now()
	// Saved with the next write: the run's end, when this was its last
	// step, so a plain turn costs one write less.
	x.dirty = s
	return nil
}

// callModel makes one model call, streaming its events as the response's.
func (x *run) callModel(ctx context.Context) (*engram.ModelResult, *engram.ModelRequest, error) {
	req := &engram.ModelRequest{
		Model:           x.p.model,
		Instructions:    x.p.instructions(),
		Input:           modelInput(pairedOnly(x.window), x.recalled),
		Tools:           toolSchemas(x.p.tools),
		ToolChoice:      x.r.ToolChoice,
		Temperature:     x.r.Temperature,
		TopP:            x.r.TopP,
		MaxOutputTokens: x.r.MaxOutputTokens,
		CacheKey:        x.cacheKey(),
		User:            x.r.User,
	}
	if req.Temperature == nil && x.p.agent != nil {
		req.Temperature = x.p.agent.Temperature
	}
	// With output filters, text is streamed once filtered, whole, as its
	// item completes: a delta streamed before could not be taken back.
	st := &streamState{x: x, base: len(x.r.Output), ids: map[int]string{}, hold: x.outputFilters != nil}
	res, err := x.p.provider.Generate(ctx, req, st.onEvent)
	if err != nil {
		return nil, nil, err
	}
	if res == nil {
		return nil, nil, engram.Errorf(engram.EUpstream, "provider %s returned no result", x.p.provider.Name())
	}
	x.filterOutput(res)
	for i, it := range res.Output {
		it.ID = st.id(i, it.Type)
		if it.Status == "" {
			it.Status = engram.StatusCompleted
		}
		st.finishItem(i, it)
		x.addOutput(it)
	}
	return res, req, nil
}

// cacheKey groups calls that share a prompt prefix: the agent (version) or
// the conversation.
func (x *run) cacheKey() string {
	if x.r.PromptCacheKey != "" {
		return x.r.PromptCacheKey
	}
	if x.p.agent != nil {
		return fmt.Sprintf("%s.v%d", x.p.agent.ID, x.p.agent.Version)
	}
	return x.r.ConversationID
}

// addOutput appends an item to the output and to the next call's window.
func (x *run) addOutput(it *engram.Item) {
	it.Origin = engram.OriginOutput
	it.ResponseID = x.r.ID
	if it.Tokens == 0 {
		it.Tokens = tokens.Item(it)
	}
	x.r.Output = append(x.r.Output, it)
	x.window = append(x.window, it)
}

// emitItem streams an item the runtime (not the model) added.
func (x *run) emitItem(it *engram.Item) {
	idx := len(x.r.Output) - 1
	x.emit(engram.StreamEvent{Type: engram.EventOutputItemAdded, OutputIndex: idx, Item: it})
	x.emit(engram.StreamEvent{Type: engram.EventOutputItemDone, OutputIndex: idx, Item: it})
}

func (x *run) recordUsage(req *engram.ModelRequest, res *engram.ModelResult) engram.Usage {
	u := res.Usage
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		u.InputTokens = tokens.Stable(req.Instructions) + toolTokens(x.p.tools) + tokens.Items(req.Input)
		u.OutputTokens = tokens.Items(res.Output)
		u.Estimated = true
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.InputTokens + u.OutputTokens
	}
	u.StatelessInputTokens = x.statelessTokens(u.InputTokens)
	x.addUsage(u)
	return u
}

// addUsage counts a model call's usage in the response and keeps the
// record written when the run ends.
func (x *run) addUsage(u engram.Usage) {
	rec := &engram.UsageRecord{ID: engram.NewID("usage"), ProjectID: x.p.projectID, ResponseID: x.r.ID,
		ConversationID: x.r.ConversationID, AgentID: x.r.AgentID, User: x.r.User,
		Provider: x.p.provider.Name(), Model: x.p.model, Usage: u, CreatedAt: engram.Now()}
	x.usage = append(x.usage, rec)
	if x.r.Usage == nil {
		x.r.Usage = &engram.Usage{}
	}
	x.r.Usage.Add(u)
}

// statelessTokens estimates what a stateless client would have sent for the
// same call: the whole history, not a window or a summary of it, and no
// recalled memories. When the window held the whole history the two are
// equal.
func (x *run) statelessTokens(sent int) int {
	hist := x.p.conv
	if hist == nil || len(x.p.history) == 0 {
		return sent
	}
	// What came from the log: its items up to where the plan read it (a
	// resumed run's own input among them, as the conversation's token total
	// counts it), and summaries. Items this run adds have no seq yet.
	windowed := 0
	for _, it := range x.window {
		if it.Type == engram.ItemCompaction || (it.Seq > 0 && it.Seq <= hist.LastSeq) {
			windowed += it.Tokens
		}
	}
	if x.recalled != nil {
		windowed += x.recalled.Tokens
	}
	total := max(int(hist.Tokens), tokens.Items(x.p.history))
	return max(sent-windowed, 0) + total
}

// finish records the run's end (or its pause) and emits its last event.
func (x *run) finish(ctx context.Context, runErr error) (*engram.Response, error) {
	r := x.r
	if errors.Is(runErr, errPaused) {
		return r, x.pause(ctx)
	}
	if x.lost.Load() {
		// Another worker owns the run now; it will end it.
		return r, engram.Errorf(engram.EUnavailable, "response %s moved to another worker", r.ID)
	}
	r.CompletedAt = engram.Now()
	switch {
	case errors.Is(runErr, errCancelled):
		r.Status, runErr = engram.StatusCancelled, nil
	case runErr != nil:
		r.Status = engram.StatusFailed
		r.Error = &engram.ResponseError{Code: failureCode(runErr), Message: engram.ErrorMessage(runErr)}
	case r.IncompleteReason != "":
		r.Status = engram.StatusIncomplete
	default:
		r.Status = engram.StatusCompleted
	}
	if r.Usage == nil {
		r.Usage = &engram.Usage{}
	}
	x.holding = true
	switch r.Status {
	case engram.StatusCompleted:
		x.emit(engram.StreamEvent{Type: engram.EventResponseCompleted, Response: snapshot(r)})
	case engram.StatusIncomplete:
		x.emit(engram.StreamEvent{Type: engram.EventResponseIncomplete, Response: snapshot(r)})
	case engram.StatusCancelled:
		x.emit(engram.StreamEvent{Type: engram.EventResponseCancelled, Response: snapshot(r)})
	default:
		x.emit(engram.StreamEvent{Type: engram.EventResponseFailed, Response: snapshot(r)})
	}
	if x.p.persist {
		end := engram.RunEnd{Output: r.Output, Usage: x.usage, Step: x.dirty, Lease: x.lease, Events: x.takeEvents()}
		if end.Step != nil {
			end.Step.EventSeq = x.seq
		}
		writing := time.Now()
		if err := x.rt.Store.FinishResponse(ctx, r, end); err != nil {
			x.rt.Logger.Error("recording a response's end failed", "response", r.ID, "err", err)
			if x.storeErr(err); x.storeDown.Load() {
				// The end was not recorded: the store still has the run in
				// progress, and the node that claims it next finishes it.
				// Telling clients it ended would be telling them an answer
				// that may not be the one kept.
				x.held = nil
				x.rt.broker.ended(r.ID)
				return r, engram.Errorf(engram.EUnavailable, "The database became unavailable as response %s ended; it is finished from its last step when the database is back. Retrieve it later with GET /v1/responses/%s.", r.ID, r.ID)
			}
			if runErr == nil {
				runErr = err
			}
		} else {
			x.rt.spends.note(x.usage, writing)
			if x.p.conv != nil {
				added := append(append(make([]*engram.Item, 0, len(x.input)+len(r.Output)), x.input...), r.Output...)
				x.rt.windows.advance(x.p.conv.ID, r.BaseSeq, x.p.conv.Tokens, added, r.LastSeq)
			}
		}
	}
	x.release()
	x.rt.broker.ended(r.ID)
	if x.p.persist && (r.Status == engram.StatusCompleted || r.Status == engram.StatusIncomplete) {
		x.rt.noteTurn(context.WithoutCancel(ctx), x.p, r)
	}
	if runErr != nil {
		x.rt.Logger.Warn("response failed", "response", r.ID, "err", runErr)
		return r, runErr
	}
	return r, nil
}

// pause stores a run that now waits for a time or a person, and lets its
// lease go.
func (x *run) pause(ctx context.Context) error {
	r := x.r
	x.holding = true
	if r.Status == engram.StatusRequiresAction {
		x.emit(engram.StreamEvent{Type: engram.EventResponseRequiresAction, Response: snapshot(r)})
	}
	err := x.pauseWrite(ctx)
	x.release()
	x.rt.broker.paused(r.ID)
	return err
}

func (x *run) pauseWrite(ctx context.Context) error {
	if x.dirty != nil {
		if err := x.saveStep(ctx, x.dirty); err != nil {
			return err
		}
	}
	if err := x.rt.Store.PauseRun(ctx, x.r, x.lease, x.takeEvents()); err != nil {
		return x.storeErr(err)
	}
	x.rt.broker.stored(x.r.ID, x.seq)
	return nil
}

// failureCode is the error code a failed response shows, in OpenAI's terms.
func failureCode(err error) string {
	switch engram.ErrorCode(err) {
	case engram.ERateLimited:
		return "rate_limit_exceeded"
	case engram.EUpstreamTimeout:
		return "upstream_timeout"
	case engram.EUpstream:
		return "upstream_error"
	case engram.EInvalid, engram.EUnsupported:
		return "invalid_prompt"
	}
	return "server_error"
}

// snapshot copies the response's top level so that later changes to it
// do not alter an event already handed out.
func snapshot(r *engram.Response) *engram.Response {
	c := *r
	c.Output = append([]*engram.Item(nil), r.Output...)
	if r.Usage != nil {
		u := *r.Usage
		c.Usage = &u
	}
	return &c
}
