package anthropic

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"
	"github.com/engram-run/engram"
)

// FuzzStream: whatever Anthropic sends, a result without holes or an error.
func FuzzStream(f *testing.F) {
	f.Add("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	f.Add("data: {\"type\":\"content_block_start\",\"index\":5,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\"}}\n\ndata: {\"type\":\"message_stop\"}\n\n")
	f.Fuzz(func(t *testing.T, body string) {
		resp := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(strings.NewReader(body))}
		res, err := readStream(context.Background(), ssestream.NewDecoder(resp), func(engram.ModelEvent) {})
		if err != nil {
			return
		}
		for _, it := range res.Output {
			if it == nil {
				t.Fatal("nil item in a successful result")
			}
		}
	})
}

// FuzzMessagesRequest: any items, tools and tool_choice map to a request
// that marshals, with roles alternating, tool_choice only beside tools and
// no more cache breakpoints than Anthropic's four.
func FuzzMessagesRequest(f *testing.F) {
	f.Add(`[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"not json"}]`, `"required"`, true)
	f.Add(`[{"type":"function_call_output","call_id":"c","output":"x"},{"type":"message","role":"system","content":[]}]`, `{"type":"function","name":"f"}`, false)
	f.Add(`[{"type":"reasoning","encrypted_content":"sig","summary":[{"type":"summary_text","text":"t"}]}]`, `{"type":"function","function":{"name":"f"}}`, true)
	f.Add(`[{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,AAAA"},{"type":"input_image","image_url":"data:,x"}]}]`, `7`, true)
	f.Fuzz(func(t *testing.T, itemsJSON, choice string, withTools bool) {
		var items []*engram.Item
		if json.Unmarshal([]byte(itemsJSON), &items) != nil {
			return
		}
		for _, it := range items {
			if it == nil {
				return
			}
		}
		req := &engram.ModelRequest{Model: "m", Instructions: "sys", Input: items, ToolChoice: json.RawMessage(choice)}
		if withTools {
			req.Tools = []engram.ToolSpec{{Type: "function", Name: "f"}}
		}
		out := messagesRequest(req, 100)
		body, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("request does not marshal: %v", err)
		}
		for i := 1; i < len(out.Messages); i++ {
			if out.Messages[i].Role == out.Messages[i-1].Role {
				t.Fatalf("roles do not alternate at %d", i)
			}
		}
		if !withTools && out.ToolChoice != nil {
			t.Fatalf("tool_choice without tools: %s", out.ToolChoice)
		}
		if n := strings.Count(string(body), `"cache_control"`); n > 4 {
			t.Fatalf("%d cache breakpoints", n)
		}
	})
}
