package runtime_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/policy"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/tool"
)

// recordingAuditor keeps the entries the runtime records; fail makes
// Record refuse (the audit log unavailable).
type recordingAuditor struct {
	mu      sync.Mutex
	entries []*engram.AuditEntry
	fail    atomic.Bool
}

func (a *recordingAuditor) Record(_ context.Context, e *engram.AuditEntry) error {
	if a.fail.Load() {
		return engram.Errorf(engram.EUnavailable, "audit log unavailable")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

// lines renders the entries as "action resource outcome", one per entry.
func (a *recordingAuditor) lines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, e.Action+" "+e.Resource+" "+e.Outcome)
	}
	return out
}

// fakeTool is a builtin that counts its calls; refuse, when set, says no
// the way a guarded tool does (the SSRF guard, a missing credential).
type fakeTool struct {
	name   string
	calls  atomic.Int64
	refuse func(args map[string]any) error
}

func (f *fakeTool) Spec() engram.ToolSpec {
	return engram.ToolSpec{Type: engram.ToolBuiltin, Name: f.name, Parameters: json.RawMessage(`{"type":"object"}`)}
}

func (f *fakeTool) Call(_ context.Context, c engram.ToolCall) (string, error) {
	var args map[string]any
	_ = json.Unmarshal(c.Arguments, &args)
	if f.refuse != nil {
		if err := f.refuse(args); err != nil {
			return "", err
		}
	}
	f.calls.Add(1)
	return f.name + " done", nil
}

type governed struct {
	rt    *runtime.Runtime
	store engram.Store
	pid   string
	audit *recordingAuditor
	authz *policy.Authorizer
	tools map[string]*fakeTool
}

// setupGoverned is a runtime with the policy authorizer over a real SQLite
// store, a recording auditor, and an agent "worker" (scripted/echo,
// acting for user ada) declaring the fake tools named.
func setupGoverned(t *testing.T, policies map[string]string, names ...string) *governed {
	g := &governed{audit: &recordingAuditor{}, tools: map[string]*fakeTool{}}
	var ts []engram.Tool
	var specs []engram.ToolSpec
	for _, n := range names {
		f := &fakeTool{name: n}
		g.tools[n] = f
		ts = append(ts, f)
		specs = append(specs, f.Spec())
	}
	g.rt, _, g.pid = setupWith(t, func(rt *runtime.Runtime, s engram.Store) {
		rt.Tools = tool.NewRegistry(ts...)
		g.authz = policy.New(s)
		rt.Authorizer, rt.Audit = g.authz, g.audit
		g.store = s
	})
	for name, text := range policies {
		if err := policy.Check(name, text); err != nil {
			t.Fatal(err)
		}
		if err := g.store.CreatePolicy(context.Background(), &engram.Policy{ProjectID: g.pid, Name: name, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	newAgent(t, g.rt, g.pid, specs...)
	return g
}

func (g *governed) ask(t *testing.T, text string) *engram.Response {
	t.Helper()
	r, err := ask(g.rt, g.pid, "", text, func(req *engram.ResponseRequest) { req.User = "ada" })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// answer is the model's last message: "tool said: <the tool's output>".
func answer(r *engram.Response) string {
	if len(r.Output) == 0 {
		return ""
	}
	return r.Output[len(r.Output)-1].Text()
}

// TestPolicyRefusals is the check: a model tries a forbidden tool,
// an SSRF target, another user's memory and a SQL write. Each is refused
// (by a policy, or by the tool's own guard), audited, and the run goes on
// with the refusal as the tool's result.
func TestPolicyRefusals(t *testing.T) {
	g := setupGoverned(t, map[string]string{
		"declared": `permit (principal, action, resource) when { context.declared };`,
		"no-deletes": `@reason("deleting repositories is not allowed")
forbid (principal, action == Engram::Action::"delete_repo", resource);`,
		"own-memory": `@reason("an agent reads only the memory of the user it acts for")
forbid (principal, action == Engram::Action::"memory_search", resource)
unless { context.args has user && context.args.user == principal.user };`,
		"read-only-sql": `@reason("SQL is read-only")
forbid (principal, action == Engram::Action::"sql_query", resource)
unless { context.args has sql && (context.args.sql like "SELECT *" || context.args.sql like "select *") };`,
	}, "delete_repo", "fetch", "memory_search", "sql_query")
	g.tools["fetch"].refuse = func(args map[string]any) error {
		if u, _ := args["url"].(string); strings.Contains(u, "169.254.") {
			return engram.Errorf(engram.EForbidden, "%s resolves to a link-local address; http_request does not reach internal networks", u)
		}
		return nil
	}
	for _, tt := range []struct {
		say, want, tool, audit string
	}{
		{`call delete_repo {"repo":"engram"}`, "tool said: Refused by policy: deleting repositories is not allowed (forbidden by no-deletes)",
			"delete_repo", "policy.decide delete_repo deny"},
		{`call fetch {"url":"http://169.254.169.254/latest/meta-data"}`,
			"tool said: error: http://169.254.169.254/latest/meta-data resolves to a link-local address; http_request does not reach internal networks",
			"fetch", "policy.decide fetch allow|tool.call fetch refused"},
		{`call memory_search {"user":"bob","query":"secrets"}`,
			"tool said: Refused by policy: an agent reads only the memory of the user it acts for (forbidden by own-memory)",
			"memory_search", "policy.decide memory_search deny"},
		{`call sql_query {"sql":"DELETE FROM hives"}`, "tool said: Refused by policy: SQL is read-only (forbidden by read-only-sql)",
			"sql_query", "policy.decide sql_query deny"},
	} {
		before := len(g.audit.lines())
		r := g.ask(t, tt.say)
		if r.Status != engram.StatusCompleted || answer(r) != tt.want {
			t.Errorf("%s: %s %q, want completed %q", tt.say, r.Status, answer(r), tt.want)
		}
		if n := g.tools[tt.tool].calls.Load(); n != 0 {
			t.Errorf("%s: the tool did its work %d times", tt.say, n)
		}
		if got := strings.Join(g.audit.lines()[before:], "|"); got != tt.audit {
			t.Errorf("%s: audited %q, want %q", tt.say, got, tt.audit)
		}
	}
	// What is permitted still runs: the user's own memory, a read.
	for _, say := range []string{`call memory_search {"user":"ada","query":"hives"}`, `call sql_query {"sql":"SELECT * FROM hives"}`} {
		if r := g.ask(t, say); r.Status != engram.StatusCompleted || !strings.HasSuffix(answer(r), "done") {
			t.Errorf("%s: %s %q", say, r.Status, answer(r))
		}
	}
	if g.tools["memory_search"].calls.Load() != 1 || g.tools["sql_query"].calls.Load() != 1 {
		t.Errorf("permitted calls made: memory_search %d, sql_query %d; want 1 each", g.tools["memory_search"].calls.Load(), g.tools["sql_query"].calls.Load())
	}
	// Every decision names the run, the call, the policies and the reason.
	g.audit.mu.Lock()
	e := g.audit.entries[0]
	g.audit.mu.Unlock()
	var d struct {
		ResponseID string   `json:"response_id"`
		CallID     string   `json:"call_id"`
		Policies   []string `json:"policies"`
		Reason     string   `json:"reason"`
	}
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatal(err)
	}
	if e.Actor != "agent:"+mustAgentID(t, g)+" user:ada" || !strings.HasPrefix(d.ResponseID, "resp") || d.CallID == "" ||
		len(d.Policies) != 1 || d.Policies[0] != "no-deletes" || !strings.Contains(d.Reason, "not allowed") {
		t.Errorf("first entry: actor %q, details %s", e.Actor, e.Details)
	}
}

func mustAgentID(t *testing.T, g *governed) string {
	a, err := g.store.GetAgent(context.Background(), g.pid, "worker", 0)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestPolicyDefault: a project without policies lets the agent's declared
// tools run, as before policies; once it stores one, only it applies.
func TestPolicyDefault(t *testing.T) {
	g := setupGoverned(t, nil, "echo_tool", "other_tool")
	if r := g.ask(t, `call echo_tool {}`); answer(r) != "tool said: echo_tool done" {
		t.Fatalf("default policy: %s %q", r.Status, answer(r))
	}
	if err := g.store.CreatePolicy(context.Background(), &engram.Policy{ProjectID: g.pid, Name: "only-echo",
		Text: `permit (principal, action == Engram::Action::"echo_tool", resource);`}); err != nil {
		t.Fatal(err)
	}
	g.authz.Invalidate(g.pid)
	if r := g.ask(t, `call other_tool {}`); r.Status != engram.StatusCompleted || answer(r) != "tool said: Refused by policy: no policy permits other_tool" {
		t.Errorf("no policy permits: %s %q", r.Status, answer(r))
	}
	if g.tools["other_tool"].calls.Load() != 0 || g.tools["echo_tool"].calls.Load() != 1 {
		t.Errorf("calls: other %d, echo %d", g.tools["other_tool"].calls.Load(), g.tools["echo_tool"].calls.Load())
	}
	want := "policy.decide echo_tool allow|tool.call echo_tool success|policy.decide other_tool deny"
	if got := strings.Join(g.audit.lines(), "|"); got != want {
		t.Errorf("audit %q, want %q", got, want)
	}
}

// TestPolicyArguments: a condition on the call's arguments decides it.
func TestPolicyArguments(t *testing.T) {
	g := setupGoverned(t, map[string]string{
		"api-only": `permit (principal, action == Engram::Action::"fetch", resource) when { context.args.url like "https://api.*" };`,
	}, "fetch")
	if r := g.ask(t, `call fetch {"url":"https://api.example.com/v1"}`); answer(r) != "tool said: fetch done" {
		t.Errorf("api url: %q", answer(r))
	}
	for _, args := range []string{`{"url":"https://www.example.com/"}`, `{}`} {
		if r := g.ask(t, `call fetch `+args); answer(r) != "tool said: Refused by policy: no policy permits fetch" {
			t.Errorf("%s: %q", args, answer(r))
		}
	}
	if g.tools["fetch"].calls.Load() != 1 {
		t.Errorf("fetch made %d calls, want 1", g.tools["fetch"].calls.Load())
	}
}

// TestPolicyAsk: a permit annotated @ask pauses the run for a person;
// approved, the call is made; forbid still beats it.
func TestPolicyAsk(t *testing.T) {
	g := setupGoverned(t, map[string]string{
		"writes": `@ask("writes need a person")
permit (principal, action == Engram::Action::"write", resource);
forbid (principal, action == Engram::Action::"write", resource) when { context.args has path && context.args.path like "/etc/*" };`,
	}, "write")
	r := g.ask(t, `call write {"path":"/tmp/x"}`)
	if r.Status != engram.StatusRequiresAction || itemTypes(r.Output) != "function_call mcp_approval_request" {
		t.Fatalf("ask: %s %s", r.Status, itemTypes(r.Output))
	}
	if reason := r.Output[1].Reason; reason != "policy: writes need a person (writes#1)" {
		t.Errorf("approval request reason %q", reason)
	}
	if g.tools["write"].calls.Load() != 0 {
		t.Fatal("the call was made before a person approved it")
	}
	if _, err := g.rt.Approve(context.Background(), g.pid, r.ID, engram.Approval{RequestID: r.Output[1].ID, Approve: true}); err != nil {
		t.Fatal(err)
	}
	done := waitFor(t, g.store, g.pid, r.ID, engram.StatusCompleted, engram.StatusFailed)
	if answer(done) != "tool said: write done" || g.tools["write"].calls.Load() != 1 {
		t.Errorf("approved: %s %q, %d calls", done.Status, answer(done), g.tools["write"].calls.Load())
	}
	// The decision is journaled in the call's step, and was made once: the
	// resumed run acted on it without asking the policies again.
	steps, err := g.store.ListSteps(context.Background(), g.pid, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var decided *engram.Decision
	for _, st := range steps {
		if st.Kind == engram.StepTool {
			decided = st.Decision
		}
	}
	if decided == nil || decided.Effect != engram.DecisionAsk || decided.Reason != "writes need a person" {
		t.Errorf("the tool step's decision: %+v", decided)
	}
	if r := g.ask(t, `call write {"path":"/etc/passwd"}`); r.Status != engram.StatusCompleted || !strings.HasPrefix(answer(r), "tool said: Refused by policy: forbidden by writes#2") {
		t.Errorf("forbid beats ask: %s %q", r.Status, answer(r))
	}
	want := "policy.decide write ask|tool.call write success|policy.decide write deny"
	if got := strings.Join(g.audit.lines(), "|"); got != want {
		t.Errorf("audit %q, want %q", got, want)
	}
}

// TestPolicyAuditFailsClosed: a decision that cannot be recorded is not
// acted on: the call is not made, and the run is not failed either (it
// resumes, as after the store was unavailable).
func TestPolicyAuditFailsClosed(t *testing.T) {
	g := setupGoverned(t, nil, "effect")
	g.audit.fail.Store(true)
	r, err := ask(g.rt, g.pid, "", `call effect {}`, nil)
	if engram.ErrorCode(err) != engram.EUnavailable {
		t.Fatalf("with the audit log down: %v, want unavailable", err)
	}
	if g.tools["effect"].calls.Load() != 0 {
		t.Fatal("a call was made without its decision recorded")
	}
	if r == nil {
		t.Fatal("no response returned")
	}
	stored, err := g.store.GetResponse(context.Background(), g.pid, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != engram.StatusInProgress {
		t.Errorf("the run is %s, want in_progress (to resume)", stored.Status)
	}
	// The node restarts (as after an outage) and takes its run back from
	// the journal, now that the log takes writes.
	g.audit.fail.Store(false)
	g.rt.Stop()
	rt := runtime.New(g.store, g.rt.Providers, g.rt.Tools, nil)
	rt.PollInterval, rt.Authorizer, rt.Audit = 20*time.Millisecond, g.authz, g.audit
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)
	done := waitFor(t, g.store, g.pid, r.ID, engram.StatusCompleted, engram.StatusFailed)
	if answer(done) != "tool said: effect done" || g.tools["effect"].calls.Load() != 1 {
		t.Errorf("resumed: %s %q, %d calls", done.Status, answer(done), g.tools["effect"].calls.Load())
	}
}

// TestToolFailureAudited: a tool that fails outright (not a refusal the
// model can act on) fails the run, and the call is in the audit log as a
// failure with the error; a refusal is "refused" and the run goes on.
func TestToolFailureAudited(t *testing.T) {
	g := setupGoverned(t, nil, "flaky", "guarded")
	g.tools["flaky"].refuse = func(map[string]any) error { return engram.Errorf(engram.EUpstream, "the upstream broke") }
	g.tools["guarded"].refuse = func(map[string]any) error { return engram.Errorf(engram.EForbidden, "not that address") }
	if _, err := ask(g.rt, g.pid, "", `call flaky {}`, func(req *engram.ResponseRequest) { req.User = "ada" }); engram.ErrorCode(err) != engram.EUpstream {
		t.Errorf("a failing tool: %v, want the run to fail with the tool's error", err)
	}
	if r := g.ask(t, `call guarded {}`); r.Status != engram.StatusCompleted || answer(r) != "tool said: error: not that address" {
		t.Errorf("a refusing tool: %s %q", r.Status, answer(r))
	}
	want := "policy.decide flaky allow|tool.call flaky failure|policy.decide guarded allow|tool.call guarded refused"
	if got := strings.Join(g.audit.lines(), "|"); got != want {
		t.Errorf("audit %q, want %q", got, want)
	}
	g.audit.mu.Lock()
	details := string(g.audit.entries[1].Details)
	g.audit.mu.Unlock()
	if !strings.Contains(details, "the upstream broke") {
		t.Errorf("the failure's details: %s", details)
	}
}
