package openai

import (
	"encoding/json"

	"github.com/engram-run/engram"
)

// Item is an item in OpenAI's JSON shape. Fields OpenAI always sends are
// always sent, even empty.
type Item struct {
	ID               string  `json:"id"`
	Type             string  `json:"type"`
	Status           string  `json:"status,omitempty"`
	Role             string  `json:"role,omitempty"`
	Content          *[]Part `json:"content,omitempty"`
	CallID           string  `json:"call_id,omitempty"`
	Name             string  `json:"name,omitempty"`
	Arguments        *string `json:"arguments,omitempty"`
	Output           *string `json:"output,omitempty"`
	Summary          *[]Part `json:"summary,omitempty"`
	EncryptedContent string  `json:"encrypted_content,omitempty"`
	ServerLabel      string  `json:"server_label,omitempty"`
	ApprovalRequest  string  `json:"approval_request_id,omitempty"`
	Approve          *bool   `json:"approve,omitempty"`
	Reason           *string `json:"reason,omitempty"`
}

// Part is a content part.
type Part struct {
	Type        string             `json:"type"`
	Text        *string            `json:"text,omitempty"`
	Refusal     *string            `json:"refusal,omitempty"`
	ImageURL    string             `json:"image_url,omitempty"`
	FileID      string             `json:"file_id,omitempty"`
	FileData    string             `json:"file_data,omitempty"`
	Filename    string             `json:"filename,omitempty"`
	Detail      string             `json:"detail,omitempty"`
	Annotations *[]json.RawMessage `json:"annotations,omitempty"`
	Logprobs    *[]json.RawMessage `json:"logprobs,omitempty"`
}

func str(s string) *string { return &s }

// EncodePart returns a content part in OpenAI's shape.
func EncodePart(c engram.Content) Part {
	p := Part{Type: c.Type}
	switch c.Type {
	case engram.ContentOutputText:
		anns := c.Annotations
		if anns == nil {
			anns = []json.RawMessage{}
		}
		p.Text, p.Annotations, p.Logprobs = str(c.Text), &anns, &[]json.RawMessage{}
	case engram.ContentInputText, engram.ContentSummaryText:
		p.Text = str(c.Text)
	case engram.ContentRefusal:
		p.Refusal = str(c.Refusal)
	case engram.ContentInputImage:
		p.ImageURL, p.FileID, p.Detail = c.ImageURL, c.FileID, c.Detail
		if p.Detail == "" {
			p.Detail = "auto"
		}
	case engram.ContentInputFile:
		p.FileID, p.FileData, p.Filename = c.FileID, c.FileData, c.Filename
	default:
		p.Text = str(c.Text)
	}
	return p
}

// EncodeItem returns an item in OpenAI's shape.
func EncodeItem(it *engram.Item) Item {
	w := Item{ID: it.ID, Type: it.Type, Status: it.Status}
	switch it.Type {
	case engram.ItemMessage:
		w.Role = it.Role
		parts := make([]Part, len(it.Content))
		for i, c := range it.Content {
			parts[i] = EncodePart(c)
		}
		w.Content = &parts
	case engram.ItemFunctionCall:
		w.CallID, w.Name, w.Arguments = it.CallID, it.Name, str(it.Arguments)
	case engram.ItemFunctionCallOutput:
		w.CallID, w.Output = it.CallID, str(it.Output)
	case engram.ItemReasoning:
		w.Status = ""
		parts := make([]Part, len(it.Summary))
		for i, c := range it.Summary {
			parts[i] = EncodePart(c)
		}
		w.Summary = &parts
		w.EncryptedContent = it.EncryptedContent
	case engram.ItemCompaction:
		w.Status = ""
		w.EncryptedContent = it.EncryptedContent
	case engram.ItemApprovalRequest:
		w.Status = ""
		w.ServerLabel, w.Name, w.Arguments = it.ServerLabel, it.Name, str(it.Arguments)
		if it.Reason != "" {
			w.Reason = str(it.Reason) // Engram: why a person is asked
		}
	case engram.ItemApprovalResponse:
		w.Status = ""
		w.ApprovalRequest, w.Approve, w.Reason = it.ApprovalRequestID, it.Approve, str(it.Reason)
	}
	return w
}

// EncodeItems encodes a list of items.
func EncodeItems(items []*engram.Item) []Item {
	out := make([]Item, len(items))
	for i, it := range items {
		out[i] = EncodeItem(it)
	}
	return out
}

// Response is a response object in OpenAI's shape.
type Response struct {
	ID                   string             `json:"id"`
	Object               string             `json:"object"`
	CreatedAt            int64              `json:"created_at"`
	Status               string             `json:"status"`
	Background           bool               `json:"background"`
	CompletedAt          *int64             `json:"completed_at"`
	Conversation         *ConversationRef   `json:"conversation"`
	Error                *ResponseError     `json:"error"`
	IncompleteDetails    *IncompleteDetails `json:"incomplete_details"`
	Instructions         *string            `json:"instructions"`
	MaxOutputTokens      *int               `json:"max_output_tokens"`
	MaxToolCalls         *int               `json:"max_tool_calls"`
	Metadata             map[string]string  `json:"metadata"`
	Model                string             `json:"model"`
	Output               []Item             `json:"output"`
	ParallelToolCalls    bool               `json:"parallel_tool_calls"`
	PreviousResponseID   *string            `json:"previous_response_id"`
	Prompt               *json.RawMessage   `json:"prompt"`
	PromptCacheKey       *string            `json:"prompt_cache_key"`
	PromptCacheRetention *string            `json:"prompt_cache_retention"`
	Reasoning            Reasoning          `json:"reasoning"`
	SafetyIdentifier     *string            `json:"safety_identifier"`
	ServiceTier          string             `json:"service_tier"`
	Store                bool               `json:"store"`
	Temperature          float64            `json:"temperature"`
	Text                 TextConfig         `json:"text"`
	ToolChoice           json.RawMessage    `json:"tool_choice"`
	Tools                []Tool             `json:"tools"`
	TopLogprobs          int                `json:"top_logprobs"`
	TopP                 float64            `json:"top_p"`
	Truncation           string             `json:"truncation"`
	Usage                *Usage             `json:"usage"`
	User                 *string            `json:"user"`
}

// ConversationRef names a conversation.
type ConversationRef struct {
	ID string `json:"id"`
}

// ResponseError is why a response failed.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails says why a response stopped short.
type IncompleteDetails struct {
	Reason string `json:"reason"`
}

// Reasoning is the reasoning configuration echoed back.
type Reasoning struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

// TextConfig is the text format echoed back.
type TextConfig struct {
	Format struct {
		Type string `json:"type"`
	} `json:"format"`
	Verbosity string `json:"verbosity"`
}

// Tool is a tool declaration echoed back.
type Tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

// Usage is token usage, with Engram's measured counterfactual.
type Usage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens     int `json:"cached_tokens"`
		CacheWriteTokens int `json:"cache_write_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
	// StatelessInputTokens is Engram's: the input tokens a stateless client
	// would have sent for the same turn.
	StatelessInputTokens int `json:"stateless_input_tokens"`
}

// EncodeUsage returns usage in OpenAI's shape.
func EncodeUsage(u *engram.Usage) *Usage {
	if u == nil {
		return nil
	}
	w := &Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.TotalTokens, StatelessInputTokens: u.StatelessInputTokens}
	w.InputTokensDetails.CachedTokens = u.CachedTokens
	w.InputTokensDetails.CacheWriteTokens = u.CacheWriteTokens
	w.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	return w
}

// EncodeResponse returns a response in OpenAI's shape.
func EncodeResponse(r *engram.Response) *Response {
	w := &Response{
		ID: r.ID, Object: "response", CreatedAt: r.CreatedAt, Status: r.Status, Background: r.Background,
		Metadata: r.Metadata, Model: r.Model, Output: EncodeItems(r.Output), ParallelToolCalls: r.ParallelToolCalls,
		ServiceTier: "default", Store: r.Store, Temperature: 1, TopP: 1, Truncation: r.Truncation,
		ToolChoice: r.ToolChoice, Tools: []Tool{}, Usage: EncodeUsage(r.Usage),
	}
	if w.Metadata == nil {
		w.Metadata = map[string]string{}
	}
	if w.Truncation == "" {
		w.Truncation = "disabled"
	}
	if len(w.ToolChoice) == 0 {
		w.ToolChoice = json.RawMessage(`"auto"`)
	}
	w.Text.Format.Type = "text"
	w.Text.Verbosity = "medium"
	if r.CompletedAt != 0 && r.Status == engram.StatusCompleted {
		w.CompletedAt = &r.CompletedAt
	}
	if r.Conversation != "" {
		w.Conversation = &ConversationRef{ID: r.Conversation}
	}
	if r.Error != nil {
		w.Error = &ResponseError{Code: r.Error.Code, Message: r.Error.Message}
	}
	if r.Status == engram.StatusIncomplete && r.IncompleteReason != "" {
		w.IncompleteDetails = &IncompleteDetails{Reason: r.IncompleteReason}
	}
	if r.Instructions != "" {
		w.Instructions = str(r.Instructions)
	}
	if r.MaxOutputTokens > 0 {
		w.MaxOutputTokens = &r.MaxOutputTokens
	}
	if r.MaxToolCalls > 0 {
		w.MaxToolCalls = &r.MaxToolCalls
	}
	if r.PreviousResponseID != "" {
		w.PreviousResponseID = str(r.PreviousResponseID)
	}
	if r.PromptCacheKey != "" {
		w.PromptCacheKey = str(r.PromptCacheKey)
	}
	if r.Temperature != nil {
		w.Temperature = *r.Temperature
	}
	if r.TopP != nil {
		w.TopP = *r.TopP
	}
	if r.User != "" {
		w.User, w.SafetyIdentifier = str(r.User), str(r.User)
	}
	for _, t := range r.Tools {
		wt := Tool{Type: t.Type, Name: t.Name, Parameters: t.Parameters}
		if t.Description != "" {
			wt.Description = str(t.Description)
		}
		if t.Strict != nil {
			wt.Strict = *t.Strict
		}
		if len(wt.Parameters) == 0 {
			wt.Parameters = json.RawMessage("null")
		}
		w.Tools = append(w.Tools, wt)
	}
	return w
}

// Conversation is a conversation object, with Engram's agent and user.
type Conversation struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	CreatedAt int64             `json:"created_at"`
	Metadata  map[string]string `json:"metadata"`
	Agent     string            `json:"agent,omitempty"`
	User      string            `json:"user,omitempty"`
}

// EncodeConversation returns a conversation in OpenAI's shape.
func EncodeConversation(c *engram.Conversation) *Conversation {
	m := c.Metadata
	if m == nil {
		m = map[string]string{}
	}
	return &Conversation{ID: c.ID, Object: "conversation", CreatedAt: c.CreatedAt, Metadata: m, Agent: c.AgentID, User: c.User}
}

// List is OpenAI's page of a list.
type List[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

// NewList makes a page, with first and last ids taken by id.
func NewList[T any](data []T, hasMore bool, id func(T) string) *List[T] {
	l := &List[T]{Object: "list", Data: data, HasMore: hasMore}
	if l.Data == nil {
		l.Data = []T{}
	}
	if len(data) > 0 {
		l.FirstID, l.LastID = str(id(data[0])), str(id(data[len(data)-1]))
	}
	return l
}

// Deleted is the answer to a DELETE.
type Deleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// ErrorBody is OpenAI's error envelope.
type ErrorBody struct {
	Error ErrorObject `json:"error"`
}

// ErrorObject is OpenAI's error object.
type ErrorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Compaction is the answer of /v1/responses/compact, in OpenAI's shape.
type Compaction struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	CreatedAt int64  `json:"created_at"`
	Output    []Item `json:"output"`
	Usage     *Usage `json:"usage"`
}

// EncodeCompaction returns a compaction in OpenAI's shape.
func EncodeCompaction(c *engram.Compaction) Compaction {
	return Compaction{ID: c.ID, Object: "response.compaction", CreatedAt: c.CreatedAt,
		Output: EncodeItems(c.Output), Usage: EncodeUsage(&c.Usage)}
}
