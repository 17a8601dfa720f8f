// Package tool holds the tools the server runs itself, and the registry the
// runtime finds them in.
package tool

import (
	"sort"

	"github.com/engram-run/engram"
)

// Registry maps built-in tool names to tools.
type Registry struct {
	tools map[string]engram.Tool
}

// NewRegistry returns a registry of ts.
func NewRegistry(ts ...engram.Tool) *Registry {
	r := &Registry{tools: map[string]engram.Tool{}}
	for _, t := range ts {
		r.tools[t.Spec().Name] = t
	}
	return r
}

// Builtins returns a registry of every built-in tool that needs no
// configuration. Its http_request reaches only the hosts an agent allows
// and resolves no connector; Add one with Connectors to let agents name a
// connector.
func Builtins() *Registry {
	return NewRegistry(CurrentTime{}, WaitUntil{}, &HTTPRequest{})
}

// WithMemory returns a registry of the built-ins and the memory tools:
// memory_search, memory_write and conversation_search over mem, and the
// block editing tools over blocks.
func WithMemory(mem engram.MemoryService, blocks engram.BlockStore) *Registry {
	ts := []engram.Tool{CurrentTime{}, WaitUntil{}, &HTTPRequest{}}
	ts = append(ts, Memory(mem)...)
	ts = append(ts, MemoryBlocks(blocks)...)
	return NewRegistry(ts...)
}

// Add registers ts too (replacing a tool of the same name) and returns r:
// the server adds the tools that need its configuration (connectors) to
// the built-ins.
func (r *Registry) Add(ts ...engram.Tool) *Registry {
	for _, t := range ts {
		r.tools[t.Spec().Name] = t
	}
	return r
}

// Get returns the named tool, or nil.
func (r *Registry) Get(name string) engram.Tool { return r.tools[name] }

// Names lists the tools, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.tools))
	for n := range r.tools {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
