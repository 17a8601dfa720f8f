package engram

import (
	"context"
	"encoding/json"
)

// Response statuses, as in OpenAI's Responses API.
const (
	StatusQueued         = "queued"
	StatusInProgress     = "in_progress"
	StatusCompleted      = "completed"
	StatusFailed         = "failed"
	StatusCancelled      = "cancelled"
	StatusIncomplete     = "incomplete"
	StatusRequiresAction = "requires_action"
)

// Response is one turn of work (a run): input items, then model and tool
// calls in a loop, then output items.
type Response struct {
	ID                 string          `json:"id"`
	ProjectID          string          `json:"-"`
	ConversationID     string          `json:"-"` // the log the run appends to (hidden for chains)
	Conversation       string          `json:"-"` // the conversation the caller named, if any
	PreviousResponseID string          `json:"previous_response_id,omitempty"`
	AgentID            string          `json:"-"`
	AgentVersion       int             `json:"-"`
	Model              string          `json:"model"` // as requested: provider/model or agent/NAME
	Instructions       string          `json:"instructions,omitempty"`
	Tools              []ToolSpec      `json:"tools,omitempty"`
	ToolChoice         json.RawMessage `json:"tool_choice,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"top_p,omitempty"`
	MaxOutputTokens    int             `json:"max_output_tokens,omitempty"`
	MaxToolCalls       int             `json:"max_tool_calls,omitempty"`
	ParallelToolCalls  bool            `json:"parallel_tool_calls"`
	Truncation         string          `json:"truncation,omitempty"`
	// CompactThreshold > 0 turns compaction on for the run (the request's
	// context_management, or the agent's policy): see ContextPolicy.
	CompactThreshold int               `json:"compact_threshold,omitempty"`
	PromptCacheKey   string            `json:"prompt_cache_key,omitempty"`
	Store            bool              `json:"store"`
	Background       bool              `json:"background"`
	User             string            `json:"user,omitempty"`
	Metadata         map[string]string `json:"metadata"`
	Status           string            `json:"status"`
	Error            *ResponseError    `json:"error,omitempty"`
	IncompleteReason string            `json:"-"` // max_output_tokens, max_tool_calls, …
	Output           []*Item           `json:"output"`
	// BaseSeq is the seq of the last item of ConversationID the run saw when
	// it started. For a hidden conversation CreateResponse fails with
	// EConflict when the log has moved on since (a concurrent continuation
	// of the same response): the runtime then forks instead.
	BaseSeq int64 `json:"-"`
	// LastSeq is the seq of the last item the response appended.
	LastSeq int64 `json:"-"`
	// Concurrency is what the run did on finding its conversation busy
	// (ConcurrencyReject, …); Limits bound it (the request's and the
	// agent's, the tighter of each).
	Concurrency string    `json:"-"`
	Limits      RunLimits `json:"-"`
	// KeyID and KeyRole are the API key that started the run, for the
	// policies deciding its tool calls (principal.key, principal.role);
	// "" for runs no key started (schedules).
	KeyID, KeyRole string `json:"-"`
	// Lease is the worker's claim while the run executes; WakeAt (Unix
	// seconds) is when a run sleeping in wait_until resumes; StartedAt
	// (Unix seconds) is when it left the queue.
	Lease           Lease  `json:"-"`
	WakeAt          int64  `json:"-"`
	StartedAt       int64  `json:"-"`
	CancelRequested bool   `json:"-"`
	Usage           *Usage `json:"usage,omitempty"`
	CreatedAt       int64  `json:"created_at"`
	CompletedAt     int64  `json:"completed_at,omitempty"`
}

// ResponseError is why a response failed.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Usage counts tokens. StatelessInputTokens is what a stateless client would
// have sent for the same turn (the whole history again), so that what the
// runtime saves is measured rather than claimed.
type Usage struct {
	InputTokens          int  `json:"input_tokens"`
	CachedTokens         int  `json:"cached_tokens"`
	CacheWriteTokens     int  `json:"cache_write_tokens,omitempty"` // input written to the provider's cache (Anthropic's cache_creation_input_tokens)
	OutputTokens         int  `json:"output_tokens"`
	ReasoningTokens      int  `json:"reasoning_tokens"`
	TotalTokens          int  `json:"total_tokens"`
	StatelessInputTokens int  `json:"stateless_input_tokens"`
	Estimated            bool `json:"estimated,omitempty"` // counted offline, the provider gave none
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.InputTokens += o.InputTokens
	u.CachedTokens += o.CachedTokens
	u.CacheWriteTokens += o.CacheWriteTokens
	u.OutputTokens += o.OutputTokens
	u.ReasoningTokens += o.ReasoningTokens
	u.TotalTokens += o.TotalTokens
	u.StatelessInputTokens += o.StatelessInputTokens
	u.Estimated = u.Estimated || o.Estimated
}

// UsageRecord is one model call's usage, kept for accounting.
type UsageRecord struct {
	ID             string `json:"id"`
	ProjectID      string `json:"-"`
	ResponseID     string `json:"response_id"`
	ConversationID string `json:"conversation_id"`
	AgentID        string `json:"agent_id,omitempty"`
	User           string `json:"user,omitempty"`
	Provider       string `json:"provider"`
	Model          string `json:"model"`
	Usage
	CreatedAt int64 `json:"created_at"`
}

// UsageFilter selects usage records to total, and how to group them.
type UsageFilter struct {
	// GroupBy is "project" (one total), "agent", "conversation", "user"
	// or "model".
	GroupBy        string
	AgentID        string
	ConversationID string
	User           string
	From, To       int64 // Unix seconds, To exclusive; 0: unbounded
	Limit          int   // groups, biggest first
}

// UsageTotal sums the usage of one group. Saved is what keeping state
// saved against a stateless client that re-sends the whole history:
// StatelessInputTokens - InputTokens.
type UsageTotal struct {
	Group      string `json:"group"` // the agent, conversation, user or model; "" for the project
	ModelCalls int    `json:"model_calls"`
	Responses  int    `json:"responses"`
	Usage
	SavedInputTokens int     `json:"saved_input_tokens"`
	SavedRatio       float64 `json:"saved_ratio"` // Saved / StatelessInputTokens
}

// StreamEvent is one event of a response's stream. Type is the OpenAI event
// name (response.created, response.output_text.delta, …); the fields used
// depend on it. The http layer numbers the events and writes OpenAI's JSON.
type StreamEvent struct {
	Seq          int64 // its place in the response's stream, from 0
	Type         string
	Response     *Response // response.created, .in_progress, .completed, .failed, .incomplete
	OutputIndex  int
	ContentIndex int
	Item         *Item    // output_item.added / .done
	Part         *Content // content_part.added / .done
	Delta        string   // *.delta
	Text         string   // output_text.done, refusal.done
	Arguments    string   // function_call_arguments.done
}

// Stream event types produced by the runtime.
const (
	EventResponseCreated    = "response.created"
	EventResponseInProgress = "response.in_progress"
	EventResponseCompleted  = "response.completed"
	EventResponseFailed     = "response.failed"
	EventResponseIncomplete = "response.incomplete"
	// Engram's extensions: a run stopped for a person, and a run cancelled
	// (OpenAI's API defines neither event).
	EventResponseRequiresAction    = "response.requires_action"
	EventResponseCancelled         = "response.cancelled"
	EventOutputItemAdded           = "response.output_item.added"
	EventOutputItemDone            = "response.output_item.done"
	EventContentPartAdded          = "response.content_part.added"
	EventContentPartDone           = "response.content_part.done"
	EventOutputTextDelta           = "response.output_text.delta"
	EventOutputTextDone            = "response.output_text.done"
	EventRefusalDelta              = "response.refusal.delta"
	EventRefusalDone               = "response.refusal.done"
	EventFunctionCallArgsDelta     = "response.function_call_arguments.delta"
	EventFunctionCallArgsDone      = "response.function_call_arguments.done"
	EventReasoningSummaryPartAdded = "response.reasoning_summary_part.added"
	EventReasoningSummaryPartDone  = "response.reasoning_summary_part.done"
	EventReasoningSummaryDelta     = "response.reasoning_summary_text.delta"
	EventReasoningSummaryDone      = "response.reasoning_summary_text.done"
)

// ResponseRequest is a decoded POST /v1/responses: what a caller asks for,
// before the runtime resolves the agent, model and conversation.
type ResponseRequest struct {
	Model              string // provider/model, a bare model name, or agent/NAME
	Agent              string // agent id or name (Engram extension)
	Input              []*Item
	Instructions       *string
	PreviousResponseID string
	Conversation       string
	Tools              []ToolSpec
	ToolChoice         json.RawMessage
	Temperature        *float64
	TopP               *float64
	MaxOutputTokens    int
	MaxToolCalls       int
	ParallelToolCalls  *bool
	Truncation         string
	// ContextManagement is OpenAI's context_management: a compaction
	// entry turns server-side compaction on at its threshold.
	ContextManagement []ContextManagement
	Store             *bool
	Stream            bool
	Background        bool
	User              string
	KeyID, KeyRole    string // the API key making the request (see Response.KeyID)
	Metadata          map[string]string
	PromptCacheKey    string
	Concurrency       string    // Engram extension: reject, enqueue (default) or interrupt
	Limits            RunLimits // Engram extension
}

// ContextManagement is one entry of a request's context_management.
type ContextManagement struct {
	Type             string `json:"type"` // "compaction"
	CompactThreshold int    `json:"compact_threshold,omitempty"`
}

// IsTerminal reports whether a response status is final.
func IsTerminal(status string) bool {
	switch status {
	case StatusCompleted, StatusFailed, StatusCancelled, StatusIncomplete:
		return true
	}
	return false
}

// RunEnd is what FinishResponse records with a response's final state.
type RunEnd struct {
	Output []*Item
	Usage  []*UsageRecord
	Step   *Step // the run's last step, saved in the same transaction; may be nil
	Lease  Lease // the lease the run ends under; zero for a run nobody holds (queued or paused)
	Events []StoredEvent
}

// ResponseService runs responses.
type ResponseService interface {
	// CreateResponse runs a response to its end (completed, incomplete,
	// failed, cancelled), or until it stops for client tool calls or a
	// person's approval, calling emit with every stream event in order when
	// emit is not nil. A background request returns once the run is
	// stored. An error before the run starts (bad request, unknown ids, a
	// busy conversation under the reject policy) is returned as an *Error
	// and nothing is stored; a failure during the run is recorded in the
	// returned response (status failed) and also returned as an error.
	CreateResponse(ctx context.Context, projectID string, req *ResponseRequest, emit func(StoredEvent)) (*Response, error)
	// Stream sends a response's stream events after seq after (-1 for
	// all), live while it runs, until it ends or pauses.
	Stream(ctx context.Context, projectID, id string, after int64, send func(StoredEvent) error) error
	// Cancel asks a response to stop (see RunStore.RequestCancel).
	Cancel(ctx context.Context, projectID, id string) (*Response, error)
	// Approve answers one approval request of a paused response.
	Approve(ctx context.Context, projectID, id string, a Approval) (*Response, error)
	// Compact summarises a context (the request's input after its
	// previous response or conversation) into a compaction item followed
	// by the newest items kept word for word: OpenAI's
	// /v1/responses/compact. Given a conversation, the compaction item is
	// also appended to its log, so its next turns start from it.
	Compact(ctx context.Context, projectID string, req *ResponseRequest) (*Compaction, error)
	// CountInputTokens counts the input tokens the request's first model
	// call would send, as the context engine would build it.
	CountInputTokens(ctx context.Context, projectID string, req *ResponseRequest) (int, error)
}

// Compaction is the answer of Compact.
type Compaction struct {
	ID        string  `json:"id"`
	CreatedAt int64   `json:"created_at"`
	Output    []*Item `json:"output"`
	Usage     Usage   `json:"usage"`
}
