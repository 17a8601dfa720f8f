package openai

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// FuzzStreams feeds arbitrary bytes to both stream readers: whatever an
// upstream sends, the answer is a result or a domain error, never a panic
// or a result with holes.
func FuzzStreams(f *testing.F) {
	f.Add("event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\"}}\n\n")
	f.Add("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\ndata: [DONE]\n\n")
	f.Add("data: {\"type\":\"response.output_text.delta\",\"output_index\":3,\"delta\":\"x\"}\n\n")
	f.Add("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n")
	f.Fuzz(func(t *testing.T, body string) {
		for _, read := range []func(ssestream.Decoder, func(engram.ModelEvent)) (*engram.ModelResult, error){readResponsesStream, readChatStream} {
			resp := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(strings.NewReader(body))}
			res, err := read(ssestream.NewDecoder(resp), func(engram.ModelEvent) {})
			if err != nil {
				continue // any error is fine: Generate maps it to the domain
			}
			for _, it := range res.Output {
				if it == nil {
					t.Fatal("nil item in a successful result")
				}
			}
		}
	})
}
