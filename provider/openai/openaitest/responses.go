package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

var ids atomic.Int64

func newID(prefix string) string {
	return fmt.Sprintf("%s_%04d", prefix, ids.Add(1))
}

// outputItems is the finished output of a reply, in OpenAI's item shapes.
func outputItems(r Reply) []map[string]any {
	var out []map[string]any
	if r.Reasoning != "" {
		out = append(out, map[string]any{"id": newID("rs"), "type": "reasoning",
			"summary": []any{map[string]any{"type": "summary_text", "text": r.Reasoning}}, "encrypted_content": "enc-" + r.Reasoning})
	}
	if r.Text != "" || len(r.ToolCalls) == 0 {
		out = append(out, map[string]any{"id": newID("msg"), "type": "message", "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": r.Text, "annotations": []any{}, "logprobs": []any{}}}})
	}
	for _, c := range r.ToolCalls {
		out = append(out, map[string]any{"id": newID("fc"), "type": "function_call", "status": "completed",
			"call_id": c.CallID, "name": c.Name, "arguments": c.Arguments})
	}
	return out
}

func usageObject(u *Usage) map[string]any {
	if u == nil {
		u = &Usage{InputTokens: 12, OutputTokens: 7}
	}
	return map[string]any{
		"input_tokens": u.InputTokens, "input_tokens_details": map[string]any{"cached_tokens": u.CachedTokens},
		"output_tokens": u.OutputTokens, "output_tokens_details": map[string]any{"reasoning_tokens": u.ReasoningTokens},
		"total_tokens": u.InputTokens + u.OutputTokens,
	}
}

func responseObject(r Reply, status string) map[string]any {
	resp := map[string]any{"id": newID("resp"), "object": "response", "created_at": 1760000000, "status": status,
		"model": "gpt-fake", "output": []any{}, "error": nil, "incomplete_details": nil, "usage": nil,
		"parallel_tool_calls": true, "tool_choice": "auto", "tools": []any{}, "store": false}
	if status != "in_progress" {
		items := outputItems(r)
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = it
		}
		resp["output"] = out
		if !r.NoUsage {
			resp["usage"] = usageObject(r.Usage)
		}
	}
	if status == "incomplete" {
		resp["incomplete_details"] = map[string]any{"reason": r.Incomplete}
	}
	return resp
}

// streamResponse writes the Responses event sequence OpenAI sends.
func streamResponse(w http.ResponseWriter, req *http.Request, r Reply) {
	w.Header().Set("Content-Type", "text/event-stream")
	seq := 0
	send := func(ev map[string]any) {
		ev["sequence_number"] = seq
		seq++
		data, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], data)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	send(map[string]any{"type": "response.created", "response": responseObject(r, "in_progress")})
	send(map[string]any{"type": "response.in_progress", "response": responseObject(r, "in_progress")})
	for i, it := range outputItems(r) {
		id := it["id"]
		switch it["type"] {
		case "message":
			text := it["content"].([]any)[0].(map[string]any)["text"].(string)
			send(map[string]any{"type": "response.output_item.added", "output_index": i, "item": map[string]any{"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []any{}}})
			send(map[string]any{"type": "response.content_part.added", "output_index": i, "item_id": id, "content_index": 0, "part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}, "logprobs": []any{}}})
			for _, chunk := range split(text) {
				send(map[string]any{"type": "response.output_text.delta", "output_index": i, "item_id": id, "content_index": 0, "delta": chunk, "logprobs": []any{}})
				stall(req, r)
				r.Stall = 0
				if r.Truncate {
					return
				}
			}
			send(map[string]any{"type": "response.output_text.done", "output_index": i, "item_id": id, "content_index": 0, "text": text, "logprobs": []any{}})
			send(map[string]any{"type": "response.content_part.done", "output_index": i, "item_id": id, "content_index": 0, "part": map[string]any{"type": "output_text", "text": text, "annotations": []any{}, "logprobs": []any{}}})
		case "function_call":
			args := it["arguments"].(string)
			send(map[string]any{"type": "response.output_item.added", "output_index": i, "item": map[string]any{"id": id, "type": "function_call", "status": "in_progress", "call_id": it["call_id"], "name": it["name"], "arguments": ""}})
			for _, chunk := range split(args) {
				send(map[string]any{"type": "response.function_call_arguments.delta", "output_index": i, "item_id": id, "delta": chunk})
			}
			send(map[string]any{"type": "response.function_call_arguments.done", "output_index": i, "item_id": id, "name": it["name"], "arguments": args})
		case "reasoning":
			summary := it["summary"].([]any)[0].(map[string]any)["text"].(string)
			send(map[string]any{"type": "response.output_item.added", "output_index": i, "item": map[string]any{"id": id, "type": "reasoning", "summary": []any{}}})
			send(map[string]any{"type": "response.reasoning_summary_part.added", "output_index": i, "item_id": id, "summary_index": 0, "part": map[string]any{"type": "summary_text", "text": ""}})
			send(map[string]any{"type": "response.reasoning_summary_text.delta", "output_index": i, "item_id": id, "summary_index": 0, "delta": summary})
			send(map[string]any{"type": "response.reasoning_summary_text.done", "output_index": i, "item_id": id, "summary_index": 0, "text": summary})
			send(map[string]any{"type": "response.reasoning_summary_part.done", "output_index": i, "item_id": id, "summary_index": 0, "part": map[string]any{"type": "summary_text", "text": summary}})
		}
		send(map[string]any{"type": "response.output_item.done", "output_index": i, "item": it})
	}
	if r.Truncate {
		return
	}
	if r.Incomplete != "" {
		send(map[string]any{"type": "response.incomplete", "response": responseObject(r, "incomplete")})
		return
	}
	send(map[string]any{"type": "response.completed", "response": responseObject(r, "completed")})
}

// split cuts s into a few pieces, as a model streams.
func split(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for len(s) > 0 {
		n := strings.IndexByte(s[1:], ' ') + 1
		if n <= 0 {
			n = len(s)
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}
