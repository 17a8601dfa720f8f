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
	// Role is the role of the key that started the run, if known.
	Role string
	// Declared says the tool is in the agent's (or the request's) tool
	// list: what the built-in default policy permits.
	Declared bool
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
	// Errors are the policies that could not be evaluated for this
	// request (an attribute missing from the arguments, a type mismatch):
	// each was skipped, as Cedar does. For people writing policies.
	Errors []string `json:"errors,omitempty"`
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

// Policy is one named document of Cedar policies in a project: a file
// `engram policies apply` reads, or one POST /v1/policies. Once a project
// stores any, the stored policies alone decide its tool calls; a project
// with none is governed by the built-in default (see the policy package),
// which the API shows with Default set.
type Policy struct {
	ID          string `json:"id"`
	ProjectID   string `json:"-"`
	Name        string `json:"name"`
	Text        string `json:"policy"` // Cedar
	Description string `json:"description,omitempty"`
	// Default marks the built-in policy a project without policies uses;
	// it is never stored.
	Default   bool  `json:"default,omitempty"`
	CreatedAt int64 `json:"created_at"`
	UpdatedAt int64 `json:"updated_at"`
}

// PolicyStore keeps a project's policies. Names are unique within a
// project (EConflict); GetPolicy takes an id or a name.
type PolicyStore interface {
	CreatePolicy(ctx context.Context, p *Policy) error
	GetPolicy(ctx context.Context, projectID, idOrName string) (*Policy, error)
	// ListPolicies returns every policy of a project, oldest first: a
	// project's policies are compiled together, so they are few.
	ListPolicies(ctx context.Context, projectID string) ([]*Policy, error)
	// UpdatePolicy replaces p's name, text and description (by p.ID) and
	// sets UpdatedAt.
	UpdatePolicy(ctx context.Context, p *Policy) error
	DeletePolicy(ctx context.Context, projectID, id string) error
}
