package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// summary renders items compactly: role or type, then their words.
func summary(items []*engram.Item) string {
	var out []string
	for _, it := range items {
		switch it.Type {
		case engram.ItemMessage:
			var parts []string
			for _, c := range it.Content {
				switch c.Type {
				case engram.ContentInputImage:
					parts = append(parts, "image("+c.ImageURL+")")
				default:
					parts = append(parts, c.Type+":"+c.Text)
				}
			}
			out = append(out, it.Role+"["+strings.Join(parts, ",")+"]")
		case engram.ItemFunctionCall:
			out = append(out, "call "+it.CallID+" "+it.Name+" "+it.Arguments)
		case engram.ItemFunctionCallOutput:
			out = append(out, "output "+it.CallID+" "+it.Output)
		}
	}
	return strings.Join(out, " | ")
}

func TestDecodeRequest(t *testing.T) {
	history := `"messages":[
		{"role":"user","content":"call f {\"a\":1}"},
		{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Let me."},{"type":"tool_use","id":"toolu_1","name":"f","input":{ "a" : 1 }}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"done","is_error":true},{"type":"text","text":"and now?"}]}]`
	tests := []struct {
		name, body, conv string
		want             string // summary of the input
		check            func(t *testing.T, r *engram.ResponseRequest)
	}{
		{"string content", `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "",
			"user[input_text:hi]", func(t *testing.T, r *engram.ResponseRequest) {
				if r.Model != "claude-x" || r.MaxOutputTokens != 10 || r.Store == nil || *r.Store || r.Conversation != "" {
					t.Errorf("%+v", r)
				}
			}},
		{"whole history, stateless", `{"model":"m","max_tokens":10,` + history + `}`, "",
			`user[input_text:call f {"a":1}] | assistant[output_text:Let me.] | call toolu_1 f {"a":1} | output toolu_1 Error: done | user[input_text:and now?]`, nil},
		{"whole history, stateful: after the last assistant message", `{"model":"m","max_tokens":10,` + history + `}`, "conv_1",
			`output toolu_1 Error: done | user[input_text:and now?]`, func(t *testing.T, r *engram.ResponseRequest) {
				if r.Conversation != "conv_1" || r.Store == nil || !*r.Store {
					t.Errorf("%+v", r)
				}
			}},
		{"stateful, only new messages", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`, "conv_1",
			`user[input_text:a] | user[input_text:b]`, nil},
		{"images", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}`, "",
			`user[image(data:image/png;base64,AAA),image(https://x/y.png)]`, nil},
		{"system, tools, choice, metadata", `{"model":"agent/keeper","max_tokens":10,"system":[{"type":"text","text":"A."},{"type":"text","text":"B."}],
			"tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true},
			"metadata":{"user_id":"ada"},"temperature":0.5,"top_p":0.9,"top_k":3,"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"x"}]}`, "",
			`user[input_text:x]`, func(t *testing.T, r *engram.ResponseRequest) {
				if r.Instructions == nil || *r.Instructions != "A.\n\nB." || r.User != "ada" || *r.Temperature != 0.5 || *r.TopP != 0.9 {
					t.Errorf("%+v", r)
				}
				if len(r.Tools) != 1 || r.Tools[0].Type != engram.ToolFunction || r.Tools[0].Name != "f" || string(r.Tools[0].Parameters) != `{"type":"object"}` {
					t.Errorf("tools %+v", r.Tools)
				}
				if string(r.ToolChoice) != `{"name":"f","type":"function"}` || r.ParallelToolCalls == nil || *r.ParallelToolCalls {
					t.Errorf("tool choice %s %v", r.ToolChoice, r.ParallelToolCalls)
				}
			}},
		{"tool choice any", `{"model":"m","max_tokens":10,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}`, "",
			`user[input_text:x]`, func(t *testing.T, r *engram.ResponseRequest) {
				if string(r.ToolChoice) != `"required"` {
					t.Errorf("%s", r.ToolChoice)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeRequest([]byte(tt.body), tt.conv)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(r.Input); got != tt.want {
				t.Errorf("input\n got %s\nwant %s", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"x"}]`
	tests := []struct{ name, body, code, param string }{
		{"empty", ``, engram.EInvalid, ""},
		{"not an object", `[1]`, engram.EInvalid, ""},
		{"no max_tokens", `{"model":"m",` + msgs + `}`, engram.EInvalid, "max_tokens"},
		{"zero max_tokens", `{"model":"m","max_tokens":0,` + msgs + `}`, engram.EInvalid, "max_tokens"},
		{"no messages", `{"model":"m","max_tokens":1}`, engram.EInvalid, "messages"},
		{"empty messages", `{"model":"m","max_tokens":1,"messages":[]}`, engram.EInvalid, "messages"},
		{"unknown field", `{"model":"m","max_tokens":1,"container":"c",` + msgs + `}`, engram.EInvalid, "container"},
		{"bad role", `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, engram.EInvalid, "messages.0.role"},
		{"prefill", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}`, engram.EUnsupported, "messages.1.role"},
		{"unknown block", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}`, engram.EUnsupported, "messages.0.content.0.type"},
		{"tool_use from the user", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]}]}`, engram.EInvalid, "messages.0.content.0.type"},
		{"tool input not an object", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":[1]}]},{"role":"user","content":"x"}]}`, engram.EInvalid, "messages.0.content.0.input"},
		{"image in a tool result", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}]}`, engram.EUnsupported, "messages.0.content.0.content.0.type"},
		{"file image source", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, engram.EUnsupported, "messages.0.content.0.source.type"},
		{"extra source field", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"u","x":1}}]}]}`, engram.EInvalid, "messages.0.content.0.source.x"},
		{"stop sequences", `{"model":"m","max_tokens":1,"stop_sequences":["\n"],` + msgs + `}`, engram.EUnsupported, "stop_sequences"},
		{"server tool", `{"model":"m","max_tokens":1,"tools":[{"type":"bash_20250124","name":"bash"}],` + msgs + `}`, engram.EUnsupported, "tools.0.type"},
		{"tool without schema", `{"model":"m","max_tokens":1,"tools":[{"name":"f"}],` + msgs + `}`, engram.EInvalid, "tools.0.input_schema"},
		{"bad tool choice", `{"model":"m","max_tokens":1,"tool_choice":{"type":"required"},` + msgs + `}`, engram.EInvalid, "tool_choice.type"},
		{"temperature above 1", `{"model":"m","max_tokens":1,"temperature":1.5,` + msgs + `}`, engram.EInvalid, "temperature"},
		{"bad thinking", `{"model":"m","max_tokens":1,"thinking":{"type":"max"},` + msgs + `}`, engram.EInvalid, "thinking.type"},
		{"metadata extra", `{"model":"m","max_tokens":1,"metadata":{"user_id":"a","x":1},` + msgs + `}`, engram.EInvalid, "metadata.x"},
		{"only thinking is new", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"redacted_thinking","data":"x"}]}]}`, engram.EInvalid, "messages.0.content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body), "")
			var e *engram.Error
			if err == nil || !asError(err, &e) || e.Code != tt.code || e.Param != tt.param {
				t.Errorf("got %v, want %s on %q", err, tt.code, tt.param)
			}
		})
	}
}

func asError(err error, out **engram.Error) bool {
	e, ok := err.(*engram.Error)
	*out = e
	return ok
}

func TestEncodeMessage(t *testing.T) {
	r := &engram.Response{ID: "resp_abc", Model: "scripted/echo", Status: engram.StatusCompleted,
		Usage: &engram.Usage{InputTokens: 100, CachedTokens: 60, OutputTokens: 7},
		Output: []*engram.Item{
			{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "Checking."}}},
			{Type: engram.ItemFunctionCall, CallID: "c1", Name: "current_time", Arguments: `{}`},
			{Type: engram.ItemFunctionCallOutput, CallID: "c1", Output: "noon"},
			{Type: engram.ItemReasoning, Summary: []engram.Content{{Type: engram.ContentSummaryText, Text: "hm"}}},
			{Type: engram.ItemFunctionCall, CallID: "c2", Name: "get_weather", Arguments: `{"city": "Lisbon"}`},
		}}
	got, _ := json.Marshal(EncodeMessage(r))
	want := `{"id":"msg_abc","type":"message","role":"assistant","model":"scripted/echo","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"c2","name":"get_weather","input":{"city":"Lisbon"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":40,"output_tokens":7,"cache_read_input_tokens":60,"cache_creation_input_tokens":0}}`
	if string(got) != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	r.Status, r.IncompleteReason = engram.StatusIncomplete, "max_output_tokens"
	m := EncodeMessage(r)
	if *m.StopReason != "max_tokens" || len(m.Content) != 1 {
		t.Errorf("incomplete: %s %+v", *m.StopReason, m.Content)
	}
}
