// Package policy decides tool calls with Cedar (cedar-go lives only here).
//
// Each call is one Cedar request: the principal is the agent,
// Engram::Agent::"<agent id>" with attributes {name, user, key, role} and,
// as parents, Engram::User::"<user>" and Engram::Key::"<key id>" (so a
// policy may say `principal in Engram::User::"alice"`); the action is
// Engram::Action::"<tool name>", one per tool; the resource is
// Engram::Tool::"<tool name>" with {type, connector}; the context is
// {args, user, response_id, declared}. When no policy permits, the call is
// denied; a forbid beats any permit; a permit annotated @ask("why") (or
// @approval) that decides a call turns allow into ask: a person approves
// the call first. See docs/policies.md.
package policy

import (
	"context"
	"crypto/sha256"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cedar-policy/cedar-go"

	"github.com/engram-run/engram"
)

// Authorizer implements engram.Authorizer over a project's stored
// policies. Compiled sets are cached per project and checked against the
// store at most every TTL, so several replicas see a change within TTL;
// Invalidate drops this process's copy at once (the API calls it after a
// write).
type Authorizer struct {
	Store engram.PolicyStore
	// TTL bounds how stale a cached set may be; 0 means one second.
	TTL time.Duration

	mu    sync.Mutex
	cache map[string]*cached
}

type cached struct {
	set      *Set
	digest   [32]byte // of the documents it was compiled from
	loadedAt time.Time
}

var _ engram.Authorizer = (*Authorizer)(nil)

// New returns an Authorizer reading policies from store.
func New(store engram.PolicyStore) *Authorizer {
	return &Authorizer{Store: store, TTL: time.Second}
}

// Invalidate forgets a project's compiled policies.
func (a *Authorizer) Invalidate(projectID string) {
	a.mu.Lock()
	delete(a.cache, projectID)
	a.mu.Unlock()
}

// AuthorizeTool implements engram.Authorizer.
func (a *Authorizer) AuthorizeTool(ctx context.Context, req *engram.ToolRequest) (*engram.Decision, error) {
	set, err := a.set(ctx, req.ProjectID)
	if err != nil {
		return nil, err
	}
	return set.Decide(req), nil
}

// set returns a project's compiled policies, reading the store when the
// cached copy is older than TTL and compiling only when they changed.
func (a *Authorizer) set(ctx context.Context, projectID string) (*Set, error) {
	ttl := a.TTL
	if ttl <= 0 {
		ttl = time.Second
	}
	now := time.Now()
	a.mu.Lock()
	c := a.cache[projectID]
	a.mu.Unlock()
	if c != nil && now.Sub(c.loadedAt) < ttl {
		return c.set, nil
	}
	docs, err := a.Store.ListPolicies(ctx, projectID)
	if err != nil {
		return nil, err
	}
	digest := digestOf(docs)
	fresh := &cached{digest: digest, loadedAt: now}
	if c != nil && c.digest == digest {
		fresh.set = c.set
	} else {
		fresh.set = Compile(docs)
	}
	a.mu.Lock()
	if a.cache == nil {
		a.cache = map[string]*cached{}
	}
	a.cache[projectID] = fresh
	a.mu.Unlock()
	return fresh.set, nil
}

func digestOf(docs []*engram.Policy) [32]byte {
	h := sha256.New()
	for _, d := range docs {
		for _, f := range []string{d.ID, d.Name, d.Text} {
			h.Write([]byte(f))
			h.Write([]byte{0})
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Effective returns the policies that apply to a project: its stored ones,
// or the built-in default when it stores none.
func Effective(ctx context.Context, store engram.PolicyStore, projectID string) ([]*engram.Policy, error) {
	docs, err := store.ListPolicies(ctx, projectID)
	if err != nil || len(docs) > 0 {
		return docs, err
	}
	return []*engram.Policy{Default()}, nil
}

// Decide puts one tool call to the set.
func (s *Set) Decide(req *engram.ToolRequest) *engram.Decision {
	if s.broken != "" {
		return &engram.Decision{Effect: engram.DecisionDeny, Reason: s.broken}
	}
	creq, entities := request(req)
	dec, diag := cedar.Authorize(s.cedar, entities, creq)
	d := &engram.Decision{Effect: engram.DecisionDeny}
	for _, r := range diag.Reasons {
		d.Policies = append(d.Policies, string(r.PolicyID))
	}
	sort.Strings(d.Policies)
	for _, e := range diag.Errors {
		d.Errors = append(d.Errors, e.String())
	}
	if dec == cedar.Deny {
		if len(d.Policies) == 0 {
			d.Reason = "no policy permits " + req.Tool
			return d
		}
		var why []string
		for _, id := range d.Policies {
			if r := s.reasons[cedar.PolicyID(id)]; r != "" {
				why = append(why, r)
			}
		}
		d.Reason = "forbidden by " + strings.Join(d.Policies, ", ")
		if len(why) > 0 {
			d.Reason = strings.Join(why, "; ") + " (" + d.Reason + ")"
		}
		return d
	}
	d.Effect = engram.DecisionAllow
	// Any deciding permit that asks is enough: a plain permit beside it
	// must not let the call past the person the other one wants asked.
	var asks []string
	for _, id := range d.Policies {
		if why, ok := s.ask[cedar.PolicyID(id)]; ok {
			d.Effect = engram.DecisionAsk
			if why == "" || why == "required" {
				why = "policy " + id + " asks a person to approve " + req.Tool
			}
			asks = append(asks, why)
		}
	}
	if d.Effect == engram.DecisionAsk {
		d.Reason = strings.Join(asks, "; ")
	} else {
		d.Reason = "permitted by " + strings.Join(d.Policies, ", ")
	}
	return d
}

// request builds the Cedar request and the entities it refers to.
func request(req *engram.ToolRequest) (cedar.Request, cedar.EntityMap) {
	agent := cedar.NewEntityUID(TypeAgent, cedar.String(req.AgentID))
	tool := cedar.NewEntityUID(TypeTool, cedar.String(req.Tool))
	var parents []cedar.EntityUID
	entities := cedar.EntityMap{}
	if req.User != "" {
		u := cedar.NewEntityUID(TypeUser, cedar.String(req.User))
		parents = append(parents, u)
		entities[u] = cedar.Entity{UID: u, Attributes: cedar.NewRecord(nil)}
	}
	if req.KeyID != "" {
		k := cedar.NewEntityUID(TypeKey, cedar.String(req.KeyID))
		parents = append(parents, k)
		entities[k] = cedar.Entity{UID: k, Attributes: cedar.NewRecord(cedar.RecordMap{"role": cedar.String(req.Role)})}
	}
	entities[agent] = cedar.Entity{UID: agent, Parents: cedar.NewEntityUIDSet(parents...), Attributes: cedar.NewRecord(cedar.RecordMap{
		"name": cedar.String(req.AgentName), "user": cedar.String(req.User), "key": cedar.String(req.KeyID), "role": cedar.String(req.Role),
	})}
	entities[tool] = cedar.Entity{UID: tool, Attributes: cedar.NewRecord(cedar.RecordMap{
		"type": cedar.String(req.ToolType), "connector": cedar.String(req.Connector),
	})}
	return cedar.Request{
		Principal: agent,
		Action:    cedar.NewEntityUID(TypeAction, cedar.String(req.Tool)),
		Resource:  tool,
		Context: cedar.NewRecord(cedar.RecordMap{
			"args": argsRecord(req.Arguments), "user": cedar.String(req.User), "response_id": cedar.String(req.ResponseID),
			"declared": cedar.Boolean(req.Declared),
		}),
	}, entities
}
