package engram

import (
	"context"
	"encoding/json"
)

// ToolRequest is a tool call put to a project's policies before it is
// made: who asks (the agent, the end user it acts for, the key that started
// the run), which tool (one Cedar action per tool), and the call's
// arguments (the Cedar context).
type ToolRequest struct {
	ProjectID  string
	AgentID    string
	AgentName  string
	User       string // the end user the run acts for, if any
	KeyID      string // the key that started the run, if known
	ResponseID string
	Tool       string // the name the model called
	ToolType   string // builtin, http, mcp, …
	Connector  string // the connector the tool uses, if any
	Arguments  json.RawMessage
}

// Decision is what the policies said about a ToolRequest.
type Decision struct {
	// Effect is DecisionAllow, DecisionDeny or DecisionAsk (a person must
	// approve the call first: the approval flow of requires_action).
	Effect string `json:"effect"`
	// Policies are the ids of the policies that decided (none when the
	// default denied: no policy permits the call).
	Policies []string `json:"policies,omitempty"`
	// Reason says why, for the model (on deny) and the audit log.
	Reason string `json:"reason,omitempty"`
}

const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
	DecisionAsk   = "ask"
)

// Authorizer decides tool calls. The runtime asks it before every
// server-side tool call and records every decision in the audit log.
type Authorizer interface {
	AuthorizeTool(ctx context.Context, req *ToolRequest) (*Decision, error)
}
