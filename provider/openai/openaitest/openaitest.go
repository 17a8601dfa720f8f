// Package openaitest is a fake OpenAI server for tests: it speaks the
// Responses API and Chat Completions in OpenAI's exact JSON and SSE, answers
// what a test scripts (or, with nothing scripted, what Engram's scripted
// model of the same name would: see byModel), and records every request.
// It is a test double of a remote provider, never of Engram's own parts.
package openaitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply is one scripted answer.
type Reply struct {
	Text       string
	Reasoning  string // a reasoning summary, before the text
	ToolCalls  []ToolCall
	Usage      *Usage
	Status     int    // non-zero and not 200: answer with this error status
	Body       string // raw body instead of a stream (garbage tests)
	RetryAfter string // Retry-After header (seconds), with Status 429/503
	// RetryAfterMS is OpenAI's retry-after-ms header, which clients prefer.
	RetryAfterMS string
	Truncate     bool          // end the stream before its completion event
	Incomplete   string        // end as incomplete with this reason (e.g. max_output_tokens)
	NoUsage      bool          // report no usage, as Ollama and vLLM may
	ContentType  string        // with Body: its Content-Type (default text/event-stream)
	Hangup       bool          // close the connection without answering
	Delay        time.Duration // before answering at all
	Stall        time.Duration // after the first delta of a stream
}

// ToolCall is a scripted function call.
type ToolCall struct {
	CallID, Name, Arguments string
}

// Usage is scripted token usage.
type Usage struct {
	InputTokens, CachedTokens, OutputTokens, ReasoningTokens int
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
	models   []string // nil: the default list
}

// SetModels sets what GET /v1/models lists (by default gpt-fake and
// gpt-fake-mini); with none, it answers 500, as an upstream that is down.
func (s *Server) SetModels(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models = append([]string{}, ids...)
}

// listModels answers GET /v1/models in OpenAI's shape.
func (s *Server) listModels(w http.ResponseWriter) {
	s.mu.Lock()
	ids := s.models
	s.mu.Unlock()
	if ids == nil {
		ids = []string{"gpt-fake", "gpt-fake-mini"}
	}
	if len(ids) == 0 {
		writeError(w, 500, "server_error", "server_error", "scripted failure: no models")
		return
	}
	data := []any{}
	for _, id := range ids {
		data = append(data, map[string]any{"id": id, "object": "model", "created": 1700000000, "owned_by": "openai"})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// NewServer starts a fake OpenAI on 127.0.0.1, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL, ending in /v1, as OPENAI_BASE_URL takes it.
func (s *Server) URL() string { return s.srv.URL + "/v1" }

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

func (s *Server) next(body []byte, path string, h http.Header) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Recorded{Path: path, Body: body, Header: h.Clone()})
	var r Reply
	if len(s.queue) > 0 {
		r = s.queue[0]
		s.queue = s.queue[1:]
	} else {
		r = byModel(body)
	}
	// OpenAI always names its calls; so does the fake when the script does not.
	r.ToolCalls = append([]ToolCall(nil), r.ToolCalls...)
	for i := range r.ToolCalls {
		if r.ToolCalls[i].CallID == "" {
			r.ToolCalls[i].CallID = newID("call")
		}
	}
	return r
}

// lastUserText finds the last user message of either API's request.
func lastUserText(body []byte) string {
	var req struct {
		Input    json.RawMessage `json:"input"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(body, &req)
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if len(req.Input) > 0 {
		var s string
		if json.Unmarshal(req.Input, &s) == nil {
			return s
		}
		_ = json.Unmarshal(req.Input, &msgs)
	} else {
		msgs = req.Messages
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != "user" {
			continue
		}
		var s string
		if json.Unmarshal(msgs[i].Content, &s) == nil {
			return s
		}
		var parts []struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(msgs[i].Content, &parts)
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":%q,"param":null,"code":%q}}`, msg, typ, code)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || strings.TrimSpace(key) == "" {
		writeError(w, 401, "invalid_request_error", "invalid_api_key", "You didn't provide an API key.")
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/models" {
		s.listModels(w)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var head struct {
		Stream        bool `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		writeError(w, 400, "invalid_request_error", "invalid_json", "We could not parse the JSON body of your request.")
		return
	}
	reply := s.next(body, r.URL.Path, r.Header)
	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if reply.Hangup {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	if reply.RetryAfterMS != "" {
		w.Header().Set("Retry-After-Ms", reply.RetryAfterMS)
	}
	if reply.Status != 0 && reply.Status != 200 {
		typ := "server_error"
		if reply.Status < 500 {
			typ = "invalid_request_error"
		}
		writeError(w, reply.Status, typ, http.StatusText(reply.Status), "scripted failure "+http.StatusText(reply.Status))
		return
	}
	if reply.Body != "" {
		if reply.ContentType == "" {
			reply.ContentType = "text/event-stream"
		}
		w.Header().Set("Content-Type", reply.ContentType)
		io.WriteString(w, reply.Body)
		return
	}
	switch r.URL.Path {
	case "/v1/responses":
		if head.Stream {
			streamResponse(w, r, reply)
		} else {
			w.Header().Set("Content-Type", "application/json")
			status := "completed"
			if reply.Incomplete != "" {
				status = "incomplete"
			}
			json.NewEncoder(w).Encode(responseObject(reply, status))
		}
	case "/v1/chat/completions":
		if head.Stream {
			if !head.StreamOptions.IncludeUsage {
				reply.NoUsage = true // OpenAI sends the usage chunk only when asked
			}
			streamChat(w, r, reply)
		} else {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(chatObject(reply))
		}
	default:
		writeError(w, 404, "invalid_request_error", "unknown_url", "Invalid URL (POST "+r.URL.Path+")")
	}
}

// stall pauses a stream after its first delta, for timeouts mid-stream.
func stall(req *http.Request, r Reply) {
	if r.Stall <= 0 {
		return
	}
	select {
	case <-time.After(r.Stall):
	case <-req.Context().Done():
	}
}
