// Package openai holds the OpenAI wire format of Engram's API, written by
// hand (as ollama does) so the server owns its shapes: request decoding into
// the domain, and the domain encoded as OpenAI's JSON and stream events.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/engram-run/engram"
)

// Limits OpenAI documents for metadata and item batches.
const (
	MaxMetadataPairs  = 16
	MaxMetadataKey    = 64
	MaxMetadataValue  = 512
	MaxItemsPerCreate = 20
)

// createResponseFields is every top-level field of OpenAI's CreateResponse,
// plus Engram's "agent". The ones Engram accepts but does not act on are
// listed in docs/api.md: reasoning, text, include, prompt, service_tier,
// stream_options, top_logprobs, moderation, prompt_cache_retention and
// prompt_cache_options are decoded for their type only.
var createResponseFields = map[string]bool{
	"background": true, "context_management": true, "conversation": true, "include": true, "input": true,
	"instructions": true, "max_output_tokens": true, "max_tool_calls": true, "metadata": true, "model": true,
	"moderation": true, "parallel_tool_calls": true, "previous_response_id": true, "prompt": true,
	"prompt_cache_key": true, "prompt_cache_options": true, "prompt_cache_retention": true, "reasoning": true,
	"safety_identifier": true, "service_tier": true, "store": true, "stream": true, "stream_options": true,
	"temperature": true, "text": true, "tool_choice": true, "tools": true, "top_logprobs": true, "top_p": true,
	"truncation": true, "user": true,
	"agent": true, "concurrency": true, "limits": true, // Engram
}

// invalid is a 400 naming the field at fault, as OpenAI's are.
func invalid(param, format string, args ...any) error {
	return engram.ParamErrorf(engram.EInvalid, param, format, args...)
}

// decodeObject reads a JSON object and refuses fields not in allowed, the
// way OpenAI refuses unknown parameters.
func decodeObject(body []byte, allowed map[string]bool) (map[string]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, invalid("", "The request body is empty: send a JSON object.")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, invalid("", "We could not parse the JSON body of your request: %s", jsonProblem(err))
	}
	if fields == nil {
		return nil, invalid("", "The request body must be a JSON object.")
	}
	var unknown []string
	for k := range fields {
		if !allowed[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		e := invalid(unknown[0], "Unknown parameter: '%s'.", unknown[0])
		return nil, e
	}
	return fields, nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Sprintf("expected %s", te.Type)
	}
	return err.Error()
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// field decodes one field into out, with a 400 naming it when its type is
// wrong. A null leaves out as it was.
func field(fields map[string]json.RawMessage, name string, out any, want string) error {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return invalid(name, "Invalid type for '%s': expected %s.", name, want)
	}
	return nil
}

// DecodeResponseRequest decodes the body of POST /v1/responses.
func DecodeResponseRequest(body []byte) (*engram.ResponseRequest, error) {
	f, err := decodeObject(body, createResponseFields)
	if err != nil {
		return nil, err
	}
	req := &engram.ResponseRequest{}
	var maxOut, maxCalls *int
	var safetyID string
	checks := []error{
		field(f, "model", &req.Model, "a string"),
		field(f, "agent", &req.Agent, "a string"),
		field(f, "instructions", &req.Instructions, "a string"),
		field(f, "previous_response_id", &req.PreviousResponseID, "a string"),
		field(f, "temperature", &req.Temperature, "a number"),
		field(f, "top_p", &req.TopP, "a number"),
		field(f, "max_output_tokens", &maxOut, "an integer"),
		field(f, "max_tool_calls", &maxCalls, "an integer"),
		field(f, "parallel_tool_calls", &req.ParallelToolCalls, "a boolean"),
		field(f, "truncation", &req.Truncation, "a string"),
		field(f, "store", &req.Store, "a boolean"),
		field(f, "stream", &req.Stream, "a boolean"),
		field(f, "background", &req.Background, "a boolean"),
		field(f, "user", &req.User, "a string"),
		field(f, "safety_identifier", &safetyID, "a string"),
		field(f, "prompt_cache_key", &req.PromptCacheKey, "a string"),
		field(f, "reasoning", new(map[string]any), "an object"),
		field(f, "text", new(map[string]any), "an object"),
		field(f, "include", new([]string), "an array of strings"),
		field(f, "stream_options", new(map[string]any), "an object"),
		field(f, "top_logprobs", new(int), "an integer"),
		field(f, "service_tier", new(string), "a string"),
		field(f, "prompt", new(map[string]any), "an object"),
		field(f, "concurrency", &req.Concurrency, "a string"),
	}
	for _, err := range checks {
		if err != nil {
			return nil, err
		}
	}
	if maxOut != nil {
		if *maxOut < 16 {
			return nil, invalid("max_output_tokens", "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got %d instead.", *maxOut)
		}
		req.MaxOutputTokens = *maxOut
	}
	if maxCalls != nil {
		if *maxCalls < 1 {
			return nil, invalid("max_tool_calls", "Invalid 'max_tool_calls': expected a value >= 1, but got %d instead.", *maxCalls)
		}
		req.MaxToolCalls = *maxCalls
	}
	if req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2) {
		return nil, invalid("temperature", "Invalid 'temperature': expected a value between 0 and 2, but got %v instead.", *req.Temperature)
	}
	if req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1) {
		return nil, invalid("top_p", "Invalid 'top_p': expected a value between 0 and 1, but got %v instead.", *req.TopP)
	}
	if req.User == "" {
		req.User = safetyID
	}
	if req.Background && req.Store != nil && !*req.Store {
		// A background run is read back later: it must be kept.
		return nil, invalid("background", "Background mode requires 'store' to be true: a background response is retrieved later, so it must be stored.")
	}
	if err := CheckConcurrency(req.Concurrency, "concurrency"); err != nil {
		return nil, err
	}
	if raw, ok := f["limits"]; ok && !isNull(raw) {
		if req.Limits, err = DecodeLimits(raw, "limits"); err != nil {
			return nil, err
		}
	}
	if raw, ok := f["context_management"]; ok && !isNull(raw) {
		if req.ContextManagement, err = decodeContextManagement(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := f["metadata"]; ok && !isNull(raw) {
		if req.Metadata, err = DecodeMetadata(raw); err != nil {
			return nil, err
		}
	}
	if err := decodeContext(f, req); err != nil {
		return nil, err
	}
	return req, nil
}

func decodeConversationRef(raw json.RawMessage) (string, error) {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id, nil
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.ID == "" {
		return "", invalid("conversation", "Invalid type for 'conversation': expected a string or an object with an 'id'.")
	}
	return obj.ID, nil
}

// DecodeMetadata checks metadata against OpenAI's limits.
func DecodeMetadata(raw json.RawMessage) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid("metadata", "Invalid type for 'metadata': expected an object with string values.")
	}
	if len(m) > MaxMetadataPairs {
		return nil, invalid("metadata", "Invalid 'metadata': too many properties. Expected an object with at most %d properties, but got %d instead.", MaxMetadataPairs, len(m))
	}
	for k, v := range m {
		if len(k) > MaxMetadataKey {
			return nil, invalid("metadata", "Invalid 'metadata': key '%s...' is longer than %d characters.", k[:16], MaxMetadataKey)
		}
		if len(v) > MaxMetadataValue {
			return nil, invalid("metadata", "Invalid 'metadata': the value of '%s' is longer than %d characters.", k, MaxMetadataValue)
		}
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

// CheckConcurrency checks a concurrency policy's name.
func CheckConcurrency(policy, param string) error {
	switch policy {
	case "", engram.ConcurrencyReject, engram.ConcurrencyEnqueue, engram.ConcurrencyInterrupt:
		return nil
	}
	return invalid(param, "Invalid value for '%s': expected one of 'reject', 'enqueue' or 'interrupt', but got '%s'.", param, policy)
}

// DecodeLimits reads run limits: an object of non-negative integers.
func DecodeLimits(raw json.RawMessage, param string) (engram.RunLimits, error) {
	var l engram.RunLimits
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return l, invalid(param, "Invalid '%s': expected an object with integer fields max_steps, max_tool_calls, max_wall_seconds, max_total_tokens (%s).", param, jsonProblem(err))
	}
	if l.MaxSteps < 0 || l.MaxToolCalls < 0 || l.MaxWallSeconds < 0 || l.MaxTotalTokens < 0 {
		return l, invalid(param, "Invalid '%s': limits must not be negative.", param)
	}
	return l, nil
}

// decodeInput reads `input`: a string (one user message) or a list of items.
func decodeInput(raw json.RawMessage) ([]*engram.Item, error) {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return []*engram.Item{userText(text)}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("input", "Invalid type for 'input': expected a string or an array of input items.")
	}
	return decodeItemList(list, "input")
}

func userText(text string) *engram.Item {
	return &engram.Item{Type: engram.ItemMessage, Role: "user", Status: engram.StatusCompleted,
		Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}
}

// DecodeItems reads the `items` of POST /v1/conversations and
// /v1/conversations/{id}/items: at most MaxItemsPerCreate.
func DecodeItems(raw json.RawMessage) ([]*engram.Item, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("items", "Invalid type for 'items': expected an array of items.")
	}
	if len(list) > MaxItemsPerCreate {
		return nil, invalid("items", "Invalid 'items': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", MaxItemsPerCreate, len(list))
	}
	items, err := decodeItemList(list, "items")
	for _, it := range items {
		// Items added are new entries of the log, with ids of their own
		// (an item copied from another conversation keeps its content).
		it.ID = ""
	}
	return items, err
}

func decodeItemList(list []json.RawMessage, param string) ([]*engram.Item, error) {
	items := make([]*engram.Item, 0, len(list))
	for i, raw := range list {
		it, err := decodeItem(raw, fmt.Sprintf("%s[%d]", param, i))
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// wireItem is the union of the input item shapes Engram reads.
type wireItem struct {
	Type             string          `json:"type"`
	ID               string          `json:"id"`
	Status           string          `json:"status"`
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	CallID           string          `json:"call_id"`
	Name             string          `json:"name"`
	Arguments        *string         `json:"arguments"`
	Output           json.RawMessage `json:"output"`
	Summary          []wirePart      `json:"summary"`
	EncryptedContent string          `json:"encrypted_content"`
	ApprovalRequest  string          `json:"approval_request_id"`
	Approve          *bool           `json:"approve"`
	Reason           string          `json:"reason"`
}

type wirePart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL string `json:"image_url"`
	FileID   string `json:"file_id"`
	FileData string `json:"file_data"`
	FileURL  string `json:"file_url"`
	Filename string `json:"filename"`
	Detail   string `json:"detail"`
}

func decodeItem(raw json.RawMessage, param string) (*engram.Item, error) {
	var w wireItem
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, invalid(param, "Invalid type for '%s': expected an input item object.", param)
	}
	it := &engram.Item{ID: w.ID, Type: w.Type, Status: w.Status}
	switch w.Type {
	case "", engram.ItemMessage:
		it.Type = engram.ItemMessage
		switch w.Role {
		case "user", "assistant", "system", "developer":
		case "":
			return nil, invalid(param+".role", "Missing required parameter: '%s.role'.", param)
		default:
			return nil, invalid(param+".role", "Invalid value: '%s'. Supported values are: 'user', 'assistant', 'system', and 'developer'.", w.Role)
		}
		it.Role = w.Role
		parts, err := decodeContent(w.Content, w.Role, param+".content")
		if err != nil {
			return nil, err
		}
		it.Content = parts
	case engram.ItemFunctionCall:
		if w.CallID == "" || w.Name == "" || w.Arguments == nil {
			return nil, invalid(param, "A function_call item needs 'call_id', 'name' and 'arguments'.")
		}
		it.CallID, it.Name, it.Arguments = w.CallID, w.Name, *w.Arguments
	case engram.ItemFunctionCallOutput:
		if w.CallID == "" {
			return nil, invalid(param+".call_id", "Missing required parameter: '%s.call_id'.", param)
		}
		it.CallID = w.CallID
		out, err := decodeToolOutput(w.Output, param+".output")
		if err != nil {
			return nil, err
		}
		it.Output = out
	case engram.ItemReasoning:
		for _, p := range w.Summary {
			it.Summary = append(it.Summary, engram.Content{Type: engram.ContentSummaryText, Text: p.Text})
		}
		it.EncryptedContent = w.EncryptedContent
	case engram.ItemCompaction:
		if w.EncryptedContent == "" {
			return nil, invalid(param+".encrypted_content", "Missing required parameter: '%s.encrypted_content'.", param)
		}
		it.EncryptedContent = w.EncryptedContent
	case engram.ItemApprovalResponse:
		if w.ApprovalRequest == "" || w.Approve == nil {
			return nil, invalid(param, "An mcp_approval_response item needs 'approval_request_id' and 'approve'.")
		}
		it.ApprovalRequestID, it.Approve, it.Reason = w.ApprovalRequest, w.Approve, w.Reason
	default:
		return nil, engram.ParamErrorf(engram.EUnsupported, param+".type", "Input items of type '%s' are not supported by Engram; supported: message, function_call, function_call_output, reasoning, compaction, mcp_approval_response.", w.Type)
	}
	if it.Status == "" && it.Type != engram.ItemReasoning && it.Type != engram.ItemCompaction {
		it.Status = engram.StatusCompleted // what the item is once it is in the log
	}
	return it, nil
}

// decodeToolOutput reads a function_call_output's output: a string, or a
// list of content parts whose text is joined.
func decodeToolOutput(raw json.RawMessage, param string) (string, error) {
	if isNull(raw) {
		return "", invalid(param, "Missing required parameter: '%s'.", param)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []wirePart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalid(param, "Invalid type for '%s': expected a string or an array of content parts.", param)
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func decodeContent(raw json.RawMessage, role, param string) ([]engram.Content, error) {
	if isNull(raw) {
		return nil, invalid(param, "Missing required parameter: '%s'.", param)
	}
	textType := engram.ContentInputText
	if role == "assistant" {
		textType = engram.ContentOutputText
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []engram.Content{{Type: textType, Text: s}}, nil
	}
	var parts []wirePart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, invalid(param, "Invalid type for '%s': expected a string or an array of content parts.", param)
	}
	out := make([]engram.Content, 0, len(parts))
	for i, p := range parts {
		pp := fmt.Sprintf("%s[%d]", param, i)
		switch p.Type {
		case engram.ContentInputText, engram.ContentOutputText, "text":
			t := p.Type
			if t == "text" {
				t = textType
			}
			out = append(out, engram.Content{Type: t, Text: p.Text})
		case engram.ContentRefusal:
			out = append(out, engram.Content{Type: engram.ContentRefusal, Refusal: p.Refusal})
		case engram.ContentInputImage:
			if p.ImageURL == "" && p.FileID == "" {
				return nil, invalid(pp, "An input_image part needs 'image_url' or 'file_id'.")
			}
			out = append(out, engram.Content{Type: p.Type, ImageURL: p.ImageURL, FileID: p.FileID, Detail: p.Detail})
		case engram.ContentInputFile:
			if p.FileData == "" && p.FileID == "" && p.FileURL == "" {
				return nil, invalid(pp, "An input_file part needs 'file_data', 'file_id' or 'file_url'.")
			}
			data := p.FileData
			if data == "" {
				data = p.FileURL
			}
			out = append(out, engram.Content{Type: p.Type, FileID: p.FileID, FileData: data, Filename: p.Filename})
		default:
			return nil, invalid(pp+".type", "Invalid value: '%s'. Supported values are: 'input_text', 'output_text', 'refusal', 'input_image' and 'input_file'.", p.Type)
		}
	}
	return out, nil
}

// wireTool is a tool as the Responses API declares it.
type wireTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
	// Engram: HTTP tools and how the runtime treats a call.
	URL             string            `json:"url"`
	Headers         map[string]string `json:"headers"`
	Idempotent      bool              `json:"idempotent"`
	RequireApproval string            `json:"require_approval"`
}

func decodeTools(raw json.RawMessage) ([]engram.ToolSpec, error) {
	var list []wireTool
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("tools", "Invalid type for 'tools': expected an array of tool objects.")
	}
	out := make([]engram.ToolSpec, 0, len(list))
	for i, t := range list {
		param := fmt.Sprintf("tools[%d]", i)
		switch t.Type {
		case engram.ToolFunction:
			if t.Name == "" {
				return nil, invalid(param+".name", "Missing required parameter: '%s.name'.", param)
			}
			if !isNull(t.Parameters) {
				var schema map[string]any
				if err := json.Unmarshal(t.Parameters, &schema); err != nil {
					return nil, invalid(param+".parameters", "Invalid '%s.parameters': expected a JSON schema object.", param)
				}
			}
		case engram.ToolBuiltin:
			if t.Name == "" {
				return nil, invalid(param+".name", "Missing required parameter: '%s.name'.", param)
			}
		case engram.ToolHTTP:
			if err := CheckToolSpec(engram.ToolSpec{Type: t.Type, Name: t.Name, URL: t.URL, RequireApproval: t.RequireApproval}, param); err != nil {
				return nil, err
			}
		case "":
			return nil, invalid(param+".type", "Missing required parameter: '%s.type'.", param)
		case engram.ToolMCP:
			// OpenAI's mcp tool names a server by URL in each request;
			// Engram's MCP servers are project connectors, with their
			// credentials, that agents name.
			return nil, engram.ParamErrorf(engram.EUnsupported, param+".type", "Tools of type 'mcp' are declared on agents in Engram: register the server as a connector of kind 'mcp' and give the agent {\"type\":\"mcp\",\"connector\":NAME} (see docs/mcp.md).")
		default:
			return nil, engram.ParamErrorf(engram.EUnsupported, param+".type", "Tools of type '%s' are not supported by Engram; declare a 'function', 'builtin' or 'http' tool.", t.Type)
		}
		switch t.RequireApproval {
		case "", "never", "always":
		default:
			return nil, invalid(param+".require_approval", "Invalid value for '%s.require_approval': expected 'always' or 'never'.", param)
		}
		spec := engram.ToolSpec{Type: t.Type, Name: t.Name, Description: t.Description, Strict: t.Strict,
			URL: t.URL, Headers: t.Headers, Idempotent: t.Idempotent, RequireApproval: t.RequireApproval}
		if !isNull(t.Parameters) {
			spec.Parameters = append(json.RawMessage(nil), t.Parameters...)
		}
		out = append(out, spec)
	}
	return out, nil
}

// CheckToolSpec checks what an http tool needs: a name and an http(s) URL;
// and a known require_approval.
func CheckToolSpec(t engram.ToolSpec, param string) error {
	switch t.RequireApproval {
	case "", "never", "always":
	default:
		return invalid(param+".require_approval", "Invalid value for '%s.require_approval': expected 'always' or 'never'.", param)
	}
	if t.Type != engram.ToolHTTP {
		return nil
	}
	if t.Name == "" {
		return invalid(param+".name", "Missing required parameter: '%s.name'.", param)
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid(param+".url", "Invalid '%s.url': an http tool needs an absolute http or https URL.", param)
	}
	return nil
}

func checkToolChoice(raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none", "required":
			return nil
		}
		return invalid("tool_choice", "Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or an object, but got '%s'.", s)
	}
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Type == "" {
		return invalid("tool_choice", "Invalid type for 'tool_choice': expected a string or an object with a 'type'.")
	}
	return nil
}

// decodeContextManagement reads context_management: entries of type
// "compaction" with an optional compact_threshold of at least 1000.
func decodeContextManagement(raw json.RawMessage) ([]engram.ContextManagement, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("context_management", "Invalid type for 'context_management': expected an array of objects.")
	}
	if len(list) == 0 {
		return nil, invalid("context_management", "Invalid 'context_management': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	out := make([]engram.ContextManagement, 0, len(list))
	for i, el := range list {
		param := fmt.Sprintf("context_management[%d]", i)
		f, err := decodeObject(el, map[string]bool{"type": true, "compact_threshold": true})
		if err != nil {
			return nil, invalid(param, "Invalid '%s': %s", param, engram.ErrorMessage(err))
		}
		var cm engram.ContextManagement
		var threshold *int
		if err := field(f, "type", &cm.Type, "a string"); err != nil {
			return nil, invalid(param+".type", "Invalid type for '%s.type': expected a string.", param)
		}
		if err := field(f, "compact_threshold", &threshold, "an integer"); err != nil {
			return nil, invalid(param+".compact_threshold", "Invalid type for '%s.compact_threshold': expected an integer.", param)
		}
		switch cm.Type {
		case "compaction":
		case "":
			return nil, invalid(param+".type", "Missing required parameter: '%s.type'.", param)
		case engram.ToolMCP:
			// OpenAI's mcp tool names a server by URL in each request;
			// Engram's MCP servers are project connectors, with their
			// credentials, that agents name.
			return nil, engram.ParamErrorf(engram.EUnsupported, param+".type", "Tools of type 'mcp' are declared on agents in Engram: register the server as a connector of kind 'mcp' and give the agent {\"type\":\"mcp\",\"connector\":NAME} (see docs/mcp.md).")
		default:
			return nil, invalid(param+".type", "Invalid value: '%s'. Supported values are: 'compaction'.", cm.Type)
		}
		if threshold != nil {
			if *threshold < 1000 {
				return nil, invalid(param+".compact_threshold", "Invalid '%s.compact_threshold': integer below minimum value. Expected a value >= 1000, but got %d instead.", param, *threshold)
			}
			cm.CompactThreshold = *threshold
		}
		out = append(out, cm)
	}
	return out, nil
}

// compactFields are the fields of OpenAI's CompactResponseMethodPublicBody,
// plus Engram's conversation and agent.
var compactFields = map[string]bool{
	"model": true, "input": true, "previous_response_id": true, "instructions": true,
	"prompt_cache_key": true, "prompt_cache_retention": true, "prompt_cache_options": true, "service_tier": true,
	"conversation": true, "agent": true, "user": true,
}

// DecodeCompactRequest decodes the body of POST /v1/responses/compact.
func DecodeCompactRequest(body []byte) (*engram.ResponseRequest, error) {
	return decodeContextRequest(body, compactFields)
}

// inputTokensFields are the fields of OpenAI's input token count request,
// plus Engram's agent.
var inputTokensFields = map[string]bool{
	"model": true, "input": true, "previous_response_id": true, "conversation": true, "instructions": true,
	"tools": true, "tool_choice": true, "parallel_tool_calls": true, "reasoning": true, "text": true,
	"truncation": true, "agent": true, "user": true,
}

// DecodeInputTokensRequest decodes the body of POST /v1/responses/input_tokens.
func DecodeInputTokensRequest(body []byte) (*engram.ResponseRequest, error) {
	return decodeContextRequest(body, inputTokensFields)
}

// decodeContextRequest decodes a request that names a context as a
// response does (model or agent, input, previous_response_id or
// conversation, instructions, tools) without running anything.
func decodeContextRequest(body []byte, allowed map[string]bool) (*engram.ResponseRequest, error) {
	f, err := decodeObject(body, allowed)
	if err != nil {
		return nil, err
	}
	req := &engram.ResponseRequest{}
	checks := []error{
		field(f, "model", &req.Model, "a string"),
		field(f, "agent", &req.Agent, "a string"),
		field(f, "instructions", &req.Instructions, "a string"),
		field(f, "previous_response_id", &req.PreviousResponseID, "a string"),
		field(f, "prompt_cache_key", &req.PromptCacheKey, "a string"),
		field(f, "truncation", &req.Truncation, "a string"),
		field(f, "user", &req.User, "a string"),
		field(f, "parallel_tool_calls", &req.ParallelToolCalls, "a boolean"),
		field(f, "prompt_cache_retention", new(string), "a string"),
		field(f, "prompt_cache_options", new(map[string]any), "an object"),
		field(f, "service_tier", new(string), "a string"),
		field(f, "reasoning", new(map[string]any), "an object"),
		field(f, "text", new(map[string]any), "an object"),
	}
	for _, err := range checks {
		if err != nil {
			return nil, err
		}
	}
	if err := decodeContext(f, req); err != nil {
		return nil, err
	}
	if req.Model == "" && req.Agent == "" && req.PreviousResponseID == "" && req.Conversation == "" {
		return nil, invalid("model", "Missing required parameter: 'model'.")
	}
	return req, nil
}

// decodeContext decodes the fields that name a run's context, shared by
// the create, compact and input_tokens requests: truncation, conversation
// (exclusive with previous_response_id), input, tools and tool_choice.
func decodeContext(f map[string]json.RawMessage, req *engram.ResponseRequest) error {
	var err error
	switch req.Truncation {
	case "", "auto", "disabled":
	default:
		return invalid("truncation", "Invalid value for 'truncation': expected one of 'auto' or 'disabled', but got '%s'.", req.Truncation)
	}
	if raw, ok := f["conversation"]; ok && !isNull(raw) {
		if req.Conversation, err = decodeConversationRef(raw); err != nil {
			return err
		}
	}
	if req.Conversation != "" && req.PreviousResponseID != "" {
		return invalid("previous_response_id", "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.")
	}
	if raw, ok := f["input"]; ok && !isNull(raw) {
		if req.Input, err = decodeInput(raw); err != nil {
			return err
		}
	}
	if raw, ok := f["tools"]; ok && !isNull(raw) {
		if req.Tools, err = decodeTools(raw); err != nil {
			return err
		}
	}
	if raw, ok := f["tool_choice"]; ok && !isNull(raw) {
		if err := checkToolChoice(raw); err != nil {
			return err
		}
		req.ToolChoice = append(json.RawMessage(nil), raw...)
	}
	return nil
}
