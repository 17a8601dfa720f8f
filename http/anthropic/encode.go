package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/engram-run/engram"
)

// Message is Anthropic's Message object: the answer of POST /v1/messages.
type Message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"` // "message"
	Role         string  `json:"role"` // "assistant"
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Block is a content block of an answer: text or tool_use.
type Block struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

// Usage is Anthropic's token usage: input_tokens excludes the tokens read
// from the cache, which are counted apart. Engram does not learn how many
// tokens a call wrote to a provider's cache, so cache_creation_input_tokens
// is 0.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
}

// MessageID is the id of the message a response answers with: the
// response's own id under Anthropic's prefix, so that msg_X is resp_X in
// Engram's API (its steps, its stream, its approvals).
func MessageID(responseID string) string {
	return "msg_" + strings.TrimPrefix(responseID, "resp_")
}

// EncodeUsage returns usage in Anthropic's shape.
func EncodeUsage(u *engram.Usage) Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{InputTokens: max(u.InputTokens-u.CachedTokens, 0), OutputTokens: u.OutputTokens, CacheReadInputTokens: u.CachedTokens}
}

// EncodeMessage returns a response as Anthropic's Message. Its content is
// the text the model wrote and the tool calls left for the client; the
// calls Engram made itself (builtin and http tools) and their outputs
// happened inside the turn and are not shown, as Anthropic does not show
// what its server does between a request and its answer.
func EncodeMessage(r *engram.Response) *Message {
	m := &Message{ID: MessageID(r.ID), Type: "message", Role: "assistant", Model: r.Model, Content: []Block{}, Usage: EncodeUsage(r.Usage)}
	answered := map[string]bool{}
	for _, it := range r.Output {
		if it.Type == engram.ItemFunctionCallOutput {
			answered[it.CallID] = true
		}
	}
	calls := 0
	for _, it := range r.Output {
		switch it.Type {
		case engram.ItemMessage:
			for _, c := range it.Content {
				text := c.Text
				if c.Type == engram.ContentRefusal {
					text = c.Refusal
				}
				m.Content = append(m.Content, Block{Type: "text", Text: &text})
			}
		case engram.ItemFunctionCall:
			// Only a completed run stops for the client's calls; an
			// incomplete one may end on a server call it never made.
			if answered[it.CallID] || r.Status != engram.StatusCompleted {
				continue
			}
			calls++
			m.Content = append(m.Content, Block{Type: "tool_use", ID: it.CallID, Name: it.Name, Input: ToolInput(it.Arguments)})
		}
	}
	stop := StopReason(r.Status, r.IncompleteReason, calls > 0)
	m.StopReason = &stop
	return m
}

// ToolInput returns a call's arguments as the JSON object a tool_use block
// carries; arguments that are not an object become {}.
func ToolInput(args string) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(args), &obj) != nil || obj == nil {
		return json.RawMessage(`{}`)
	}
	return compact(json.RawMessage(args))
}

// StopReason maps how a run ended to Anthropic's stop_reason: the client's
// tool calls are tool_use, the output limit max_tokens, a refusal refusal,
// a run paused for a person's approval pause_turn (answer it through
// POST /v1/responses/{id}/approvals), anything else end_turn.
func StopReason(status, incomplete string, toolUse bool) string {
	switch status {
	case engram.StatusCompleted:
		if toolUse {
			return "tool_use"
		}
	case engram.StatusIncomplete:
		switch incomplete {
		case "max_output_tokens":
			return "max_tokens"
		case "content_filter":
			return "refusal"
		}
	case engram.StatusRequiresAction:
		return "pause_turn"
	}
	return "end_turn"
}

// ErrorBody is Anthropic's error answer.
type ErrorBody struct {
	Type      string      `json:"type"` // "error"
	Error     ErrorObject `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorObject is the error inside ErrorBody and inside a stream's error
// event.
type ErrorObject struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// StatusOverloaded is Anthropic's status for a server that cannot take
// the request now.
const StatusOverloaded = 529

// ErrorType names an HTTP status's error as Anthropic does.
func ErrorType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case StatusOverloaded, http.StatusServiceUnavailable:
		return "overloaded_error"
	}
	return "api_error"
}

// FailureStatus is the HTTP status of a run that failed with a response
// error code (rate_limit_exceeded, upstream_timeout, …).
func FailureStatus(code string) int {
	switch code {
	case "rate_limit_exceeded":
		return http.StatusTooManyRequests
	case "upstream_timeout":
		return http.StatusGatewayTimeout
	case "upstream_error":
		return http.StatusBadGateway
	case "invalid_prompt":
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
