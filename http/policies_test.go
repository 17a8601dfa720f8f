package http_test

import (
	"encoding/json"
	"strings"
	"testing"
)

type policyOut struct {
	ID          string `json:"id"`
	Object      string `json:"object"`
	Name        string `json:"name"`
	Policy      string `json:"policy"`
	Description string `json:"description"`
	Default     bool   `json:"default"`
}

func decodeInto[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

func TestPolicyErrors(t *testing.T) {
	e := newEnv(t)
	status, theirs := e.do(t, "theirs/admin", "POST", "/v1/policies", `{"name":"theirs","policy":"permit (principal, action, resource);"}`)
	if status != 200 {
		t.Fatalf("setup: %d %s", status, theirs)
	}
	tests := []struct {
		name, key, method, path, body string
		status                        int
		contains                      string
	}{
		{"syntax error", "mine/admin", "POST", "/v1/policies", `{"name":"p","policy":"permit (principal, action, resource);\nforbid (principal action, resource);"}`, 400, `at line 2, column`},
		{"syntax error param", "mine/admin", "POST", "/v1/policies", `{"name":"p","policy":"permit (principal, action resource);"}`, 400, `"param":"policy"`},
		{"unknown attribute", "mine/admin", "POST", "/v1/policies", `{"name":"p","policy":"permit (principal, action, resource) when { principal.usr == \"a\" };"}`, 400, `principal has no attribute \"usr\"`},
		{"unknown action type", "mine/admin", "POST", "/v1/policies", `{"name":"p","policy":"permit (principal, action == Action::\"x\", resource);"}`, 400, `Engram::Action`},
		{"empty", "mine/admin", "POST", "/v1/policies", `{"name":"p","policy":"  "}`, 400, `"param":"policy"`},
		{"no name", "mine/admin", "POST", "/v1/policies", `{"policy":"permit (principal, action, resource);"}`, 400, `"param":"name"`},
		{"bad name", "mine/admin", "POST", "/v1/policies", `{"name":"a b","policy":"permit (principal, action, resource);"}`, 400, `"param":"name"`},
		{"reserved name", "mine/admin", "POST", "/v1/policies", `{"name":"default","policy":"permit (principal, action, resource);"}`, 400, `"param":"name"`},
		{"unknown field", "mine/admin", "POST", "/v1/policies", `{"name":"p","text":"x"}`, 400, `"param":"text"`},
		{"developer cannot write", "mine/developer", "POST", "/v1/policies", `{"name":"p","policy":"permit (principal, action, resource);"}`, 403, ``},
		{"invoker cannot read", "mine/invoker", "GET", "/v1/policies", ``, 403, ``},
		{"another project's policy", "mine/admin", "GET", "/v1/policies/" + id(theirs), ``, 404, ``},
		{"delete another project's policy", "mine/admin", "DELETE", "/v1/policies/theirs", ``, 404, ``},
		{"evaluate without tool", "mine/developer", "POST", "/v1/policies/evaluate", `{"agent":"x"}`, 400, `"param":"tool"`},
		{"evaluate unknown agent", "mine/developer", "POST", "/v1/policies/evaluate", `{"agent":"nobody","tool":"x"}`, 404, `"param":"agent"`},
		{"evaluate bad arguments", "mine/developer", "POST", "/v1/policies/evaluate", `{"tool":"x","arguments":[1]}`, 400, `"param":"arguments"`},
	}
	for _, tt := range tests {
		status, body := e.do(t, tt.key, tt.method, tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s, want %d containing %s", tt.name, status, body, tt.status, tt.contains)
		}
	}
	// Nothing half-written: every refused create left the default in place.
	_, list := e.do(t, "mine/developer", "GET", "/v1/policies", "")
	if l := decodeInto[struct{ Data []policyOut }](t, list); len(l.Data) != 1 || !l.Data[0].Default {
		t.Errorf("after refusals: %s", list)
	}
}

// TestPolicyLifecycle: the default shows until a policy is stored; stored
// policies decide runs at once; evaluate answers as the runtime does;
// deleting the last brings the default back.
func TestPolicyLifecycle(t *testing.T) {
	e := newEnv(t)
	if status, body := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo","memory":{"recall":"off"},"tools":[{"type":"builtin","name":"current_time"}]}`); status != 200 {
		t.Fatalf("agent: %d %s", status, body)
	}
	_, list := e.do(t, "mine/developer", "GET", "/v1/policies", "")
	l := decodeInto[struct{ Data []policyOut }](t, list)
	if len(l.Data) != 1 || !l.Data[0].Default || l.Data[0].ID != "default" || !strings.Contains(l.Data[0].Policy, "context.declared") {
		t.Fatalf("default list: %s", list)
	}
	if status, body := e.do(t, "mine/developer", "GET", "/v1/policies/default", ""); status != 200 || !strings.Contains(body, `"default":true`) {
		t.Errorf("GET default: %d %s", status, body)
	}
	run := func() string {
		t.Helper()
		status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","user":"ada","input":"call current_time {}"}`)
		if status != 200 {
			t.Fatalf("response: %d %s", status, body)
		}
		r := decodeInto[struct {
			Status     string `json:"status"`
			OutputText string `json:"output_text"`
			Output     []struct {
				Content []struct{ Text string } `json:"content"`
			} `json:"output"`
		}](t, body)
		last := r.Output[len(r.Output)-1]
		if r.Status != "completed" || len(last.Content) == 0 {
			t.Fatalf("response: %s", body)
		}
		return last.Content[0].Text
	}
	if got := run(); strings.Contains(got, "Refused") {
		t.Fatalf("under the default, a declared tool was refused: %q", got)
	}

	status, created := e.do(t, "mine/admin", "POST", "/v1/policies",
		`{"name":"no-clock","description":"d","policy":"@reason(\"no clocks for ada\")\nforbid (principal in Engram::User::\"ada\", action == Engram::Action::\"current_time\", resource);\npermit (principal, action, resource);"}`)
	p := decodeInto[policyOut](t, created)
	if status != 200 || p.Object != "policy" || p.Name != "no-clock" || p.ID == "" || p.Default {
		t.Fatalf("create: %d %s", status, created)
	}
	if status, body := e.do(t, "mine/admin", "POST", "/v1/policies", `{"name":"no-clock","policy":"permit (principal, action, resource);"}`); status != 409 || !strings.Contains(body, `"param":"name"`) {
		t.Errorf("duplicate name: %d %s", status, body)
	}
	if got := run(); got != "tool said: Refused by policy: no clocks for ada (forbidden by no-clock#1)" {
		t.Errorf("after the forbid: %q", got)
	}
	_, list = e.do(t, "mine/developer", "GET", "/v1/policies", "")
	if l := decodeInto[struct{ Data []policyOut }](t, list); len(l.Data) != 1 || l.Data[0].ID != p.ID {
		t.Errorf("list with one stored: %s", list)
	}
	if status, _ := e.do(t, "mine/developer", "GET", "/v1/policies/default", ""); status != 404 {
		t.Errorf("the default is still shown once a policy is stored: %d", status)
	}

	for _, tt := range []struct{ body, want string }{
		{`{"agent":"keeper","user":"ada","tool":"current_time","arguments":"{}"}`, `"effect":"deny","policies":["no-clock#1"]`},
		{`{"agent":"keeper","user":"bob","tool":"current_time","arguments":{}}`, `"effect":"allow","policies":["no-clock#2"]`},
		{`{"agent":"keeper","user":"ada","tool":"http_request"}`, `"declared":false`},
	} {
		if status, body := e.do(t, "mine/developer", "POST", "/v1/policies/evaluate", tt.body); status != 200 || !strings.Contains(body, tt.want) || !strings.Contains(body, `"object":"policy.decision"`) {
			t.Errorf("evaluate %s: %d %s, want %s", tt.body, status, body, tt.want)
		}
	}

	// An update is checked as a create is, and takes effect at once.
	if status, body := e.do(t, "mine/admin", "POST", "/v1/policies/no-clock", `{"policy":"forbid (principal, action, resource"}`); status != 400 || !strings.Contains(body, "line 1") {
		t.Errorf("bad update: %d %s", status, body)
	}
	if status, body := e.do(t, "mine/admin", "POST", "/v1/policies/"+p.ID, `{"policy":"permit (principal, action, resource);"}`); status != 200 || !strings.Contains(body, `"description":"d"`) {
		t.Errorf("update: %d %s", status, body)
	}
	if got := run(); strings.Contains(got, "Refused") {
		t.Errorf("after the update: %q", got)
	}
	if status, body := e.do(t, "mine/admin", "DELETE", "/v1/policies/no-clock", ""); status != 200 || !strings.Contains(body, `"object":"policy.deleted"`) {
		t.Errorf("delete: %d %s", status, body)
	}
	_, list = e.do(t, "mine/developer", "GET", "/v1/policies", "")
	if l := decodeInto[struct{ Data []policyOut }](t, list); len(l.Data) != 1 || !l.Data[0].Default {
		t.Errorf("after deleting the last: %s", list)
	}

	// The key that started the run is the principal's key and role.
	if status, body := e.do(t, "mine/admin", "POST", "/v1/policies", `{"name":"roles","policy":"@reason(\"invokers tell no time\")\nforbid (principal, action, resource) when { principal.role == \"invoker\" && principal.key != \"\" };\npermit (principal, action, resource);"}`); status != 200 {
		t.Fatalf("roles: %d %s", status, body)
	}
	if got := run(); !strings.HasPrefix(got, "tool said: Refused by policy: invokers tell no time") {
		t.Errorf("an invoker's run under the roles policy: %q", got)
	}
}
