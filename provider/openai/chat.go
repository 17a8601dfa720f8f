package openai

import (
	"bytes"
	"encoding/json"
	"sort"

	"github.com/engram-run/engram"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// The Chat Completions request, for servers that speak only that.
type cRequest struct {
	Model         string          `json:"model"`
	Messages      []cMessage      `json:"messages"`
	Tools         []cTool         `json:"tools,omitempty"`
	ToolChoice    json.RawMessage `json:"tool_choice,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	MaxTokens     int             `json:"max_completion_tokens,omitempty"`
	User          string          `json:"user,omitempty"`
	Stream        bool            `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type cMessage struct {
	Role       string      `json:"role"`
	Content    any         `json:"content"` // string, parts, or null beside tool calls
	ToolCalls  []cToolCall `json:"tool_calls,omitempty"`
	ToolCallID string      `json:"tool_call_id,omitempty"`
}

type cPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail,omitempty"`
	} `json:"image_url,omitempty"`
}

type cToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type cTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// chatRequest maps a model call to Chat Completions: instructions become
// the system message, consecutive function calls one assistant message
// with tool_calls, and each output a tool message. Reasoning items have no
// place in this API and are left out.
func chatRequest(req *engram.ModelRequest) *cRequest {
	out := &cRequest{Model: req.Model, ToolChoice: chatToolChoice(req.ToolChoice), Temperature: req.Temperature,
		TopP: req.TopP, MaxTokens: req.MaxOutputTokens, User: req.User, Messages: []cMessage{}, Stream: true}
	out.StreamOptions.IncludeUsage = true
	if req.Instructions != "" {
		out.Messages = append(out.Messages, cMessage{Role: "system", Content: req.Instructions})
	}
	for _, it := range req.Input {
		switch it.Type {
		case engram.ItemMessage:
			out.Messages = append(out.Messages, chatMessage(it))
		case engram.ItemFunctionCall:
			call := cToolCall{ID: it.CallID, Type: "function"}
			call.Function.Name, call.Function.Arguments = it.Name, it.Arguments
			if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == "assistant" {
				out.Messages[n-1].ToolCalls = append(out.Messages[n-1].ToolCalls, call)
			} else {
				out.Messages = append(out.Messages, cMessage{Role: "assistant", ToolCalls: []cToolCall{call}})
			}
		case engram.ItemFunctionCallOutput:
			out.Messages = append(out.Messages, cMessage{Role: "tool", ToolCallID: it.CallID, Content: it.Output})
		}
	}
	for _, t := range req.Tools {
		ct := cTool{Type: "function"}
		ct.Function.Name, ct.Function.Description, ct.Function.Parameters = t.Name, t.Description, toolSchema(t)
		out.Tools = append(out.Tools, ct)
	}
	return out
}

func chatMessage(it *engram.Item) cMessage {
	role := it.Role
	if role == "developer" {
		role = "system" // older servers know no developer role
	}
	simple := true
	for _, c := range it.Content {
		if c.Type == engram.ContentInputImage {
			simple = false
		}
	}
	if simple {
		return cMessage{Role: role, Content: it.Text()}
	}
	var parts []cPart
	for _, c := range it.Content {
		switch c.Type {
		case engram.ContentInputImage:
			p := cPart{Type: "image_url"}
			p.ImageURL = &struct {
				URL    string `json:"url"`
				Detail string `json:"detail,omitempty"`
			}{URL: c.ImageURL, Detail: c.Detail}
			parts = append(parts, p)
		default:
			parts = append(parts, cPart{Type: "text", Text: c.Text + c.Refusal})
		}
	}
	return cMessage{Role: role, Content: parts}
}

// chatToolChoice maps the Responses tool_choice to Chat Completions'.
func chatToolChoice(raw json.RawMessage) json.RawMessage {
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &obj) != nil || obj.Type != "function" {
		return raw // "auto", "none", "required" read the same
	}
	out, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": obj.Name}})
	return out
}

type cChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string     `json:"content"`
			Refusal   *string     `json:"refusal"`
			ToolCalls []cToolCall `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails *struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		CompletionTokensDetails *struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// chatStream assembles Chat Completions chunks into items. The message
// (if any text came) is item 0; tool calls follow in their index order.
type chatStream struct {
	emit    func(engram.ModelEvent)
	text    []byte
	refusal []byte
	msg     int // item index of the message, -1 before it starts
	calls   map[int]*engram.Item
	callIdx map[int]int // upstream tool-call index -> item index
	next    int
}

func readChatStream(dec ssestream.Decoder, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	s := &chatStream{emit: emit, msg: -1, calls: map[int]*engram.Item{}, callIdx: map[int]int{}}
	res := &engram.ModelResult{}
	finish := ""
	done := false
	for dec.Next() {
		data := bytes.TrimSpace(dec.Event().Data)
		if string(data) == "[DONE]" {
			done = true
			break
		}
		if len(data) == 0 {
			continue
		}
		var ch cChunk
		if err := json.Unmarshal(data, &ch); err != nil {
			return nil, streamBroken("chunk %q: %v", truncate(data), err)
		}
		if ch.Error != nil {
			return nil, engram.Errorf(engram.EUpstream, "upstream stream error: %s", ch.Error.Message)
		}
		if u := ch.Usage; u != nil {
			res.Usage = engram.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
			if u.PromptTokensDetails != nil {
				res.Usage.CachedTokens = u.PromptTokensDetails.CachedTokens
			}
			if u.CompletionTokensDetails != nil {
				res.Usage.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
			}
		}
		for _, c := range ch.Choices {
			if c.Index != 0 {
				continue
			}
			if d := c.Delta.Content; d != nil && *d != "" {
				s.startMessage()
				s.text = append(s.text, *d...)
				emit(engram.ModelEvent{Type: engram.ModelTextDelta, Index: s.msg, Delta: *d})
			}
			if d := c.Delta.Refusal; d != nil && *d != "" {
				s.startMessage()
				s.refusal = append(s.refusal, *d...)
				emit(engram.ModelEvent{Type: engram.ModelRefusalDelta, Index: s.msg, Delta: *d})
			}
			for _, tc := range c.Delta.ToolCalls {
				if err := s.toolCall(tc); err != nil {
					return nil, err
				}
			}
			if c.FinishReason != nil && *c.FinishReason != "" {
				finish = *c.FinishReason
			}
		}
	}
	if err := dec.Err(); err != nil {
		return nil, err
	}
	if !done && finish == "" {
		return nil, streamBroken("the stream ended before a finish_reason")
	}
	res.Output = s.items()
	switch finish {
	case "length":
		res.StopReason = engram.StopMaxTokens
	case "content_filter":
		res.StopReason = engram.StopContentFilter
	case "tool_calls", "function_call":
		res.StopReason = engram.StopToolCalls
	default:
		res.StopReason = engram.StopEnd
		if len(s.calls) > 0 {
			res.StopReason = engram.StopToolCalls
		}
	}
	return res, nil
}

func (s *chatStream) startMessage() {
	if s.msg >= 0 {
		return
	}
	s.msg = s.next
	s.next++
	s.emit(engram.ModelEvent{Type: engram.ModelItemAdded, Index: s.msg, Item: &engram.Item{Type: engram.ItemMessage, Role: "assistant"}})
}

func (s *chatStream) toolCall(tc cToolCall) error {
	key := 0
	if tc.Index != nil {
		key = *tc.Index
	}
	i, ok := s.callIdx[key]
	if !ok {
		if tc.ID == "" && tc.Function.Name == "" {
			return streamBroken("a tool call began without an id or a name")
		}
		i = s.next
		s.next++
		s.callIdx[key] = i
		s.calls[i] = &engram.Item{Type: engram.ItemFunctionCall, CallID: tc.ID, Name: tc.Function.Name}
		if s.calls[i].CallID == "" {
			s.calls[i].CallID = engram.NewID("call") // some local servers send none
		}
		s.emit(engram.ModelEvent{Type: engram.ModelItemAdded, Index: i, Item: &engram.Item{Type: engram.ItemFunctionCall, CallID: s.calls[i].CallID, Name: tc.Function.Name}})
	}
	if tc.Function.Arguments != "" {
		s.calls[i].Arguments += tc.Function.Arguments
		s.emit(engram.ModelEvent{Type: engram.ModelArgumentsDelta, Index: i, Delta: tc.Function.Arguments})
	}
	return nil
}

// items completes the items in index order, announcing each as done.
func (s *chatStream) items() []*engram.Item {
	out := make([]*engram.Item, s.next)
	if s.msg >= 0 {
		var parts []engram.Content
		if len(s.text) > 0 {
			parts = append(parts, engram.Content{Type: engram.ContentOutputText, Text: string(s.text)})
		}
		if len(s.refusal) > 0 {
			parts = append(parts, engram.Content{Type: engram.ContentRefusal, Refusal: string(s.refusal)})
		}
		out[s.msg] = &engram.Item{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusCompleted, Content: parts}
	}
	keys := make([]int, 0, len(s.calls))
	for i := range s.calls {
		keys = append(keys, i)
	}
	sort.Ints(keys)
	for _, i := range keys {
		c := s.calls[i]
		if c.Arguments == "" {
			c.Arguments = "{}"
		}
		c.Status = engram.StatusCompleted
		out[i] = c
	}
	for i, it := range out {
		s.emit(engram.ModelEvent{Type: engram.ModelItemDone, Index: i, Item: it})
	}
	return out
}
