package engram

import (
	"context"
	"encoding/json"
)

// Provider is a model API: OpenAI, Anthropic, an OpenAI-compatible server,
// or the scripted test model. Adapters translate ModelRequest to their wire
// format and their answer back to items.
type Provider interface {
	// Name is the prefix that selects the provider in a model name
	// ("openai" in "openai/gpt-5.1").
	Name() string

	// Generate runs one model call. While the model answers it calls emit
	// with each event in order (emit may be nil when nobody listens); when the
	// call ends it returns the complete result. A failure returns an *Error:
	// EUpstream for a provider error or garbage, EUpstreamTimeout when the
	// provider did not answer in time, ERateLimited when retries ran out on
	// 429s. Adapters retry 429 and 5xx themselves before giving up.
	Generate(ctx context.Context, req *ModelRequest, emit func(ModelEvent)) (*ModelResult, error)
}

// ModelLister is a Provider that can say which models it serves, for
// GET /v1/models. It is optional: a provider that cannot enumerate its
// models (or an upstream that does not say) still serves any model named.
type ModelLister interface {
	// Models returns the provider's own names of its models, without the
	// provider prefix.
	Models(ctx context.Context) ([]string, error)
}

// ModelRequest is one call to a model: everything it reads.
type ModelRequest struct {
	Model           string // without the provider prefix
	Instructions    string // system prompt: the stable head of the prompt
	Input           []*Item
	Tools           []ToolSpec // function-shaped schemas, builtins included
	ToolChoice      json.RawMessage
	Temperature     *float64
	TopP            *float64
	MaxOutputTokens int
	// CacheKey groups calls that share a prompt prefix so provider caches hit
	// (OpenAI prompt_cache_key; Anthropic gets cache_control breakpoints).
	CacheKey string
	User     string
	// Task is "" for a turn of the conversation, or TaskCompaction or
	// TaskExtraction when Engram asks the model to summarise or to
	// extract memories: the answer is read by Engram, not shown.
	Task string
}

// Model call tasks other than a conversation's turn.
const (
	TaskCompaction = "compaction"
	TaskExtraction = "extraction"
)

// ModelEvent is one step of a model's streamed answer. For every output item
// an adapter emits ModelItemAdded first, then deltas, then ModelItemDone with
// the complete item, with Index counting the items of this call from 0.
type ModelEvent struct {
	Type  string
	Index int
	Item  *Item  // ModelItemAdded (type, call id, name known so far) and ModelItemDone
	Delta string // text, refusal, arguments or reasoning summary delta
}

// Model event types.
const (
	ModelItemAdded      = "item_added"
	ModelTextDelta      = "text_delta"
	ModelRefusalDelta   = "refusal_delta"
	ModelArgumentsDelta = "arguments_delta"
	ModelReasoningDelta = "reasoning_delta"
	ModelItemDone       = "item_done"
)

// ModelResult is a model call's complete answer.
type ModelResult struct {
	Output     []*Item
	Usage      Usage
	StopReason string // StopEnd, StopToolCalls, StopMaxTokens, StopContentFilter
}

// Stop reasons, normalised across providers.
const (
	StopEnd           = "end"
	StopToolCalls     = "tool_calls"
	StopMaxTokens     = "max_tokens"
	StopContentFilter = "content_filter"
)

// Tool is a tool the server runs itself.
type Tool interface {
	Spec() ToolSpec
	// Call runs the tool with the model's JSON arguments and returns what
	// the model reads back. An *Error with EInvalid (bad arguments) or
	// EForbidden (a guard or a credential refusing the call) is shown to
	// the model as a tool result so it can correct itself or do without;
	// other errors fail the run.
	Call(ctx context.Context, call ToolCall) (string, error)
}

// ToolCall is one invocation of a server-side tool.
type ToolCall struct {
	ProjectID      string
	ConversationID string
	ResponseID     string
	AgentID        string
	// Blocks are the IDs of the memory blocks the agent sees, for tools
	// that edit them by label.
	Blocks    []string
	User      string
	CallID    string
	Arguments json.RawMessage
	// IdempotencyKey is stable across retries of the same call.
	IdempotencyKey string
	// Connector is the project connector the agent's tool spec names
	// (ToolSpec.Connector): one built-in tool (object_store, sql_query,
	// http_request) serves every agent, each through its own connector.
	Connector string
}
