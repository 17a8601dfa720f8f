package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
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
	if p, err := configureMCP(with(nil), nil, nil); p != nil || err != nil {
		t.Errorf("no connectors: pool %v, err %v; want neither", p, err)
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
