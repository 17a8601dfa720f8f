// Package runtime runs responses: it resolves the agent, model and
// conversation of a request, builds the model's input from the log, calls
// the model, runs server-side tools, and records everything in the store.
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/memory"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/tokens"
	"github.com/engram-run/engram/tool"
)

// Runtime implements engram.ResponseService.
type Runtime struct {
	Store     engram.Store
	Providers *provider.Registry
	Tools     *tool.Registry
	Logger    *slog.Logger

	// MaxToolCalls bounds the server-side tool calls of one response when
	// neither the request nor the agent sets a limit.
	MaxToolCalls int
	// MaxModelCalls bounds the model calls of one response.
	MaxModelCalls int
	// MaxSteps bounds the steps of one response when neither the request
	// nor the agent sets a limit.
	MaxSteps int
	// MaxWindowItems bounds the items read for one context window.
	MaxWindowItems int

	// Node names this process in run leases; it must be stable across
	// restarts (so a restarted node takes its runs back at once) and
	// unique among the nodes sharing a store.
	Node string
	// LeaseDuration is how long a claim on a run lasts without renewal:
	// how long a dead node's runs wait before another node resumes them.
	LeaseDuration time.Duration
	// PollInterval is how often the pool looks for ready runs it was not
	// told about (woken sleepers, other nodes' leftovers).
	PollInterval time.Duration
	// Workers bounds the runs the pool executes at once.
	Workers int
	// CancelWait is how long Cancel waits for a running run to stop.
	CancelWait time.Duration
	// EncodeEvent turns a stream event into its wire form, stored and
	// sent as is when a client resumes a stream.
	EncodeEvent func(engram.StreamEvent) []byte
	// HTTPClient makes the calls of HTTP tools.
	HTTPClient *http.Client
	// MCP lists and calls the tools of the projects' MCP servers (agent
	// tools of type mcp); nil: agents cannot declare such tools.
	MCP engram.MCPTools
	// Memory recalls records and past messages for each turn, and
	// receives what extraction passes find; nil: neither happens.
	Memory engram.MemoryService
	// ExtractTimeout bounds one extraction pass.
	ExtractTimeout time.Duration
	// RetentionInterval is how often retention purges (0 or less: never);
	// RetentionBatch bounds the rows one purge transaction deletes, and
	// RetentionMaxBatches the batches of one kind in one project per pass.
	RetentionInterval   time.Duration
	RetentionBatch      int
	RetentionMaxBatches int
	// Authorizer decides every server-side tool call before it is made
	// (deny: the model reads the refusal; ask: a person approves first);
	// nil allows every call.
	Authorizer engram.Authorizer
	// Audit records tool calls, policy decisions and purges; nil records nothing.
	Audit engram.Auditor

	// Bus carries stream events between the nodes sharing the store, so a
	// client on one node follows a run on another live; nil: such a client
	// follows it through the store, a poll at a time. Set before Start.
	Bus engram.EventBus
	// Prices price model usage for budgets' dollar caps (a model with no
	// price costs 0); Clock tells the time budget periods are counted in
	// (time.Now when nil; tests set it).
	Prices engram.Prices
	Clock  func() time.Time
	// BudgetCacheTTL is how long a budget's spend read from the store is
	// reused (with this node's runs added as they end) before it is read
	// again; 0 reads it on every model call.
	BudgetCacheTTL time.Duration

	windows *windowCache
	spends  *spendCache
	guards  sync.Map // agent id.vN → *guardrails, compiled
	broker  *broker
	live    sync.Map // response id → *run executing here
	// cancelling holds the ids Cancel is waiting on, for a run that
	// registers in live after Cancel looked there.
	cancelling sync.Map
	wake       chan struct{}
	// extractWake tells the extractor a turn made a pass due.
	extractWake chan struct{}

	mu       sync.Mutex
	runCtx   context.Context
	stopRuns context.CancelFunc
	workers  sync.WaitGroup
}

// New returns a runtime with default limits.
func New(store engram.Store, providers *provider.Registry, tools *tool.Registry, logger *slog.Logger) *Runtime {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runtime{Store: store, Providers: providers, Tools: tools, Logger: logger,
		MaxToolCalls: 32, MaxModelCalls: 64, MaxSteps: 256, MaxWindowItems: 4096,
		Node: "local", LeaseDuration: 15 * time.Second, PollInterval: time.Second, Workers: 32, CancelWait: 2 * time.Second,
		RetentionInterval: time.Hour, RetentionBatch: 1000, RetentionMaxBatches: 1000,
		EncodeEvent:    func(ev engram.StreamEvent) []byte { b, _ := json.Marshal(ev); return b },
		ExtractTimeout: 2 * time.Minute, Prices: engram.DefaultPrices,
		windows: newWindowCache(4096), spends: newSpendCache(), BudgetCacheTTL: 2 * time.Second, broker: newBroker(), wake: make(chan struct{}, 1), extractWake: make(chan struct{}, 1)}
}

var _ engram.ResponseService = (*Runtime)(nil)

// plan is a request resolved against the store: everything a run needs.
type plan struct {
	projectID string
	req       *engram.ResponseRequest
	agent     *engram.Agent
	provider  engram.Provider
	model     string // the provider's own name for it
	tools     []engram.ToolSpec
	persist   bool
	conv      *engram.Conversation // the log the run appends to; nil when persist is false and there is none
	forkFrom  *engram.Conversation // the parent, when conv is a fork made for this run
	newConv   bool                 // conv is a new log, created with the response
	history   []*engram.Item       // the window of earlier items, oldest first
	blocks    string               // the agent's memory blocks, rendered
	budget    int                  // input tokens for one call
}

// CreateResponse implements engram.ResponseService.
func (rt *Runtime) CreateResponse(ctx context.Context, projectID string, req *engram.ResponseRequest, emit func(engram.StoredEvent)) (*engram.Response, error) {
	input := req.Input
	tokens.Stamp(input)
	if answersApproval(input) {
		return rt.answerApprovals(ctx, projectID, req, emit)
	}
	p, err := rt.plan(ctx, projectID, req)
	if err != nil {
		return nil, err
	}
	if err := rt.filterInput(p, input); err != nil {
		return nil, err
	}
	r := p.newResponse()
	if p.conv != nil {
		fixed := tokens.Stable(p.instructions()) + toolTokens(p.tools) + tokens.Items(input)
		if err := rt.readHistory(ctx, p, r, p.conv.LastSeq, fixed, true); err != nil {
			return nil, err
		}
	}
	if err := provider.CheckInput(p.provider, input); err != nil {
		return nil, err
	}
	if err := checkToolOutputs(p.history, input); err != nil {
		return nil, err
	}
	if err := checkDuplicates(p.history, input); err != nil {
		return nil, err
	}
	for _, it := range input {
		// Each entry of a log is its own item: a re-sent one is a new entry.
		it.ID = ""
	}
	if !p.persist {
		return rt.execute(rt.newRun(p, r, engram.Lease{}, input, nil, emit), true)
	}
	var lease engram.Lease
	var first *engram.Step
	if !req.Background {
		// The first model call is journaled with the response itself.
		lease = rt.newLease()
		first = &engram.Step{ResponseID: r.ID, ProjectID: projectID, N: 1, Kind: engram.StepModel,
			Status: engram.StepStarted, StartedAt: engram.Now()}
	}
	r.Lease = lease
	if err := rt.begin(ctx, p, r, input, first); err != nil {
		return nil, err
	}
	if r.Status == engram.StatusQueued || req.Background {
		// A worker runs it: now (background) or when the conversation's
		// active run ends.
		rt.wakePool()
		if req.Background && !req.Stream {
			return r, nil
		}
		return rt.await(ctx, projectID, r.ID, emit)
	}
	x := rt.newRun(p, r, lease, input, []*engram.Step{first}, emit)
	x.stored = first
	return rt.execute(x, true)
}

// await follows a run executing elsewhere (a worker here or another node)
// until it ends or pauses, passing its events on, and returns it.
func (rt *Runtime) await(ctx context.Context, projectID, id string, emit func(engram.StoredEvent)) (*engram.Response, error) {
	err := rt.Stream(ctx, projectID, id, -1, func(ev engram.StoredEvent) error {
		if emit != nil {
			emit(ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rt.Store.GetResponse(ctx, projectID, id)
}

// answersApproval reports whether the input answers approval requests.
func answersApproval(input []*engram.Item) bool {
	for _, it := range input {
		if it.Type == engram.ItemApprovalResponse {
			return true
		}
	}
	return false
}

// answerApprovals applies mcp_approval_response input items to the paused
// run they answer (named by previous_response_id), which then resumes; the
// call returns that run when it ends or pauses again.
func (rt *Runtime) answerApprovals(ctx context.Context, projectID string, req *engram.ResponseRequest, emit func(engram.StoredEvent)) (*engram.Response, error) {
	if req.PreviousResponseID == "" {
		return nil, engram.ParamErrorf(engram.EInvalid, "previous_response_id",
			"mcp_approval_response items answer the response that asked: send them with its id as previous_response_id (or use POST /v1/responses/{id}/approvals).")
	}
	for _, it := range req.Input {
		if it.Type != engram.ItemApprovalResponse {
			return nil, engram.ParamErrorf(engram.EInvalid, "input", "Send mcp_approval_response items on their own; other input (%s) belongs in the next response.", it.Type)
		}
		if it.Approve == nil || it.ApprovalRequestID == "" {
			return nil, engram.ParamErrorf(engram.EInvalid, "input", "An mcp_approval_response needs approval_request_id and approve.")
		}
	}
	prev, err := rt.Store.GetResponse(ctx, projectID, req.PreviousResponseID)
	if err != nil {
		return nil, engram.ParamErrorf(engram.ENotFound, "previous_response_id", "Previous response with id '%s' not found.", req.PreviousResponseID)
	}
	if req.User != "" && prev.User != "" && req.User != prev.User {
		return nil, engram.ParamErrorf(engram.ENotFound, "previous_response_id", "Previous response with id '%s' not found.", req.PreviousResponseID)
	}
	events, err := rt.Store.ListEvents(ctx, projectID, prev.ID, -1)
	if err != nil {
		return nil, err
	}
	from := int64(-1)
	if len(events) > 0 {
		from = events[len(events)-1].Seq
	}
	for _, it := range req.Input {
		a := engram.Approval{RequestID: it.ApprovalRequestID, Approve: *it.Approve, Comment: it.Reason, Decider: req.User}
		if _, err := rt.Store.DecideApproval(ctx, projectID, prev.ID, a); err != nil {
			return nil, err
		}
	}
	rt.wakePool()
	err = rt.Stream(ctx, projectID, prev.ID, from, func(ev engram.StoredEvent) error {
		if emit != nil {
			emit(ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rt.Store.GetResponse(ctx, projectID, prev.ID)
}

// plan resolves agent, model, tools and conversation.
func (rt *Runtime) plan(ctx context.Context, projectID string, req *engram.ResponseRequest) (*plan, error) {
	p := &plan{projectID: projectID, req: req, persist: req.Store == nil || *req.Store}
	if req.Conversation != "" && req.PreviousResponseID != "" {
		return nil, engram.ParamErrorf(engram.EInvalid, "previous_response_id",
			"previous_response_id and conversation cannot be used together")
	}

	// The conversation comes first: it may name the agent.
	var prev *engram.Response
	switch {
	case req.Conversation != "":
		c, err := rt.Store.GetConversation(ctx, projectID, req.Conversation)
		if engram.ErrorCode(err) == engram.EUnavailable {
			return nil, err // the store is away for now (503), not the conversation (404)
		}
		if err != nil || c.Hidden || (c.User != "" && req.User != "" && c.User != req.User) {
			return nil, engram.ParamErrorf(engram.ENotFound, "conversation", "Conversation with id '%s' not found.", req.Conversation)
		}
		p.conv = c
	case req.PreviousResponseID != "":
		r, err := rt.Store.GetResponse(ctx, projectID, req.PreviousResponseID)
		if err != nil {
			return nil, engram.ParamErrorf(engram.ENotFound, "previous_response_id", "Previous response with id '%s' not found.", req.PreviousResponseID)
		}
		switch r.Status {
		case engram.StatusInProgress, engram.StatusQueued:
			return nil, engram.ParamErrorf(engram.EConflict, "previous_response_id",
				"Previous response '%s' is still %s; continue from it once it has finished.", r.ID, r.Status)
		case engram.StatusRequiresAction:
			return nil, engram.ParamErrorf(engram.EConflict, "previous_response_id",
				"Previous response '%s' is waiting for approval: answer it with mcp_approval_response items (or POST /v1/responses/%s/approvals) first.", r.ID, r.ID)
		}
		c, err := rt.Store.GetConversation(ctx, projectID, r.ConversationID)
		if err != nil {
			return nil, err
		}
		prev = r
		if c.Hidden && c.LastSeq == r.LastSeq {
			p.conv = c // the chain's tip: continue it in place
		} else {
			// Continuing from inside a log (or from a named conversation, which
			// a chain must not write into): branch off without copying.
			p.forkFrom = c
			p.conv = &engram.Conversation{ID: engram.NewID("conv"), ProjectID: projectID, Hidden: true,
				AgentID: c.AgentID, User: c.User, ForkOf: c.ID, ForkSeq: r.LastSeq, LastSeq: r.LastSeq,
				Metadata: map[string]string{}}
		}
	}

	if req.User == "" && p.conv != nil && p.conv.User != "" {
		// A conversation is its user's: a turn that names nobody acts for
		// them (recall, memory tools and extraction read their memory).
		r := *req
		r.User = p.conv.User
		p.req, req = &r, &r
	}
	if err := rt.resolveAgent(ctx, p, prev); err != nil {
		return nil, err
	}
	if err := rt.loadBlocks(ctx, p); err != nil {
		return nil, err
	}
	if p.conv == nil && p.persist {
		p.conv = &engram.Conversation{ID: engram.NewID("conv"), ProjectID: projectID, Hidden: true,
			User: req.User, Metadata: map[string]string{}}
		p.newConv = true
		if p.agent != nil {
			p.conv.AgentID = p.agent.ID
		}
	}
	if err := rt.resolveTools(p); err != nil {
		return nil, err
	}
	if err := rt.expandMCP(ctx, p); err != nil {
		return nil, err
	}

	maxOut := req.MaxOutputTokens
	agentBudget := 0
	if p.agent != nil {
		agentBudget = p.agent.Context.BudgetTokens
	}
	p.budget = inputBudget(p.model, agentBudget, maxOut)

	return p, nil
}

func (rt *Runtime) resolveAgent(ctx context.Context, p *plan, prev *engram.Response) error {
	req := p.req
	agentRef := req.Agent
	model := req.Model
	if name, ok := strings.CutPrefix(model, "agent/"); ok {
		if agentRef != "" && agentRef != name {
			return engram.ParamErrorf(engram.EInvalid, "agent", "model names agent %q but agent is %q", name, agentRef)
		}
		agentRef, model = name, ""
	}
	if agentRef == "" && model == "" {
		// Continue with the agent or model the conversation was using.
		switch {
		case p.conv != nil && p.conv.AgentID != "":
			agentRef = p.conv.AgentID
		case prev != nil && prev.AgentID != "":
			agentRef = prev.AgentID
		case prev != nil:
			model = prev.Model
		default:
			return engram.ParamErrorf(engram.EInvalid, "model", "model is required: name a model (e.g. scripted/echo, openai/gpt-5.1) or an agent (agent/NAME)")
		}
	}
	if agentRef != "" {
		a, err := rt.Store.GetAgent(ctx, p.projectID, agentRef, 0)
		if err != nil {
			if engram.ErrorCode(err) == engram.ENotFound {
				return engram.ParamErrorf(engram.ENotFound, "model", "Agent '%s' not found.", agentRef)
			}
			return err
		}
		p.agent = a
		model = a.Model
	}
	prov, name, err := rt.Providers.Resolve(model)
	if err != nil {
		return err
	}
	p.provider, p.model = prov, name
	return nil
}

// resolveTools merges the agent's tools and the request's, checking that
// every builtin exists.
func (rt *Runtime) resolveTools(p *plan) error {
	var specs []engram.ToolSpec
	if p.agent != nil {
		specs = append(specs, p.agent.Tools...)
	}
	specs = append(specs, p.req.Tools...)
	seen := map[string]bool{}
	for i, s := range specs {
		if s.Type == engram.ToolMCP {
			// An mcp tool stands for its server's tools, which are named
			// (and checked for clashes) once listed, in expandMCP.
			if s.Connector == "" {
				return engram.ParamErrorf(engram.EInvalid, "tools", "an mcp tool needs a connector (the name of a project connector of kind mcp)")
			}
			if rt.MCP == nil {
				return engram.ParamErrorf(engram.EUnsupported, "tools", "mcp tools are not available on this server")
			}
			if seen["\x00mcp:"+s.Connector] {
				return engram.ParamErrorf(engram.EInvalid, "tools", "mcp connector %q is declared twice", s.Connector)
			}
			seen["\x00mcp:"+s.Connector] = true
			continue
		}
		if seen[s.Name] {
			return engram.ParamErrorf(engram.EInvalid, "tools", "tool %q is declared twice", s.Name)
		}
		seen[s.Name] = true
		switch s.Type {
		case engram.ToolFunction:
			if s.Name == "" {
				return engram.ParamErrorf(engram.EInvalid, "tools", "a function tool needs a name")
			}
		case engram.ToolHTTP:
			if s.URL == "" {
				return engram.ParamErrorf(engram.EInvalid, "tools", "http tool %q needs a url", s.Name)
			}
		case engram.ToolBuiltin:
			t := rt.Tools.Get(s.Name)
			if t == nil {
				return engram.ParamErrorf(engram.EInvalid, "tools", "builtin tool %q does not exist (builtins: %s)", s.Name, strings.Join(rt.Tools.Names(), ", "))
			}
			if ct, ok := t.(tool.ConnectorTool); ok && s.Connector == "" {
				return engram.ParamErrorf(engram.EInvalid, "tools", "builtin tool %q works through a project connector: name one (of kind %s) in the tool's \"connector\"",
					s.Name, strings.Join(ct.ConnectorKinds(), " or "))
			}
			if err := tool.CheckAllowedHosts(s.AllowedHosts); err != nil {
				return engram.ParamErrorf(engram.EInvalid, "tools", "tool %q: %s", s.Name, engram.ErrorMessage(err))
			}
			if b, ok := t.(tool.SpecBound); ok {
				t = b.WithSpec(s) // its description may tell the model what the agent allows
			}
			spec := t.Spec()
			if s.Description != "" {
				spec.Description = s.Description
			}
			if s.RequireApproval != "" {
				spec.RequireApproval = s.RequireApproval
			}
			// What the agent bound the tool to (toolFor gives it to the
			// tool with each call).
			spec.Connector, spec.AllowedHosts = s.Connector, s.AllowedHosts
			specs[i] = spec
		default:
			return engram.ParamErrorf(engram.EUnsupported, "tools", "tool type %q is not supported", s.Type)
		}
	}
	// An agent with memory blocks may edit them: the block tools come
	// with the blocks (they refuse read-only ones).
	if len(p.blockIDs()) > 0 {
		for _, name := range []string{"memory_block_append", "memory_block_replace"} {
			if t := rt.Tools.Get(name); t != nil && !seen[name] {
				specs = append(specs, t.Spec())
			}
		}
	}
	p.tools = specs
	return nil
}

// expandMCP replaces each mcp tool of the plan with the tools its server
// offers the run's user (from the pool's cache: no round trip once they
// are listed, until the server says they changed). A server that cannot be
// reached is EUnavailable: a new response is refused with 503, and a run a
// worker resumes waits for the next claim.
func (rt *Runtime) expandMCP(ctx context.Context, p *plan) error {
	if !slices.ContainsFunc(p.tools, func(s engram.ToolSpec) bool { return s.Type == engram.ToolMCP }) {
		return nil
	}
	out := make([]engram.ToolSpec, 0, len(p.tools))
	for _, s := range p.tools {
		if s.Type != engram.ToolMCP {
			out = append(out, s)
			continue
		}
		tools, err := rt.MCP.Tools(ctx, p.projectID, s, p.req.User)
		if err != nil {
			return err
		}
		out = append(out, tools...)
	}
	seen := make(map[string]bool, len(out))
	for _, s := range out {
		if seen[s.Name] {
			return engram.ParamErrorf(engram.EInvalid, "tools", "tool %q is declared twice (an MCP server offers a tool of the same name as another tool)", s.Name)
		}
		seen[s.Name] = true
	}
	p.tools = out
	return nil
}

// ValidateAgent checks that an agent can run: its model names a configured
// provider, its builtin tools exist, and its mcp tools name a connector on
// a runtime with MCP (their servers are not contacted: one may be down now
// and up when the agent runs, and a per-user connector has no user here).
// A well-formed agent that cannot run here is EUnprocessable.
func (rt *Runtime) ValidateAgent(a *engram.Agent) error {
	if strings.HasPrefix(a.Model, "agent/") {
		return engram.ParamErrorf(engram.EUnprocessable, "model", "An agent's model must be a model, not another agent (%s).", a.Model)
	}
	if _, _, err := rt.Providers.Resolve(a.Model); err != nil {
		return engram.ParamErrorf(engram.EUnprocessable, "model", "%s", engram.ErrorMessage(err))
	}
	p := &plan{agent: a, req: &engram.ResponseRequest{}}
	if err := rt.resolveTools(p); err != nil {
		return engram.ParamErrorf(engram.EUnprocessable, "tools", "%s", engram.ErrorMessage(err))
	}
	if _, err := compileGuardrails(a.Guardrails); err != nil {
		return err
	}
	return validateContextPolicy(rt, a.Context)
}

func validateContextPolicy(rt *Runtime, c engram.ContextPolicy) error {
	switch c.Truncation {
	case "", "auto", "disabled":
	default:
		return engram.ParamErrorf(engram.EInvalid, "context.truncation", "Invalid value for 'context.truncation': expected one of 'auto' or 'disabled', but got '%s'.", c.Truncation)
	}
	switch c.Compaction {
	case "", "auto", "off":
	default:
		return engram.ParamErrorf(engram.EInvalid, "context.compaction", "Invalid value for 'context.compaction': expected one of 'auto' or 'off', but got '%s'.", c.Compaction)
	}
	for name, n := range map[string]int{"compact_threshold": c.ThresholdTokens, "keep_tokens": c.KeepTokens, "recall_tokens": c.RecallTokens} {
		if n < 0 {
			return engram.ParamErrorf(engram.EInvalid, "context."+name, "Invalid 'context.%s': expected a positive integer.", name)
		}
	}
	if c.ThresholdTokens > 0 && c.ThresholdTokens < 1000 {
		return engram.ParamErrorf(engram.EInvalid, "context.compact_threshold", "Invalid 'context.compact_threshold': expected a value >= 1000, but got %d instead.", c.ThresholdTokens)
	}
	if c.CompactionModel != "" {
		if _, _, err := rt.Providers.Resolve(c.CompactionModel); err != nil || strings.HasPrefix(c.CompactionModel, "agent/") {
			return engram.ParamErrorf(engram.EUnprocessable, "context.compaction_model", "The compaction model '%s' is not a configured provider's model.", c.CompactionModel)
		}
	}
	return nil
}

// instructions are the stable head of every call: the agent's
// instructions, its memory blocks (which change only when edited), then
// the request's own.
func (p *plan) instructions() string {
	var parts []string
	if p.agent != nil && p.agent.Instructions != "" {
		parts = append(parts, p.agent.Instructions)
	}
	if p.blocks != "" {
		parts = append(parts, p.blocks)
	}
	if p.req.Instructions != nil && *p.req.Instructions != "" {
		parts = append(parts, *p.req.Instructions)
	}
	return strings.Join(parts, "\n\n")
}

func (p *plan) newResponse() *engram.Response {
	req := p.req
	r := &engram.Response{
		ID:                 engram.NewID("resp"),
		ProjectID:          p.projectID,
		Conversation:       req.Conversation,
		PreviousResponseID: req.PreviousResponseID,
		Model:              req.Model,
		Tools:              p.req.Tools,
		ToolChoice:         req.ToolChoice,
		Temperature:        req.Temperature,
		TopP:               req.TopP,
		MaxOutputTokens:    req.MaxOutputTokens,
		MaxToolCalls:       req.MaxToolCalls,
		ParallelToolCalls:  req.ParallelToolCalls == nil || *req.ParallelToolCalls,
		Truncation:         req.Truncation,
		PromptCacheKey:     req.PromptCacheKey,
		Concurrency:        req.Concurrency,
		Limits:             req.Limits,
		Store:              p.persist,
		Background:         req.Background,
		User:               req.User,
		KeyID:              req.KeyID,
		KeyRole:            req.KeyRole,
		Metadata:           req.Metadata,
		Status:             engram.StatusInProgress,
		Output:             []*engram.Item{},
		CreatedAt:          engram.Now(),
	}
	if req.Instructions != nil {
		r.Instructions = *req.Instructions
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	p.settleContext(r)
	if p.conv != nil {
		r.ConversationID = p.conv.ID
		r.BaseSeq = p.conv.LastSeq
	}
	if r.Concurrency == "" && p.agent != nil {
		r.Concurrency = p.agent.Concurrency
	}
	if r.Concurrency == "" {
		r.Concurrency = engram.ConcurrencyEnqueue
	}
	if p.agent != nil {
		r.AgentID, r.AgentVersion = p.agent.ID, p.agent.Version
		if r.Model == "" {
			r.Model = "agent/" + p.agent.Name
		}
		if r.User == "" && p.conv != nil {
			r.User = p.conv.User
		}
	}
	if r.Model == "" {
		r.Model = p.provider.Name() + "/" + p.model
	}
	return r
}

// checkToolOutputs refuses a function_call_output that answers no call, as
// OpenAI does: it would reach the model as an orphan and be rejected there.
func checkToolOutputs(history, input []*engram.Item) error {
	calls := map[string]bool{}
	for _, it := range history {
		if it.Type == engram.ItemFunctionCall {
			calls[it.CallID] = true
		}
	}
	for _, it := range input {
		switch it.Type {
		case engram.ItemFunctionCall:
			calls[it.CallID] = true
		case engram.ItemFunctionCallOutput:
			if !calls[it.CallID] {
				return engram.ParamErrorf(engram.EInvalid, "input", "No tool call found for function call output with call_id %s.", it.CallID)
			}
		}
	}
	return nil
}

// checkDuplicates refuses input that repeats an item of the context it
// continues (or itself), as OpenAI does: sent with previous_response_id or
// a conversation, an item already there would reach the model twice. Items
// re-sent without them (a client keeping its own history, as OpenAI's
// function-calling guide does: input += response.output) start a new log,
// where they are new entries: CreateResponse gives every input item a new
// id, so an id a client sends back never collides with the one it came
// from.
func checkDuplicates(history, input []*engram.Item) error {
	seen := make(map[string]bool, len(history)+len(input))
	for _, it := range history {
		seen[it.ID] = true
	}
	for _, it := range input {
		if it.ID == "" {
			continue
		}
		if seen[it.ID] {
			return engram.ParamErrorf(engram.EInvalid, "input", "Duplicate item found with id %s. Remove duplicate items from your input and try again.", it.ID)
		}
		seen[it.ID] = true
	}
	return nil
}

// begin records the response and its input in one transaction, creating
// the conversation first when the run starts a new log.
func (rt *Runtime) begin(ctx context.Context, p *plan, r *engram.Response, input []*engram.Item, first *engram.Step) error {
	if p.newConv {
		if err := rt.Store.CreateConversation(ctx, p.conv, nil); err != nil {
			return err
		}
	}
	if p.forkFrom != nil {
		// A fork is made when its first run is, not when it is planned: a
		// refused request, a count or a compaction leaves no trace.
		if err := rt.Store.ForkConversation(ctx, p.conv); err != nil {
			return err
		}
	}
	err := rt.Store.CreateRun(ctx, r, input, first)
	if engram.ErrorCode(err) == engram.EConflict && p.conv.Hidden && p.forkFrom == nil && p.req.PreviousResponseID != "" {
		// Another continuation of the same response won the race to the
		// tip of the chain: branch off at the point this one started from.
		fork := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.projectID, Hidden: true,
			AgentID: p.conv.AgentID, User: p.conv.User, ForkOf: p.conv.ID, ForkSeq: r.BaseSeq, LastSeq: r.BaseSeq,
			Metadata: map[string]string{}}
		if err := rt.Store.ForkConversation(ctx, fork); err != nil {
			return err
		}
		p.conv = fork
		r.ConversationID = fork.ID
		err = rt.Store.CreateRun(ctx, r, input, first)
	}
	return err
}

func toolTokens(specs []engram.ToolSpec) int { return tokens.Tools(specs) }

// toolSchemas returns what the model sees of the tools: every tool as a
// function with a JSON schema.
func toolSchemas(specs []engram.ToolSpec) []engram.ToolSpec {
	out := make([]engram.ToolSpec, len(specs))
	for i, s := range specs {
		s.Type = engram.ToolFunction
		if len(s.Parameters) == 0 {
			s.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out[i] = s
	}
	return out
}

// planFor rebuilds the plan of a stored run, for a worker that claimed it:
// the agent version and tools it started with, its log up to its input.
func (rt *Runtime) planFor(ctx context.Context, r *engram.Response) (*plan, error) {
	persist := true
	req := &engram.ResponseRequest{Model: r.Model, Tools: r.Tools, ToolChoice: r.ToolChoice, Temperature: r.Temperature,
		TopP: r.TopP, MaxOutputTokens: r.MaxOutputTokens, MaxToolCalls: r.MaxToolCalls, Truncation: r.Truncation,
		Store: &persist, User: r.User, Metadata: r.Metadata, PromptCacheKey: r.PromptCacheKey, Concurrency: r.Concurrency, Limits: r.Limits}
	if r.Instructions != "" {
		req.Instructions = &r.Instructions
	}
	p := &plan{projectID: r.ProjectID, req: req, persist: true}
	model := r.Model
	if r.AgentID != "" {
		a, err := rt.Store.GetAgent(ctx, r.ProjectID, r.AgentID, r.AgentVersion)
		if err != nil {
			return nil, err
		}
		p.agent, model = a, a.Model
	}
	prov, name, err := rt.Providers.Resolve(model)
	if err != nil {
		return nil, err
	}
	p.provider, p.model = prov, name
	if err := rt.loadBlocks(ctx, p); err != nil {
		return nil, err
	}
	if err := rt.resolveTools(p); err != nil {
		return nil, err
	}
	if err := rt.expandMCP(ctx, p); err != nil {
		return nil, err
	}
	agentBudget := 0
	if p.agent != nil {
		agentBudget = p.agent.Context.BudgetTokens
	}
	p.budget = inputBudget(p.model, agentBudget, r.MaxOutputTokens)
	if p.conv, err = rt.Store.GetConversation(ctx, r.ProjectID, r.ConversationID); err != nil {
		return nil, err
	}
	// The run's input is in the log by now: the window read up to the
	// run's last item holds it.
	fixed := tokens.Stable(p.instructions()) + toolTokens(p.tools)
	if err := rt.readHistory(ctx, p, r, r.LastSeq, fixed, false); err != nil {
		return nil, err
	}
	return p, nil
}

func errorsIsPaused(err error) bool { return errors.Is(err, errPaused) }

// loadBlocks reads the agent's memory blocks as they are now.
func (rt *Runtime) loadBlocks(ctx context.Context, p *plan) error {
	p.blocks = ""
	ids := p.blockIDs()
	if len(ids) == 0 {
		return nil
	}
	blocks, err := rt.Store.GetBlocks(ctx, p.projectID, ids)
	if err != nil {
		return err
	}
	p.blocks = memory.RenderBlocks(blocks)
	return nil
}
