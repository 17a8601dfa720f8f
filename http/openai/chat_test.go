package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

func TestDecodeChatRequest(t *testing.T) {
	tests := []struct {
		name, body string
		check      func(t *testing.T, r *ChatRequest)
		code       string // error code expected
		param      string
	}{
		{name: "what the JS client sends", body: `{"model": "gpt-4.1-mini", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}`, check: func(t *testing.T, r *ChatRequest) {
			if r.Model != "gpt-4.1-mini" || r.Instructions != "Be brief." || len(r.Input) != 1 || r.Input[0].Role != "user" || r.Input[0].Text() != "hi" {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "streamed with usage", body: `{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_usage": true}}`, check: func(t *testing.T, r *ChatRequest) {
			if !r.Stream || !r.IncludeUsage {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "leading system messages only are instructions", body: `{"model":"m","messages":[{"role":"system","content":"a"},{"role":"developer","content":[{"type":"text","text":"b"}]},{"role":"user","content":"u"},{"role":"system","content":"later"}]}`, check: func(t *testing.T, r *ChatRequest) {
			if r.Instructions != "a\n\nb" || len(r.Input) != 2 || r.Input[1].Role != "system" || r.Input[1].Text() != "later" {
				t.Errorf("got %q %+v", r.Instructions, r.Input)
			}
		}},
		{name: "parts", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA","detail":"high"}},{"type":"file","file":{"file_id":"file_1","filename":"a.pdf"}}]}]}`, check: func(t *testing.T, r *ChatRequest) {
			c := r.Input[0].Content
			if len(c) != 3 || c[0].Type != engram.ContentInputText || c[1].Type != engram.ContentInputImage || c[1].ImageURL != "data:image/png;base64,AA" || c[1].Detail != "high" || c[2].Type != engram.ContentInputFile || c[2].FileID != "file_1" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "tool round trip", body: `{"model":"m","messages":[{"role":"user","content":"w?"},{"role":"assistant","content":"let me see","tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{\"c\":1}"}},{"id":"c2","type":"function","function":{"name":"t","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"sunny"},{"role":"tool","tool_call_id":"c2","content":[{"type":"text","text":"noon"}]}],"tools":[{"type":"function","function":{"name":"w","description":"weather","parameters":{"type":"object"},"strict":true}},{"type":"function","function":{"name":"t"}}],"tool_choice":{"type":"function","function":{"name":"w"}}}`, check: func(t *testing.T, r *ChatRequest) {
			var types []string
			for _, it := range r.Input {
				types = append(types, it.Type)
			}
			if strings.Join(types, " ") != "message message function_call function_call function_call_output function_call_output" {
				t.Fatalf("items %v", types)
			}
			if r.Input[1].Text() != "let me see" || r.Input[2].CallID != "c1" || r.Input[2].Arguments != `{"c":1}` || r.Input[4].Output != "sunny" || r.Input[5].Output != "noon" {
				t.Errorf("got %+v", r.Input)
			}
			if len(r.Tools) != 2 || r.Tools[0].Type != engram.ToolFunction || r.Tools[0].Description != "weather" || r.Tools[0].Strict == nil || string(r.Tools[0].Parameters) != `{"type":"object"}` {
				t.Errorf("tools %+v", r.Tools)
			}
			if string(r.ToolChoice) != `{"name":"w","type":"function"}` {
				t.Errorf("tool_choice %s", r.ToolChoice)
			}
		}},
		{name: "assistant with null content and calls only", body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}`, check: func(t *testing.T, r *ChatRequest) {
			if len(r.Input) != 3 || r.Input[1].Type != engram.ItemFunctionCall {
				t.Errorf("got %+v", r.Input)
			}
		}},
		{name: "assistant refusal", body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"refusal":"no"}]}`, check: func(t *testing.T, r *ChatRequest) {
			if c := r.Input[1].Content; len(c) != 1 || c[0].Type != engram.ContentRefusal || c[0].Refusal != "no" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "max_completion_tokens wins", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":10,"max_completion_tokens":20}`, check: func(t *testing.T, r *ChatRequest) {
			if r.MaxTokens != 20 {
				t.Errorf("max tokens %d", r.MaxTokens)
			}
		}},
		{name: "safety identifier names the user", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"safety_identifier":"ada"}`, check: func(t *testing.T, r *ChatRequest) {
			if r.User != "ada" {
				t.Errorf("user %q", r.User)
			}
		}},
		{name: "accepted and ignored", body: `{"model":"m","messages":[{"role":"user","content":"x","name":"ada"}],"seed":7,"n":1,"stop":[],"logprobs":false,"top_logprobs":0,"logit_bias":{},"store":true,"metadata":{"k":"v"},"frequency_penalty":1,"presence_penalty":-1,"parallel_tool_calls":false,"service_tier":"auto","reasoning_effort":"low","verbosity":"low","modalities":["text"],"response_format":{"type":"text"},"prediction":{"type":"content","content":"x"},"prompt_cache_retention":"24h","audio":null,"functions":null}`},
		{name: "unknown parameter", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"foo":1}`, code: engram.EInvalid, param: "foo"},
		{name: "unknown message field", body: `{"model":"m","messages":[{"role":"user","content":"x","bar":1}]}`, code: engram.EInvalid, param: "messages[0].bar"},
		{name: "bad json", body: `{"model":`, code: engram.EInvalid},
		{name: "no model", body: `{"messages":[{"role":"user","content":"x"}]}`, code: engram.EInvalid, param: "model"},
		{name: "no messages", body: `{"model":"m"}`, code: engram.EInvalid, param: "messages"},
		{name: "empty messages", body: `{"model":"m","messages":[]}`, code: engram.EInvalid, param: "messages"},
		{name: "bad role", body: `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, code: engram.EInvalid, param: "messages[0].role"},
		{name: "user without content", body: `{"model":"m","messages":[{"role":"user"}]}`, code: engram.EInvalid, param: "messages[0].content"},
		{name: "assistant without content or calls", body: `{"model":"m","messages":[{"role":"assistant"}]}`, code: engram.EInvalid, param: "messages[0].content"},
		{name: "orphan tool message", body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"c9","content":"x"}]}`, code: engram.EInvalid, param: "messages[1].tool_call_id"},
		{name: "image without url", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, code: engram.EInvalid, param: "messages[0].content[0].image_url.url"},
		{name: "image part in a system message", body: `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url"}]}]}`, code: engram.EInvalid, param: "messages[0].content[0].type"},
		{name: "temperature range", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":2.5}`, code: engram.EInvalid, param: "temperature"},
		{name: "max tokens below one", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, code: engram.EInvalid, param: "max_tokens"},
		{name: "stream options without stream", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, code: engram.EInvalid, param: "stream_options"},
		{name: "tool choice names no declared tool", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function","function":{"name":"w"}}}`, code: engram.EInvalid, param: "tool_choice"},
		{name: "tool declared twice", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"w"}},{"type":"function","function":{"name":"w"}}]}`, code: engram.EInvalid, param: "tools[1].function.name"},
		{name: "n above one", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"n":3}`, code: engram.EUnsupported, param: "n"},
		{name: "stop string", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END"}`, code: engram.EUnsupported, param: "stop"},
		{name: "logprobs", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true}`, code: engram.EUnsupported, param: "logprobs"},
		{name: "logit bias", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"logit_bias":{"50256":-100}}`, code: engram.EUnsupported, param: "logit_bias"},
		{name: "json schema", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`, code: engram.EUnsupported, param: "response_format.type"},
		{name: "audio out", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"modalities":["text","audio"]}`, code: engram.EUnsupported, param: "modalities"},
		{name: "web search", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"web_search_options":{}}`, code: engram.EUnsupported, param: "web_search_options"},
		{name: "legacy functions", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"functions":[{"name":"f"}]}`, code: engram.EUnsupported, param: "functions"},
		{name: "custom tool", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"g"}}]}`, code: engram.EUnsupported, param: "tools[0].type"},
		{name: "allowed tools choice", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`, code: engram.EUnsupported, param: "tool_choice.type"},
		{name: "audio in", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]}`, code: engram.EUnsupported, param: "messages[0].content[0].type"},
		{name: "function role", body: `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, code: engram.EUnsupported, param: "messages[0].role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeChatRequest([]byte(tt.body))
			if tt.code != "" {
				var e *engram.Error
				if err == nil || !asError(err, &e) || e.Code != tt.code || (tt.param != "" && e.Param != tt.param) {
					t.Fatalf("got %v, want %s on %q", err, tt.code, tt.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestEncodeChatCompletion(t *testing.T) {
	res := &engram.ModelResult{StopReason: engram.StopEnd, Output: []*engram.Item{
		{Type: engram.ItemReasoning, Summary: []engram.Content{{Type: engram.ContentSummaryText, Text: "thinking"}}},
		{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "Let me look."}}},
		{Type: engram.ItemFunctionCall, CallID: "call_1", Name: "w", Arguments: `{"c":1}`},
	}}
	c := EncodeChatCompletion("chatcmpl-1", "scripted/tools", 1700000000, res, engram.Usage{InputTokens: 10, CachedTokens: 4, OutputTokens: 5, ReasoningTokens: 2})
	b, _ := json.Marshal(c)
	want := `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"scripted/tools","choices":[{"index":0,"message":{"role":"assistant","content":"Let me look.","refusal":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"w","arguments":"{\"c\":1}"}}],"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"system_fingerprint":null}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	for _, tc := range []struct {
		stop, want string
		output     []*engram.Item
	}{
		{engram.StopMaxTokens, "length", nil},
		{engram.StopContentFilter, "content_filter", nil},
		{engram.StopEnd, "stop", nil},
		{engram.StopEnd, "tool_calls", []*engram.Item{{Type: engram.ItemFunctionCall, Name: "f"}}},
	} {
		if got := FinishReason(&engram.ModelResult{StopReason: tc.stop, Output: tc.output}); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.stop, got, tc.want)
		}
	}
	// A refusal: content null, refusal set.
	c = EncodeChatCompletion("x", "m", 0, &engram.ModelResult{Output: []*engram.Item{{Type: engram.ItemMessage, Role: "assistant",
		Content: []engram.Content{{Type: engram.ContentRefusal, Refusal: "I can't."}}}}}, engram.Usage{})
	if m := c.Choices[0].Message; m.Content != nil || m.Refusal == nil || *m.Refusal != "I can't." {
		t.Errorf("refusal: %+v", m)
	}
}

// TestChatStreamSettles: an adapter that streams less than its finished
// items hold (or nothing) still gets the whole answer to the client.
func TestChatStreamSettles(t *testing.T) {
	s := &ChatStream{ID: "chatcmpl-1", Model: "m"}
	var out []string
	add := func(chunks [][]byte) {
		for _, c := range chunks {
			out = append(out, string(c))
		}
	}
	add(s.Event(engram.ModelEvent{Type: engram.ModelTextDelta, Index: 0, Delta: "Hel"}))
	add(s.Event(engram.ModelEvent{Type: engram.ModelItemDone, Index: 0, Item: &engram.Item{Type: engram.ItemMessage,
		Content: []engram.Content{{Type: engram.ContentOutputText, Text: "Hello"}}}}))
	add(s.Event(engram.ModelEvent{Type: engram.ModelItemDone, Index: 1, Item: &engram.Item{Type: engram.ItemFunctionCall,
		CallID: "call_1", Name: "f", Arguments: "{}"}}))
	add(s.Finish(&engram.ModelResult{StopReason: engram.StopToolCalls}, engram.Usage{}))
	all := strings.Join(out, "\n")
	for _, want := range []string{`"delta":{"role":"assistant","content":"","refusal":null}`, `"delta":{"content":"Hel"}`, `"delta":{"content":"lo"}`,
		`"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]`,
		`"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]`, `"finish_reason":"tool_calls"`} {
		if !strings.Contains(all, want) {
			t.Errorf("stream lacks %s:\n%s", want, all)
		}
	}
	if strings.Contains(all, `"usage"`) {
		t.Errorf("usage sent without include_usage:\n%s", all)
	}
}

// FuzzDecodeChatRequest: any body decodes or fails with a coded 400, never
// panics, and what decodes is a call a provider can take.
func FuzzDecodeChatRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model": "gpt-4.1-mini", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}`,
		`{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_usage": true}}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"model":"agent/keeper","messages":[{"role":"developer","content":[{"type":"text","text":"x"}]},{"role":"user","content":"y","name":"ada"}],"n":1,"stop":null,"max_completion_tokens":5}`,
		`{"model":"m","messages":[{"role":"assistant","refusal":"no","content":[{"type":"refusal","refusal":"no"}]}],"response_format":{"type":"json_object"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeChatRequest(body)
		if err != nil {
			if c := engram.ErrorCode(err); c != engram.EInvalid && c != engram.EUnsupported {
				t.Fatalf("decoder error %v", err)
			}
			return
		}
		if r.Model == "" {
			t.Fatalf("accepted a request naming no model: %s", body)
		}
		calls := map[string]bool{}
		for _, it := range r.Input {
			switch {
			case it == nil || it.Type == "":
				t.Fatalf("decoded an item without a type: %+v", it)
			case it.Type == engram.ItemFunctionCall:
				calls[it.CallID] = true
			case it.Type == engram.ItemFunctionCallOutput && !calls[it.CallID]:
				t.Fatalf("accepted a tool result that answers no call: %s", body)
			}
		}
		if r.IncludeUsage && !r.Stream {
			t.Fatalf("include_usage without stream: %s", body)
		}
	})
}
