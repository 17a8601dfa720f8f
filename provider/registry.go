// Package provider resolves model names to the providers that serve them.
// The adapters live in its subpackages (openai, anthropic, scripted).
package provider

import (
	"sort"
	"strings"
	"sync"

	"github.com/engram-run/engram"
)

// Registry maps provider names to providers.
type Registry struct {
	mu        sync.RWMutex
	providers map[string]engram.Provider
}

// NewRegistry returns a registry holding ps.
func NewRegistry(ps ...engram.Provider) *Registry {
	r := &Registry{providers: map[string]engram.Provider{}}
	for _, p := range ps {
		r.Add(p)
	}
	return r
}

// Add registers p under p.Name(), replacing any provider of that name.
func (r *Registry) Add(p engram.Provider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.providers[p.Name()] = p
}

// Names lists the registered providers, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.providers))
	for n := range r.providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Providers lists the registered providers, sorted by name.
func (r *Registry) Providers() []engram.Provider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]engram.Provider, 0, len(r.providers))
	for _, p := range r.providers {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Resolve returns the provider for a model name and the model name the
// provider knows. "anthropic/claude-sonnet-4-5" names its provider; a bare
// name is given to the provider its family belongs to (gpt-*, o1…o4*,
// chatgpt-* to openai, claude-* to anthropic), so that OpenAI SDK code
// that names a bare model works unchanged.
func (r *Registry) Resolve(model string) (engram.Provider, string, error) {
	if model == "" {
		return nil, "", engram.ParamErrorf(engram.EInvalid, "model", "model is required")
	}
	name, rest, ok := strings.Cut(model, "/")
	if !ok {
		name, rest = familyOf(model), model
	}
	if rest == "" {
		return nil, "", engram.ParamErrorf(engram.EInvalid, "model", "model %q names no model after the provider", model)
	}
	r.mu.RLock()
	p := r.providers[name]
	r.mu.RUnlock()
	if p == nil {
		if name == "" {
			return nil, "", engram.ParamErrorf(engram.EInvalid, "model",
				"model %q names no provider: use provider/model, e.g. scripted/echo, openai/gpt-5.1, anthropic/claude-sonnet-4-5", model)
		}
		return nil, "", engram.ParamErrorf(engram.EInvalid, "model",
			"provider %q of model %q is not configured (configured: %s)", name, model, strings.Join(r.Names(), ", "))
	}
	return p, rest, nil
}

func familyOf(model string) string {
	switch {
	case strings.HasPrefix(model, "gpt-"), strings.HasPrefix(model, "chatgpt-"),
		len(model) >= 2 && model[0] == 'o' && model[1] >= '1' && model[1] <= '9':
		return "openai"
	case strings.HasPrefix(model, "claude-"):
		return "anthropic"
	}
	return ""
}
