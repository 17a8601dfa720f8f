package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tokens"
)

// run is the state of one response while it executes.
type run struct {
	rt      *Runtime
	p       *plan
	r       *engram.Response
	emit    func(engram.StreamEvent)
	window  []*engram.Item // what the next model call reads
	usage   []*engram.UsageRecord
	toolRun int // server-side tool calls made
	input   []*engram.Item
}

// execute runs the model/tool loop and records the outcome.
func (rt *Runtime) execute(ctx context.Context, p *plan, r *engram.Response, input []*engram.Item, emit func(engram.StreamEvent)) (*engram.Response, error) {
	x := &run{rt: rt, p: p, r: r, emit: emit, input: input}
	x.window = make([]*engram.Item, 0, len(p.history)+len(input)+4)
	x.window = append(append(x.window, p.history...), input...)

	emit(engram.StreamEvent{Type: engram.EventResponseCreated, Response: snapshot(r)})
	emit(engram.StreamEvent{Type: engram.EventResponseInProgress, Response: snapshot(r)})

	runErr := x.loop(ctx)
	// The outcome is recorded even when the caller has gone away.
	return x.finish(context.WithoutCancel(ctx), runErr)
}

func (x *run) loop(ctx context.Context) error {
	maxToolCalls := x.rt.MaxToolCalls
	if x.p.agent != nil && x.p.agent.MaxToolCalls > 0 {
		maxToolCalls = x.p.agent.MaxToolCalls
	}
	if x.r.MaxToolCalls > 0 {
		maxToolCalls = x.r.MaxToolCalls
	}
	for calls := 0; ; calls++ {
		if calls == x.rt.MaxModelCalls {
			x.r.IncompleteReason = "max_model_calls"
			return nil
		}
		res, err := x.callModel(ctx)
		if err != nil {
			return err
		}
		if res.StopReason == engram.StopMaxTokens {
			x.r.IncompleteReason = "max_output_tokens"
			return nil
		}
		if res.StopReason == engram.StopContentFilter {
			x.r.IncompleteReason = "content_filter"
			return nil
		}
		var clientCalls, serverCalls []*engram.Item
		for _, it := range res.Output {
			if it.Type != engram.ItemFunctionCall {
				continue
			}
			if x.isBuiltin(it.Name) {
				serverCalls = append(serverCalls, it)
			} else {
				clientCalls = append(clientCalls, it)
			}
		}
		if len(serverCalls) == 0 {
			return nil // an answer, or calls for the client to make
		}
		if x.toolRun+len(serverCalls) > maxToolCalls {
			x.r.IncompleteReason = "max_tool_calls"
			return nil
		}
		for _, c := range serverCalls {
			out, err := x.callTool(ctx, c)
			if err != nil {
				return err
			}
			x.addOutput(out)
		}
		if len(clientCalls) > 0 {
			return nil // the client answers the rest
		}
	}
}

func (x *run) isBuiltin(name string) bool {
	for _, s := range x.p.tools {
		if s.Name == name {
			return s.Type == engram.ToolBuiltin
		}
	}
	return false
}

// callModel makes one model call, streaming its events as the response's.
func (x *run) callModel(ctx context.Context) (*engram.ModelResult, error) {
	req := &engram.ModelRequest{
		Model:           x.p.model,
		Instructions:    x.p.instructions(),
		Input:           pairedOnly(x.window),
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
	st := &streamState{x: x, base: len(x.r.Output), ids: map[int]string{}}
	res, err := x.p.provider.Generate(ctx, req, st.onEvent)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, engram.Errorf(engram.EUpstream, "provider %s returned no result", x.p.provider.Name())
	}
	for i, it := range res.Output {
		it.ID = st.id(i, it.Type)
		if it.Status == "" {
			it.Status = engram.StatusCompleted
		}
		st.finishItem(i, it)
		x.addOutput(it)
	}
	x.recordUsage(req, res)
	return res, nil
}

// cacheKey groups calls that share a prompt prefix: the agent (version) or
// the conversation.
func (x *run) cacheKey() string {
	if x.req().PromptCacheKey != "" {
		return x.req().PromptCacheKey
	}
	if x.p.agent != nil {
		return fmt.Sprintf("%s.v%d", x.p.agent.ID, x.p.agent.Version)
	}
	return x.r.ConversationID
}

func (x *run) req() *engram.ResponseRequest { return x.p.req }

// addOutput appends an item to the output and to the next call's window.
func (x *run) addOutput(it *engram.Item) {
	it.Origin = engram.OriginOutput
	it.ResponseID = x.r.ID
	it.Tokens = tokens.Item(it)
	x.r.Output = append(x.r.Output, it)
	x.window = append(x.window, it)
}

func (x *run) recordUsage(req *engram.ModelRequest, res *engram.ModelResult) {
	u := res.Usage
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		u.InputTokens = tokens.Stable(req.Instructions) + toolTokens(x.p.tools) + tokens.Items(req.Input)
		u.OutputTokens = tokens.Items(res.Output)
		u.Estimated = true
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.InputTokens + u.OutputTokens
	}
	u.StatelessInputTokens = x.statelessTokens(u.InputTokens, req)
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
// same call: the whole history, not a window of it. When the window held
// the whole history the two are equal.
func (x *run) statelessTokens(sent int, req *engram.ModelRequest) int {
	hist := x.p.conv
	if hist == nil || len(x.p.history) == 0 {
		return sent
	}
	windowed := tokens.Items(x.p.history)
	total := int(hist.Tokens)
	if total < windowed {
		total = windowed
	}
	return sent - windowed + total
}

// callTool runs a server-side tool and returns its output item. A tool's
// refusal of its arguments (EInvalid) is shown to the model as the result,
// so it can correct itself.
func (x *run) callTool(ctx context.Context, call *engram.Item) (*engram.Item, error) {
	x.toolRun++
	t := x.rt.Tools.Get(call.Name)
	args := json.RawMessage(call.Arguments)
	if !json.Valid(args) {
		args = json.RawMessage("null")
	}
	out, err := t.Call(ctx, engram.ToolCall{
		ProjectID: x.p.projectID, ConversationID: x.r.ConversationID, ResponseID: x.r.ID,
		User: x.r.User, CallID: call.CallID, Arguments: args,
		IdempotencyKey: x.r.ID + "/" + call.CallID,
	})
	if err != nil {
		if engram.ErrorCode(err) != engram.EInvalid {
			return nil, fmt.Errorf("tool %s: %w", call.Name, err)
		}
		out = "error: " + engram.ErrorMessage(err)
	}
	item := &engram.Item{ID: engram.NewID("fco"), Type: engram.ItemFunctionCallOutput, CallID: call.CallID,
		Output: out, Status: engram.StatusCompleted}
	idx := len(x.r.Output)
	x.emit(engram.StreamEvent{Type: engram.EventOutputItemAdded, OutputIndex: idx, Item: item})
	x.emit(engram.StreamEvent{Type: engram.EventOutputItemDone, OutputIndex: idx, Item: item})
	return item, nil
}

// finish records the response's end and emits its last event.
func (x *run) finish(ctx context.Context, runErr error) (*engram.Response, error) {
	r := x.r
	r.CompletedAt = engram.Now()
	switch {
	case runErr != nil:
		r.Status = engram.StatusFailed
		r.Error = &engram.ResponseError{Code: failureCode(runErr), Message: engram.ErrorMessage(runErr)}
		if errors.Is(runErr, context.Canceled) {
			r.Status = engram.StatusCancelled
			r.Error = nil
		}
	case r.IncompleteReason != "":
		r.Status = engram.StatusIncomplete
	default:
		r.Status = engram.StatusCompleted
	}
	if r.Usage == nil {
		r.Usage = &engram.Usage{}
	}
	if x.p.persist {
		if err := x.rt.Store.FinishResponse(ctx, r, r.Output, x.usage); err != nil {
			x.rt.Logger.Error("recording a response's end failed", "response", r.ID, "err", err)
			if runErr == nil {
				runErr = err
			}
		} else if x.p.conv != nil {
			added := append(append(make([]*engram.Item, 0, len(x.input)+len(r.Output)), x.input...), r.Output...)
			x.rt.windows.advance(x.p.conv.ID, r.BaseSeq, x.p.conv.Tokens, added, r.LastSeq)
		}
	}
	switch r.Status {
	case engram.StatusCompleted:
		x.emit(engram.StreamEvent{Type: engram.EventResponseCompleted, Response: snapshot(r)})
	case engram.StatusIncomplete:
		x.emit(engram.StreamEvent{Type: engram.EventResponseIncomplete, Response: snapshot(r)})
	default:
		x.emit(engram.StreamEvent{Type: engram.EventResponseFailed, Response: snapshot(r)})
	}
	if runErr != nil {
		x.rt.Logger.Warn("response failed", "response", r.ID, "err", runErr)
		return r, runErr
	}
	return r, nil
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
