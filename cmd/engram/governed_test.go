package main

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	_ "modernc.org/sqlite"
)

// TestGovernedAgentRefusals is the check end to end, on a real
// server: a model (scripted) acting for ada tries a tool a policy forbids,
// an SSRF target, bob's memory and a SQL write. Each is refused (by Cedar,
// by the address guard, by Cedar again, by the database), none reaches its
// target, each is in the audit log, and the run goes on to the end with
// each refusal as the tool's result. No connector secret appears in any
// answer, the server's debug log or the exported audit log.
func TestGovernedAgentRefusals(t *testing.T) {
	const secret = "PLANTED-connector-secret-5150"

	// What the refused calls would have reached.
	var wired, internal atomic.Int32
	wire := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { wired.Add(1); io.WriteString(w, "sent") }))
	defer wire.Close()
	metadata := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { internal.Add(1); io.WriteString(w, "role credentials") }))
	defer metadata.Close()
	ledger := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", ledger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER); INSERT INTO accounts VALUES (1, 100), (2, 250)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	srv := startEngram(t, map[string]string{"ENGRAM_LOG_LEVEL": "debug"})
	var answers []string
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.AdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answers = append(answers, string(b))
		return resp.StatusCode, string(b)
	}
	_, metaPort, _ := strings.Cut(strings.TrimPrefix(metadata.URL, "http://"), ":")
	for _, step := range []struct{ path, body string }{
		{"/v1/connectors", `{"name":"ledger","kind":"sqlite","config":{"path":` + quote(ledger) + `}}`},
		{"/v1/connectors", `{"name":"payments","kind":"http","config":{"base_url":"https://payments.example.com"},"secret":{"headers":{"Authorization":"Bearer ` + secret + `"}}}`},
		{"/v1/memory/records", `{"text":"bob's diagnosis is MARK-bob-private","user":"bob","agent":"clerk"}`},
		{"/v1/policies", `{"name":"tools","policy":` + quote(`permit (principal, action, resource) when { context.declared };
@reason("wire transfers need the treasury's approval")
forbid (principal, action == Engram::Action::"wire_money", resource);
@reason("a run reads only the memory of the user it acts for")
forbid (principal, action, resource) when { context.args has user && context.args.user != principal.user };`) + `}`},
	} {
		if step.path == "/v1/memory/records" {
			// The agent first: the record is of its memory.
			if status, body := do("POST", "/v1/agents", `{"name":"clerk","model":"scripted/echo","memory":{"recall":"off"},"tools":[
				{"type":"http","name":"wire_money","url":`+quote(wire.URL)+`},
				{"type":"builtin","name":"http_request","allowed_hosts":["localhost"]},
				{"type":"builtin","name":"memory_search"},
				{"type":"builtin","name":"sql_query","connector":"ledger"}]}`); status != 200 {
				t.Fatalf("create agent: %d %s", status, body)
			}
		}
		if status, body := do("POST", step.path, step.body); status != 200 {
			t.Fatalf("POST %s: %d %s", step.path, status, body)
		}
	}

	plan := strings.Join([]string{
		`call wire_money {"to":"mallory","amount":1000000}`,
		`call http_request {"url":"http://localhost:` + metaPort + `/latest/meta-data/iam/security-credentials/"}`,
		`call memory_search {"query":"diagnosis","user":"bob"}`,
		`call sql_query {"query":"UPDATE accounts SET balance = 0"}`,
	}, "\n")
	status, body := do("POST", "/v1/responses", `{"model":"agent/clerk","user":"ada","input":`+quote(plan)+`}`)
	var r respBody
	if err := json.Unmarshal([]byte(body), &r); err != nil || status != 200 {
		t.Fatalf("response: %d %s", status, body)
	}
	var outputs []string
	for _, o := range r.Output {
		if o.Type == "function_call_output" {
			outputs = append(outputs, o.Output)
		}
	}
	want := []string{
		"Refused by policy: wire transfers need the treasury's approval",
		"loopback",
		"Refused by policy: a run reads only the memory of the user it acts for",
		"this tool only reads",
	}
	if r.Status != "completed" || len(outputs) != len(want) {
		t.Fatalf("the run did not go on past the refusals: %s %d outputs\n%s", r.Status, len(outputs), body)
	}
	for i, w := range want {
		if !strings.Contains(outputs[i], w) {
			t.Errorf("call %d gave the model %q, want it to say %q", i+1, outputs[i], w)
		}
	}
	if !strings.Contains(r.Output[len(r.Output)-1].Content[0].Text, "tools said: ") {
		t.Errorf("the model did not answer after the refusals: %+v", r.Output[len(r.Output)-1])
	}
	if strings.Contains(body, "MARK-bob-private") {
		t.Errorf("bob's memory reached ada's run: %s", body)
	}
	if wired.Load() != 0 || internal.Load() != 0 {
		t.Errorf("refused calls reached their targets: wire %d, internal address %d", wired.Load(), internal.Load())
	}
	db, _ = sql.Open("sqlite", ledger)
	var total int
	if err := db.QueryRow(`SELECT sum(balance) FROM accounts`).Scan(&total); err != nil || total != 350 {
		t.Errorf("the ledger changed: %d %v", total, err)
	}
	db.Close()

	// Each attempt is in the audit log: the decision, and the calls made.
	status, body = do("GET", "/v1/audit?limit=1000", "")
	var log struct {
		Data []struct{ Actor, Action, Resource, Outcome string }
	}
	if err := json.Unmarshal([]byte(body), &log); err != nil || status != 200 {
		t.Fatalf("audit: %d %s", status, body)
	}
	got := map[string]bool{}
	for _, e := range log.Data {
		if strings.HasPrefix(e.Actor, "agent:") {
			if !strings.Contains(e.Actor, "user:ada") {
				t.Errorf("a run's entry names the wrong user: %+v", e)
			}
			got[e.Action+" "+e.Resource+" "+e.Outcome] = true
		}
	}
	for _, w := range []string{
		"policy.decide wire_money deny", "policy.decide memory_search deny",
		"policy.decide http_request allow", "tool.call http_request refused",
		"policy.decide sql_query allow", "tool.call sql_query failure",
	} {
		if !got[w] {
			t.Errorf("the audit log has no %q; it has %v", w, got)
		}
	}
	if got["tool.call wire_money success"] || got["tool.call memory_search success"] {
		t.Errorf("a denied call was made: %v", got)
	}
	// The refusal is found by its outcome.
	if status, body := do("GET", "/v1/audit?outcome=refused", ""); status != 200 || !strings.Contains(body, `"resource":"http_request"`) || strings.Contains(body, `"resource":"sql_query"`) {
		t.Errorf("audit filtered by outcome refused: %d %s", status, body)
	}
	if out, _, err := cli(t, srv, srv.AdminKey, "", "audit", "verify"); err != nil {
		t.Errorf("audit verify: %v %s", err, out)
	}

	// The connector's secret is nowhere: not in any answer, the debug log
	// or an export of the audit log.
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	if _, errOut, err := cli(t, srv, srv.AdminKey, "", "audit", "export", "--out", export); err != nil {
		t.Fatalf("export: %v %s", err, errOut)
	}
	exported, _ := os.ReadFile(export)
	for where, text := range map[string]string{"answers": strings.Join(answers, "\n"), "log": srv.Logs(), "audit export": string(exported)} {
		if strings.Contains(text, secret) {
			t.Errorf("the connector's secret is in the %s", where)
		}
	}
	if !strings.Contains(srv.Logs(), "level=DEBUG") || len(exported) == 0 {
		t.Errorf("nothing to look in: log %d bytes, export %d bytes", len(srv.Logs()), len(exported))
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
