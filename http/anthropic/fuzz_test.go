package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/engram-run/engram"
)

// FuzzDecodeMessagesRequest: any body decodes to a request or to a domain
// error, never a panic; a request has a model, input, a positive
// max_tokens, tool calls with JSON-object arguments, and items the
// domain's JSON carries.
func FuzzDecodeMessagesRequest(f *testing.F) {
	f.Add(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "")
	f.Add(`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"s"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},"messages":[{"role":"user","content":"call f {}"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":[1]}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x"}],"is_error":true}]}]}`, "conv_1")
	f.Add(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA"}},{"type":"thinking","thinking":"t","signature":"s"}]}]}`, "")
	f.Add(`{"model":"m","max_tokens":-1,"stream":true,"metadata":{"user_id":null},"thinking":{"type":"enabled","budget_tokens":1024},"messages":null}`, "c")
	f.Fuzz(func(t *testing.T, body, conv string) {
		for _, count := range []bool{false, true} {
			decodeFn := DecodeRequest
			if count {
				decodeFn = DecodeCountRequest
			}
			req, err := decodeFn([]byte(body), conv)
			if err != nil {
				if _, ok := err.(*engram.Error); !ok {
					t.Fatalf("not a domain error: %T %v", err, err)
				}
				continue
			}
			if req.Model == "" || len(req.Input) == 0 || (!count && req.MaxOutputTokens < 1) {
				t.Fatalf("accepted an incomplete request: %+v", req)
			}
			if req.Conversation != conv {
				t.Fatalf("conversation %q, want %q", req.Conversation, conv)
			}
			for _, it := range req.Input {
				if it.Type == engram.ItemFunctionCall {
					var obj map[string]any
					if json.Unmarshal([]byte(it.Arguments), &obj) != nil || obj == nil {
						t.Fatalf("call arguments are not an object: %q", it.Arguments)
					}
				}
				if _, err := json.Marshal(it); err != nil {
					t.Fatalf("item does not marshal: %v", err)
				}
			}
		}
	})
}
