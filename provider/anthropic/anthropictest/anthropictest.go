// Package anthropictest is a fake Anthropic server for tests: it speaks the
// Messages API in Anthropic's exact JSON and SSE, answers what a test
// scripts (or, with nothing scripted, what Engram's scripted model of the
// same name would: see byModel), and records every request. It is a test
// double of a remote provider, never of Engram's own parts.
package anthropictest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Reply is one scripted answer.
type Reply struct {
	Text        string
	Thinking    string
	ToolCalls   []ToolCall
	Usage       *Usage
	StopReason  string // default end_turn, or tool_use when there are calls
	Status      int    // non-zero and not 200: answer with this error status
	Body        string // raw body instead of a stream
	RetryAfter  string
	Truncate    bool // end the stream before message_stop
	StreamError bool // send an error event mid-stream
	Delay       time.Duration
	Disconnect  bool // drop the connection without answering
}

// ToolCall is a scripted tool_use block; Input is its JSON.
type ToolCall struct {
	ID, Name, Input string
}

// Usage is scripted token usage.
type Usage struct {
	InputTokens, OutputTokens, CacheReadInputTokens, CacheCreationInputTokens int
}

// Recorded is a request the server received.
type Recorded struct {
	Path   string
	Body   []byte
	Header http.Header
}

// Server is the fake upstream.
type Server struct {
	srv      *httptest.Server
	mu       sync.Mutex
	queue    []Reply
	requests []Recorded
}

// NewServer starts a fake Anthropic on 127.0.0.1, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL without /v1, as ANTHROPIC_BASE_URL takes it.
func (s *Server) URL() string { return s.srv.URL }

// Push queues replies, answered in order.
func (s *Server) Push(rs ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, rs...)
}

// Requests returns what the server received so far.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.requests...)
}

func (s *Server) next(r *http.Request, body []byte) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Recorded{Path: r.URL.Path, Body: body, Header: r.Header.Clone()})
	if len(s.queue) > 0 {
		rep := s.queue[0]
		s.queue = s.queue[1:]
		return rep
	}
	return byModel(body)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":%q},"request_id":"req_fake"}`, typ, msg)
}

func errorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 404:
		return "not_found_error"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Api-Key") == "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeError(w, 401, "authentication_error", "x-api-key header is required")
		return
	}
	if r.URL.Path != "/v1/messages" {
		writeError(w, 404, "not_found_error", "Not found")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var head struct {
		Stream bool `json:"stream"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		writeError(w, 400, "invalid_request_error", "invalid JSON body")
		return
	}
	reply := s.next(r, body)
	if reply.Disconnect {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	if reply.Status != 0 && reply.Status != 200 {
		writeError(w, reply.Status, errorType(reply.Status), "scripted failure "+http.StatusText(reply.Status))
		return
	}
	if msg := invalid(body); msg != "" {
		writeError(w, 400, "invalid_request_error", msg)
		return
	}
	if reply.Body != "" {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, reply.Body)
		return
	}
	if !head.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(message(reply, true))
		return
	}
	s.stream(w, reply)
}

// invalid checks the rules of the Messages API that a client can break
// with well-formed JSON, in Anthropic's words, so that a test of a client
// fails here as it would against Anthropic. It returns "" for a valid body.
func invalid(body []byte) string {
	type block struct {
		Type         string          `json:"type"`
		Text         *string         `json:"text"`
		ID           string          `json:"id"`
		ToolUseID    string          `json:"tool_use_id"`
		CacheControl json.RawMessage `json:"cache_control"`
	}
	var req struct {
		Model     string          `json:"model"`
		MaxTokens int             `json:"max_tokens"`
		System    json.RawMessage `json:"system"` // a string or blocks
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"` // a string or blocks
		} `json:"messages"`
		Tools []struct {
			CacheControl json.RawMessage `json:"cache_control"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "invalid request body: " + err.Error()
	}
	switch {
	case req.Model == "":
		return "model: Field required"
	case req.MaxTokens <= 0:
		return "max_tokens: Field required"
	case len(req.Messages) == 0:
		return "messages: at least one message is required"
	}
	breakpoints := 0
	var system []block
	_ = json.Unmarshal(req.System, &system) // a string has no breakpoints
	for _, b := range system {
		if b.CacheControl != nil {
			breakpoints++
		}
	}
	for _, t := range req.Tools {
		if t.CacheControl != nil {
			breakpoints++
		}
	}
	var openCalls []string // tool_use ids of the previous assistant message
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		var blocks []block
		if text := ""; json.Unmarshal(m.Content, &text) == nil {
			if text == "" {
				return fmt.Sprintf("messages.%d: text content blocks must be non-empty", i)
			}
		} else if err := json.Unmarshal(m.Content, &blocks); err != nil || len(blocks) == 0 {
			return fmt.Sprintf("messages.%d.content: Input should be a valid list", i)
		}
		answered := map[string]bool{}
		for j, b := range blocks {
			if b.CacheControl != nil {
				breakpoints++
			}
			switch b.Type {
			case "text":
				if b.Text == nil || *b.Text == "" {
					return fmt.Sprintf("messages.%d.content.%d: text content blocks must be non-empty", i, j)
				}
			case "tool_result":
				if !slices.Contains(openCalls, b.ToolUseID) {
					return fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
				}
				answered[b.ToolUseID] = true
			}
		}
		for _, id := range openCalls {
			if !answered[id] {
				return fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i-1, id)
			}
		}
		openCalls = openCalls[:0]
		if m.Role == "assistant" {
			for _, b := range blocks {
				if b.Type == "tool_use" {
					openCalls = append(openCalls, b.ID)
				}
			}
		}
	}
	if breakpoints > 4 {
		return fmt.Sprintf("A maximum of 4 blocks with cache_control may be provided. Found %d.", breakpoints)
	}
	return ""
}

var ids atomic.Int64

func newID(prefix string) string { return fmt.Sprintf("%s_%04d", prefix, ids.Add(1)) }

func usageOf(r Reply) Usage {
	if r.Usage != nil {
		return *r.Usage
	}
	return Usage{InputTokens: 15, OutputTokens: 9}
}

func stopReason(r Reply) string {
	switch {
	case r.StopReason != "":
		return r.StopReason
	case len(r.ToolCalls) > 0:
		return "tool_use"
	}
	return "end_turn"
}

// message is the Message object: complete, or as message_start shows it.
func message(r Reply, complete bool) map[string]any {
	u := usageOf(r)
	m := map[string]any{"id": newID("msg"), "type": "message", "role": "assistant", "model": "claude-fake", "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": u.InputTokens, "output_tokens": 1, "cache_read_input_tokens": u.CacheReadInputTokens, "cache_creation_input_tokens": u.CacheCreationInputTokens}}
	if complete {
		var content []any
		if r.Thinking != "" {
			content = append(content, map[string]any{"type": "thinking", "thinking": r.Thinking, "signature": "sig-" + r.Thinking})
		}
		if r.Text != "" || len(r.ToolCalls) == 0 {
			content = append(content, map[string]any{"type": "text", "text": r.Text})
		}
		for _, c := range r.ToolCalls {
			content = append(content, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": json.RawMessage(c.Input)})
		}
		m["content"], m["stop_reason"] = content, stopReason(r)
		m["usage"].(map[string]any)["output_tokens"] = u.OutputTokens
	}
	return m
}

// stream writes the event sequence Anthropic sends.
func (s *Server) stream(w http.ResponseWriter, r Reply) {
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(typ string, ev map[string]any) {
		ev["type"] = typ
		data, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, data)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	send("message_start", map[string]any{"message": message(r, false)})
	send("ping", map[string]any{})
	idx := 0
	if r.Thinking != "" {
		send("content_block_start", map[string]any{"index": idx, "content_block": map[string]any{"type": "thinking", "thinking": ""}})
		send("content_block_delta", map[string]any{"index": idx, "delta": map[string]any{"type": "thinking_delta", "thinking": r.Thinking}})
		send("content_block_delta", map[string]any{"index": idx, "delta": map[string]any{"type": "signature_delta", "signature": "sig-" + r.Thinking}})
		send("content_block_stop", map[string]any{"index": idx})
		idx++
	}
	if r.Text != "" || len(r.ToolCalls) == 0 {
		send("content_block_start", map[string]any{"index": idx, "content_block": map[string]any{"type": "text", "text": ""}})
		for i, chunk := range split(r.Text) {
			send("content_block_delta", map[string]any{"index": idx, "delta": map[string]any{"type": "text_delta", "text": chunk}})
			if r.StreamError && i == 0 {
				send("error", map[string]any{"error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}})
				return
			}
			if r.Truncate {
				return
			}
		}
		send("content_block_stop", map[string]any{"index": idx})
		idx++
	}
	for _, c := range r.ToolCalls {
		send("content_block_start", map[string]any{"index": idx, "content_block": map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": map[string]any{}}})
		for _, part := range split(c.Input) {
			send("content_block_delta", map[string]any{"index": idx, "delta": map[string]any{"type": "input_json_delta", "partial_json": part}})
		}
		send("content_block_stop", map[string]any{"index": idx})
		idx++
	}
	if r.Truncate {
		return
	}
	u := usageOf(r)
	send("message_delta", map[string]any{"delta": map[string]any{"stop_reason": stopReason(r), "stop_sequence": nil}, "usage": map[string]any{"output_tokens": u.OutputTokens}})
	send("message_stop", map[string]any{})
}

func split(s string) []string {
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
