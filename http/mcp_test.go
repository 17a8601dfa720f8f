package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engram-run/engram"
	enghttp "github.com/engram-run/engram/http"
	"github.com/engram-run/engram/http/openai"
	"github.com/engram-run/engram/mcp"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/tool"
)

// connectorsByName is a STAND-IN for connector resolution only (the real
// engram.Connectors reads the store and unseals credentials).
type connectorsByName map[string]*engram.Connector

func (c connectorsByName) Resolve(_ context.Context, _, name, _ string) (*engram.ResolvedConnector, error) {
	if conn := c[name]; conn != nil {
		return &engram.ResolvedConnector{Connector: conn}, nil
	}
	return nil, engram.Errorf(engram.ENotFound, "connector %s not found", name)
}

// newMCPEnv is an API on a runtime whose MCP pool reaches the servers at
// urls (connector name → streamable HTTP endpoint).
func newMCPEnv(t *testing.T, urls map[string]string) *env {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conns := connectorsByName{}
	for name, url := range urls {
		cfg, _ := json.Marshal(mcp.Config{Transport: mcp.TransportHTTP, URL: url, AllowPrivate: true})
		conns[name] = &engram.Connector{ID: "conn_" + name, Name: name, Kind: engram.ConnectorMCP, Config: cfg}
	}
	pool := mcp.New(conns, nil)
	t.Cleanup(func() { pool.Close() })
	providers := provider.NewRegistry(scripted.New())
	rt := runtime.New(db, providers, tool.Builtins(), nil)
	rt.MCP = pool
	rt.EncodeEvent = func(ev engram.StreamEvent) []byte { return openai.EncodeEvent(int(ev.Seq), ev) }
	rt.PollInterval = 20 * time.Millisecond
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)
	api := &enghttp.Server{Store: db, Responses: rt, ValidateAgent: rt.ValidateAgent, Providers: providers}
	e := &env{srv: httptest.NewServer(api.Handler()), store: db, providers: providers, keys: map[string]string{}}
	t.Cleanup(e.srv.Close)
	p := &engram.Project{ID: engram.NewID("proj"), Name: "mine", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	secret, shown := engram.NewKeySecret()
	if err := db.CreateAPIKey(ctx, &engram.APIKey{ID: engram.NewID("key"), ProjectID: p.ID, Name: "admin", Prefix: shown,
		Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()}); err != nil {
		t.Fatal(err)
	}
	e.keys["mine/admin"] = secret
	return e
}

// TestMCPAgentOverAPI: an agent declared over the API with an mcp tool
// answers through its server's tool; bad mcp tools are refused when the
// agent is written; a server that is down is a 503 when the agent runs.
func TestMCPAgentOverAPI(t *testing.T) {
	s := sdk.NewServer(&sdk.Implementation{Name: "weather", Version: "1"}, nil)
	s.AddTool(&sdk.Tool{Name: "forecast", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
		func(_ context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			var in struct{ City string }
			_ = json.Unmarshal(req.Params.Arguments, &in)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "sunny in " + in.City}}}, nil
		})
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(up.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	e := newMCPEnv(t, map[string]string{"weather": up.URL, "gone": down.URL})

	status, body := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"w","model":"scripted/echo",
		"tools":[{"type":"mcp","connector":"weather","allowed_tools":["forecast"],"require_approval":"never"}]}`)
	if status != 200 || !strings.Contains(body, `"connector":"weather"`) || !strings.Contains(body, `"allowed_tools":["forecast"]`) {
		t.Fatalf("create: %d %s", status, body)
	}
	status, body = e.do(t, "mine/admin", "POST", "/v1/responses", `{"model":"agent/w","input":"call weather__forecast {\"city\":\"Porto\"}"}`)
	if status != 200 || !strings.Contains(body, `"output":"sunny in Porto"`) || !strings.Contains(body, `tool said: sunny in Porto`) {
		t.Errorf("response: %d %s", status, body)
	}

	for _, c := range []struct{ tools, param string }{
		{`[{"type":"mcp"}]`, "tools[0].connector"},
		{`[{"type":"mcp","connector":"weather","name":"x"}]`, "tools[0].name"},
		{`[{"type":"mcp","connector":"weather","allowed_tools":[""]}]`, "tools[0].allowed_tools"},
		{`[{"type":"mcp","connector":"weather","require_approval":"sometimes"}]`, "tools[0].require_approval"},
	} {
		status, body := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"bad","model":"scripted/echo","tools":`+c.tools+`}`)
		if status != 400 || !strings.Contains(body, `"param":"`+c.param+`"`) {
			t.Errorf("tools %s: %d %s, want 400 on %s", c.tools, status, body, c.param)
		}
	}

	if status, body := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"g","model":"scripted/echo","tools":[{"type":"mcp","connector":"gone"}]}`); status != 200 {
		t.Fatalf("an agent whose server is down is refused: %d %s", status, body)
	}
	status, body = e.do(t, "mine/admin", "POST", "/v1/responses", `{"model":"agent/g","input":"hello"}`)
	if status != 503 || !strings.Contains(body, `MCP server \"gone\" cannot be reached`) {
		t.Errorf("response with the server down: %d %s", status, body)
	}
}

// TestMCPNeedsPool: a server without MCP refuses agents with mcp tools;
// OpenAI's request-level mcp tool (a server URL in the request) is refused
// with a pointer to Engram's way.
func TestMCPNeedsPool(t *testing.T) {
	e := newEnv(t)
	status, body := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"w","model":"scripted/echo","tools":[{"type":"mcp","connector":"weather"}]}`)
	if status != 422 || !strings.Contains(body, "mcp tools are not available") {
		t.Errorf("%d %s", status, body)
	}
	status, body = e.do(t, "mine/admin", "POST", "/v1/responses", `{"model":"scripted/echo","input":"hi",
		"tools":[{"type":"mcp","server_label":"dmcp","server_url":"https://mcp.example.com/sse","require_approval":"never"}]}`)
	if status != 400 || !strings.Contains(body, `"param":"tools[0].type"`) || !strings.Contains(body, "connector of kind 'mcp'") {
		t.Errorf("OpenAI's mcp tool: %d %s", status, body)
	}
}
