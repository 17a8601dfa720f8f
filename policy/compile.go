package policy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cedar-policy/cedar-go"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"

	"github.com/engram-run/engram"
)

// The entity types policies name. Every type lives in the Engram
// namespace, so a policy from elsewhere cannot match by accident.
const (
	TypeAgent  = cedar.EntityType("Engram::Agent")
	TypeUser   = cedar.EntityType("Engram::User")
	TypeKey    = cedar.EntityType("Engram::Key")
	TypeAction = cedar.EntityType("Engram::Action")
	TypeTool   = cedar.EntityType("Engram::Tool")
)

// The attributes of the principal, the resource and the context. A
// policy naming any other is refused on write: Cedar would only skip it,
// silently, when it runs.
var attributes = map[string][]string{
	"principal": {"name", "user", "key", "role"},
	"resource":  {"type", "connector"},
	"context":   {"args", "user", "response_id", "declared"},
}

// DefaultName is the name of the built-in policy of a project that stores
// none.
const DefaultName = "default"

// DefaultText is the built-in policy: every tool the agent (or the
// request) declares may be called, as before policies existed.
const DefaultText = `// Built-in: used while the project stores no policy of its own.
// Every tool the agent (or the request) declares may be called.
permit (principal, action, resource) when { context.declared };
`

// Default is the built-in policy as the API shows it.
func Default() *engram.Policy {
	return &engram.Policy{ID: DefaultName, Name: DefaultName, Text: DefaultText, Default: true,
		Description: "Built-in: permits every tool the agent declares. It applies while the project stores no policy; once one is stored, only stored policies apply."}
}

// NamePattern is what a policy's name may be: a file's base name, without
// its extension.
var NamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ruled is one Cedar policy of a document, with the id decisions name it by.
type ruled struct {
	id     cedar.PolicyID
	policy *cedar.Policy
}

// Check parses a policy document and checks what Cedar itself would
// accept but could never match or would skip when it runs: entity types
// outside the Engram namespace, attributes that do not exist, @ask on a
// forbid. Its errors are EInvalid naming param "policy", with the line and
// column of the fault.
func Check(name, text string) error {
	_, err := parse(name, text)
	return err
}

var parsePosition = regexp.MustCompile(`at <input>:(\d+):(\d+)`)

func parse(name, text string) ([]ruled, error) {
	list, err := cedar.NewPolicyListFromBytes(name, []byte(text))
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "parser error: ")
		msg = parsePosition.ReplaceAllString(msg, "at line $1, column $2")
		return nil, engram.ParamErrorf(engram.EInvalid, "policy", "Invalid 'policy': %s", msg)
	}
	if len(list) == 0 {
		return nil, engram.ParamErrorf(engram.EInvalid, "policy", "Invalid 'policy': it holds no permit or forbid statement.")
	}
	out := make([]ruled, 0, len(list))
	seen := map[cedar.PolicyID]bool{}
	for i, p := range list {
		id := cedar.PolicyID(name)
		if at, ok := p.Annotations()["id"]; ok {
			id = cedar.PolicyID(name + "#" + string(at))
		} else if len(list) > 1 {
			id = cedar.PolicyID(fmt.Sprintf("%s#%d", name, i+1))
		}
		if seen[id] {
			return nil, faultAt(p, "two statements have the id %s", id)
		}
		seen[id] = true
		if err := checkPolicy(p); err != nil {
			return nil, err
		}
		out = append(out, ruled{id, p})
	}
	return out, nil
}

func faultAt(p *cedar.Policy, format string, args ...any) error {
	pos := p.Position()
	return engram.ParamErrorf(engram.EInvalid, "policy", "Invalid 'policy': at line %d, column %d: %s", pos.Line, pos.Column,
		fmt.Sprintf(format, args...))
}

func checkPolicy(p *cedar.Policy) error {
	a := (*xast.Policy)(p.AST())
	if _, ask := askReason(p); ask && p.Effect() == cedar.Forbid {
		return faultAt(p, "@ask and @approval belong on a permit: a forbid is never asked about")
	}
	principal := map[cedar.EntityType]bool{TypeAgent: true, TypeUser: true, TypeKey: true}
	for _, e := range scopeEntities(a.Principal) {
		if !principal[e.Type] {
			return faultAt(p, "the principal is an Engram::Agent (in an Engram::User and an Engram::Key), not %s", e.Type)
		}
	}
	if is, ok := a.Principal.(xast.ScopeTypeIs); ok && is.Type != TypeAgent {
		return faultAt(p, "the principal is an Engram::Agent, never a %s", is.Type)
	}
	if is, ok := a.Principal.(xast.ScopeTypeIsIn); ok && is.Type != TypeAgent {
		return faultAt(p, "the principal is an Engram::Agent, never a %s", is.Type)
	}
	for _, e := range scopeEntities(a.Action) {
		if e.Type != TypeAction {
			return faultAt(p, "actions are Engram::Action::\"<tool name>\", not %s", e)
		}
	}
	for _, e := range scopeEntities(a.Resource) {
		if e.Type != TypeTool {
			return faultAt(p, "the resource is an Engram::Tool::\"<tool name>\", not %s", e)
		}
	}
	if is, ok := a.Resource.(xast.ScopeTypeIs); ok && is.Type != TypeTool {
		return faultAt(p, "the resource is an Engram::Tool, never a %s", is.Type)
	}
	if is, ok := a.Resource.(xast.ScopeTypeIsIn); ok && is.Type != TypeTool {
		return faultAt(p, "the resource is an Engram::Tool, never a %s", is.Type)
	}
	var fault error
	for _, c := range a.Conditions {
		xast.Inspect(xast.NewNode(c.Body), func(n xast.IsNode) bool {
			if fault != nil {
				return false
			}
			switch n := n.(type) {
			case xast.NodeTypeAccess:
				fault = checkAttribute(p, n.Arg, string(n.Value))
			case xast.NodeTypeHas:
				fault = checkAttribute(p, n.Arg, string(n.Value))
			case xast.NodeValue:
				if e, ok := n.Value.(cedar.EntityUID); ok && !knownType(e.Type) {
					fault = faultAt(p, "unknown entity type %s (Engram's are Engram::Agent, Engram::User, Engram::Key, Engram::Action and Engram::Tool)", e.Type)
				}
			case xast.NodeTypeIsIn:
				if !knownType(n.EntityType) {
					fault = faultAt(p, "unknown entity type %s", n.EntityType)
				}
			case xast.NodeTypeIs:
				if !knownType(n.EntityType) {
					fault = faultAt(p, "unknown entity type %s", n.EntityType)
				}
			}
			return true
		})
	}
	return fault
}

func checkAttribute(p *cedar.Policy, of xast.IsNode, name string) error {
	v, ok := of.(xast.NodeTypeVariable)
	if !ok {
		return nil
	}
	known, ok := attributes[string(v.Name)]
	if !ok {
		return nil
	}
	for _, k := range known {
		if k == name {
			return nil
		}
	}
	return faultAt(p, "%s has no attribute %q (it has %s)", v.Name, name, strings.Join(known, ", "))
}

func knownType(t cedar.EntityType) bool {
	switch t {
	case TypeAgent, TypeUser, TypeKey, TypeAction, TypeTool:
		return true
	}
	return false
}

func scopeEntities(scope any) []cedar.EntityUID {
	switch s := scope.(type) {
	case xast.ScopeTypeEq:
		return []cedar.EntityUID{s.Entity}
	case xast.ScopeTypeIn:
		return []cedar.EntityUID{s.Entity}
	case xast.ScopeTypeInSet:
		return s.Entities
	case xast.ScopeTypeIsIn:
		return []cedar.EntityUID{s.Entity}
	}
	return nil
}

// askReason reports whether a permit asks a person (@ask or @approval)
// and the reason it gives.
func askReason(p *cedar.Policy) (string, bool) {
	an := p.Annotations()
	if r, ok := an["ask"]; ok {
		return string(r), true
	}
	if r, ok := an["approval"]; ok {
		return string(r), true
	}
	return "", false
}

// Set is a project's policies compiled together.
type Set struct {
	cedar *cedar.PolicySet
	// ask holds the permits that ask a person, with their reasons;
	// reasons the forbids that say why.
	ask     map[cedar.PolicyID]string
	reasons map[cedar.PolicyID]string
	// broken names stored documents that no longer compile; a set with
	// any denies everything, so that a policy is never silently lost.
	broken string
}

// Compile compiles a project's policies; none compiles the built-in
// default.
func Compile(policies []*engram.Policy) *Set {
	if len(policies) == 0 {
		policies = []*engram.Policy{Default()}
	}
	s := &Set{cedar: cedar.NewPolicySet(), ask: map[cedar.PolicyID]string{}, reasons: map[cedar.PolicyID]string{}}
	for _, doc := range policies {
		list, err := parse(doc.Name, doc.Text)
		if err != nil {
			s.broken = fmt.Sprintf("policy %s does not compile (%s)", doc.Name, engram.ErrorMessage(err))
			continue
		}
		for _, r := range list {
			s.cedar.Add(r.id, r.policy)
			if why, ok := askReason(r.policy); ok && r.policy.Effect() == cedar.Permit {
				s.ask[r.id] = why
			}
			if why, ok := r.policy.Annotations()["reason"]; ok {
				s.reasons[r.id] = string(why)
			}
		}
	}
	return s
}
