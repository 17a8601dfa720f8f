package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

type noConnectors struct{}

func (noConnectors) Resolve(context.Context, string, string, string) (*engram.ResolvedConnector, error) {
	return nil, engram.Errorf(engram.ENotFound, "none")
}

// TestConfigureMCP: the pool's settings come from the environment; stdio
// servers stay off unless enabled; bad values are refused at start.
func TestConfigureMCP(t *testing.T) {
	with := func(vars map[string]string) *invocation {
		return &invocation{getenv: func(k string) string { return vars[k] }}
	}
	p, err := configureMCP(with(nil), noConnectors{}, nil)
	if err != nil || p.AllowStdio {
		t.Fatalf("defaults: err %v, stdio allowed %v", err, p != nil && p.AllowStdio)
	}
	p, err = configureMCP(with(map[string]string{"ENGRAM_MCP_ALLOW_STDIO": "1", "ENGRAM_MCP_CALL_TIMEOUT": "90s",
		"ENGRAM_MCP_CONNECT_TIMEOUT": "5s", "ENGRAM_MCP_IDLE_TIMEOUT": "1h"}), noConnectors{}, nil)
	if err != nil || !p.AllowStdio || p.CallTimeout != 90*time.Second || p.ConnectTimeout != 5*time.Second || p.IdleTimeout != time.Hour {
		t.Errorf("configured: %+v, err %v", p, err)
	}
	p.Close()
	for k, v := range map[string]string{"ENGRAM_MCP_ALLOW_STDIO": "yes", "ENGRAM_MCP_CALL_TIMEOUT": "soon", "ENGRAM_MCP_IDLE_TIMEOUT": "-1s"} {
		if _, err := configureMCP(with(map[string]string{k: v}), noConnectors{}, nil); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err = %v", k, v, err)
		}
	}
}

// TestMCPThroughConnector: on a real server, an MCP server registered as a
// connector (streamable HTTP, its header a per-user secret) gives an agent
// its tools; the scripted model calls one for ada and reads the answer,
// which the server gave only because ada's header came with the call.
func TestMCPThroughConnector(t *testing.T) {
	s := sdk.NewServer(&sdk.Implementation{Name: "weather", Version: "1"}, nil)
	type in struct {
		City string `json:"city"`
	}
	sdk.AddTool(s, &sdk.Tool{Name: "forecast", Description: "the forecast for a city"},
		func(ctx context.Context, req *sdk.CallToolRequest, a in) (*sdk.CallToolResult, any, error) {
			if req.Extra == nil || req.Extra.Header.Get("Authorization") != "Bearer ada-weather-token" {
				return nil, nil, fmt.Errorf("who are you?")
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "sunny in " + a.City}}}, nil, nil
		})
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	// Closed after the Engram server (cleanups run last first): the
	// session's open stream would hold Close until then.
	t.Cleanup(ts.Close)

	srv := startEngram(t, nil)
	for _, step := range []struct{ path, body string }{
		{"/v1/connectors", `{"name":"weather","kind":"mcp","per_user":true,"config":{"transport":"http","url":"` + ts.URL + `","allow_private":true}}`},
		{"/v1/connectors/weather/credentials", `{"user":"ada","secret":{"headers":{"Authorization":"Bearer ada-weather-token"}}}`},
		{"/v1/agents", `{"name":"forecaster","model":"scripted/echo","memory":{"recall":"off"},"tools":[{"type":"mcp","connector":"weather"}]}`},
	} {
		if st := srv.call(t, "POST", step.path, step.body, nil); st != http.StatusOK {
			t.Fatalf("POST %s: %d", step.path, st)
		}
	}
	var r respBody
	if st := srv.call(t, "POST", "/v1/responses", `{"model":"agent/forecaster","user":"ada","input":"call weather__forecast {\"city\":\"Porto\"}"}`, &r); st != http.StatusOK {
		t.Fatalf("response: %d %+v", st, r)
	}
	if r.Status != "completed" || len(r.Output) != 3 || r.Output[1].Output != "sunny in Porto" || r.Output[2].Content[0].Text != "tool said: sunny in Porto" {
		t.Errorf("ada's run: %+v", r)
	}
	// bob has no credential for this per-user connector: his run cannot use it.
	if st := srv.call(t, "POST", "/v1/responses", `{"model":"agent/forecaster","user":"bob","input":"call weather__forecast {\"city\":\"Porto\"}"}`, &r); st == http.StatusOK && r.Status == "completed" && strings.Contains(r.Output[len(r.Output)-1].Content[0].Text, "sunny") {
		t.Errorf("bob's run reached the server with no credential: %+v", r)
	}
}
