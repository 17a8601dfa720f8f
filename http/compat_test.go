package http_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// TestResponseObjectFields: a response carries every field OpenAI's
// Response schema requires, and the ones the SDKs read (nullable ones as
// null), so typed clients find them all.
func TestResponseObjectFields(t *testing.T) {
	e := newEnv(t)
	status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":"hi","prompt_cache_key":"k1"}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var r map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"id", "object", "created_at", "status", "completed_at", "error", "incomplete_details", "instructions",
		"model", "tools", "output", "parallel_tool_calls", "metadata", "tool_choice", "temperature", "top_p", "background",
		"conversation", "max_output_tokens", "max_tool_calls", "previous_response_id", "prompt", "prompt_cache_key",
		"prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "text", "top_logprobs",
		"truncation", "usage", "user"} {
		if _, ok := r[f]; !ok {
			t.Errorf("response lacks %q", f)
		}
	}
	if string(r["prompt_cache_key"]) != `"k1"` {
		t.Errorf("prompt_cache_key %s, want the request's", r["prompt_cache_key"])
	}
	var usage struct {
		InputTokensDetails map[string]int `json:"input_tokens_details"`
	}
	json.Unmarshal(r["usage"], &usage)
	for _, f := range []string{"cached_tokens", "cache_write_tokens"} {
		if _, ok := usage.InputTokensDetails[f]; !ok {
			t.Errorf("usage.input_tokens_details lacks %q: %s", f, r["usage"])
		}
	}
}

// TestResentItemIDs: a client keeping its own history sends output items
// back with their ids (OpenAI's manual function-calling pattern). Without
// previous_response_id or a conversation that starts a new log, where each
// gets a fresh id; repeating an item of the context a request continues is
// OpenAI's 400 "Duplicate item".
func TestResentItemIDs(t *testing.T) {
	e := newEnv(t)
	tools := `"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{}}}]`
	_, first := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/tools","input":"Weather?",`+tools+`}`)
	var r struct {
		ID     string            `json:"id"`
		Output []json.RawMessage `json:"output"`
	}
	json.Unmarshal([]byte(first), &r)
	if len(r.Output) != 1 {
		t.Fatalf("first: %s", first)
	}
	var call struct{ ID, CallID string }
	json.Unmarshal(r.Output[0], &struct {
		ID     *string `json:"id"`
		CallID *string `json:"call_id"`
	}{&call.ID, &call.CallID})
	input := `[{"role":"user","content":"Weather?"},` + string(r.Output[0]) + `,{"type":"function_call_output","call_id":"` + call.CallID + `","output":"rainy"}]`
	for i := 0; i < 2; i++ { // twice: each time a new log, each time a fresh id
		status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/tools","input":`+input+`,`+tools+`}`)
		if status != 200 || !strings.Contains(body, `"text":"tool said: rainy"`) {
			t.Fatalf("re-sent items, try %d: %d %s", i, status, body)
		}
		_, items := e.do(t, "mine/invoker", "GET", "/v1/responses/"+id(body)+"/input_items?order=asc", "")
		if !strings.Contains(items, `"type":"function_call"`) || strings.Contains(items, call.ID) {
			t.Errorf("the re-sent call should be in the input with a fresh id (not %s): %s", call.ID, items)
		}
	}
	// Continuing the response that made the call, and sending the call again.
	status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/tools","previous_response_id":"`+r.ID+`","input":[`+string(r.Output[0])+`,{"type":"function_call_output","call_id":"`+call.CallID+`","output":"rainy"}],`+tools+`}`)
	if status != 400 || !strings.Contains(body, "Duplicate item found with id "+call.ID) || !strings.Contains(body, `"param":"input"`) {
		t.Errorf("duplicate of the context: %d %s", status, body)
	}
	// The same id twice in one input.
	status, body = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":[{"id":"msg_a","role":"user","content":"x"},{"id":"msg_a","role":"user","content":"y"}]}`)
	if status != 400 || !strings.Contains(body, "Duplicate item") {
		t.Errorf("the same id twice: %d %s", status, body)
	}
	// A conversation's items sent to it again as input.
	_, conv := e.do(t, "mine/invoker", "POST", "/v1/conversations", `{"items":[{"role":"user","content":"first"}]}`)
	_, items := e.do(t, "mine/invoker", "GET", "/v1/conversations/"+id(conv)+"/items", "")
	var list struct{ Data []json.RawMessage }
	json.Unmarshal([]byte(items), &list)
	status, body = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","conversation":"`+id(conv)+`","input":[`+string(list.Data[0])+`]}`)
	if status != 400 || !strings.Contains(body, "Duplicate item") {
		t.Errorf("a conversation's own item as input: %d %s", status, body)
	}
	// An item copied into another conversation keeps its content, with an id of its own.
	status, body = e.do(t, "mine/invoker", "POST", "/v1/conversations", `{"items":[`+string(list.Data[0])+`]}`)
	if status != 200 {
		t.Fatalf("a conversation made of another's item: %d %s", status, body)
	}
	_, copied := e.do(t, "mine/invoker", "GET", "/v1/conversations/"+id(body)+"/items", "")
	if !strings.Contains(copied, `"text":"first"`) || strings.Contains(copied, id(string(list.Data[0]))) {
		t.Errorf("copied item: %s", copied)
	}
}

// TestStoreFalseLeavesNothing: store: false keeps no response, no items,
// no usage and nothing searchable, in a conversation too; background mode
// needs store.
func TestStoreFalseLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, conv := e.do(t, "mine/invoker", "POST", "/v1/conversations", `{"items":[{"role":"user","content":"kept words"}]}`)
	for _, body := range []string{
		`{"model":"scripted/recall","input":"zebrafish ephemeral","store":false}`,
		`{"model":"scripted/recall","input":"zebrafish ephemeral","store":false,"stream":true}`,
		`{"model":"scripted/recall","input":"zebrafish ephemeral","store":false,"conversation":"` + id(conv) + `"}`,
	} {
		status, out := e.do(t, "mine/invoker", "POST", "/v1/responses", body)
		if status != 200 || !strings.Contains(out, "zebrafish ephemeral") {
			t.Fatalf("%s: %d %s", body, status, out)
		}
		if strings.Contains(body, "conversation") && !strings.Contains(out, "kept words | zebrafish ephemeral") {
			t.Errorf("a store:false turn in a conversation should read it: %s", out)
		}
	}
	if _, list := e.do(t, "mine/invoker", "GET", "/v1/responses", ""); strings.Contains(list, `"id":"resp_`) {
		t.Errorf("store:false responses are listed: %s", list)
	}
	if _, convs := e.do(t, "mine/invoker", "GET", "/v1/conversations", ""); strings.Count(convs, `"id":"conv_`) != 1 {
		t.Errorf("store:false made conversations: %s", convs)
	}
	if _, items := e.do(t, "mine/invoker", "GET", "/v1/conversations/"+id(conv)+"/items", ""); strings.Contains(items, "zebrafish") {
		t.Errorf("a store:false turn was added to its conversation: %s", items)
	}
	if _, usage := e.do(t, "mine/invoker", "GET", "/v1/usage", ""); !strings.Contains(usage, `"data":[]`) {
		t.Errorf("store:false turns left usage: %s", usage)
	}
	var pid string
	projects, _ := e.store.ListProjects(ctx)
	for _, p := range projects {
		if p.Name == "mine" {
			pid = p.ID
		}
	}
	hits, err := e.store.SearchItemsText(ctx, engram.MemoryScope{ProjectID: pid}, []string{"zebrafish"}, 10, "")
	if err != nil || len(hits) != 0 {
		t.Errorf("store:false input is searchable: %v %v", hits, err)
	}
	status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":"x","store":false,"background":true}`)
	if status != 400 || !strings.Contains(body, `"param":"background"`) {
		t.Errorf("background without store: %d %s", status, body)
	}
}

// TestStreamGoldenFunctionCall fixes the stream of a response that ends
// with a call for the client to make.
func TestStreamGoldenFunctionCall(t *testing.T) {
	e := newEnv(t)
	status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/tools","input":"Weather in Lisbon?","stream":true,
		"tools":[{"type":"function","name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	checkGolden(t, "stream_function_call.golden", body)
}

// TestStreamGoldenCompaction fixes the stream of a response whose context
// passed its agent's compact_threshold: the compaction item comes first.
func TestStreamGoldenCompaction(t *testing.T) {
	e := newEnv(t)
	var items []string
	for i := 0; i < 12; i++ {
		items = append(items, `{"role":"user","content":"Hive `+string(rune('A'+i))+` needs checking. `+strings.Repeat("The bees are calm and the frames are full of brood. ", 8)+`"}`)
	}
	if status, body := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo",
		"context":{"budget_tokens":4000,"keep_tokens":200,"compact_threshold":1000}}`); status != 200 {
		t.Fatalf("agent: %d %s", status, body)
	}
	_, conv := e.do(t, "mine/invoker", "POST", "/v1/conversations", `{"agent":"keeper","items":[`+strings.Join(items, ",")+`]}`)
	status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","input":"Which hive first?","stream":true,
		"conversation":"`+id(conv)+`"}`)
	if status != 200 || !strings.Contains(body, `"type":"compaction"`) {
		t.Fatalf("%d %s", status, body)
	}
	checkGolden(t, "stream_compaction.golden", strings.ReplaceAll(body, id(conv), "conv_ID"))
}

// TestGetStreamFromBody: openai-go's GetStreaming sends {"stream": true} as
// the body of its GET rather than in the query; both ask for the stream.
func TestGetStreamFromBody(t *testing.T) {
	e := newEnv(t)
	_, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":"again"}`)
	for _, tc := range []struct{ query, body string }{{"?stream=true&starting_after=8", ""}, {"?starting_after=8", `{"stream":true}`}} {
		status, out := e.do(t, "mine/invoker", "GET", "/v1/responses/"+id(body)+tc.query, tc.body)
		if status != 200 || !strings.HasPrefix(out, "event: ") || !strings.Contains(out, "event: response.completed") {
			t.Errorf("%s %s: %d %s", tc.query, tc.body, status, out)
		}
	}
	if _, out := e.do(t, "mine/invoker", "GET", "/v1/responses/"+id(body), ""); !strings.HasPrefix(out, `{"id":`) {
		t.Errorf("plain retrieve: %s", out)
	}
}
