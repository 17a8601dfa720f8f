package openai

import (
	"bytes"
	"encoding/json"

	"github.com/engram-run/engram"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// The Responses API request, as Engram sends it.
type rRequest struct {
	Model             string          `json:"model"`
	Instructions      string          `json:"instructions,omitempty"`
	Input             []rItem         `json:"input"`
	Tools             []rTool         `json:"tools,omitempty"`
	ToolChoice        json.RawMessage `json:"tool_choice,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	MaxOutputTokens   int             `json:"max_output_tokens,omitempty"`
	PromptCacheKey    string          `json:"prompt_cache_key,omitempty"`
	SafetyIdentifier  string          `json:"safety_identifier,omitempty"`
	Store             bool            `json:"store"`
	Include           []string        `json:"include,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	Stream            bool            `json:"stream"`
}

type rItem struct {
	Type             string   `json:"type"`
	Role             string   `json:"role,omitempty"`
	Content          *[]rPart `json:"content,omitempty"`
	CallID           string   `json:"call_id,omitempty"`
	Name             string   `json:"name,omitempty"`
	Arguments        *string  `json:"arguments,omitempty"`
	Output           *string  `json:"output,omitempty"`
	ID               string   `json:"id,omitempty"`
	Summary          *[]rPart `json:"summary,omitempty"`
	EncryptedContent string   `json:"encrypted_content,omitempty"`
}

type rPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Refusal  string `json:"refusal,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	FileData string `json:"file_data,omitempty"`
	Filename string `json:"filename,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

type rTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

// responsesRequest maps a model call to the Responses API. Engram keeps
// the state, so the upstream stores nothing (store: false), and reasoning
// comes back encrypted so it can be sent again on the next call.
func responsesRequest(req *engram.ModelRequest) *rRequest {
	out := &rRequest{Model: req.Model, Instructions: req.Instructions, ToolChoice: req.ToolChoice,
		Temperature: req.Temperature, TopP: req.TopP, MaxOutputTokens: req.MaxOutputTokens,
		PromptCacheKey: req.CacheKey, SafetyIdentifier: req.User, Input: []rItem{}, Stream: true}
	for _, it := range req.Input {
		if it.Type == engram.ItemReasoning && it.EncryptedContent == "" {
			continue // nothing the model can use again
		}
		out.Input = append(out.Input, responsesItem(it))
	}
	for _, t := range req.Tools {
		strict := t.Strict != nil && *t.Strict
		out.Tools = append(out.Tools, rTool{Type: "function", Name: t.Name, Description: t.Description, Parameters: toolSchema(t), Strict: strict})
	}
	for _, it := range req.Input {
		if it.Type == engram.ItemReasoning {
			out.Include = []string{"reasoning.encrypted_content"}
			break
		}
	}
	return out
}

func responsesItem(it *engram.Item) rItem {
	switch it.Type {
	case engram.ItemFunctionCall:
		return rItem{Type: it.Type, CallID: it.CallID, Name: it.Name, Arguments: &it.Arguments}
	case engram.ItemFunctionCallOutput:
		return rItem{Type: it.Type, CallID: it.CallID, Output: &it.Output}
	case engram.ItemReasoning:
		summary := make([]rPart, len(it.Summary))
		for i, s := range it.Summary {
			summary[i] = rPart{Type: "summary_text", Text: s.Text}
		}
		return rItem{Type: it.Type, ID: it.ID, Summary: &summary, EncryptedContent: it.EncryptedContent}
	}
	parts := make([]rPart, 0, len(it.Content))
	for _, c := range it.Content {
		p := rPart{Type: c.Type, Text: c.Text, Refusal: c.Refusal, ImageURL: c.ImageURL, FileID: c.FileID, FileData: c.FileData, Filename: c.Filename, Detail: c.Detail}
		if p.Type == engram.ContentInputImage && p.Detail == "" {
			p.Detail = "auto"
		}
		parts = append(parts, p)
	}
	return rItem{Type: "message", Role: it.Role, Content: &parts}
}

// rEvent is the part of a Responses stream event Engram reads.
type rEvent struct {
	Type        string          `json:"type"`
	OutputIndex int             `json:"output_index"`
	Delta       string          `json:"delta"`
	Item        json.RawMessage `json:"item"`
	Response    *struct {
		Status            string `json:"status"`
		IncompleteDetails *struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Usage *struct {
			InputTokens        int `json:"input_tokens"`
			InputTokensDetails struct {
				CachedTokens int `json:"cached_tokens"`
			} `json:"input_tokens_details"`
			OutputTokens        int `json:"output_tokens"`
			OutputTokensDetails struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			} `json:"output_tokens_details"`
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	} `json:"response"`
	Message string `json:"message"` // type "error"
	Code    string `json:"code"`
}

// responseItem reads an output item of the stream into the domain.
func responseItem(raw json.RawMessage) (*engram.Item, error) {
	var w rItem
	var status struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, streamBroken("output item: %v", err)
	}
	_ = json.Unmarshal(raw, &status)
	it := &engram.Item{Type: w.Type, Status: status.Status, Role: w.Role, CallID: w.CallID, Name: w.Name, EncryptedContent: w.EncryptedContent}
	if w.Arguments != nil {
		it.Arguments = *w.Arguments
	}
	if w.Content != nil {
		for _, p := range *w.Content {
			it.Content = append(it.Content, engram.Content{Type: p.Type, Text: p.Text, Refusal: p.Refusal})
		}
	}
	if w.Summary != nil {
		for _, p := range *w.Summary {
			it.Summary = append(it.Summary, engram.Content{Type: engram.ContentSummaryText, Text: p.Text})
		}
	}
	return it, nil
}

// readResponsesStream turns a Responses event stream into model events and
// the call's result. Items other than messages, function calls and
// reasoning (the upstream's own hosted tools) are not requested by Engram
// and are skipped.
func readResponsesStream(dec ssestream.Decoder, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	res := &engram.ModelResult{}
	index := map[int]int{} // upstream output_index -> our item index
	known := func(t string) bool {
		return t == engram.ItemMessage || t == engram.ItemFunctionCall || t == engram.ItemReasoning
	}
	for dec.Next() {
		data := bytes.TrimSpace(dec.Event().Data)
		if len(data) == 0 || string(data) == "[DONE]" {
			continue
		}
		var ev rEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return nil, streamBroken("event %q: %v", truncate(data), err)
		}
		i, tracked := index[ev.OutputIndex]
		switch ev.Type {
		case "response.output_item.added":
			it, err := responseItem(ev.Item)
			if err != nil {
				return nil, err
			}
			if !known(it.Type) {
				continue
			}
			i = len(index)
			index[ev.OutputIndex] = i
			emit(engram.ModelEvent{Type: engram.ModelItemAdded, Index: i, Item: it})
		case "response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta", "response.reasoning_summary_text.delta":
			if !tracked {
				continue
			}
			kind := map[string]string{
				"response.output_text.delta":             engram.ModelTextDelta,
				"response.refusal.delta":                 engram.ModelRefusalDelta,
				"response.function_call_arguments.delta": engram.ModelArgumentsDelta,
				"response.reasoning_summary_text.delta":  engram.ModelReasoningDelta,
			}[ev.Type]
			emit(engram.ModelEvent{Type: kind, Index: i, Delta: ev.Delta})
		case "response.output_item.done":
			if !tracked {
				continue
			}
			it, err := responseItem(ev.Item)
			if err != nil {
				return nil, err
			}
			if it.Status == "" {
				it.Status = engram.StatusCompleted
			}
			for len(res.Output) <= i {
				res.Output = append(res.Output, nil)
			}
			res.Output[i] = it
			emit(engram.ModelEvent{Type: engram.ModelItemDone, Index: i, Item: it})
		case "response.completed", "response.incomplete":
			if ev.Response == nil {
				return nil, streamBroken("%s without a response", ev.Type)
			}
			if u := ev.Response.Usage; u != nil {
				res.Usage = engram.Usage{InputTokens: u.InputTokens, CachedTokens: u.InputTokensDetails.CachedTokens,
					OutputTokens: u.OutputTokens, ReasoningTokens: u.OutputTokensDetails.ReasoningTokens, TotalTokens: u.TotalTokens}
			}
			res.StopReason = engram.StopEnd
			if ev.Type == "response.incomplete" && ev.Response.IncompleteDetails != nil {
				switch ev.Response.IncompleteDetails.Reason {
				case "max_output_tokens":
					res.StopReason = engram.StopMaxTokens
				case "content_filter":
					res.StopReason = engram.StopContentFilter
				}
			}
			for _, it := range res.Output {
				if it == nil {
					return nil, streamBroken("an output item was never completed")
				}
				if it.Type == engram.ItemFunctionCall && res.StopReason == engram.StopEnd {
					res.StopReason = engram.StopToolCalls
				}
			}
			return res, nil
		case "response.failed":
			msg := "the response failed"
			if ev.Response != nil && ev.Response.Error != nil {
				msg = ev.Response.Error.Message
			}
			return nil, engram.Errorf(engram.EUpstream, "upstream response failed: %s", msg)
		case "error":
			return nil, engram.Errorf(engram.EUpstream, "upstream stream error: %s", ev.Message)
		}
	}
	if err := dec.Err(); err != nil {
		return nil, err
	}
	return nil, streamBroken("the stream ended before response.completed")
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
