package anthropic

import (
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
		res, err := readStream(ssestream.NewDecoder(resp), func(engram.ModelEvent) {})
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

// FuzzMessagesRequest: any items map to a request that marshals, with
// roles alternating.
func FuzzMessagesRequest(f *testing.F) {
	f.Add(`[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"not json"}]`)
	f.Add(`[{"type":"function_call_output","call_id":"c","output":"x"},{"type":"message","role":"system","content":[]}]`)
	f.Fuzz(func(t *testing.T, itemsJSON string) {
		var items []*engram.Item
		if json.Unmarshal([]byte(itemsJSON), &items) != nil {
			return
		}
		for _, it := range items {
			if it == nil {
				return
			}
		}
		req := messagesRequest(&engram.ModelRequest{Model: "m", Input: items}, 100)
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("request does not marshal: %v", err)
		}
		for i := 1; i < len(req.Messages); i++ {
			if req.Messages[i].Role == req.Messages[i-1].Role {
				t.Fatalf("roles do not alternate at %d", i)
			}
		}
	})
}
