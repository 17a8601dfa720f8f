package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

func chatUsage(u *Usage) map[string]any {
	if u == nil {
		u = &Usage{InputTokens: 12, OutputTokens: 7}
	}
	return map[string]any{"prompt_tokens": u.InputTokens, "completion_tokens": u.OutputTokens, "total_tokens": u.InputTokens + u.OutputTokens,
		"prompt_tokens_details": map[string]any{"cached_tokens": u.CachedTokens}, "completion_tokens_details": map[string]any{"reasoning_tokens": u.ReasoningTokens}}
}

func finishReason(r Reply) string {
	switch {
	case r.Incomplete != "":
		return "length"
	case len(r.ToolCalls) > 0:
		return "tool_calls"
	}
	return "stop"
}

func chatObject(r Reply) map[string]any {
	msg := map[string]any{"role": "assistant", "content": r.Text, "refusal": nil}
	if len(r.ToolCalls) > 0 {
		var calls []any
		for _, c := range r.ToolCalls {
			calls = append(calls, map[string]any{"id": c.CallID, "type": "function", "function": map[string]any{"name": c.Name, "arguments": c.Arguments}})
		}
		msg["tool_calls"] = calls
	}
	var usage any
	if !r.NoUsage {
		usage = chatUsage(r.Usage)
	}
	return map[string]any{"id": newID("chatcmpl"), "object": "chat.completion", "created": 1760000000, "model": "gpt-fake",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finishReason(r), "logprobs": nil}}, "usage": usage}
}

// streamChat writes chunks as OpenAI does, ending with a usage chunk (when
// asked for) and [DONE].
func streamChat(w http.ResponseWriter, req *http.Request, r Reply) {
	w.Header().Set("Content-Type", "text/event-stream")
	id := newID("chatcmpl")
	send := func(choice map[string]any, usage any) {
		chunk := map[string]any{"id": id, "object": "chat.completion.chunk", "created": 1760000000, "model": "gpt-fake", "choices": []any{}}
		if choice != nil {
			chunk["choices"] = []any{choice}
		}
		if !r.NoUsage {
			chunk["usage"] = usage // null on every chunk but the last, as OpenAI sends
		}
		data, _ := json.Marshal(chunk)
		fmt.Fprintf(w, "data: %s\n\n", data)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	send(map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "finish_reason": nil}, nil)
	for _, chunk := range split(r.Text) {
		send(map[string]any{"index": 0, "delta": map[string]any{"content": chunk}, "finish_reason": nil}, nil)
		stall(req, r)
		r.Stall = 0
		if r.Truncate {
			return
		}
	}
	for i, c := range r.ToolCalls {
		send(map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": c.CallID, "type": "function", "function": map[string]any{"name": c.Name, "arguments": ""}}}}, "finish_reason": nil}, nil)
		for _, part := range split(c.Arguments) {
			send(map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": part}}}}, "finish_reason": nil}, nil)
		}
	}
	if r.Truncate {
		return
	}
	send(map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": finishReason(r)}, nil)
	if !r.NoUsage {
		send(nil, chatUsage(r.Usage))
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}
