package http_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

type retentionOut struct {
	Object            string `json:"object"`
	ConversationsDays int    `json:"conversations_days"`
	ResponsesDays     int    `json:"responses_days"`
	EventsDays        int    `json:"events_days"`
}

func TestRetentionPolicy(t *testing.T) {
	e := newEnv(t)
	var got retentionOut
	e.call(t, "mine/invoker", "GET", "/v1/retention", "", &got)
	if got != (retentionOut{Object: "retention"}) {
		t.Errorf("a new project's policy = %+v, want all zero (keep for ever)", got)
	}
	if status, body := e.do(t, "mine/invoker", "POST", "/v1/retention", `{"conversations_days":1}`); status != 403 {
		t.Errorf("an invoker sets the policy: %d %s", status, body)
	}
	e.call(t, "mine/admin", "POST", "/v1/retention", `{"conversations_days":30,"events_days":1}`, &got)
	if got != (retentionOut{Object: "retention", ConversationsDays: 30, EventsDays: 1}) {
		t.Errorf("set = %+v", got)
	}
	// Only the fields given change.
	e.call(t, "mine/admin", "POST", "/v1/retention", `{"responses_days":7}`, &got)
	e.call(t, "mine/invoker", "GET", "/v1/retention", "", &got)
	if got != (retentionOut{Object: "retention", ConversationsDays: 30, ResponsesDays: 7, EventsDays: 1}) {
		t.Errorf("after a partial update = %+v", got)
	}
	e.call(t, "theirs/invoker", "GET", "/v1/retention", "", &got)
	if got.ConversationsDays != 0 {
		t.Errorf("another project's policy changed: %+v", got)
	}

	for _, tt := range []struct{ body, want string }{
		{`{"conversations_days":-1}`, `"param":"conversations_days"`},
		{`{"events_days":36501}`, `"param":"events_days"`},
		{`{"responses_days":"week"}`, `"code":"invalid_type"`},
		{`{"responses_days":1.5}`, `"code":"invalid_type"`},
		{`{"days":3}`, `"param":"days"`},
		{`[]`, `invalid`},
	} {
		status, body := e.do(t, "mine/admin", "POST", "/v1/retention", tt.body)
		if status != 400 || !strings.Contains(body, tt.want) {
			t.Errorf("POST %s: %d %s, want 400 with %s", tt.body, status, body, tt.want)
		}
	}
	e.call(t, "mine/invoker", "GET", "/v1/retention", "", &got)
	if got.ConversationsDays != 30 {
		t.Errorf("a refused update changed the policy: %+v", got)
	}
}

func TestAgentRetention(t *testing.T) {
	e := newEnv(t)
	var a struct {
		ID        string            `json:"id"`
		Retention *engram.Retention `json:"retention"`
	}
	e.call(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo","retention":{"conversations_days":365}}`, &a)
	if a.Retention == nil || *a.Retention != (engram.Retention{ConversationsDays: 365}) {
		t.Errorf("created with retention %+v", a.Retention)
	}
	// Another field's update leaves it; null removes it.
	e.call(t, "mine/admin", "POST", "/v1/agents/keeper", `{"description":"keeps bees"}`, &a)
	if a.Retention == nil || a.Retention.ConversationsDays != 365 {
		t.Errorf("after another update: %+v", a.Retention)
	}
	a.Retention = nil // absent from the answer leaves it as it was
	e.call(t, "mine/admin", "POST", "/v1/agents/keeper", `{"retention":null}`, &a)
	if a.Retention != nil {
		t.Errorf("after retention null: %+v, want the project's policy", a.Retention)
	}
	// A developer may manage agents, but not their retention: it replaces
	// the project's policy, which is an admin's.
	if status, body := e.do(t, "mine/developer", "POST", "/v1/agents", `{"name":"y","model":"scripted/echo","retention":{"conversations_days":1}}`); status != 403 || !strings.Contains(body, `"param":"retention"`) {
		t.Errorf("a developer creates an agent with retention: %d %s, want 403", status, body)
	}
	if status, body := e.do(t, "mine/developer", "POST", "/v1/agents/keeper", `{"retention":{}}`); status != 403 {
		t.Errorf("a developer updates an agent's retention: %d %s, want 403", status, body)
	}
	if status, body := e.do(t, "mine/developer", "POST", "/v1/agents/keeper", `{"description":"still keeps bees"}`); status != 200 {
		t.Errorf("a developer updates another field: %d %s", status, body)
	}
	for _, tt := range []struct{ body, want string }{
		{`{"name":"x","model":"scripted/echo","retention":{"responses_days":-2}}`, `"param":"retention.responses_days"`},
		{`{"name":"x","model":"scripted/echo","retention":{"days":2}}`, `"param":"retention.days"`},
		{`{"name":"x","model":"scripted/echo","retention":7}`, `"param":"retention"`},
	} {
		status, body := e.do(t, "mine/admin", "POST", "/v1/agents", tt.body)
		if status != 400 || !strings.Contains(body, tt.want) {
			t.Errorf("POST /v1/agents %s: %d %s, want 400 with %s", tt.body, status, body, tt.want)
		}
	}
}

func TestRetentionLog(t *testing.T) {
	e := newEnv(t)
	var conv struct{ ID string }
	e.call(t, "mine/admin", "POST", "/v1/conversations", `{"items":[{"role":"user","content":"old words"}]}`, &conv)
	pid := projectOf(t, e, "mine/admin")
	p := engram.Purge{ProjectID: pid, Kind: engram.PurgeConversations, Policy: engram.Retention{ConversationsDays: 1}, Now: engram.Now() + 2*86400, Pass: "rpass_x"}
	if _, err := e.store.Purge(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.do(t, "mine/admin", "GET", "/v1/conversations/"+conv.ID, ""); status != 404 {
		t.Errorf("the purged conversation answers %d", status)
	}
	var log struct {
		Object string `json:"object"`
		Data   []struct {
			Object  string `json:"object"`
			Pass    string `json:"pass"`
			Kind    string `json:"kind"`
			Deleted int    `json:"deleted"`
			Rows    int    `json:"rows"`
		} `json:"data"`
	}
	e.call(t, "mine/admin", "GET", "/v1/retention/log?limit=10", "", &log)
	if log.Object != "list" || len(log.Data) != 1 || log.Data[0].Object != "retention.purge" || log.Data[0].Pass != "rpass_x" ||
		log.Data[0].Kind != "conversations" || log.Data[0].Deleted != 1 || log.Data[0].Rows != 2 {
		t.Errorf("log = %+v", log)
	}
	e.call(t, "theirs/admin", "GET", "/v1/retention/log", "", &log)
	if len(log.Data) != 0 {
		t.Errorf("another project sees %d log entries", len(log.Data))
	}
	if status, _ := e.do(t, "mine/invoker", "GET", "/v1/retention/log", ""); status != 403 {
		t.Errorf("an invoker reads the log: %d", status)
	}
	if status, _ := e.do(t, "mine/admin", "GET", "/v1/retention/log?limit=1000", ""); status != 400 {
		t.Errorf("limit 1000: %d", status)
	}
}

// projectOf returns the project of a key of the env.
func projectOf(t *testing.T, e *env, key string) string {
	t.Helper()
	k, err := e.store.FindAPIKey(context.Background(), engram.HashKey(e.keys[key]))
	if err != nil {
		t.Fatal(err)
	}
	return k.ProjectID
}

func TestRetentionInOpenAPI(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	e.call(t, "", "GET", "/openapi.json", "", &doc)
	for path, methods := range map[string][]string{"/v1/retention": {"get", "post"}, "/v1/retention/log": {"get"}} {
		for _, m := range methods {
			if op := doc.Paths[path][m]; !strings.Contains(string(op), "#/components/schemas/Retention") {
				t.Errorf("openapi.json: %s %s has no retention schema: %s", m, path, op)
			}
		}
	}
	if !strings.Contains(string(doc.Components.Schemas["Retention"]), "conversations_days") {
		t.Errorf("Retention schema: %s", doc.Components.Schemas["Retention"])
	}
}
