package engram

import "encoding/json"

// Agent is a named, versioned definition of how to answer: a model, its
// instructions and tools, and how much context to give it. Every change makes
// a new version; conversations and responses record the version they used.
type Agent struct {
	ID           string        `json:"id"`
	ProjectID    string        `json:"-"`
	Name         string        `json:"name"`
	Version      int           `json:"version"`
	Description  string        `json:"description,omitempty"`
	Model        string        `json:"model"`
	Instructions string        `json:"instructions,omitempty"`
	Tools        []ToolSpec    `json:"tools,omitempty"`
	Context      ContextPolicy `json:"context"`
	Memory       AgentMemory   `json:"memory"`
	Temperature  *float64      `json:"temperature,omitempty"`
	MaxToolCalls int           `json:"max_tool_calls,omitempty"`
	Limits       RunLimits     `json:"limits"`
	// Concurrency is the agent's policy for a conversation that already
	// has an active response: reject, enqueue (default) or interrupt.
	Concurrency string `json:"concurrency,omitempty"`
	// Retention, when set, replaces the project's policy (whole) for the
	// agent's conversations and the responses that ran in them.
	Retention *Retention `json:"retention,omitempty"`
	// Guardrails filter the agent's input and output text (redactions,
	// blocked terms).
	Guardrails *Guardrails       `json:"guardrails,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	CreatedAt  int64             `json:"created_at"`
	UpdatedAt  int64             `json:"updated_at"`
}

// ContextPolicy bounds what is sent to the model on each call.
type ContextPolicy struct {
	// BudgetTokens caps the input tokens of one model call; 0 means the
	// model's own context window (less the room kept for output). Overrides
	// the table of known models' windows.
	BudgetTokens int `json:"budget_tokens,omitempty"`
	// Truncation is what happens when the context passes the budget:
	// "auto" (the default for agents) drops the oldest items; "disabled"
	// fails the response with context_length_exceeded, as OpenAI does.
	// A request's own truncation wins.
	Truncation string `json:"truncation,omitempty"`
	// Compaction summarises older items once the context passes
	// ThresholdTokens (default 80% of the budget), keeping the newest
	// KeepTokens (default a quarter of the budget) word for word. "auto"
	// (the default for agents) or "off". Model, when set, writes the
	// summaries instead of the agent's model (a cheaper one, say).
	Compaction      string `json:"compaction,omitempty"`
	ThresholdTokens int    `json:"compact_threshold,omitempty"`
	KeepTokens      int    `json:"keep_tokens,omitempty"`
	CompactionModel string `json:"compaction_model,omitempty"`
	// RecallTokens bounds the recalled memories placed in each call
	// (default a tenth of the budget).
	RecallTokens int `json:"recall_tokens,omitempty"`
}

// AgentMemory is what an agent remembers beyond a conversation's log.
type AgentMemory struct {
	// Blocks are placed in every context, after the instructions, in this
	// order. A ref names a block by ID; a ref with only Label and Value
	// (on create or update) makes a new block and is stored as its ID.
	Blocks []BlockRef `json:"blocks,omitempty"`
	// Recall places the records (and past conversation messages) most
	// relevant to each turn's input in the context, for runs that name an
	// end user: "auto" (the default) or "off".
	Recall string `json:"recall,omitempty"`
	// Extraction asks the model, after a conversation has been idle for
	// IdleSeconds or every EveryTurns turns, to write the facts and
	// preferences it learned as records. Off unless one of them is set.
	Extraction ExtractionPolicy `json:"extraction"`
}

// BlockRef names a memory block an agent sees.
type BlockRef struct {
	ID    string `json:"id,omitempty"`
	Label string `json:"label,omitempty"`
	Value string `json:"value,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// ExtractionPolicy says when to extract records from an agent's
// conversations, and with which model (the agent's when empty).
type ExtractionPolicy struct {
	IdleSeconds int    `json:"idle_seconds,omitempty"`
	EveryTurns  int    `json:"every_turns,omitempty"`
	Model       string `json:"model,omitempty"`
}

// ToolSpec declares a tool a model may call. Type "function" is answered by
// the client (the response stops with the call); type "builtin" names a tool
// the server runs itself; type "http" is a tool the server calls as a
// webhook: it POSTs the arguments to URL with an Idempotency-Key header and
// gives the model the answer's body.
type ToolSpec struct {
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Parameters  json.RawMessage   `json:"parameters,omitempty"`
	Strict      *bool             `json:"strict,omitempty"`
	URL         string            `json:"url,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	// Idempotent declares that calling the tool twice with the same
	// idempotency key has the effect of calling it once, so a call whose
	// outcome a crash left unknown may simply be made again. Otherwise a
	// person decides.
	Idempotent bool `json:"idempotent,omitempty"`
	// RequireApproval "always" pauses the run before every call for a
	// person to approve it; "never" (the default) does not.
	RequireApproval string `json:"require_approval,omitempty"`
	// Connector names the project connector the tool uses (http_request, object_store, sql_query, mcp).
	Connector string `json:"connector,omitempty"`
	// AllowedTools limits an mcp tool to these of its server's tools (all when empty).
	AllowedTools []string `json:"allowed_tools,omitempty"`
	// AllowedHosts bounds the hosts http_request may call ("api.example.com", "*.example.com").
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

const (
	ToolFunction = "function"
	ToolBuiltin  = "builtin"
	ToolHTTP     = "http"
	// ToolMCP stands for the tools of an MCP server, a connector of kind
	// mcp: {"type":"mcp","connector":"github"}. A run sees each of the
	// server's tools as a function named "<connector>__<tool>".
	ToolMCP = "mcp"
)
