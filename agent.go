package engram

import "encoding/json"

// Agent is a named, versioned definition of how to answer: a model, its
// instructions and tools, and how much context to give it. Every change makes
// a new version; conversations and responses record the version they used.
type Agent struct {
	ID           string            `json:"id"`
	ProjectID    string            `json:"-"`
	Name         string            `json:"name"`
	Version      int               `json:"version"`
	Description  string            `json:"description,omitempty"`
	Model        string            `json:"model"`
	Instructions string            `json:"instructions,omitempty"`
	Tools        []ToolSpec        `json:"tools,omitempty"`
	Context      ContextPolicy     `json:"context"`
	Temperature  *float64          `json:"temperature,omitempty"`
	MaxToolCalls int               `json:"max_tool_calls,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CreatedAt    int64             `json:"created_at"`
	UpdatedAt    int64             `json:"updated_at"`
}

// ContextPolicy bounds what is sent to the model on each call.
type ContextPolicy struct {
	// BudgetTokens caps the input tokens of one model call; 0 means the
	// model's own context window (less the room kept for output).
	BudgetTokens int `json:"budget_tokens,omitempty"`
}

// ToolSpec declares a tool a model may call. Type "function" is answered by
// the client (the response stops with the call); type "builtin" names a tool
// the server runs itself.
type ToolSpec struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

const (
	ToolFunction = "function"
	ToolBuiltin  = "builtin"
)
