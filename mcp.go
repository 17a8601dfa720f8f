package engram

import "context"

// MCPTools gives runs the tools of the projects' MCP servers: connectors of
// kind mcp, reached with the credential of the user a run acts for.
type MCPTools interface {
	// Tools lists the tools of the server spec.Connector names, as user
	// sees them, each as a ToolSpec of type ToolMCP named
	// "<connector>__<tool>", filtered by spec.AllowedTools. The list is
	// cached and refreshed when the server says it changed, so a run's
	// turns cost no round trip once it has been listed. A server that
	// cannot be reached is EUnavailable.
	Tools(ctx context.Context, projectID string, spec ToolSpec, user string) ([]ToolSpec, error)
	// Call calls the server tool that spec (one of those Tools returned)
	// stands for. A tool's own failure is a result the model reads
	// ("error: …"); a server that cannot be reached, or that is lost
	// while the call is in flight, is EUnavailable.
	Call(ctx context.Context, call ToolCall, spec ToolSpec) (string, error)
}
