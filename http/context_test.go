package http_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestUsageEndpoint: usage totals per project and per conversation show
// what a stateless client would have sent, and a key bound to another user
// sees none of it.
func TestUsageEndpoint(t *testing.T) {
	e := newEnv(t)
	_, conv := e.do(t, "mine/admin", "POST", "/v1/conversations", `{"user":"bob"}`)
	for i := 0; i < 3; i++ {
		code, body := e.do(t, "mine/admin", "POST", "/v1/responses",
			fmt.Sprintf(`{"model":"scripted/echo","conversation":%q,"user":"bob","input":"turn %d of a conversation that keeps its state"}`, id(conv), i))
		if code != 200 {
			t.Fatalf("turn %d: %d %s", i, code, body)
		}
	}
	code, body := e.do(t, "mine/invoker", "GET", "/v1/usage?group_by=conversation&conversation="+id(conv), "")
	if code != 200 {
		t.Fatalf("usage: %d %s", code, body)
	}
	var list struct {
		Data []struct {
			Object               string
			Group                string
			ModelCalls           int `json:"model_calls"`
			InputTokens          int `json:"input_tokens"`
			StatelessInputTokens int `json:"stateless_input_tokens"`
			SavedInputTokens     int `json:"saved_input_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Data) != 1 {
		t.Fatalf("usage body %s (%v)", body, err)
	}
	u := list.Data[0]
	if u.Object != "usage.total" || u.Group != id(conv) || u.ModelCalls != 3 || u.InputTokens == 0 || u.StatelessInputTokens < u.InputTokens {
		t.Errorf("usage = %+v", u)
	}
	if code, body := e.do(t, "mine/ada", "GET", "/v1/usage?user=bob", ""); code != 403 {
		t.Errorf("a key bound to ada asking for bob's usage: %d %s", code, body)
	}
	if code, body := e.do(t, "mine/ada", "GET", "/v1/usage", ""); code != 200 || strings.Contains(body, "input_tokens") {
		t.Errorf("a key bound to ada sees usage that is not hers: %d %s", code, body)
	}
	if code, body := e.do(t, "theirs/admin", "GET", "/v1/usage?conversation="+id(conv), ""); code != 404 {
		t.Errorf("another project's conversation: %d %s", code, body)
	}
	if code, _ := e.do(t, "mine/admin", "GET", "/v1/usage?group_by=nonsense", ""); code != 400 {
		t.Errorf("a bad group_by: %d", code)
	}
}

// TestCompactEndpoints: /v1/responses/compact answers in OpenAI's shape
// and its output is accepted back as input; input_tokens counts a
// conversation's window.
func TestCompactEndpoints(t *testing.T) {
	e := newEnv(t)
	var input []string
	for i := 0; i < 8; i++ {
		input = append(input, fmt.Sprintf(`{"role":"user","content":"Fact %d: the queen of hive %d is marked %s. More words about the apiary follow here."}`, i, i, []string{"blue", "red"}[i%2]))
	}
	code, body := e.do(t, "mine/invoker", "POST", "/v1/responses/compact", `{"model":"scripted/echo","input":[`+strings.Join(input, ",")+`]}`)
	if code != 200 {
		t.Fatalf("compact: %d %s", code, body)
	}
	var c struct {
		Object string
		Output []json.RawMessage
		Usage  struct {
			InputTokens int `json:"input_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil || c.Object != "response.compaction" || len(c.Output) < 2 || c.Usage.InputTokens == 0 {
		t.Fatalf("compact body %s (%v)", body, err)
	}
	if !strings.Contains(string(c.Output[0]), `"type":"compaction"`) || !strings.Contains(string(c.Output[0]), "Fact 0") {
		t.Errorf("first output item %s", c.Output[0])
	}
	next, _ := json.Marshal(c.Output)
	code, body = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/recall","input":`+string(next)+`}`)
	if code != 200 {
		t.Fatalf("the compacted output as input: %d %s", code, body)
	}

	_, conv := e.do(t, "mine/invoker", "POST", "/v1/conversations", `{"items":[`+strings.Join(input, ",")+`]}`)
	code, body = e.do(t, "mine/invoker", "POST", "/v1/responses/input_tokens", fmt.Sprintf(`{"model":"scripted/echo","conversation":%q,"input":"and?"}`, id(conv)))
	if code != 200 || !strings.Contains(body, `"object":"response.input_tokens"`) {
		t.Fatalf("input_tokens: %d %s", code, body)
	}
	var n struct {
		InputTokens int `json:"input_tokens"`
	}
	_ = json.Unmarshal([]byte(body), &n)
	if n.InputTokens < 8*15 {
		t.Errorf("input_tokens = %d for eight messages of about twenty tokens", n.InputTokens)
	}
	for _, bad := range []string{
		`{"model":"scripted/echo","context_management":[{"type":"compaction","compact_threshold":10}],"input":"x"}`,
		`{"model":"scripted/echo","context_management":[{"type":"clear"}],"input":"x"}`,
		`{"model":"scripted/echo","context_management":[],"input":"x"}`,
	} {
		if code, body := e.do(t, "mine/invoker", "POST", "/v1/responses", bad); code != 400 || !strings.Contains(body, `"param":"context_management`) {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
	if code, body := e.do(t, "mine/invoker", "POST", "/v1/responses/compact", `{"model":"scripted/echo","input":"x","stream":true}`); code != 400 || !strings.Contains(body, "unknown_parameter") {
		t.Errorf("compact with an unknown field: %d %s", code, body)
	}
}

// TestExtractionEndpoint: an agent that extracts after every turn; the
// conversation's extraction status reaches idle and the user's records
// hold what they said, visible through /v1/memory/records.
func TestExtractionEndpoint(t *testing.T) {
	e := newEnv(t)
	code, body := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo","memory":{"extraction":{"every_turns":1}}}`)
	if code != 200 {
		t.Fatalf("agent: %d %s", code, body)
	}
	_, conv := e.do(t, "mine/admin", "POST", "/v1/conversations", `{"agent":"keeper","user":"ada"}`)
	if code, body := e.do(t, "mine/ada", "GET", "/v1/conversations/"+id(conv)+"/extraction", ""); code != 200 || !strings.Contains(body, `"status":"off"`) {
		t.Errorf("before any turn: %d %s", code, body)
	}
	if code, body := e.do(t, "mine/ada", "POST", "/v1/responses", fmt.Sprintf(`{"model":"agent/keeper","conversation":%q,"input":"My bees live in Sintra."}`, id(conv))); code != 200 {
		t.Fatalf("turn: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body = e.do(t, "mine/ada", "GET", "/v1/conversations/"+id(conv)+"/extraction", "")
		if strings.Contains(body, `"status":"idle"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 200 || !strings.Contains(body, `"object":"memory.extraction"`) || !strings.Contains(body, `"records":1`) {
		t.Fatalf("extraction status: %d %s", code, body)
	}
	code, body = e.do(t, "mine/ada", "GET", "/v1/memory/records?agent=keeper", "")
	if code != 200 || !strings.Contains(body, "My bees live in Sintra.") || !strings.Contains(body, `"source":"extraction"`) {
		t.Errorf("ada's records: %d %s", code, body)
	}
	if code, _ := e.do(t, "theirs/admin", "GET", "/v1/conversations/"+id(conv)+"/extraction", ""); code != 404 {
		t.Errorf("another project's conversation: %d", code)
	}
}
