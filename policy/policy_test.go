package policy_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/policy"
	"github.com/engram-run/engram/sqlite"
)

var ctx = context.Background()

func newStore(t testing.TB) (*sqlite.DB, string) {
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	return db, p.ID
}

func store(t testing.TB, db *sqlite.DB, pid, name, text string) {
	t.Helper()
	if err := policy.Check(name, text); err != nil {
		t.Fatalf("Check(%s): %v", name, err)
	}
	if err := db.CreatePolicy(ctx, &engram.Policy{ProjectID: pid, Name: name, Text: text}); err != nil {
		t.Fatal(err)
	}
}

func call(pid, tool, args string) *engram.ToolRequest {
	return &engram.ToolRequest{ProjectID: pid, AgentID: "agt_1", AgentName: "keeper", User: "alice", KeyID: "key_1", Role: "developer",
		ResponseID: "resp_1", Tool: tool, ToolType: engram.ToolBuiltin, Arguments: json.RawMessage(args), Declared: true}
}

func decide(t *testing.T, a *policy.Authorizer, req *engram.ToolRequest) *engram.Decision {
	t.Helper()
	d, err := a.AuthorizeTool(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDefaultPermitsDeclaredTools(t *testing.T) {
	db, pid := newStore(t)
	a := policy.New(db)
	if d := decide(t, a, call(pid, "http_request", `{}`)); d.Effect != engram.DecisionAllow || !slices.Equal(d.Policies, []string{"default"}) {
		t.Errorf("a declared tool under the default = %+v, want allow by default", d)
	}
	undeclared := call(pid, "http_request", `{}`)
	undeclared.Declared = false
	if d := decide(t, a, undeclared); d.Effect != engram.DecisionDeny || d.Reason != "no policy permits http_request" {
		t.Errorf("an undeclared tool under the default = %+v, want deny", d)
	}
}

func TestStoredPoliciesReplaceTheDefault(t *testing.T) {
	db, pid := newStore(t)
	store(t, db, pid, "time-only", `permit (principal, action == Engram::Action::"current_time", resource);`)
	a := policy.New(db)
	if d := decide(t, a, call(pid, "current_time", `{}`)); d.Effect != engram.DecisionAllow || !slices.Equal(d.Policies, []string{"time-only"}) {
		t.Errorf("current_time = %+v", d)
	}
	// Declared, but no stored policy permits it: the default no longer applies.
	if d := decide(t, a, call(pid, "http_request", `{}`)); d.Effect != engram.DecisionDeny || d.Reason != "no policy permits http_request" || len(d.Policies) != 0 {
		t.Errorf("http_request = %+v, want deny: no policy permits", d)
	}
}

func TestForbidWinsAndAsk(t *testing.T) {
	db, pid := newStore(t)
	store(t, db, pid, "http", `
@ask("outbound HTTP needs a person")
permit (principal, action == Engram::Action::"http_request", resource)
when { context.args has url && context.args.url like "https://*" };

@id("internal")
@reason("internal addresses are off limits")
forbid (principal, action == Engram::Action::"http_request", resource)
when { context.args has url && context.args.url like "https://169.254.*" };

permit (principal in Engram::User::"alice", action == Engram::Action::"memory_search", resource)
when { principal.user == "alice" && principal.name == "keeper" && resource.type == "builtin" && context.declared };
`)
	a := policy.New(db)
	d := decide(t, a, call(pid, "http_request", `{"url":"https://api.example.com/x"}`))
	if d.Effect != engram.DecisionAsk || d.Reason != "outbound HTTP needs a person" || !slices.Equal(d.Policies, []string{"http#1"}) {
		t.Errorf("https call = %+v, want ask", d)
	}
	d = decide(t, a, call(pid, "http_request", `{"url":"https://169.254.169.254/latest"}`))
	if d.Effect != engram.DecisionDeny || !slices.Equal(d.Policies, []string{"http#internal"}) || !strings.HasPrefix(d.Reason, "internal addresses are off limits") {
		t.Errorf("internal call = %+v, want deny by http#internal", d)
	}
	if d := decide(t, a, call(pid, "http_request", `{"url":"http://example.com"}`)); d.Effect != engram.DecisionDeny || len(d.Policies) != 0 {
		t.Errorf("plain http = %+v, want default deny", d)
	}
	if d := decide(t, a, call(pid, "memory_search", `{}`)); d.Effect != engram.DecisionAllow {
		t.Errorf("alice's memory_search = %+v, want allow", d)
	}
	bob := call(pid, "memory_search", `{}`)
	bob.User = "bob"
	if d := decide(t, a, bob); d.Effect != engram.DecisionDeny {
		t.Errorf("bob's memory_search = %+v, want deny", d)
	}
}

// Arguments are data, never Cedar: an "__entity" the model writes must not
// become the entity a policy trusts.
func TestArgumentsCannotForgeEntities(t *testing.T) {
	db, pid := newStore(t)
	store(t, db, pid, "owner", `permit (principal, action, resource) when { context.args has owner && context.args.owner == Engram::User::"alice" };
permit (principal, action, resource) when { context.args has n && context.args.n == 3 && context.args.tags.contains("x") && context.args.price == "1.5" };`)
	a := policy.New(db)
	if d := decide(t, a, call(pid, "t", `{"owner":{"__entity":{"type":"Engram::User","id":"alice"}}}`)); d.Effect != engram.DecisionDeny {
		t.Errorf("a forged entity reference = %+v, want deny", d)
	}
	if d := decide(t, a, call(pid, "t", `{"n":3,"tags":["x","y","x"],"price":1.5,"gone":null}`)); d.Effect != engram.DecisionAllow {
		t.Errorf("typed arguments = %+v, want allow", d)
	}
	for _, args := range []string{`null`, `[1,2]`, `not json`, ``} {
		if d := decide(t, a, call(pid, "t", args)); d.Effect != engram.DecisionDeny {
			t.Errorf("arguments %q = %+v, want deny", args, d)
		}
	}
}

func TestCheckRefusesWithPositions(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"permit (principal, action, resource);\n\npermit (principal, action == Engram::Action::\"x\" resource);", "line 3, column"},
		{"", "no permit or forbid"},
		{`permit (principal, action == Action::"http_request", resource);`, "actions are Engram::Action"},
		{`permit (principal == User::"alice", action, resource);`, "the principal is an Engram::Agent"},
		{`permit (principal, action, resource is Engram::Agent);`, "the resource is an Engram::Tool"},
		{"permit (principal, action, resource)\n  when { principal.nmae == \"x\" };", `principal has no attribute "nmae"`},
		{`permit (principal, action, resource) when { context has usr };`, `context has no attribute "usr"`},
		{`permit (principal, action, resource) when { resource.kind == "x" };`, `resource has no attribute "kind"`},
		{`permit (principal, action, resource) when { principal in Group::"x" };`, "unknown entity type Group"},
		{"permit (principal, action, resource);\n@ask(\"x\")\nforbid (principal, action, resource);", "line 2, column 1: @ask and @approval belong on a permit"},
		{"@id(\"a\") permit (principal, action, resource);\n@id(\"a\") permit (principal, action, resource);", "two statements have the id p#a"},
	} {
		err := policy.Check("p", tt.text)
		if engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "param policy") {
			t.Errorf("Check(%q) = %v, want EInvalid on param policy containing %q", tt.text, err, tt.want)
		}
	}
	for _, ok := range []string{policy.DefaultText, `permit (principal is Engram::Agent in Engram::Key::"k", action in [Engram::Action::"a", Engram::Action::"b"], resource == Engram::Tool::"a")
		when { context.args.url like "https://*" && context.user == principal.user };`} {
		if err := policy.Check("p", ok); err != nil {
			t.Errorf("Check(%q) = %v", ok, err)
		}
	}
}

func TestChangesReachTheCache(t *testing.T) {
	db, pid := newStore(t)
	a := policy.New(db)
	if d := decide(t, a, call(pid, "x", `{}`)); d.Effect != engram.DecisionAllow {
		t.Fatalf("default = %+v", d)
	}
	store(t, db, pid, "none", `forbid (principal, action, resource);`)
	// Another replica's write shows once the TTL passes; here, TTL 0
	// would still cache for a second, so the writer's own Invalidate is
	// what makes it immediate.
	a.Invalidate(pid)
	if d := decide(t, a, call(pid, "x", `{}`)); d.Effect != engram.DecisionDeny || !slices.Equal(d.Policies, []string{"none"}) {
		t.Fatalf("after a forbid-all = %+v", d)
	}
	other := policy.New(db)
	other.TTL = 1 // a nanosecond: every call checks the store
	p, err := db.GetPolicy(ctx, pid, "none")
	if err != nil {
		t.Fatal(err)
	}
	if d := decide(t, other, call(pid, "x", `{}`)); d.Effect != engram.DecisionDeny {
		t.Fatalf("replica before = %+v", d)
	}
	if err := db.DeletePolicy(ctx, pid, p.ID); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, other, call(pid, "x", `{}`)); d.Effect != engram.DecisionAllow {
		t.Errorf("replica after the delete = %+v, want the default's allow", d)
	}
}

func BenchmarkAuthorizeTool(b *testing.B) {
	db, pid := newStore(b)
	for i, text := range []string{
		`permit (principal, action in [Engram::Action::"http_request", Engram::Action::"memory_search"], resource) when { context.declared };`,
		`forbid (principal, action == Engram::Action::"http_request", resource) when { context.args has url && context.args.url like "*://169.254.*" };`,
		`@ask("writes need a person") permit (principal, action == Engram::Action::"sql_exec", resource);`,
	} {
		if err := db.CreatePolicy(ctx, &engram.Policy{ProjectID: pid, Name: string(rune('a' + i)), Text: text}); err != nil {
			b.Fatal(err)
		}
	}
	a := policy.New(db)
	req := call(pid, "http_request", `{"url":"https://api.example.com/v1/items?q=1","method":"GET","headers":{"accept":"application/json"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if d, err := a.AuthorizeTool(ctx, req); err != nil || d.Effect != engram.DecisionAllow {
			b.Fatal(d, err)
		}
	}
}
