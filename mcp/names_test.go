package mcp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engram-run/engram"
)

func TestToolName(t *testing.T) {
	long := strings.Repeat("x", 80)
	for _, c := range []struct{ connector, tool, want string }{
		{"github", "create_issue", "github__create_issue"},
		{"gh-1", "list-repos", "gh-1__list-repos"},
		{"fs", "files.read", "fs__files_read_"},
		{"fs", "files_read", "fs__files_read"},
		{"fs", "lire é", "fs__lire___"},
		{"fs", long, "fs__xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_"},
	} {
		got := ToolName(c.connector, c.tool)
		if !validName.MatchString(got) || !strings.HasPrefix(got, c.want) {
			t.Errorf("ToolName(%q, %q) = %q, want a valid name starting %q", c.connector, c.tool, got, c.want)
		}
		if got != ToolName(c.connector, c.tool) {
			t.Errorf("ToolName(%q, %q) is not deterministic", c.connector, c.tool)
		}
	}
	if a, b := ToolName("fs", "a.b"), ToolName("fs", "a_b"); a == b {
		t.Errorf("a.b and a_b share the name %q", a)
	}
	if a, b := ToolName("fs", long+"1"), ToolName("fs", long+"2"); a == b || len(a) != 64 {
		t.Errorf("two long names: %q and %q (want distinct, 64 long)", a, b)
	}
}

func TestResultText(t *testing.T) {
	res := &sdk.CallToolResult{Content: []sdk.Content{
		&sdk.TextContent{Text: "first"},
		&sdk.ImageContent{MIMEType: "image/png", Data: []byte("12345")},
		&sdk.EmbeddedResource{Resource: &sdk.ResourceContents{URI: "file:///a.txt", Text: "inside"}},
		&sdk.ResourceLink{URI: "file:///b", Name: "b"},
	}}
	want := "first\n[image image/png, 5 bytes, not shown]\ninside\n[resource link file:///b b]"
	if got := resultText(res, 0); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	res.IsError = true
	if got := resultText(res, 0); got != "error: "+want {
		t.Errorf("an error result reads %q", got)
	}
	structured := &sdk.CallToolResult{StructuredContent: map[string]any{"n": 1}}
	if got := resultText(structured, 0); got != `{"n":1}` {
		t.Errorf("structured only: %q", got)
	}
	big := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: strings.Repeat("é", 100)}}}
	got := resultText(big, 51)
	if !strings.HasPrefix(got, strings.Repeat("é", 25)+"\n[truncated: the result was 200 bytes") {
		t.Errorf("truncated: %q", got)
	}
}

func TestParseConfig(t *testing.T) {
	for _, c := range []struct {
		config, param string // param "" when it is valid
	}{
		{`{"transport":"stdio","command":"npx","args":["-y","@modelcontextprotocol/server-github"],"env":{"LOG_LEVEL":"info"}}`, ""},
		{`{"transport":"http","url":"https://mcp.example.com/mcp"}`, ""},
		{`{"transport":"stdio"}`, "config.command"},
		{`{"transport":"stdio","command":"x","url":"http://a"}`, "config.url"},
		{`{"transport":"stdio","command":"x","env":{"A=B":"c"}}`, "config.env"},
		{`{"transport":"http","url":"ftp://a"}`, "config.url"},
		{`{"transport":"http","url":"/relative"}`, "config.url"},
		{`{"transport":"http","url":"http://a","command":"x"}`, "config"},
		{`{"transport":"sse","url":"http://a"}`, "config.transport"},
		{`{}`, "config.transport"},
		{`[1]`, "config"},
	} {
		_, err := ParseConfig(json.RawMessage(c.config))
		var e *engram.Error
		switch {
		case c.param == "" && err != nil:
			t.Errorf("%s: %v", c.config, err)
		case c.param != "" && (!errors.As(err, &e) || e.Param != c.param || e.Code != engram.EInvalid):
			t.Errorf("%s: err = %v, want EInvalid on %s", c.config, err, c.param)
		}
	}
}
