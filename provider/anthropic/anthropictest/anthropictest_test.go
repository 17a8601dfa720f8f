package anthropictest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/engram-run/engram/provider/anthropic/anthropictest"
)

func post(t *testing.T, s *anthropictest.Server, path, key, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL()+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestRefusals: what Anthropic refuses, the fake refuses, in Anthropic's
// error shape.
func TestRefusals(t *testing.T) {
	ok := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name, path, key, body string
		status                int
		errType, message      string
	}{
		{"no key", "/v1/messages", "", ok, 401, "authentication_error", "x-api-key"},
		{"unknown path", "/v1/complete", "k", ok, 404, "not_found_error", "Not found"},
		{"not JSON", "/v1/messages", "k", `{`, 400, "invalid_request_error", "invalid JSON"},
		{"no model", "/v1/messages", "k", `{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "model: Field required"},
		{"no max_tokens", "/v1/messages", "k", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "max_tokens: Field required"},
		{"no messages", "/v1/messages", "k", `{"model":"m","max_tokens":10,"messages":[]}`, 400, "invalid_request_error", "at least one message"},
		{"system role", "/v1/messages", "k", `{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"hi"}]}`, 400, "invalid_request_error", "messages.0.role"},
		{"empty text", "/v1/messages", "k", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, 400, "invalid_request_error", "non-empty"},
		{"tool_use unanswered", "/v1/messages", "k", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":"b"}]}`,
			400, "invalid_request_error", "without `tool_result` blocks immediately after: t1"},
		{"tool_result without its tool_use", "/v1/messages", "k", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t9","content":"x"}]}]}`,
			400, "invalid_request_error", "unexpected `tool_use_id`"},
		{"five breakpoints", "/v1/messages", "k", `{"model":"m","max_tokens":10,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"tools":[{"name":"a","input_schema":{},"cache_control":{"type":"ephemeral"}},{"name":"b","input_schema":{},"cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]}]}`,
			400, "invalid_request_error", "maximum of 4 blocks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := anthropictest.NewServer(t)
			res, body := post(t, s, tc.path, tc.key, tc.body)
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("%d %s: %v", res.StatusCode, body, err)
			}
			if res.StatusCode != tc.status || e.Type != "error" || e.Error.Type != tc.errType || !strings.Contains(e.Error.Message, tc.message) {
				t.Errorf("%d %s, want %d %s %q", res.StatusCode, body, tc.status, tc.errType, tc.message)
			}
		})
	}
}

func TestNonStreaming(t *testing.T) {
	s := anthropictest.NewServer(t)
	s.Push(anthropictest.Reply{Text: "hello", ToolCalls: []anthropictest.ToolCall{{ID: "toolu_1", Name: "f", Input: `{"a":1}`}},
		Usage: &anthropictest.Usage{InputTokens: 5, OutputTokens: 3, CacheReadInputTokens: 100}})
	res, body := post(t, s, "/v1/messages", "k", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var m struct {
		Type    string `json:"type"`
		Role    string `json:"role"`
		Content []struct {
			Type, Text, ID, Name string
			Input                json.RawMessage
		} `json:"content"`
		StopReason string `json:"stop_reason"`
		Usage      struct {
			InputTokens          int `json:"input_tokens"`
			OutputTokens         int `json:"output_tokens"`
			CacheReadInputTokens int `json:"cache_read_input_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "message" || m.Role != "assistant" || len(m.Content) != 2 || m.Content[0].Text != "hello" ||
		m.Content[1].ID != "toolu_1" || string(m.Content[1].Input) != `{"a":1}` || m.StopReason != "tool_use" ||
		m.Usage.InputTokens != 5 || m.Usage.OutputTokens != 3 || m.Usage.CacheReadInputTokens != 100 {
		t.Errorf("message %+v", m)
	}
}

// TestStreamFraming: every event is an event: line naming the data's type,
// then one data: line, then a blank line, from message_start to
// message_stop, with a ping.
func TestStreamFraming(t *testing.T) {
	s := anthropictest.NewServer(t)
	res, body := post(t, s, "/v1/messages", "Bearer-less key", `{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi there"}]}`)
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var types []string
	for _, frame := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		lines := strings.Split(frame, "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("frame %q", frame)
		}
		var data struct{ Type string }
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &data); err != nil || data.Type != strings.TrimPrefix(lines[0], "event: ") {
			t.Fatalf("frame %q: %v", frame, err)
		}
		types = append(types, data.Type)
	}
	got := strings.Join(types, " ")
	want := "message_start ping content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got != want {
		t.Errorf("events %s\nwant   %s", got, want)
	}
	if !strings.Contains(body, `"text":"echo:"`) || !strings.Contains(body, `"text":" there"`) {
		t.Errorf("not an echo of the last user text: %s", body)
	}
	if rs := s.Requests(); len(rs) != 1 || rs[0].Path != "/v1/messages" || !strings.Contains(string(rs[0].Body), "hi there") {
		t.Errorf("recorded %+v", rs)
	}
}
