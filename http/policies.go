package http

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
	"github.com/engram-run/engram/policy"
)

// policyBody is the JSON of POST /v1/policies and POST /v1/policies/{id}:
// every field optional on update, where only the fields given change.
type policyBody struct {
	Name        *string `json:"name"`
	Policy      *string `json:"policy"`
	Description *string `json:"description"`
}

type policyJSON struct {
	Object string `json:"object"`
	*engram.Policy
}

func encodePolicy(p *engram.Policy) policyJSON { return policyJSON{Object: "policy", Policy: p} }

// checkPolicy refuses a policy whose name or Cedar text is wrong, naming
// the field (and, for the text, the line and column) at fault.
func checkPolicy(p *engram.Policy) error {
	switch {
	case p.Name == "":
		return engram.ParamErrorf(engram.EInvalid, "name", "Missing required parameter: 'name'.")
	case p.Name == policy.DefaultName:
		return engram.ParamErrorf(engram.EInvalid, "name", "Invalid 'name': %q is the built-in policy's name.", p.Name)
	case !policy.NamePattern.MatchString(p.Name):
		return engram.ParamErrorf(engram.EInvalid, "name", "Invalid 'name': use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
	case strings.TrimSpace(p.Text) == "":
		return engram.ParamErrorf(engram.EInvalid, "policy", "Missing required parameter: 'policy' (Cedar text).")
	}
	return policy.Check(p.Name, p.Text)
}

// policiesChanged makes this process's next decision for the project read
// the change at once (other replicas see it within a second).
func (s *Server) policiesChanged(projectID string) {
	if s.Policies != nil {
		s.Policies.Invalidate(projectID)
	}
}

func (s *Server) createPolicy(w http.ResponseWriter, r *http.Request) {
	var body policyBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	p := &engram.Policy{ProjectID: keyOf(r).ProjectID}
	body.apply(p)
	err := checkPolicy(p)
	if err == nil {
		err = s.Store.CreatePolicy(r.Context(), p)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.policiesChanged(p.ProjectID)
	writeJSON(w, http.StatusOK, encodePolicy(p))
}

func (b *policyBody) apply(p *engram.Policy) {
	if b.Name != nil {
		p.Name = *b.Name
	}
	if b.Policy != nil {
		p.Text = *b.Policy
	}
	if b.Description != nil {
		p.Description = *b.Description
	}
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) {
	list, err := policy.Effective(r.Context(), s.Store, keyOf(r).ProjectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]policyJSON, len(list))
	for i, p := range list {
		out[i] = encodePolicy(p)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, false, func(p policyJSON) string { return p.ID }))
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) {
	pid, id := keyOf(r).ProjectID, r.PathValue("id")
	p, err := s.Store.GetPolicy(r.Context(), pid, id)
	if engram.ErrorCode(err) == engram.ENotFound && id == policy.DefaultName {
		// The built-in, while it is the project's policy.
		var list []*engram.Policy
		if list, err = policy.Effective(r.Context(), s.Store, pid); err == nil {
			if p = list[0]; !p.Default {
				err = engram.Errorf(engram.ENotFound, "policy %s not found: the project stores its own policies, so the built-in default no longer applies", id)
			}
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodePolicy(p))
}

func (s *Server) updatePolicy(w http.ResponseWriter, r *http.Request) {
	var body policyBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.Store.GetPolicy(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
	if err == nil {
		body.apply(p)
		err = checkPolicy(p)
	}
	if err == nil {
		err = s.Store.UpdatePolicy(r.Context(), p)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.policiesChanged(p.ProjectID)
	writeJSON(w, http.StatusOK, encodePolicy(p))
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request) {
	pid := keyOf(r).ProjectID
	p, err := s.Store.GetPolicy(r.Context(), pid, r.PathValue("id"))
	if err == nil {
		err = s.Store.DeletePolicy(r.Context(), pid, p.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.policiesChanged(pid)
	writeJSON(w, http.StatusOK, openai.Deleted{ID: p.ID, Object: "policy.deleted", Deleted: true})
}

// evaluateBody is a tool call to decide without making it.
type evaluateBody struct {
	Agent string `json:"agent"`
	User  string `json:"user"`
	Key   string `json:"key"`
	Role  string `json:"role"`
	Tool  string `json:"tool"`
	// Arguments are the call's arguments: a JSON object, or a string
	// holding one (as a function_call item carries them).
	Arguments json.RawMessage `json:"arguments"`
	// ResponseID is what context.response_id holds.
	ResponseID string `json:"response_id"`
}

// evaluatePolicies decides a tool call as the runtime would, against the
// policies stored now (not this process's cache), and makes nothing.
func (s *Server) evaluatePolicies(w http.ResponseWriter, r *http.Request) {
	var body evaluateBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	pid := keyOf(r).ProjectID
	if body.Tool == "" {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "tool", "Missing required parameter: 'tool'."))
		return
	}
	args := body.Arguments
	var text string
	if json.Unmarshal(args, &text) == nil {
		args = json.RawMessage(text)
	}
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(args, &obj); err != nil {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "arguments", "Invalid 'arguments': expected a JSON object (or a string holding one)."))
		return
	}
	req := &engram.ToolRequest{ProjectID: pid, User: body.User, KeyID: body.Key, Role: body.Role, ResponseID: body.ResponseID,
		Tool: body.Tool, ToolType: engram.ToolFunction, Arguments: args, Declared: true}
	if body.Agent != "" {
		a, err := s.Store.GetAgent(r.Context(), pid, body.Agent, 0)
		if err != nil {
			if engram.ErrorCode(err) == engram.ENotFound {
				err = engram.ParamErrorf(engram.ENotFound, "agent", "Agent '%s' not found.", body.Agent)
			}
			s.fail(w, r, err)
			return
		}
		req.AgentID, req.AgentName, req.Declared = a.ID, a.Name, false
		for _, t := range a.Tools {
			if t.Name == body.Tool {
				req.ToolType, req.Declared = t.Type, true
			}
		}
	}
	docs, err := s.Store.ListPolicies(r.Context(), pid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := policy.Compile(docs).Decide(req)
	writeJSON(w, http.StatusOK, struct {
		Object string `json:"object"`
		*engram.Decision
		Declared bool `json:"declared"`
	}{"policy.decision", d, req.Declared})
}
