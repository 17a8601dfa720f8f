package runtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/mcp"
	"github.com/engram-run/engram/runtime"
)

// oneConnector is a STAND-IN for connector resolution only (the real
// engram.Connectors reads the store and unseals credentials): one mcp
// connector, with one header for every user.
type oneConnector struct {
	c      *engram.Connector
	header string
}

func (o oneConnector) Resolve(_ context.Context, _, name, _ string) (*engram.ResolvedConnector, error) {
	if name != o.c.Name {
		return nil, engram.Errorf(engram.ENotFound, "connector %s not found", name)
	}
	return &engram.ResolvedConnector{Connector: o.c, Secret: engram.Secret{Headers: map[string]string{"X-Test-Token": o.header}}}, nil
}

// mcpServer is a real MCP server (the SDK's) on 127.0.0.1 with two tools;
// lookup checks the header the credential adds.
func mcpServer(t *testing.T) string {
	s := sdk.NewServer(&sdk.Implementation{Name: "weather", Version: "1"}, nil)
	object := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)
	s.AddTool(&sdk.Tool{Name: "forecast", Description: "The forecast for a city.", InputSchema: object},
		func(_ context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			var in struct{ City string }
			_ = json.Unmarshal(req.Params.Arguments, &in)
			text := "sunny in " + in.City + " for " + req.Extra.Header.Get("X-Test-Token")
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}, nil
		})
	s.AddTool(&sdk.Tool{Name: "delete_city", InputSchema: object}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "deleted"}}}, nil
	})
	srv := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

func mcpConnector(url string) *engram.Connector {
	cfg, _ := json.Marshal(mcp.Config{Transport: mcp.TransportHTTP, URL: url, AllowPrivate: true})
	return &engram.Connector{ID: "conn_weather", Name: "weather", Kind: engram.ConnectorMCP, Config: cfg}
}

// TestMCPTools: an agent's {"type":"mcp"} tool becomes its server's
// tools (only the allowed ones) in what the model is offered; the model's
// call reaches the server with the connector's credential, and the result
// reaches the model's next call.
func TestMCPTools(t *testing.T) {
	pool := mcp.New(oneConnector{c: mcpConnector(mcpServer(t)), header: "tok-1"}, nil)
	t.Cleanup(func() { pool.Close() })
	rt, _, pid := setupWith(t, func(rt *runtime.Runtime, _ engram.Store) { rt.MCP = pool })
	prov := &capture{}
	rt.Providers.Add(prov)
	spec := engram.ToolSpec{Type: engram.ToolMCP, Connector: "weather", AllowedTools: []string{"forecast"}}
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "worker", Model: "capture/echo", Tools: []engram.ToolSpec{spec}}
	if err := rt.ValidateAgent(a); err != nil {
		t.Fatal(err)
	}
	if err := rt.Store.CreateAgent(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	r, err := ask(rt, pid, "", `call weather__forecast {"city":"Lisbon"}`, func(req *engram.ResponseRequest) { req.User = "ada" })
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != engram.StatusCompleted {
		t.Fatalf("status %s, error %+v", r.Status, r.Error)
	}
	var outputs []string
	for _, it := range r.Output {
		if it.Type == engram.ItemFunctionCallOutput {
			outputs = append(outputs, it.Output)
		}
	}
	if !slices.Equal(outputs, []string{"sunny in Lisbon for tok-1"}) {
		t.Errorf("tool outputs = %q", outputs)
	}
	if got := r.Output[len(r.Output)-1].Text(); got != "tool said: sunny in Lisbon for tok-1" {
		t.Errorf("the model's last answer = %q: the tool's output did not reach it", got)
	}
	prov.mu.Lock()
	offered := prov.turns[0].Tools
	prov.mu.Unlock()
	if len(offered) != 1 || offered[0].Name != "weather__forecast" || offered[0].Type != engram.ToolFunction ||
		offered[0].Description != "The forecast for a city." || !strings.Contains(string(offered[0].Parameters), `"city"`) {
		t.Errorf("the model was offered %+v, want weather__forecast only, as a function with the server's schema", offered)
	}

	// A tool the agent does not allow is not the server's to the run: the
	// model's call of it is a client's function call, never made here.
	r, err = ask(rt, pid, "", `call weather__delete_city {"city":"Lisbon"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range r.Output {
		if it.Type == engram.ItemFunctionCallOutput {
			t.Errorf("a tool outside allowed_tools was called: %q", it.Output)
		}
	}
}

// TestMCPApproval: require_approval on an mcp tool pauses before each of
// its server's tools.
func TestMCPApproval(t *testing.T) {
	pool := mcp.New(oneConnector{c: mcpConnector(mcpServer(t)), header: "tok-1"}, nil)
	t.Cleanup(func() { pool.Close() })
	rt, _, pid := setupWith(t, func(rt *runtime.Runtime, _ engram.Store) { rt.MCP = pool })
	newAgent(t, rt, pid, engram.ToolSpec{Type: engram.ToolMCP, Connector: "weather", RequireApproval: "always"})
	r, err := ask(rt, pid, "", `call weather__delete_city {"city":"Lisbon"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != engram.StatusRequiresAction {
		t.Fatalf("status %s, want requires_action", r.Status)
	}
	last := r.Output[len(r.Output)-1]
	if last.Type != engram.ItemApprovalRequest || last.Name != "weather__delete_city" {
		t.Fatalf("last item %+v, want an approval request for weather__delete_city", last)
	}
	// Approved, the run resumes on a worker, which plans it again (its
	// server's tools from the pool) and makes the call.
	if _, err := rt.Approve(context.Background(), pid, r.ID, engram.Approval{RequestID: last.ID, Approve: true}); err != nil {
		t.Fatal(err)
	}
	done := waitFor(t, rt.Store, pid, r.ID, engram.StatusCompleted, engram.StatusFailed)
	if got := done.Output[len(done.Output)-1].Text(); done.Status != engram.StatusCompleted || got != "tool said: deleted" {
		t.Errorf("after approval: %s, last answer %q", done.Status, got)
	}
}

// TestMCPUnavailable: an agent whose server is down is accepted (it may be
// up by the time it runs), and a response then is refused as unavailable,
// storing nothing; an mcp tool without a connector, or on a runtime
// without MCP, is refused when the agent is written.
func TestMCPUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	pool := mcp.New(oneConnector{c: mcpConnector(url)}, nil)
	t.Cleanup(func() { pool.Close() })
	rt, _, pid := setupWith(t, func(rt *runtime.Runtime, _ engram.Store) { rt.MCP = pool })
	spec := engram.ToolSpec{Type: engram.ToolMCP, Connector: "weather"}
	a := &engram.Agent{Name: "worker", Model: "scripted/echo", Tools: []engram.ToolSpec{spec}}
	if err := rt.ValidateAgent(a); err != nil {
		t.Fatalf("an agent whose server is down: %v", err)
	}
	newAgent(t, rt, pid, spec)
	conv := newConversation(t, rt, pid)
	if _, err := ask(rt, pid, conv, "hello", nil); engram.ErrorCode(err) != engram.EUnavailable {
		t.Errorf("err = %v, want EUnavailable", err)
	}
	if items, _, _ := rt.Store.ListItems(context.Background(), pid, conv, engram.Page{Limit: 10}); len(items) != 0 {
		t.Errorf("%d items stored for a refused response", len(items))
	}

	a.Tools = []engram.ToolSpec{{Type: engram.ToolMCP}}
	if err := rt.ValidateAgent(a); engram.ErrorCode(err) != engram.EUnprocessable || !strings.Contains(err.Error(), "connector") {
		t.Errorf("no connector: err = %v", err)
	}
	rt.MCP = nil
	a.Tools = []engram.ToolSpec{spec}
	if err := rt.ValidateAgent(a); engram.ErrorCode(err) != engram.EUnprocessable {
		t.Errorf("no MCP on the runtime: err = %v", err)
	}
}
