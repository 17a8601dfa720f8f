package http

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// agentBody is the JSON of POST /v1/agents and POST /v1/agents/{ref}: every
// field optional on update, where only the fields given change.
type agentBody struct {
	Name         *string               `json:"name"`
	Description  *string               `json:"description"`
	Model        *string               `json:"model"`
	Instructions *string               `json:"instructions"`
	Tools        *[]engram.ToolSpec    `json:"tools"`
	Context      *engram.ContextPolicy `json:"context"`
	Temperature  *float64              `json:"temperature"`
	MaxToolCalls *int                  `json:"max_tool_calls"`
	Limits       *json.RawMessage      `json:"limits"`
	Concurrency  *string               `json:"concurrency"`
	Metadata     *map[string]string    `json:"metadata"`
	Memory       *agentMemoryBody      `json:"memory"`
	Retention    json.RawMessage       `json:"retention"` // null removes the agent's own policy
	Guardrails   *engram.Guardrails    `json:"guardrails"`
}

// agentMemoryBody is the agent's "memory" object; on update only the
// fields given change.
type agentMemoryBody struct {
	Blocks     *[]engram.BlockRef       `json:"blocks"`
	Recall     *string                  `json:"recall"`
	Extraction *engram.ExtractionPolicy `json:"extraction"`
}

// agentName keeps names usable in "agent/NAME" and in URLs.
var agentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// retentionNeedsAdmin refuses an agent's retention policy from a key that
// is not an admin's: an agent's policy replaces the project's, which only
// an admin may set (POST /v1/retention).
func retentionNeedsAdmin(r *http.Request, b *agentBody) error {
	if b.Retention != nil && keyOf(r).Role != engram.RoleAdmin {
		return engram.ParamErrorf(engram.EForbidden, "retention", "Only an admin key may set an agent's retention: it replaces the project's policy.")
	}
	return nil
}

func (b *agentBody) apply(a *engram.Agent) error {
	if b.Name != nil {
		if !agentName.MatchString(*b.Name) {
			return engram.ParamErrorf(engram.EInvalid, "name", "Invalid 'name': use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
		}
		a.Name = *b.Name
	}
	if b.Description != nil {
		a.Description = *b.Description
	}
	if b.Model != nil {
		a.Model = *b.Model
	}
	if b.Instructions != nil {
		a.Instructions = *b.Instructions
	}
	if b.Tools != nil {
		for i, t := range *b.Tools {
			param := "tools[" + strconv.Itoa(i) + "]"
			if t.Type == engram.ToolMCP {
				if err := checkMCPTool(t, param); err != nil {
					return err
				}
			} else if (t.Type != engram.ToolFunction && t.Type != engram.ToolBuiltin && t.Type != engram.ToolHTTP) || t.Name == "" {
				return engram.ParamErrorf(engram.EInvalid, param, "A tool needs a 'name' and a 'type' of 'function', 'builtin', 'http' or 'mcp'.")
			}
			if err := openai.CheckToolSpec(t, param); err != nil {
				return err
			}
		}
		a.Tools = *b.Tools
	}
	if b.Context != nil {
		if b.Context.BudgetTokens < 0 {
			return engram.ParamErrorf(engram.EInvalid, "context.budget_tokens", "Invalid 'context.budget_tokens': expected a positive integer.")
		}
		a.Context = *b.Context
	}
	if b.Temperature != nil {
		a.Temperature = b.Temperature
	}
	if b.MaxToolCalls != nil {
		a.MaxToolCalls = *b.MaxToolCalls
	}
	if b.Limits != nil {
		l, err := openai.DecodeLimits(*b.Limits, "limits")
		if err != nil {
			return err
		}
		a.Limits = l
	}
	if b.Concurrency != nil {
		if err := openai.CheckConcurrency(*b.Concurrency, "concurrency"); err != nil {
			return err
		}
		a.Concurrency = *b.Concurrency
	}
	if b.Metadata != nil {
		a.Metadata = *b.Metadata
	}
	if m := b.Memory; m != nil {
		if m.Blocks != nil {
			a.Memory.Blocks = *m.Blocks
		}
		if m.Recall != nil {
			if r := *m.Recall; r != "" && r != "auto" && r != "off" {
				return engram.ParamErrorf(engram.EInvalid, "memory.recall", "Invalid value for 'memory.recall': expected 'auto' or 'off', but got '%s'.", r)
			}
			a.Memory.Recall = *m.Recall
		}
		if x := m.Extraction; x != nil {
			if x.IdleSeconds < 0 {
				return engram.ParamErrorf(engram.EInvalid, "memory.extraction.idle_seconds", "Invalid 'memory.extraction.idle_seconds': expected an integer of 0 or more.")
			}
			if x.EveryTurns < 0 {
				return engram.ParamErrorf(engram.EInvalid, "memory.extraction.every_turns", "Invalid 'memory.extraction.every_turns': expected an integer of 0 or more.")
			}
			a.Memory.Extraction = *x
		}
	}
	if b.Retention != nil {
		a.Retention = nil
		if string(b.Retention) != "null" {
			policy, err := engram.DecodeRetention(b.Retention, "retention")
			if err != nil {
				return err
			}
			a.Retention = &policy
		}
	}
	if b.Guardrails != nil {
		// {} removes them; runtime.ValidateAgent checks the patterns.
		a.Guardrails = b.Guardrails
		if b.Guardrails.Input.Empty() && b.Guardrails.Output.Empty() {
			a.Guardrails = nil
		}
	}
	if a.Name == "" {
		return engram.ParamErrorf(engram.EInvalid, "name", "Missing required parameter: 'name'.")
	}
	if a.Model == "" {
		return engram.ParamErrorf(engram.EInvalid, "model", "Missing required parameter: 'model'.")
	}
	return nil
}

func (s *Server) validateAgent(a *engram.Agent) error {
	if s.ValidateAgent == nil {
		return nil
	}
	return s.ValidateAgent(a)
}

// agentJSON is an agent as the API shows it.
type agentJSON struct {
	Object string `json:"object"`
	*engram.Agent
}

func encodeAgent(a *engram.Agent) agentJSON { return agentJSON{Object: "agent", Agent: a} }

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) {
	var body agentBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := retentionNeedsAdmin(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: keyOf(r).ProjectID}
	if err := body.apply(a); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.validateAgent(a); err != nil {
		s.fail(w, r, err)
		return
	}
	newBlocks, err := s.planBlocks(r, a)
	if err == nil {
		err = s.storeAgent(r, a, newBlocks, s.Store.CreateAgent)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeAgent(a))
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "version", "Invalid 'version': expected a positive integer."))
			return
		}
		version = n
	}
	a, err := s.Store.GetAgent(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"), version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeAgent(a))
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) {
	var body agentBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := retentionNeedsAdmin(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.Store.GetAgent(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"), 0)
	if err == nil {
		err = body.apply(a)
	}
	if err == nil {
		err = s.validateAgent(a)
	}
	var newBlocks []*engram.MemoryBlock
	if err == nil && body.Memory != nil && body.Memory.Blocks != nil {
		newBlocks, err = s.planBlocks(r, a)
	}
	if err == nil {
		err = s.storeAgent(r, a, newBlocks, s.Store.UpdateAgent)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeAgent(a))
}

func (s *Server) deleteAgent(w http.ResponseWriter, r *http.Request) {
	a, err := s.Store.GetAgent(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"), 0)
	if err == nil {
		err = s.Store.DeleteAgent(r.Context(), a.ProjectID, a.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.Deleted{ID: a.ID, Object: "agent.deleted", Deleted: true})
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "asc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	agents, more, err := s.Store.ListAgents(r.Context(), keyOf(r).ProjectID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]agentJSON, len(agents))
	for i, a := range agents {
		out[i] = encodeAgent(a)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, func(a agentJSON) string { return a.ID }))
}

func (s *Server) listAgentVersions(w http.ResponseWriter, r *http.Request) {
	versions, err := s.Store.ListAgentVersions(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]agentJSON, len(versions))
	for i, a := range versions {
		out[i] = encodeAgent(a)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, false, func(a agentJSON) string { return a.ID + "@" + strconv.Itoa(a.Version) }))
}

// keyJSON is a key as the API shows it; Key, the secret, only once.
type keyJSON struct {
	Object string `json:"object"`
	*engram.APIKey
	Key string `json:"key,omitempty"`
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string      `json:"name"`
		Role engram.Role `json:"role"`
		User string      `json:"user"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Role == "" {
		body.Role = engram.RoleInvoker
	}
	if !body.Role.Valid() {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "role", "Invalid value for 'role': expected 'admin', 'developer' or 'invoker'."))
		return
	}
	secret, shown := engram.NewKeySecret()
	k := &engram.APIKey{ID: engram.NewID("key"), ProjectID: keyOf(r).ProjectID, Name: body.Name, Prefix: shown,
		Hash: engram.HashKey(secret), Role: body.Role, User: body.User, CreatedAt: engram.Now()}
	if err := s.Store.CreateAPIKey(r.Context(), k); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keyJSON{Object: "api_key", APIKey: k, Key: secret})
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.Store.ListAPIKeys(r.Context(), keyOf(r).ProjectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = keyJSON{Object: "api_key", APIKey: k}
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, false, func(k keyJSON) string { return k.ID }))
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Store.RevokeAPIKey(r.Context(), keyOf(r).ProjectID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.Deleted{ID: id, Object: "api_key.deleted", Deleted: true})
}

// checkMCPTool checks an agent's mcp tool: it names a connector, and no
// name of its own (its server's tools are named "<connector>__<tool>").
// Whether the server can be reached is not checked here: it may be down
// now and up when the agent runs, and a per-user connector has no user
// yet; a run finds out (503 when it cannot list the server's tools).
func checkMCPTool(t engram.ToolSpec, param string) error {
	if t.Connector == "" {
		return engram.ParamErrorf(engram.EInvalid, param+".connector", "An mcp tool needs a 'connector': the name of a project connector of kind 'mcp'.")
	}
	if t.Name != "" {
		return engram.ParamErrorf(engram.EInvalid, param+".name", "An mcp tool takes no 'name': its server's tools are named '%s__<tool>'.", t.Connector)
	}
	for _, a := range t.AllowedTools {
		if a == "" {
			return engram.ParamErrorf(engram.EInvalid, param+".allowed_tools", "Invalid '%s.allowed_tools': tool names cannot be empty.", param)
		}
	}
	return nil
}
