package http_test

import (
	"bufio"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// normChat replaces what changes from run to run in a chat answer: ids
// and times.
func normChat(s string) string {
	s = regexp.MustCompile(`"chatcmpl-[0-9a-z]{32}"`).ReplaceAllString(s, `"chatcmpl-ID"`)
	s = regexp.MustCompile(`"call_[0-9a-z]{32}"`).ReplaceAllString(s, `"call_ID"`)
	return regexp.MustCompile(`"created":\d+`).ReplaceAllString(s, `"created":0`)
}

// TestChatStreamGolden fixes the exact bytes of streamed chat completions,
// plain and with a tool call (ids and times normalised): the shape the
// official clients' accumulators parse.
func TestChatStreamGolden(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, body string }{
		{"chat_stream_echo", `{"model":"scripted/echo","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Stream please"}],"stream":true,"stream_options":{"include_usage":true}}`},
		{"chat_stream_tool_call", `{"model":"scripted/echo","messages":[{"role":"user","content":"call get_weather {\"city\":\"Lisbon\"}"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"stream":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.do(t, "mine/invoker", "POST", "/v1/chat/completions", tc.body)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			norm := normChat(body)
			compareGolden(t, tc.name+".golden", norm)
		})
	}
}

func TestChatCompletions(t *testing.T) {
	e := newEnv(t)
	e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/recall","instructions":"You keep bees."}`)
	tests := []struct {
		name, key, body string
		status          int
		contains        []string
	}{
		{"plain", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"hi"}]}`, 200,
			[]string{`"object":"chat.completion"`, `"content":"echo: hi"`, `"finish_reason":"stop"`, `"role":"assistant"`, `"logprobs":null`, `"prompt_tokens":`, `"system_fingerprint":null`}},
		{"content parts and image", "mine/invoker", `{"model":"scripted/recall","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}}]}]}`, 200,
			[]string{`"content":"look"`}},
		{"history reaches the model", "mine/invoker", `{"model":"scripted/recall","messages":[{"role":"developer","content":"x"},{"role":"user","content":"one"},{"role":"assistant","content":"ok"},{"role":"user","content":"two"}]}`, 200,
			[]string{`"content":"one | two"`}},
		{"tool result", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"w","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}]}`, 200,
			[]string{`"content":"tool said: sunny"`}},
		{"tool call", "mine/invoker", `{"model":"scripted/tools","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"w"}}],"tool_choice":{"type":"function","function":{"name":"w"}}}`, 200,
			[]string{`"finish_reason":"tool_calls"`, `"content":null`, `"type":"function","function":{"name":"w","arguments":"{}"}`}},
		{"agent", "mine/invoker", `{"model":"agent/keeper","messages":[{"role":"user","content":"bees?"}]}`, 200,
			[]string{`"content":"bees?"`, `"model":"agent/keeper"`}},
		{"accepted and ignored", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"x","name":"ada"}],"seed":1,"n":1,"stop":null,"logprobs":false,"store":false,"response_format":{"type":"text"},"frequency_penalty":0.5,"max_tokens":100,"parallel_tool_calls":true,"metadata":{"k":"v"}}`, 200,
			[]string{`"content":"echo: x"`}},
		{"unknown agent", "mine/invoker", `{"model":"agent/nobody","messages":[{"role":"user","content":"x"}]}`, 404, []string{`"code":"model_not_found"`, `"param":"model"`}},
		{"unknown provider", "mine/invoker", `{"model":"nowhere/x","messages":[{"role":"user","content":"x"}]}`, 400, []string{`"param":"model"`}},
		{"unknown parameter", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"x"}],"foo":1}`, 400, []string{`"code":"unknown_parameter"`, `"param":"foo"`}},
		{"unknown message field", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"x","bar":1}]}`, 400, []string{`"code":"unknown_parameter"`, `"param":"messages[0].bar"`}},
		{"no messages", "mine/invoker", `{"model":"scripted/echo","messages":[]}`, 400, []string{`"param":"messages"`}},
		{"no model", "mine/invoker", `{"messages":[{"role":"user","content":"x"}]}`, 400, []string{`"code":"missing_required_parameter"`}},
		{"n above one", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"x"}],"n":2}`, 400, []string{`"code":"unsupported_parameter"`, `"param":"n"`}},
		{"stop sequences", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"x"}],"stop":["\n"]}`, 400, []string{`"code":"unsupported_parameter"`, `"param":"stop"`}},
		{"json mode", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`, 400, []string{`"code":"unsupported_parameter"`}},
		{"orphan tool message", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"tool","tool_call_id":"call_x","content":"x"}]}`, 400, []string{`"param":"messages[0].tool_call_id"`}},
		{"stream options without stream", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, 400, []string{`"param":"stream_options"`}},
		{"bound key names another user", "mine/ada", `{"model":"scripted/echo","messages":[{"role":"user","content":"x"}],"user":"bob"}`, 403, []string{`"param":"user"`}},
		{"no key", "", `{"model":"scripted/echo","messages":[{"role":"user","content":"x"}]}`, 401, []string{`missing_api_key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.do(t, tt.key, "POST", "/v1/chat/completions", tt.body)
			if status != tt.status {
				t.Fatalf("%d %s, want %d", status, body, tt.status)
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("%s lacks %s", body, c)
				}
			}
		})
	}
	// Stateless: none of that left a conversation or a response behind.
	if _, body := e.do(t, "mine/admin", "GET", "/v1/conversations", ""); strings.Contains(body, `"id"`) {
		t.Errorf("chat completions left conversations: %s", body)
	}
	if _, body := e.do(t, "mine/admin", "GET", "/v1/responses", ""); strings.Contains(body, `"id"`) {
		t.Errorf("chat completions left responses: %s", body)
	}
}

func TestModels(t *testing.T) {
	e := newEnv(t)
	e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/recall"}`)
	e.do(t, "theirs/admin", "POST", "/v1/agents", `{"name":"spy","model":"scripted/recall"}`)
	status, body := e.do(t, "mine/invoker", "GET", "/v1/models", "")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	for _, want := range []string{`"object":"list"`, `{"id":"scripted/echo","object":"model","created":0,"owned_by":"scripted"}`, `"id":"scripted/silent"`, `"id":"agent/keeper","object":"model"`, `"owned_by":"engram"`} {
		if !strings.Contains(body, want) {
			t.Errorf("models lack %s: %s", want, body)
		}
	}
	if strings.Contains(body, "spy") {
		t.Errorf("another project's agent is listed: %s", body)
	}
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v1/models/scripted/echo", 200, `"id":"scripted/echo"`},
		{"/v1/models/scripted%2Frecall", 200, `"id":"scripted/recall"`},
		{"/v1/models/agent/keeper", 200, `"id":"agent/keeper"`},
		{"/v1/models/scripted/nothing", 404, `"code":"model_not_found"`},
		{"/v1/models/agent/spy", 404, `"code":"model_not_found"`},
		{"/v1/models/gpt-4o", 404, `"code":"model_not_found"`},
	} {
		status, body := e.do(t, "mine/invoker", "GET", tc.path, "")
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %s, want %d with %s", tc.path, status, body, tc.status, tc.want)
		}
	}
}

// hanging is a provider that answers one text delta and then waits for
// its call to be cancelled, reporting when it was.
type hanging struct{ cancelled chan struct{} }

func (h *hanging) Name() string { return "hanging" }

func (h *hanging) Generate(ctx context.Context, req *engram.ModelRequest, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	emit(engram.ModelEvent{Type: engram.ModelItemAdded, Item: &engram.Item{Type: engram.ItemMessage, Role: "assistant"}})
	emit(engram.ModelEvent{Type: engram.ModelTextDelta, Delta: "thinking"})
	<-ctx.Done()
	close(h.cancelled)
	return nil, ctx.Err()
}

// TestChatClientGoneCancelsCall: a client that hangs up mid-stream stops
// the model call it started.
func TestChatClientGoneCancelsCall(t *testing.T) {
	e := newEnv(t)
	h := &hanging{cancelled: make(chan struct{})}
	e.providers.Add(h)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"hanging/m","messages":[{"role":"user","content":"x"}],"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+e.keys["mine/invoker"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if !strings.HasPrefix(line, "data: {") {
		t.Fatalf("first line %q", line)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-h.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the model call went on after its client left")
	}
}
