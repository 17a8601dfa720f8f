package tool

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/engram-run/engram"
)

// ConnectorTool is a built-in tool that works only through a project
// connector: a declaration of it must name one (ToolSpec.Connector), of
// one of ConnectorKinds.
type ConnectorTool interface {
	engram.Tool
	ConnectorKinds() []string
}

// ResolveConnector gives a connector-backed tool (object_store, sql_query)
// the connector its call names, with the credential of the user the run
// acts for. What the model could not have known — no connector named in
// the agent's tool spec, an unknown one, one of the wrong kind — comes
// back as an EInvalid error the model reads as the tool's result; a
// missing per-user credential stays EForbidden.
func ResolveConnector(ctx context.Context, conns engram.Connectors, toolName string, call engram.ToolCall, kinds ...string) (*engram.ResolvedConnector, error) {
	if call.Connector == "" {
		return nil, engram.Errorf(engram.EInvalid, "%s: this agent's %s tool names no connector (set \"connector\" in the agent's tool definition)", toolName, toolName)
	}
	if conns == nil {
		return nil, engram.Errorf(engram.EInvalid, "%s: connectors are not configured on this server", toolName)
	}
	rc, err := conns.Resolve(ctx, call.ProjectID, call.Connector, call.User)
	if err != nil {
		var e *engram.Error
		if errors.As(err, &e) {
			switch e.Code {
			case engram.ENotFound:
				return nil, engram.Errorf(engram.EInvalid, "%s: connector %q does not exist in this project", toolName, call.Connector)
			case engram.EForbidden:
				return nil, engram.Errorf(engram.EForbidden, "%s: %s", toolName, e.Message)
			}
		}
		return nil, err
	}
	if !slices.Contains(kinds, rc.Connector.Kind) {
		return nil, engram.Errorf(engram.EInvalid, "%s: connector %q is of kind %q; this tool needs a connector of kind %s",
			toolName, call.Connector, rc.Connector.Kind, strings.Join(kinds, " or "))
	}
	return rc, nil
}
