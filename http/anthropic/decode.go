// Package anthropic holds the Anthropic Messages wire format of Engram's
// /v1/messages, written by hand so the server owns its shapes: requests
// decoded into the domain's ResponseRequest, responses, errors and stream
// events encoded as Anthropic sends them. The SDK's types are for calling
// Anthropic (provider/anthropic), never for serving.
package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/engram-run/engram"
)

// ConversationHeader names the Engram conversation a request continues:
// with it the request is stateful (see DecodeRequest).
const ConversationHeader = "X-Engram-Conversation"

// invalid is a 400 naming the field at fault, in Anthropic's dotted style
// (messages.0.content.1.type).
func invalid(param, format string, args ...any) error {
	return engram.ParamErrorf(engram.EInvalid, param, format, args...)
}

func unsupported(param, format string, args ...any) error {
	return engram.ParamErrorf(engram.EUnsupported, param, format, args...)
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// object reads a JSON object and refuses fields not in allowed, as
// Anthropic does ("Extra inputs are not permitted").
func object(raw json.RawMessage, allowed map[string]bool, param string) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		if param == "" {
			return nil, invalid("", "The request body must be a JSON object: %s", problem(err))
		}
		return nil, invalid(param, "%s: Input should be an object", param)
	}
	var extra []string
	for k := range fields {
		if !allowed[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		p := join(param, extra[0])
		return nil, invalid(p, "%s: Extra inputs are not permitted", p)
	}
	return fields, nil
}

func problem(err error) string {
	var se *json.SyntaxError
	switch {
	case err == nil:
		return "got another JSON value"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return err.Error()
}

// field decodes one field into out; a null leaves out as it was.
func field(f map[string]json.RawMessage, prefix, name string, out any, want string) error {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		p := join(prefix, name)
		return invalid(p, "%s: Input should be %s", p, want)
	}
	return nil
}

// requestFields are the fields of Anthropic's MessageCreateParams that
// Engram reads. top_k, thinking and service_tier are checked for their type
// and otherwise ignored (docs/anthropic-messages.md).
var requestFields = map[string]bool{
	"model": true, "max_tokens": true, "messages": true, "system": true, "tools": true, "tool_choice": true,
	"temperature": true, "top_p": true, "top_k": true, "stop_sequences": true, "stream": true, "metadata": true,
	"thinking": true, "service_tier": true,
}

// countFields are the fields of Anthropic's count_tokens request.
var countFields = map[string]bool{
	"model": true, "messages": true, "system": true, "tools": true, "tool_choice": true, "thinking": true,
}

// DecodeRequest decodes the body of POST /v1/messages. Stateless (no
// conversation), every message goes to the model and nothing is stored,
// as with Anthropic. Given a conversation, the request appends to its log
// and only the new messages are taken: those after the last assistant
// message (all of them when there is none), so a client may send either
// only its new turn or its whole history.
func DecodeRequest(body []byte, conversation string) (*engram.ResponseRequest, error) {
	return decode(body, conversation, requestFields, true)
}

// DecodeCountRequest decodes the body of POST /v1/messages/count_tokens,
// with the same reading of messages as DecodeRequest.
func DecodeCountRequest(body []byte, conversation string) (*engram.ResponseRequest, error) {
	return decode(body, conversation, countFields, false)
}

func decode(body []byte, conversation string, allowed map[string]bool, create bool) (*engram.ResponseRequest, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, invalid("", "The request body is empty: send a JSON object.")
	}
	f, err := object(body, allowed, "")
	if err != nil {
		return nil, err
	}
	req := &engram.ResponseRequest{Conversation: conversation}
	var maxTokens *int
	var stops []string
	var metadata struct {
		UserID *string `json:"user_id"`
	}
	checks := []error{
		field(f, "", "model", &req.Model, "a valid string"),
		field(f, "", "max_tokens", &maxTokens, "a valid integer"),
		field(f, "", "temperature", &req.Temperature, "a valid number"),
		field(f, "", "top_p", &req.TopP, "a valid number"),
		field(f, "", "top_k", new(int), "a valid integer"),
		field(f, "", "stop_sequences", &stops, "a valid list of strings"),
		field(f, "", "stream", &req.Stream, "a valid boolean"),
		field(f, "", "service_tier", new(string), "a valid string"),
	}
	for _, err := range checks {
		if err != nil {
			return nil, err
		}
	}
	if req.Model == "" {
		return nil, invalid("model", "model: Field required")
	}
	if create {
		if maxTokens == nil {
			return nil, invalid("max_tokens", "max_tokens: Field required")
		}
		if *maxTokens < 1 {
			return nil, invalid("max_tokens", "max_tokens: Input should be greater than or equal to 1")
		}
		req.MaxOutputTokens = *maxTokens
	}
	if req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 1) {
		return nil, invalid("temperature", "temperature: Input should be less than or equal to 1 and greater than or equal to 0")
	}
	if req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1) {
		return nil, invalid("top_p", "top_p: Input should be less than or equal to 1 and greater than or equal to 0")
	}
	if len(stops) > 0 {
		// Not every provider stops on a sequence, and cutting the text
		// here would not stop the model: refused rather than ignored.
		return nil, unsupported("stop_sequences", "stop_sequences: Engram does not support stop sequences; leave the field out.")
	}
	if raw, ok := f["metadata"]; ok && !isNull(raw) {
		m, err := object(raw, map[string]bool{"user_id": true}, "metadata")
		if err == nil {
			err = field(m, "metadata", "user_id", &metadata.UserID, "a valid string")
		}
		if err != nil {
			return nil, err
		}
		if metadata.UserID != nil {
			req.User = *metadata.UserID
		}
	}
	if raw, ok := f["thinking"]; ok && !isNull(raw) {
		if err := checkThinking(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := f["system"]; ok && !isNull(raw) {
		system, err := decodeSystem(raw)
		if err != nil {
			return nil, err
		}
		if system != "" {
			req.Instructions = &system
		}
	}
	raw, ok := f["messages"]
	if !ok || isNull(raw) {
		return nil, invalid("messages", "messages: Field required")
	}
	if req.Input, err = decodeMessages(raw, conversation != ""); err != nil {
		return nil, err
	}
	if raw, ok := f["tools"]; ok && !isNull(raw) {
		if req.Tools, err = decodeTools(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := f["tool_choice"]; ok && !isNull(raw) {
		if err := decodeToolChoice(raw, req); err != nil {
			return nil, err
		}
	}
	store := conversation != ""
	req.Store = &store
	return req, nil
}

// checkThinking reads extended thinking's configuration; Engram passes no
// thinking budget to providers, so it is accepted and ignored.
func checkThinking(raw json.RawMessage) error {
	f, err := object(raw, map[string]bool{"type": true, "budget_tokens": true, "display": true}, "thinking")
	if err != nil {
		return err
	}
	var typ string
	if err := field(f, "thinking", "type", &typ, "a valid string"); err != nil {
		return err
	}
	if err := field(f, "thinking", "budget_tokens", new(int), "a valid integer"); err != nil {
		return err
	}
	switch typ {
	case "enabled", "disabled", "adaptive":
		return nil
	case "":
		return invalid("thinking.type", "thinking.type: Field required")
	}
	return invalid("thinking.type", "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
}

// decodeSystem reads system: a string or a list of text blocks, joined by
// blank lines.
func decodeSystem(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", invalid("system", "system: Input should be a valid string or a list of text blocks")
	}
	parts := make([]string, 0, len(list))
	for i, el := range list {
		param := fmt.Sprintf("system.%d", i)
		b, err := decodeBlock(el, param)
		if err != nil {
			return "", err
		}
		if b.Type != "text" {
			return "", invalid(param+".type", "%s.type: Input should be 'text'", param)
		}
		parts = append(parts, b.Text)
	}
	return strings.Join(parts, "\n\n"), nil
}

// block is the union of the content blocks Engram reads.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Source    *source         `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

var sourceFields = map[string]bool{"type": true, "media_type": true, "data": true, "url": true}

type source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

// blockFields are the fields each block type may carry. cache_control is
// accepted everywhere Anthropic accepts it and left to the provider
// (Engram places its own cache breakpoints); citations are ignored.
var blockFields = map[string]map[string]bool{
	"text":              {"type": true, "text": true, "cache_control": true, "citations": true},
	"image":             {"type": true, "source": true, "cache_control": true},
	"tool_use":          {"type": true, "id": true, "name": true, "input": true, "cache_control": true, "caller": true},
	"tool_result":       {"type": true, "tool_use_id": true, "content": true, "is_error": true, "cache_control": true},
	"thinking":          {"type": true, "thinking": true, "signature": true},
	"redacted_thinking": {"type": true, "data": true},
}

func decodeBlock(raw json.RawMessage, param string) (*block, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, invalid(param, "%s: Input should be a valid content block object", param)
	}
	allowed, ok := blockFields[head.Type]
	switch {
	case head.Type == "":
		return nil, invalid(param+".type", "%s.type: Field required", param)
	case !ok:
		return nil, unsupported(param+".type", "%s.type: content blocks of type '%s' are not supported by Engram; supported: text, image, tool_use, tool_result (thinking blocks are accepted and dropped).", param, head.Type)
	}
	f, err := object(raw, allowed, param)
	if err != nil {
		return nil, err
	}
	if src, ok := f["source"]; ok && !isNull(src) {
		var head struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(src, &head)
		if head.Type == "base64" || head.Type == "url" {
			if _, err := object(src, sourceFields, param+".source"); err != nil {
				return nil, err
			}
		}
	}
	var b block
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, invalid(param, "%s: %s", param, problem(err))
	}
	return &b, nil
}

// decodeMessages reads messages into input items. With stateful set,
// only the messages after the last assistant message are read.
func decodeMessages(raw json.RawMessage, stateful bool) ([]*engram.Item, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("messages", "messages: Input should be a valid list")
	}
	if len(list) == 0 {
		return nil, invalid("messages", "messages: at least one message is required")
	}
	type message struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	msgs := make([]message, len(list))
	lastAssistant := -1
	for i, el := range list {
		param := fmt.Sprintf("messages.%d", i)
		f, err := object(el, map[string]bool{"role": true, "content": true}, param)
		if err != nil {
			return nil, err
		}
		m := &msgs[i]
		if err := field(f, param, "role", &m.Role, "a valid string"); err != nil {
			return nil, err
		}
		switch m.Role {
		case "user":
		case "assistant":
			lastAssistant = i
		case "":
			return nil, invalid(param+".role", "%s.role: Field required", param)
		default:
			return nil, invalid(param+".role", "%s.role: Input should be 'user' or 'assistant'", param)
		}
		m.Content = f["content"]
		if isNull(m.Content) {
			return nil, invalid(param+".content", "%s.content: Field required", param)
		}
	}
	if lastAssistant == len(msgs)-1 {
		// Anthropic reads a final assistant message as a prefill to
		// continue; Engram's runs start a new answer.
		return nil, unsupported(fmt.Sprintf("messages.%d.role", lastAssistant),
			"messages.%d: Engram does not continue a prefilled assistant message; the last message must be the user's.", lastAssistant)
	}
	first := 0
	if stateful {
		first = lastAssistant + 1
	}
	var items []*engram.Item
	for i := first; i < len(msgs); i++ {
		its, err := decodeContent(msgs[i].Role, msgs[i].Content, fmt.Sprintf("messages.%d", i))
		if err != nil {
			return nil, err
		}
		items = append(items, its...)
	}
	if len(items) == 0 {
		return nil, invalid(fmt.Sprintf("messages.%d.content", len(msgs)-1), "messages.%d.content: the new messages carry no text, image or tool result", len(msgs)-1)
	}
	return items, nil
}

// decodeContent turns one message into items: its text and images as one
// message item (split where a tool block comes between), each tool_use a
// function_call and each tool_result a function_call_output.
func decodeContent(role string, raw json.RawMessage, param string) ([]*engram.Item, error) {
	textType := engram.ContentInputText
	if role == "assistant" {
		textType = engram.ContentOutputText
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []*engram.Item{message(role, []engram.Content{{Type: textType, Text: s}})}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid(param+".content", "%s.content: Input should be a valid string or list of content blocks", param)
	}
	var items []*engram.Item
	var parts []engram.Content
	flush := func() {
		if len(parts) > 0 {
			items = append(items, message(role, parts))
			parts = nil
		}
	}
	for j, el := range list {
		bp := fmt.Sprintf("%s.content.%d", param, j)
		b, err := decodeBlock(el, bp)
		if err != nil {
			return nil, err
		}
		switch b.Type {
		case "text":
			parts = append(parts, engram.Content{Type: textType, Text: b.Text})
		case "image":
			if role != "user" {
				return nil, invalid(bp+".type", "%s: image blocks belong in user messages", bp)
			}
			c, err := imagePart(b.Source, bp+".source")
			if err != nil {
				return nil, err
			}
			parts = append(parts, c)
		case "tool_use":
			if role != "assistant" {
				return nil, invalid(bp+".type", "%s: tool_use blocks belong in assistant messages", bp)
			}
			if b.ID == "" || b.Name == "" {
				return nil, invalid(bp, "%s: a tool_use block needs 'id' and 'name'", bp)
			}
			args := "{}"
			if !isNull(b.Input) {
				var obj map[string]any
				if json.Unmarshal(b.Input, &obj) != nil {
					return nil, invalid(bp+".input", "%s.input: Input should be an object", bp)
				}
				args = string(compact(b.Input))
			}
			flush()
			items = append(items, &engram.Item{Type: engram.ItemFunctionCall, Status: engram.StatusCompleted,
				CallID: b.ID, Name: b.Name, Arguments: args})
		case "tool_result":
			if role != "user" {
				return nil, invalid(bp+".type", "%s: tool_result blocks belong in user messages", bp)
			}
			if b.ToolUseID == "" {
				return nil, invalid(bp+".tool_use_id", "%s.tool_use_id: Field required", bp)
			}
			out, err := toolResult(b.Content, bp+".content")
			if err != nil {
				return nil, err
			}
			if b.IsError {
				// The domain's tool output is text: the failure is said in it.
				out = "Error: " + out
			}
			flush()
			items = append(items, &engram.Item{Type: engram.ItemFunctionCallOutput, Status: engram.StatusCompleted,
				CallID: b.ToolUseID, Output: out})
		case "thinking", "redacted_thinking":
			// Engram does not send thinking back to a model it did not
			// come from: dropped.
		}
	}
	flush()
	return items, nil
}

func message(role string, parts []engram.Content) *engram.Item {
	return &engram.Item{Type: engram.ItemMessage, Role: role, Status: engram.StatusCompleted, Content: parts}
}

func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// imagePart reads an image source into an input_image: base64 data
// becomes a data: URL, as OpenAI's shape carries it.
func imagePart(src *source, param string) (engram.Content, error) {
	if src == nil {
		return engram.Content{}, invalid(param, "%s: Field required", param)
	}
	switch src.Type {
	case "base64":
		if src.MediaType == "" || src.Data == "" {
			return engram.Content{}, invalid(param, "%s: a base64 source needs 'media_type' and 'data'", param)
		}
		return engram.Content{Type: engram.ContentInputImage, ImageURL: "data:" + src.MediaType + ";base64," + src.Data}, nil
	case "url":
		if src.URL == "" {
			return engram.Content{}, invalid(param+".url", "%s.url: Field required", param)
		}
		return engram.Content{Type: engram.ContentInputImage, ImageURL: src.URL}, nil
	}
	return engram.Content{}, unsupported(param+".type", "%s.type: image sources of type '%s' are not supported by Engram; use 'base64' or 'url'.", param, src.Type)
}

// toolResult reads a tool_result's content: a string, or text blocks
// joined. Images in results cannot be carried as a tool's text output.
func toolResult(raw json.RawMessage, param string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", invalid(param, "%s: Input should be a valid string or list of content blocks", param)
	}
	var out strings.Builder
	for k, el := range list {
		bp := fmt.Sprintf("%s.%d", param, k)
		b, err := decodeBlock(el, bp)
		if err != nil {
			return "", err
		}
		if b.Type != "text" {
			return "", unsupported(bp+".type", "%s.type: Engram carries only text in tool results, not '%s' blocks.", bp, b.Type)
		}
		if out.Len() > 0 {
			out.WriteString("\n")
		}
		out.WriteString(b.Text)
	}
	return out.String(), nil
}

var toolFields = map[string]bool{
	"type": true, "name": true, "description": true, "input_schema": true, "cache_control": true, "strict": true,
	"eager_input_streaming": true, // a streaming hint, ignored
}

// decodeTools reads client tools (type absent or "custom") as function
// tools; Anthropic's server tools (web search, bash, …) are not served.
func decodeTools(raw json.RawMessage) ([]engram.ToolSpec, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("tools", "tools: Input should be a valid list")
	}
	out := make([]engram.ToolSpec, 0, len(list))
	for i, el := range list {
		param := fmt.Sprintf("tools.%d", i)
		var head struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(el, &head)
		if head.Type != "" && head.Type != "custom" {
			return nil, unsupported(param+".type", "%s.type: Anthropic's server tools ('%s') are not supported by Engram; declare client tools (name, description, input_schema).", param, head.Type)
		}
		f, err := object(el, toolFields, param)
		if err != nil {
			return nil, err
		}
		var t struct {
			Name        string
			Description string
			Schema      json.RawMessage
			Strict      *bool
		}
		checks := []error{
			field(f, param, "name", &t.Name, "a valid string"),
			field(f, param, "description", &t.Description, "a valid string"),
			field(f, param, "strict", &t.Strict, "a valid boolean"),
		}
		for _, err := range checks {
			if err != nil {
				return nil, err
			}
		}
		if t.Name == "" {
			return nil, invalid(param+".name", "%s.name: Field required", param)
		}
		schema := f["input_schema"]
		if isNull(schema) {
			return nil, invalid(param+".input_schema", "%s.input_schema: Field required", param)
		}
		var obj map[string]any
		if json.Unmarshal(schema, &obj) != nil {
			return nil, invalid(param+".input_schema", "%s.input_schema: Input should be an object", param)
		}
		out = append(out, engram.ToolSpec{Type: engram.ToolFunction, Name: t.Name, Description: t.Description,
			Parameters: append(json.RawMessage(nil), compact(schema)...), Strict: t.Strict})
	}
	return out, nil
}

// decodeToolChoice maps Anthropic's tool_choice to the Responses API's,
// which the domain carries: auto, any (required), tool (a function by
// name), none. disable_parallel_tool_use turns parallel calls off.
func decodeToolChoice(raw json.RawMessage, req *engram.ResponseRequest) error {
	f, err := object(raw, map[string]bool{"type": true, "name": true, "disable_parallel_tool_use": true}, "tool_choice")
	if err != nil {
		return err
	}
	var typ, name string
	var noParallel *bool
	for _, err := range []error{
		field(f, "tool_choice", "type", &typ, "a valid string"),
		field(f, "tool_choice", "name", &name, "a valid string"),
		field(f, "tool_choice", "disable_parallel_tool_use", &noParallel, "a valid boolean"),
	} {
		if err != nil {
			return err
		}
	}
	switch typ {
	case "auto":
		req.ToolChoice = json.RawMessage(`"auto"`)
	case "any":
		req.ToolChoice = json.RawMessage(`"required"`)
	case "none":
		req.ToolChoice = json.RawMessage(`"none"`)
	case "tool":
		if name == "" {
			return invalid("tool_choice.name", "tool_choice.name: Field required")
		}
		b, _ := json.Marshal(map[string]string{"type": "function", "name": name})
		req.ToolChoice = b
	case "":
		return invalid("tool_choice.type", "tool_choice.type: Field required")
	default:
		return invalid("tool_choice.type", "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if noParallel != nil && *noParallel && typ != "none" {
		parallel := false
		req.ParallelToolCalls = &parallel
	}
	return nil
}
