package mcp

import (
	"encoding/json"
	"testing"

	"github.com/engram-run/engram"
)

// FuzzToolName: whatever a server calls its tool, the model gets a valid,
// stable function name.
func FuzzToolName(f *testing.F) {
	for _, s := range []string{"echo", "files.read", "é", "", "a b/c", string(make([]byte, 100))} {
		f.Add("conn", s)
	}
	f.Fuzz(func(t *testing.T, connector, tool string) {
		got := ToolName(connector, tool)
		if !validName.MatchString(got) {
			t.Fatalf("ToolName(%q, %q) = %q: not a valid function name", connector, tool, got)
		}
		if got != ToolName(connector, tool) {
			t.Fatalf("ToolName(%q, %q) is not stable", connector, tool)
		}
	})
}

// FuzzParseConfig: a connector's config (written by project admins) is
// accepted only with a transport and what it needs, or refused as
// invalid; never a panic.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{`{"transport":"stdio","command":"x","env":{"A":"b"}}`, `{"transport":"http","url":"http://a/mcp"}`, `{}`, `null`, `[]`, `{"transport":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseConfig(json.RawMessage(raw))
		if err != nil {
			if engram.ErrorCode(err) != engram.EInvalid {
				t.Fatalf("%s: %v is not EInvalid", raw, err)
			}
			return
		}
		switch c.Transport {
		case TransportStdio:
			if c.Command == "" {
				t.Fatalf("%s: stdio without a command accepted", raw)
			}
		case TransportHTTP:
			if c.URL == "" {
				t.Fatalf("%s: http without a url accepted", raw)
			}
		default:
			t.Fatalf("%s: transport %q accepted", raw, c.Transport)
		}
	})
}
