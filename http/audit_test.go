package http_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

type auditList struct {
	Object  string               `json:"object"`
	Data    []*engram.AuditEntry `json:"data"`
	HasMore bool                 `json:"has_more"`
	FirstID string               `json:"first_id"`
	LastID  string               `json:"last_id"`
}

type auditVerification struct {
	Valid    bool   `json:"valid"`
	Entries  int64  `json:"entries"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	Error    *struct {
		Seq     int64  `json:"seq"`
		Message string `json:"message"`
	} `json:"error"`
}

// keyID is the id of a named key of the env.
func (e *env) keyID(t *testing.T, name string) string {
	t.Helper()
	k, err := e.store.FindAPIKey(context.Background(), engram.HashKey(e.keys[name]))
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

// TestAuditMutations: every request that changes state is recorded once
// answered, with who made it, the route, what it named or made and how it
// ended, and nothing of its body; reads, stateless calls and requests
// without a valid key are not; each project sees its own chain, which
// verifies.
func TestAuditMutations(t *testing.T) {
	e := newEnv(t)
	admin, ada := e.keyID(t, "mine/admin"), e.keyID(t, "mine/ada")

	var agent struct{ ID string }
	e.call(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo","instructions":"the-secret-instructions"}`, &agent)
	var key struct{ ID, Key string }
	e.call(t, "mine/admin", "POST", "/v1/keys", `{"name":"ci","role":"invoker"}`, &key)
	var resp struct{ ID string }
	e.call(t, "mine/ada", "POST", "/v1/responses", `{"model":"scripted/echo","input":"the-users-words"}`, &resp)
	if status, body := e.do(t, "mine/invoker", "POST", "/v1/agents", `{"name":"x","model":"scripted/echo"}`); status != 403 {
		t.Fatalf("an invoker creates an agent: %d %s", status, body)
	}
	if status, _ := e.do(t, "mine/admin", "POST", "/v1/agents/keeper", `{"nonsense":1}`); status != 400 {
		t.Fatalf("a bad update: %d", status)
	}
	// Not recorded: no valid key, reads, stateless calls.
	e.do(t, "", "POST", "/v1/agents", `{"name":"y","model":"scripted/echo"}`)
	e.do(t, "sk-engram-wrong", "DELETE", "/v1/agents/keeper", ``)
	e.do(t, "mine/admin", "GET", "/v1/agents", ``)
	e.do(t, "mine/admin", "POST", "/v1/chat/completions", `{"model":"scripted/echo","messages":[{"role":"user","content":"hi"}]}`)
	e.do(t, "mine/admin", "POST", "/v1/responses/input_tokens", `{"model":"scripted/echo","input":"hi"}`)
	e.do(t, "mine/admin", "POST", "/v1/memory/records/search", `{"query":"hives"}`)
	e.do(t, "mine/admin", "POST", "/v1/messages", `{"model":"scripted/echo","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	// A stateful Messages turn appends to a conversation: recorded.
	var conv struct{ ID string }
	e.call(t, "mine/admin", "POST", "/v1/conversations", `{}`, &conv)
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/messages", strings.NewReader(`{"model":"scripted/echo","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+e.keys["mine/admin"])
	req.Header.Set("X-Engram-Conversation", conv.ID)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("a stateful Messages turn: %d", res.StatusCode)
	}
	e.call(t, "mine/admin", "DELETE", "/v1/agents/keeper", ``, &struct{}{})

	status, body := e.do(t, "mine/admin", "GET", "/v1/audit", "")
	if status != 200 {
		t.Fatalf("GET /v1/audit: %d %s", status, body)
	}
	for _, secret := range []string{"the-secret-instructions", "the-users-words", key.Key, e.keys["mine/admin"]} {
		if strings.Contains(body, secret) {
			t.Errorf("the audit log holds %q: %s", secret, body)
		}
	}
	var list auditList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	type row struct{ actor, action, resource, outcome string }
	want := []row{
		{"key:" + admin, "POST /v1/agents", agent.ID, engram.AuditSuccess},
		{"key:" + admin, "POST /v1/keys", key.ID, engram.AuditSuccess},
		{"key:" + ada + " user:ada", "POST /v1/responses", resp.ID, engram.AuditSuccess},
		{"key:" + e.keyID(t, "mine/invoker"), "POST /v1/agents", "", engram.AuditFailure},
		{"key:" + admin, "POST /v1/agents/{ref}", "keeper", engram.AuditFailure},
		{"key:" + admin, "POST /v1/conversations", conv.ID, engram.AuditSuccess},
		{"key:" + admin, "POST /v1/messages", "", engram.AuditSuccess},
		{"key:" + admin, "DELETE /v1/agents/{ref}", "keeper", engram.AuditSuccess},
	}
	if len(list.Data) != len(want) {
		for _, e := range list.Data {
			t.Logf("%+v", e)
		}
		t.Fatalf("%d entries, want %d", len(list.Data), len(want))
	}
	for i, w := range want {
		got := list.Data[i]
		if w.action == "POST /v1/messages" {
			w.resource = got.Resource // the message's id, made on the way
			if !strings.HasPrefix(got.Resource, "msg_") {
				t.Errorf("a Messages turn's resource: %q", got.Resource)
			}
		}
		if (row{got.Actor, got.Action, got.Resource, got.Outcome}) != w || got.Seq != int64(i+1) {
			t.Errorf("entry %d = %+v, want %+v", i+1, got, w)
		}
		var d struct {
			Status    int    `json:"status"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(got.Details, &d); err != nil || d.Status == 0 || !strings.HasPrefix(d.RequestID, "req_") {
			t.Errorf("entry %d details %s", i+1, got.Details)
		}
	}
	if list.Data[3].Details == nil || !strings.Contains(string(list.Data[3].Details), `"status":403`) {
		t.Errorf("the refused create's details: %s", list.Data[3].Details)
	}
	if list.FirstID != "1" || list.LastID != "8" || list.HasMore {
		t.Errorf("list page: first %s last %s more %v", list.FirstID, list.LastID, list.HasMore)
	}
	if err := engram.VerifyAudit(list.Data, engram.AuditGenesis); err != nil {
		t.Errorf("the chain as served: %v", err)
	}

	// Filters, order and paging.
	for _, tt := range []struct {
		query string
		seqs  []int64
		more  bool
	}{
		{"outcome=failure", []int64{4, 5}, false},
		{"actor=" + url.QueryEscape("key:"+ada+" user:ada"), []int64{3}, false},
		{"action=" + url.QueryEscape("POST /v1/agents"), []int64{1, 4}, false},
		{"resource=keeper&order=desc", []int64{8, 5}, false},
		{"order=desc&limit=3", []int64{8, 7, 6}, true},
		{"order=desc&limit=3&after=6", []int64{5, 4, 3}, true},
		{"limit=2&after=2", []int64{3, 4}, true},
		{"limit=2&before=5", []int64{3, 4}, true},
		{"from=" + itoa(list.Data[0].Time) + "&to=" + itoa(list.Data[0].Time), nil, false},
		{"from=" + itoa(list.Data[0].Time) + "&limit=1", []int64{1}, true},
	} {
		var got auditList
		e.call(t, "mine/admin", "GET", "/v1/audit?"+tt.query, "", &got)
		var seqs []int64
		for _, x := range got.Data {
			seqs = append(seqs, x.Seq)
		}
		if !equalSeqs(seqs, tt.seqs) || got.HasMore != tt.more {
			t.Errorf("?%s = %v (more %v), want %v (more %v)", tt.query, seqs, got.HasMore, tt.seqs, tt.more)
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "order=up", "outcome=maybe", "from=yesterday", "after=-1"} {
		if status, body := e.do(t, "mine/admin", "GET", "/v1/audit?"+q, ""); status != 400 || !strings.Contains(body, `"param"`) {
			t.Errorf("?%s: %d %s", q, status, body)
		}
	}
	if _, doc := e.do(t, "", "GET", "/openapi.json", ""); !strings.Contains(doc, `"/v1/audit"`) || !strings.Contains(doc, `"/v1/audit/verify"`) {
		t.Errorf("openapi.json lacks the audit routes")
	}
	if status, _ := e.do(t, "mine/developer", "GET", "/v1/audit", ""); status != 403 {
		t.Errorf("a developer reads the audit log: %d", status)
	}
	var theirs auditList
	e.call(t, "theirs/admin", "GET", "/v1/audit", "", &theirs)
	if len(theirs.Data) != 0 {
		t.Errorf("another project sees %d entries", len(theirs.Data))
	}

	// Verification on the server, then after an edit made behind its back.
	var v auditVerification
	e.call(t, "mine/admin", "GET", "/v1/audit/verify", "", &v)
	if !v.Valid || v.Entries != 8 || v.HeadSeq != 8 || v.HeadHash != list.Data[7].Hash || v.Error != nil {
		t.Errorf("verify: %+v", v)
	}
	e.call(t, "mine/admin", "GET", "/v1/audit/verify?expect_head="+list.Data[7].Hash, "", &v)
	if !v.Valid {
		t.Errorf("verify with the head: %+v", v)
	}
	e.call(t, "mine/admin", "GET", "/v1/audit/verify?expect_head="+strings.Repeat("ab", 32), "", &v)
	if v.Valid || v.Error == nil || !strings.Contains(v.Error.Message, "expected hash") {
		t.Errorf("verify with another head: %+v", v)
	}
	// A stream is recorded when it ends, naming the response its first
	// event made.
	status, body = e.do(t, "mine/admin", "POST", "/v1/responses", `{"model":"scripted/echo","input":"hi","stream":true}`)
	if status != 200 || !strings.HasPrefix(body, "event: response.created") {
		t.Fatalf("a streamed response: %d %.80s", status, body)
	}
	var streamed auditList
	e.call(t, "mine/admin", "GET", "/v1/audit?after=8", "", &streamed)
	if len(streamed.Data) != 1 || streamed.Data[0].Resource != id(body) || !strings.HasPrefix(id(body), "resp_") || streamed.Data[0].Outcome != engram.AuditSuccess {
		t.Errorf("the streamed response's entry: %+v (response %s)", streamed.Data, id(body))
	}

	raw, err := sql.Open("sqlite", "file:"+e.store.Path()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET outcome = 'success' WHERE seq = 4`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	e.call(t, "mine/admin", "GET", "/v1/audit/verify", "", &v)
	if v.Valid || v.Error == nil || v.Error.Seq != 4 || v.Entries != 3 || v.HeadSeq != 3 || !strings.Contains(v.Error.Message, "audit entry 4") {
		t.Errorf("verify after an edit: %+v (error %+v)", v, v.Error)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func equalSeqs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
