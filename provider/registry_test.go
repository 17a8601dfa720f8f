package provider

import (
	"context"
	"testing"

	"github.com/engram-run/engram"
)

type named string

func (n named) Name() string { return string(n) }
func (n named) Generate(context.Context, *engram.ModelRequest, func(engram.ModelEvent)) (*engram.ModelResult, error) {
	return nil, nil
}

func TestResolve(t *testing.T) {
	r := NewRegistry(named("openai"), named("anthropic"), named("scripted"))
	tests := []struct {
		model, provider, name, errCode string
	}{
		{"openai/gpt-5.1", "openai", "gpt-5.1", ""},
		{"gpt-4.1-mini", "openai", "gpt-4.1-mini", ""},
		{"o3-mini", "openai", "o3-mini", ""},
		{"claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", ""},
		{"scripted/echo", "scripted", "echo", ""},
		{"ollama/qwen3:8b", "", "", engram.EInvalid},
		{"llama3", "", "", engram.EInvalid},
		{"openai/", "", "", engram.EInvalid},
		{"", "", "", engram.EInvalid},
	}
	for _, tt := range tests {
		p, name, err := r.Resolve(tt.model)
		if tt.errCode != "" {
			if engram.ErrorCode(err) != tt.errCode {
				t.Errorf("Resolve(%q) error = %v, want code %s", tt.model, err, tt.errCode)
			}
			continue
		}
		if err != nil || p.Name() != tt.provider || name != tt.name {
			t.Errorf("Resolve(%q) = %v, %q, %v; want %s, %q", tt.model, p, name, err, tt.provider, tt.name)
		}
	}
}
