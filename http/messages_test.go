package http_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// doMessages calls a Messages route the way Anthropic's clients do: the key
// in x-api-key, with anthropic-version, and extra headers.
func (e *env) doMessages(t *testing.T, key, path, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	if key != "" {
		secret := e.keys[key]
		if secret == "" {
			secret = key
		}
		req.Header.Set("X-Api-Key", secret)
	}
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

func TestMessagesStatuses(t *testing.T) {
	e := newEnv(t)
	_, theirConv := e.do(t, "theirs/admin", "POST", "/v1/conversations", `{}`)
	tests := []struct {
		name, key, body string
		headers         []string
		status          int
		contains        string
	}{
		{"ok", "mine/invoker", `{"model":"scripted/echo","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, nil, 200, `"text":"echo: hi"`},
		{"bearer works too", "", `{"model":"scripted/echo","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, []string{"Authorization", "Bearer " + e.keys["mine/invoker"]}, 200, `"stop_reason":"end_turn"`},
		{"no key", "", `{}`, nil, 401, `"type":"authentication_error"`},
		{"bad key", "sk-engram-nope", `{}`, nil, 401, `"type":"authentication_error"`},
		{"bad json", "mine/invoker", `{"model":`, nil, 400, `"type":"invalid_request_error"`},
		{"missing max_tokens", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"hi"}]}`, nil, 400, `max_tokens: Field required`},
		{"missing model", "mine/invoker", `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil, 400, `model: Field required`},
		{"unknown field", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"foo":1,"messages":[{"role":"user","content":"hi"}]}`, nil, 400, `foo: Extra inputs are not permitted`},
		{"unknown block field", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","bar":2}]}]}`, nil, 400, `messages.0.content.0.bar`},
		{"wrong type", "mine/invoker", `{"model":"scripted/echo","max_tokens":"five","messages":[{"role":"user","content":"hi"}]}`, nil, 400, `max_tokens: Input should be a valid integer`},
		{"stop sequences refused", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"stop_sequences":["x"],"messages":[{"role":"user","content":"hi"}]}`, nil, 400, `stop_sequences`},
		{"prefill refused", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure"}]}`, nil, 400, `prefilled`},
		{"server tool refused", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]}`, nil, 400, `server tools`},
		{"ignored fields accepted", "mine/invoker", `{"model":"scripted/echo","max_tokens":64,"top_k":5,"thinking":{"type":"enabled","budget_tokens":1024},"service_tier":"auto","metadata":{"user_id":"ada"},"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}`, nil, 200, `"text":"echo: hi"`},
		{"unknown provider", "mine/invoker", `{"model":"nowhere/x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil, 400, `not configured`},
		{"unknown agent", "mine/invoker", `{"model":"agent/ghost","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil, 404, `"type":"not_found_error"`},
		{"unknown conversation", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, []string{"X-Engram-Conversation", "conv_nope"}, 404, `"type":"not_found_error"`},
		{"another project's conversation", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, []string{"X-Engram-Conversation", id(theirConv)}, 404, `not found`},
		{"bound key names another user", "mine/ada", `{"model":"scripted/echo","max_tokens":5,"metadata":{"user_id":"bob"},"messages":[{"role":"user","content":"hi"}]}`, nil, 403, `"type":"permission_error"`},
		{"tool result for no call", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"42"}]}]}`, nil, 400, `toolu_x`},
		{"oversize body", "mine/invoker", `{"model":"scripted/echo","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("a", 70<<10) + `"}]}`, nil, 413, `"type":"request_too_large"`},
		{"stream refused before start", "mine/invoker", `{"model":"nowhere/x","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil, 400, `{"type":"error"`},
		{"count tokens", "mine/invoker", `{"model":"scripted/echo","messages":[{"role":"user","content":"how many tokens is this"}]}`, nil, 200, `"input_tokens":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/v1/messages"
			if tt.name == "count tokens" {
				path += "/count_tokens"
			}
			status, _, body := e.doMessages(t, tt.key, path, tt.body, tt.headers...)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("%d %s\nwant %d with %s", status, body, tt.status, tt.contains)
			}
			if status >= 400 && !strings.HasPrefix(body, `{"type":"error","error":{"type":"`) {
				t.Errorf("error body is not Anthropic-shaped: %s", body)
			}
		})
	}
}

// TestMessagesStateless: the messages are the whole context (the model
// sees every one) and nothing is stored.
func TestMessagesStateless(t *testing.T) {
	e := newEnv(t)
	status, _, body := e.doMessages(t, "mine/invoker", "/v1/messages", `{"model":"scripted/recall","max_tokens":64,"messages":[
		{"role":"user","content":"one"},{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"text","text":"two"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}`)
	if status != 200 || !strings.Contains(body, `"text":"one | two"`) || !strings.HasPrefix(body, `{"id":"msg_`) {
		t.Fatalf("%d %s", status, body)
	}
	var m struct{ ID string }
	json.Unmarshal([]byte(body), &m)
	if st, _ := e.do(t, "mine/invoker", "GET", "/v1/responses/resp_"+strings.TrimPrefix(m.ID, "msg_"), ""); st != 404 {
		t.Errorf("a stateless message was stored: %d", st)
	}
	if _, list := e.do(t, "mine/invoker", "GET", "/v1/conversations", ""); strings.Contains(list, `"id":"conv_`) {
		t.Errorf("a stateless message made a conversation: %s", list)
	}
}

// TestMessagesToolRoundTrip: a declared tool called by the model comes back
// as a tool_use block; its result, sent with the whole history, is answered.
func TestMessagesToolRoundTrip(t *testing.T) {
	e := newEnv(t)
	tools := `"tools":[{"name":"get_weather","description":"The weather in a city.","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	status, _, body := e.doMessages(t, "mine/invoker", "/v1/messages", `{"model":"scripted/echo","max_tokens":64,`+tools+`,
		"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"call get_weather {\"city\":\"Lisbon\"}"}]}`)
	var m struct {
		StopReason string `json:"stop_reason"`
		Content    []struct {
			Type, ID, Name string
			Input          json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(body), &m); status != 200 || err != nil || m.StopReason != "tool_use" || len(m.Content) != 1 {
		t.Fatalf("%d %s", status, body)
	}
	call := m.Content[0]
	if call.Type != "tool_use" || call.Name != "get_weather" || string(call.Input) != `{"city":"Lisbon"}` {
		t.Fatalf("call %+v", call)
	}
	status, _, body = e.doMessages(t, "mine/invoker", "/v1/messages", `{"model":"scripted/echo","max_tokens":64,`+tools+`,"messages":[
		{"role":"user","content":"call get_weather {\"city\":\"Lisbon\"}"},
		{"role":"assistant","content":[{"type":"tool_use","id":"`+call.ID+`","name":"get_weather","input":{"city":"Lisbon"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"`+call.ID+`","content":[{"type":"text","text":"sunny"}]}]}]}`)
	if status != 200 || !strings.Contains(body, `"text":"tool said: sunny"`) || !strings.Contains(body, `"stop_reason":"end_turn"`) {
		t.Fatalf("%d %s", status, body)
	}
}

// TestMessagesStateful: with the conversation header, each turn appends
// only its new messages (those after the last assistant message) to the
// conversation, and the context comes from its log; a client sending its
// whole history gets the same log as one sending only the new turn.
func TestMessagesStateful(t *testing.T) {
	e := newEnv(t)
	for _, whole := range []bool{false, true} {
		_, conv := e.do(t, "mine/invoker", "POST", "/v1/conversations", `{}`)
		h := []string{"X-Engram-Conversation", id(conv)}
		status, header, body := e.doMessages(t, "mine/invoker", "/v1/messages", `{"model":"scripted/recall","max_tokens":64,"messages":[{"role":"user","content":"My hive is in Lisbon."}]}`, h...)
		if status != 200 || !strings.Contains(body, `"text":"My hive is in Lisbon."`) || header.Get("X-Engram-Conversation") != id(conv) {
			t.Fatalf("first turn: %d %s", status, body)
		}
		second := `[{"role":"user","content":"Where is it?"}]`
		if whole {
			second = `[{"role":"user","content":"My hive is in Lisbon."},{"role":"assistant","content":"My hive is in Lisbon."},{"role":"user","content":"Where is it?"}]`
		}
		status, _, body = e.doMessages(t, "mine/invoker", "/v1/messages", `{"model":"scripted/recall","max_tokens":64,"messages":`+second+`}`, h...)
		if status != 200 || !strings.Contains(body, `"text":"My hive is in Lisbon. | Where is it?"`) {
			t.Fatalf("second turn (whole history %v): %d %s", whole, status, body)
		}
		count := `{"model":"scripted/recall","messages":[{"role":"user","content":"Where is it?"}]}`
		_, _, alone := e.doMessages(t, "mine/invoker", "/v1/messages/count_tokens", count)
		_, _, within := e.doMessages(t, "mine/invoker", "/v1/messages/count_tokens", count, h...)
		var n1, n2 struct {
			InputTokens int `json:"input_tokens"`
		}
		json.Unmarshal([]byte(alone), &n1)
		json.Unmarshal([]byte(within), &n2)
		if n1.InputTokens <= 0 || n2.InputTokens <= n1.InputTokens {
			t.Errorf("count_tokens %s alone, %s in the conversation", alone, within)
		}
		_, items := e.do(t, "mine/invoker", "GET", "/v1/conversations/"+id(conv)+"/items?order=asc", "")
		var list struct {
			Data []struct {
				Role    string
				Content []struct{ Text string }
			}
		}
		json.Unmarshal([]byte(items), &list)
		var got []string
		for _, it := range list.Data {
			got = append(got, it.Role+":"+it.Content[0].Text)
		}
		want := "user:My hive is in Lisbon. assistant:My hive is in Lisbon. user:Where is it? assistant:My hive is in Lisbon. | Where is it?"
		if strings.Join(got, " ") != want {
			t.Errorf("whole history %v: the log is %q, want %q", whole, got, want)
		}
	}
}

// TestMessagesStreamGolden fixes the exact bytes of streamed messages (ids
// normalised): plain text, and a tool call left for the client.
func TestMessagesStreamGolden(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, body string }{
		{"messages_stream_text", `{"model":"scripted/echo","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Stream please"}]}`},
		{"messages_stream_tool_use", `{"model":"scripted/echo","max_tokens":64,"stream":true,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"call get_weather {\"city\":\"Lisbon\"}"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, header, body := e.doMessages(t, "mine/invoker", "/v1/messages", tc.body)
			if status != 200 || header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("%d %s", status, body)
			}
			norm := regexp.MustCompile(`"(msg|call|toolu)_[0-9a-zA-Z]+"`).ReplaceAllString(body, `"${1}_ID"`)
			compareGolden(t, tc.name+".golden", norm)
		})
	}
}

// TestMessagesServerTools: the calls Engram makes itself (an agent's
// builtin tools) happen inside the turn; the client sees only the answer,
// streamed or not.
func TestMessagesServerTools(t *testing.T) {
	e := newEnv(t)
	if st, body := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"clock","model":"scripted/echo","tools":[{"type":"builtin","name":"current_time"}]}`); st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	req := `{"model":"agent/clock","max_tokens":64,"messages":[{"role":"user","content":"call current_time {\"timezone\":\"UTC\"}"}]}`
	status, _, body := e.doMessages(t, "mine/invoker", "/v1/messages", req)
	if status != 200 || !strings.Contains(body, `"text":"tool said: `) || strings.Contains(body, "tool_use") {
		t.Fatalf("%d %s", status, body)
	}
	status, _, body = e.doMessages(t, "mine/invoker", "/v1/messages", strings.Replace(req, `"max_tokens"`, `"stream":true,"max_tokens"`, 1))
	if status != 200 || !strings.Contains(body, `"text_delta","text":" said:"`) || strings.Contains(body, "tool_use") ||
		!strings.Contains(body, `"stop_reason":"end_turn"`) || !strings.HasSuffix(body, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
		t.Fatalf("%d %s", status, body)
	}
}
