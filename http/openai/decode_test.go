package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

func TestDecodeResponseRequest(t *testing.T) {
	tests := []struct {
		name, body string
		check      func(t *testing.T, r *engram.ResponseRequest)
		code       string // error code expected
		param      string
	}{
		{name: "string input", body: `{"model":"gpt-4.1-mini","input":"Hello, remember my name is Ada."}`, check: func(t *testing.T, r *engram.ResponseRequest) {
			if r.Model != "gpt-4.1-mini" || len(r.Input) != 1 || r.Input[0].Role != "user" || r.Input[0].Content[0].Type != "input_text" || r.Input[0].Text() != "Hello, remember my name is Ada." {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "items", body: `{"model":"m","input":[{"role":"user","content":"hi"},{"type":"message","role":"user","content":[{"type":"input_text","text":"there"}]},{"role":"assistant","content":"earlier"}]}`, check: func(t *testing.T, r *engram.ResponseRequest) {
			if len(r.Input) != 3 || r.Input[1].Text() != "there" || r.Input[2].Content[0].Type != "output_text" {
				t.Errorf("got %+v", r.Input)
			}
		}},
		{name: "previous and store", body: `{"model":"m","input":"What is my name?","previous_response_id":"resp_1","store":true,"instructions":"Be brief."}`, check: func(t *testing.T, r *engram.ResponseRequest) {
			if r.PreviousResponseID != "resp_1" || r.Store == nil || !*r.Store || r.Instructions == nil || *r.Instructions != "Be brief." {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "conversation object", body: `{"model":"m","input":"x","conversation":{"id":"conv_1"}}`, check: func(t *testing.T, r *engram.ResponseRequest) {
			if r.Conversation != "conv_1" {
				t.Errorf("conversation %q", r.Conversation)
			}
		}},
		{name: "function round trip", body: `{"model":"m","input":[{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"42"}],"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":"auto"}`, check: func(t *testing.T, r *engram.ResponseRequest) {
			if len(r.Input) != 2 || r.Input[1].Output != "42" || len(r.Tools) != 1 || string(r.ToolChoice) != `"auto"` {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "safety identifier names the user", body: `{"model":"m","safety_identifier":"ada"}`, check: func(t *testing.T, r *engram.ResponseRequest) {
			if r.User != "ada" {
				t.Errorf("user %q", r.User)
			}
		}},
		{name: "accepted and ignored", body: `{"model":"m","reasoning":{"effort":"low"},"text":{"format":{"type":"text"}},"include":[],"service_tier":"auto","stream_options":{"include_obfuscation":false}}`},
		{name: "unknown parameter", body: `{"model":"m","foo":1}`, code: engram.EInvalid, param: "foo"},
		{name: "bad json", body: `{"model":`, code: engram.EInvalid},
		{name: "not an object", body: `[1]`, code: engram.EInvalid},
		{name: "empty", body: ``, code: engram.EInvalid},
		{name: "wrong type", body: `{"model":5}`, code: engram.EInvalid, param: "model"},
		{name: "both chains", body: `{"model":"m","conversation":"conv_1","previous_response_id":"resp_1"}`, code: engram.EInvalid, param: "previous_response_id"},
		{name: "web search unsupported", body: `{"model":"m","tools":[{"type":"web_search"}]}`, code: engram.EUnsupported, param: "tools[0].type"},
		{name: "bad role", body: `{"model":"m","input":[{"role":"robot","content":"x"}]}`, code: engram.EInvalid, param: "input[0].role"},
		{name: "metadata too many", body: `{"model":"m","metadata":{` + manyPairs(17) + `}}`, code: engram.EInvalid, param: "metadata"},
		{name: "temperature range", body: `{"model":"m","temperature":3}`, code: engram.EInvalid, param: "temperature"},
		{name: "tool choice value", body: `{"model":"m","tool_choice":"sometimes"}`, code: engram.EInvalid, param: "tool_choice"},
		{name: "output without call id", body: `{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, code: engram.EInvalid, param: "input[0].call_id"},
		{name: "item reference unsupported", body: `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, code: engram.EUnsupported, param: "input[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeResponseRequest([]byte(tt.body))
			if tt.code != "" {
				var e *engram.Error
				if engram.ErrorCode(err) != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				if ok := asError(err, &e); ok && tt.param != "" && e.Param != tt.param {
					t.Errorf("param = %q, want %q", e.Param, tt.param)
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

func manyPairs(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, `"k`+strings.Repeat("x", i)+`":"v"`)
	}
	return strings.Join(parts, ",")
}

func TestDecodeItemsLimit(t *testing.T) {
	var items []string
	for i := 0; i < 21; i++ {
		items = append(items, `{"type":"message","role":"user","content":"x"}`)
	}
	if _, err := DecodeItems(json.RawMessage("[" + strings.Join(items[:20], ",") + "]")); err != nil {
		t.Fatalf("20 items: %v", err)
	}
	if _, err := DecodeItems(json.RawMessage("[" + strings.Join(items, ",") + "]")); engram.ErrorCode(err) != engram.EInvalid {
		t.Fatalf("21 items: err = %v, want EInvalid", err)
	}
}

func TestEncodeEventShapes(t *testing.T) {
	msg := &engram.Item{ID: "msg_1", Type: engram.ItemMessage, Role: "assistant", Status: "in_progress"}
	tests := []struct {
		ev   engram.StreamEvent
		want string
	}{
		{engram.StreamEvent{Type: engram.EventOutputTextDelta, Item: msg, Delta: "Hi"},
			`{"type":"response.output_text.delta","sequence_number":3,"output_index":0,"content_index":0,"item_id":"msg_1","delta":"Hi","logprobs":[]}`},
		{engram.StreamEvent{Type: engram.EventOutputItemAdded, Item: msg},
			`{"type":"response.output_item.added","sequence_number":3,"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}}`},
		{engram.StreamEvent{Type: engram.EventContentPartAdded, Item: msg, Part: &engram.Content{Type: engram.ContentOutputText}},
			`{"type":"response.content_part.added","sequence_number":3,"output_index":0,"content_index":0,"item_id":"msg_1","part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}`},
		{engram.StreamEvent{Type: engram.EventFunctionCallArgsDone, OutputIndex: 1, Item: &engram.Item{ID: "fc_1", Name: "f"}, Arguments: "{}"},
			`{"type":"response.function_call_arguments.done","sequence_number":3,"output_index":1,"item_id":"fc_1","name":"f","arguments":"{}"}`},
	}
	for _, tt := range tests {
		if got := string(EncodeEvent(3, tt.ev)); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.ev.Type, got, tt.want)
		}
	}
}

func FuzzDecodeResponseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model": "gpt-4.1-mini", "input": "Hello, remember my name is Ada."}`,
		`{"model": "gpt-4.1-mini", "input": "What is my name?", "previous_response_id": "resp_1", "store": true, "instructions": "Be brief."}`,
		`{"model": "gpt-4.1-mini", "input": [{"role": "user", "content": "hi"}, {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "there"}]}]}`,
		`{"model": "gpt-4.1-mini", "input": "Stream please", "stream": true}`,
		`{"model": "gpt-4.1-mini", "input": "hi in conv", "conversation": "conv_123"}`,
		`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"x"}]}],"tools":[{"type":"function","name":"f"}]}`,
		`{"model":"m","metadata":{"a":"b"},"tool_choice":{"type":"function","name":"f"}}`,
		`{"model":"m","input":"x","context_management":[{"type":"compaction","compact_threshold":2000}]}`,
		`{"model":"m","input":[{"type":"compaction","encrypted_content":"summary"},{"role":"user","content":"next"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponseRequest(body)
		if err != nil {
			if engram.ErrorCode(err) == engram.EInternal {
				t.Fatalf("decoder error without a code: %v", err)
			}
			return
		}
		for _, it := range r.Input {
			if it == nil || it.Type == "" {
				t.Fatalf("decoded an item without a type: %+v", it)
			}
		}
	})
}

func FuzzDecodeItems(f *testing.F) {
	f.Add([]byte(`[{"type": "message", "role": "user", "content": "Hello!"}]`))
	f.Add([]byte(`[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"reasoning","summary":[{"type":"summary_text","text":"t"}]}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := DecodeItems(body)
		if err == nil && len(items) > MaxItemsPerCreate {
			t.Fatalf("accepted %d items", len(items))
		}
		if err != nil && engram.ErrorCode(err) == engram.EInternal {
			t.Fatalf("decoder error without a code: %v", err)
		}
	})
}

func asError(err error, target **engram.Error) bool {
	e, ok := err.(*engram.Error)
	if ok {
		*target = e
	}
	return ok
}

// FuzzDecodeContextRequests: the bodies of /v1/responses/compact and
// /v1/responses/input_tokens decode or fail with a coded 400, never panic.
func FuzzDecodeContextRequests(f *testing.F) {
	for _, seed := range []string{
		`{"model":"gpt-5","input":[{"role":"user","content":"Create a landing page."},{"type":"compaction","encrypted_content":"s"}]}`,
		`{"model":"agent/keeper","conversation":"conv_1"}`,
		`{"previous_response_id":"resp_1","instructions":"x","tools":[{"type":"function","name":"f"}]}`,
		`{"model":"m","input":"x","stream":true}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, decode := range []func([]byte) (*engram.ResponseRequest, error){DecodeCompactRequest, DecodeInputTokensRequest} {
			req, err := decode(body)
			if err != nil {
				if engram.ErrorCode(err) != engram.EInvalid && engram.ErrorCode(err) != engram.EUnsupported {
					t.Fatalf("decoder error %v", err)
				}
				continue
			}
			if req.Model == "" && req.Agent == "" && req.PreviousResponseID == "" && req.Conversation == "" {
				t.Fatalf("accepted a request naming no model or context: %s", body)
			}
		}
	})
}
