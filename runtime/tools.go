package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tool"
)

// toolKind is the type of the tool a call names: function (the client's),
// builtin, http or mcp.
func (p *plan) toolKind(name string) string {
	if s := p.toolSpec(name); s != nil {
		return s.Type
	}
	return engram.ToolFunction // unknown: the client answers or refuses it
}

func (p *plan) toolSpec(name string) *engram.ToolSpec {
	for i := range p.tools {
		if p.tools[i].Name == name {
			return &p.tools[i]
		}
	}
	return nil
}

// idempotencyKey is derived from the run and the step, so it is the same
// on every retry of a call and different for every other call.
func idempotencyKey(responseID string, step int) string {
	return fmt.Sprintf("%s/step-%d", responseID, step)
}

// toolStep takes one server-side call of the model a step further: it
// journals it and makes it, or pauses for a person or a time, or acts on a
// person's decision, or decides what to do with a call a crash left
// unfinished.
func (x *run) toolStep(ctx context.Context, call *engram.Item) error {
	spec := x.p.toolSpec(call.Name)
	s := x.stepForCall(call.CallID)
	if s == nil {
		s = x.newStep(engram.StepTool)
		s.Name, s.CallID, s.Arguments = call.Name, call.CallID, call.Arguments
		s.IdempotencyKey = idempotencyKey(x.r.ID, s.N)
		d, err := x.authorize(ctx, spec, call)
		if err != nil {
			return err
		}
		s.Decision = d
		switch d.Effect {
		case engram.DecisionDeny:
			return x.completeTool(ctx, s, call, "Refused by policy: "+d.Reason)
		case engram.DecisionAsk:
			return x.askApproval(ctx, s, call, "policy")
		}
		if spec.RequireApproval == "always" {
			return x.askApproval(ctx, s, call, "required")
		}
		if call.Name == tool.WaitUntilName {
			return x.waitUntil(ctx, s, call)
		}
		return x.callTool(ctx, s, spec, call)
	}
	switch s.Status {
	case engram.StepStarted:
		// The call was in flight when its worker stopped: whether it took
		// effect is unknown. Only an idempotent tool may simply be called
		// again; otherwise a person decides.
		if spec.Idempotent {
			return x.callTool(ctx, s, spec, call)
		}
		return x.askApproval(ctx, s, call, "outcome_unknown")
	case engram.StepDecided:
		a := s.Approval
		answer := &engram.Item{ID: engram.NewID("mcpa"), Type: engram.ItemApprovalResponse, ApprovalRequestID: a.RequestID,
			Approve: &a.Approve, Reason: a.Comment, Status: engram.StatusCompleted}
		s.Output = append(s.Output, answer)
		x.addOutput(answer)
		x.emitItem(answer)
		if a.Approve {
			return x.callTool(ctx, s, spec, call)
		}
		out := "The call was not made: a person rejected it."
		if a.Reason == "outcome_unknown" {
			out = "The call's outcome is unknown (the server stopped while it was in flight) and a person chose not to repeat it."
		}
		if a.Comment != "" {
			out += " Reason: " + a.Comment
		}
		return x.completeTool(ctx, s, call, out)
	case engram.StepWaiting:
		return x.waitUntil(ctx, s, call)
	case engram.StepAwaitingApproval:
		x.r.Status = engram.StatusRequiresAction
		return errPaused
	}
	return engram.Errorf(engram.EInternal, "step %d of %s is %s", s.N, x.r.ID, s.Status)
}

func (x *run) stepForCall(callID string) *engram.Step {
	for i := len(x.steps) - 1; i >= 0; i-- {
		if s := x.steps[i]; s.Kind == engram.StepTool && s.CallID == callID {
			return s
		}
	}
	return nil
}

// askApproval pauses the run with an mcp_approval_request for the call.
func (x *run) askApproval(ctx context.Context, s *engram.Step, call *engram.Item, reason string) error {
	req := &engram.Item{ID: engram.NewID("mcpr"), Type: engram.ItemApprovalRequest, ServerLabel: "engram",
		Name: call.Name, Arguments: call.Arguments, Status: engram.StatusCompleted}
	switch {
	case reason == "outcome_unknown":
		req.Reason = "outcome_unknown: the server stopped while this call was in flight, so whether it took effect is unknown. Approve to make the call again; reject to tell the model it was not repeated."
	case reason == "policy" && s.Decision != nil:
		req.Reason = "policy: " + s.Decision.Reason + " (" + strings.Join(s.Decision.Policies, ", ") + ")"
	}
	s.Status = engram.StepAwaitingApproval
	s.Approval = &engram.Approval{RequestID: req.ID, Reason: reason}
	s.Output = append(s.Output, req)
	x.addOutput(req)
	x.emitItem(req)
	if err := x.saveStep(ctx, s); err != nil {
		return err
	}
	x.r.Status = engram.StatusRequiresAction
	return errPaused
}

// callTool journals the call as started, makes it, and records its output.
func (x *run) callTool(ctx context.Context, s *engram.Step, spec *engram.ToolSpec, call *engram.Item) error {
	s.Status = engram.StepStarted
	if err := x.saveStep(ctx, s); err != nil {
		return err
	}
	t := x.rt.toolFor(spec)
	if t == nil {
		return engram.Errorf(engram.EInternal, "tool %s is not available", call.Name)
	}
	args := json.RawMessage(call.Arguments)
	if !json.Valid(args) {
		args = json.RawMessage("null")
	}
	if strings.HasPrefix(call.Name, "memory_block_") {
		x.blocksEdited = true
	}
	out, err := t.Call(ctx, engram.ToolCall{
		ProjectID: x.p.projectID, ConversationID: x.r.ConversationID, ResponseID: x.r.ID, AgentID: x.r.AgentID, Blocks: x.p.blockIDs(),
		User: x.r.User, CallID: call.CallID, Arguments: args, IdempotencyKey: s.IdempotencyKey,
		Connector: spec.Connector,
	})
	// The tool's refusals (bad arguments; a guard or a missing credential
	// saying no) are answers the model can act on; the run goes on.
	// Anything else fails the run.
	outcome, details, fatal := engram.AuditSuccess, map[string]any{"step": s.N}, false
	if err != nil {
		details["error"] = engram.ErrorMessage(err)
		switch engram.ErrorCode(err) {
		case engram.EInvalid:
			outcome = engram.AuditFailure
		case engram.EForbidden:
			outcome = engram.AuditRefused
		default:
			outcome, fatal = engram.AuditFailure, true
			s.Status, s.Error, s.CompletedAt = engram.StepFailed, engram.ErrorMessage(err), engram.Now()
			x.dirty = s
		}
		out = "error: " + engram.ErrorMessage(err)
	}
	// Recorded before the step completes: if the record cannot be made,
	// the step stays in flight and a resumed run treats the call as one
	// whose outcome is unknown, rather than a call nobody can account for.
	if err := x.audit(ctx, "tool.call", call.Name, outcome, call, details); err != nil {
		return err
	}
	if fatal {
		return fmt.Errorf("tool %s: %w", call.Name, err)
	}
	return x.completeTool(ctx, s, call, out)
}

// authorize puts a new call to the project's policies and records the
// decision. A decision that cannot be recorded is not acted on: the run
// stops as it does when the store is unavailable, and resumes later.
func (x *run) authorize(ctx context.Context, spec *engram.ToolSpec, call *engram.Item) (*engram.Decision, error) {
	if x.rt.Authorizer == nil {
		return &engram.Decision{Effect: engram.DecisionAllow, Reason: "no authorizer configured"}, nil
	}
	req := &engram.ToolRequest{ProjectID: x.p.projectID, AgentID: x.r.AgentID, User: x.r.User, KeyID: x.r.KeyID, Role: x.r.KeyRole, ResponseID: x.r.ID,
		Tool: call.Name, ToolType: spec.Type, Connector: spec.Connector, Arguments: json.RawMessage(call.Arguments), Declared: true}
	if x.p.agent != nil {
		req.AgentName = x.p.agent.Name
	}
	d, err := x.rt.Authorizer.AuthorizeTool(ctx, req)
	if err != nil {
		if engram.ErrorCode(err) == engram.EUnavailable {
			x.storeDown.Store(true)
		}
		return nil, fmt.Errorf("authorizing tool %s: %w", call.Name, err)
	}
	details := map[string]any{"policies": d.Policies, "reason": d.Reason}
	if err := x.audit(ctx, "policy.decide", call.Name, d.Effect, call, details); err != nil {
		return nil, err
	}
	return d, nil
}

// audit records one entry about a call of the run.
func (x *run) audit(ctx context.Context, action, resource, outcome string, call *engram.Item, details map[string]any) error {
	details["response_id"], details["call_id"] = x.r.ID, call.CallID
	actor := "agent:" + x.r.AgentID
	if x.r.User != "" {
		actor += " user:" + x.r.User
	}
	e := &engram.AuditEntry{ProjectID: x.p.projectID, Actor: actor, Action: action, Resource: resource, Outcome: outcome, Details: engram.AuditDetails(details)}
	if err := engram.RecordAudit(ctx, x.rt.Audit, e); err != nil {
		// Fail closed, as for the store: the run stays where it was last
		// journaled and resumes when the audit log takes writes again.
		x.storeDown.Store(true)
		return engram.Errorf(engram.EUnavailable, "recording %s for %s in the audit log: %s", action, resource, engram.ErrorMessage(err))
	}
	return nil
}

// completeTool records a tool call's output in the step and the run.
func (x *run) completeTool(ctx context.Context, s *engram.Step, call *engram.Item, out string) error {
	item := &engram.Item{ID: engram.NewID("fco"), Type: engram.ItemFunctionCallOutput, CallID: call.CallID,
		Output: out, Status: engram.StatusCompleted}
	s.Output = append(s.Output, item)
	s.Status, s.CompletedAt = engram.StepCompleted, engram.Now()
	x.addOutput(item)
	x.emitItem(item)
	x.toolRun++
	return x.saveStep(ctx, s)
}

// waitUntil sleeps the run durably until the time the model asked for:
// the run lets go of its worker and costs nothing until then.
func (x *run) waitUntil(ctx context.Context, s *engram.Step, call *engram.Item) error {
	if s.Status != engram.StepWaiting {
		at, err := tool.ParseWaitUntil(json.RawMessage(call.Arguments), time.Now())
		if err != nil {
			return x.completeTool(ctx, s, call, "error: "+engram.ErrorMessage(err))
		}
		s.Status, s.WakeAt = engram.StepWaiting, at.Unix()
	}
	if now := time.Now().Unix(); now < s.WakeAt {
		if err := x.saveStep(ctx, s); err != nil {
			return err
		}
		x.r.WakeAt = s.WakeAt
		return errPaused
	}
	x.r.WakeAt = 0
	return x.completeTool(ctx, s, call, fmt.Sprintf(`{"waited_until":%q,"now":%q}`,
		time.Unix(s.WakeAt, 0).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)))
}

// toolFor returns the implementation of a server-side tool.
func (rt *Runtime) toolFor(spec *engram.ToolSpec) engram.Tool {
	switch spec.Type {
	case engram.ToolBuiltin:
		t := rt.Tools.Get(spec.Name)
		if b, ok := t.(tool.SpecBound); ok {
			return b.WithSpec(*spec)
		}
		return t
	case engram.ToolHTTP:
		return &tool.HTTP{Def: *spec, Client: rt.HTTPClient}
	case engram.ToolMCP:
		if rt.MCP != nil {
			return mcpTool{tools: rt.MCP, spec: *spec}
		}
	}
	return nil
}

// mcpTool is one tool of an MCP server, called through the runtime's MCP
// pool. A server lost during a call is EUnavailable, which fails the run
// (whether the server acted is unknown); the tool's own failures are
// results the model reads.
type mcpTool struct {
	tools engram.MCPTools
	spec  engram.ToolSpec
}

func (t mcpTool) Spec() engram.ToolSpec { return t.spec }

func (t mcpTool) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	return t.tools.Call(ctx, call, t.spec)
}

// blockIDs are the memory blocks the run's agent sees.
func (p *plan) blockIDs() []string {
	if p.agent == nil {
		return nil
	}
	ids := make([]string, 0, len(p.agent.Memory.Blocks))
	for _, b := range p.agent.Memory.Blocks {
		if b.ID != "" {
			ids = append(ids, b.ID)
		}
	}
	return ids
}
