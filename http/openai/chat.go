package openai

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/engram-run/engram"
)

// ChatRequest is a decoded POST /v1/chat/completions: one stateless model
// call. The leading system and developer messages become Instructions, so
// that every provider gets them where it wants a system prompt; the rest
// become items, as /v1/responses input would.
type ChatRequest struct {
	Model        string
	Instructions string
	Input        []*engram.Item
	Tools        []engram.ToolSpec
	// ToolChoice is in the Responses shape engram.ModelRequest takes:
	// "auto", "none", "required" or {"type":"function","name":...}.
	ToolChoice   json.RawMessage
	Temperature  *float64
	TopP         *float64
	MaxTokens    int
	Stream       bool
	IncludeUsage bool
	User         string
	CacheKey     string
}

// chatFields is every top-level field of OpenAI's CreateChatCompletionRequest.
// How each is treated:
//
//   - served: model, messages, tools, tool_choice, temperature, top_p,
//     max_tokens, max_completion_tokens, stream, stream_options.include_usage,
//     user, safety_identifier, prompt_cache_key; n only as 1.
//   - accepted and ignored, checked for their type: they tune how an answer
//     is made or billed, not what a client reads back, so dropping them
//     cannot mislead: seed, frequency_penalty, presence_penalty,
//     parallel_tool_calls, service_tier, reasoning_effort, verbosity,
//     prediction, moderation, metadata, store (nothing is stored: the
//     gateway is stateless), prompt_cache_retention, prompt_cache_options,
//     stream_options.include_obfuscation, response_format {type: text},
//     modalities ["text"], and the empty forms of stop, logit_bias,
//     logprobs and top_logprobs.
//   - refused with 400 unsupported_parameter, because a client would
//     otherwise read an answer that silently lacks what it asked for:
//     n > 1, stop sequences, logprobs, top_logprobs > 0, logit_bias,
//     response_format json_object or json_schema, audio (and "audio" in
//     modalities), web_search_options, functions and function_call (the
//     deprecated forms of tools), custom tools, allowed_tools tool choices,
//     input_audio parts, assistant audio and "function" messages.
var chatFields = map[string]bool{
	"model": true, "messages": true, "tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"temperature": true, "top_p": true, "max_tokens": true, "max_completion_tokens": true, "n": true,
	"stream": true, "stream_options": true, "user": true, "safety_identifier": true, "prompt_cache_key": true,
	"prompt_cache_retention": true, "prompt_cache_options": true, "metadata": true, "store": true,
	"seed": true, "frequency_penalty": true, "presence_penalty": true, "service_tier": true,
	"reasoning_effort": true, "verbosity": true, "prediction": true, "moderation": true,
	"stop": true, "logprobs": true, "top_logprobs": true, "logit_bias": true, "response_format": true,
	"modalities": true, "audio": true, "web_search_options": true, "functions": true, "function_call": true,
}

// unsupported is a 400 for valid OpenAI that Engram does not serve.
func unsupported(param, format string, args ...any) error {
	return engram.ParamErrorf(engram.EUnsupported, param, format, args...)
}

// DecodeChatRequest decodes the body of POST /v1/chat/completions.
func DecodeChatRequest(body []byte) (*ChatRequest, error) {
	f, err := decodeObject(body, chatFields)
	if err != nil {
		return nil, err
	}
	req := &ChatRequest{}
	var maxTokens, maxCompletion, n, topLogprobs *int
	var logprobs *bool
	var safetyID string
	var penalties [2]*float64
	var logitBias map[string]float64
	var modalities []string
	var streamOptions *struct {
		IncludeUsage       *bool `json:"include_usage"`
		IncludeObfuscation *bool `json:"include_obfuscation"`
	}
	checks := []error{
		field(f, "model", &req.Model, "a string"),
		field(f, "temperature", &req.Temperature, "a number"),
		field(f, "top_p", &req.TopP, "a number"),
		field(f, "max_tokens", &maxTokens, "an integer"),
		field(f, "max_completion_tokens", &maxCompletion, "an integer"),
		field(f, "n", &n, "an integer"),
		field(f, "stream", &req.Stream, "a boolean"),
		field(f, "stream_options", &streamOptions, "an object with boolean include_usage and include_obfuscation"),
		field(f, "user", &req.User, "a string"),
		field(f, "safety_identifier", &safetyID, "a string"),
		field(f, "prompt_cache_key", &req.CacheKey, "a string"),
		field(f, "logprobs", &logprobs, "a boolean"),
		field(f, "top_logprobs", &topLogprobs, "an integer"),
		field(f, "logit_bias", &logitBias, "an object of numbers"),
		field(f, "modalities", &modalities, "an array of strings"),
		field(f, "frequency_penalty", &penalties[0], "a number"),
		field(f, "presence_penalty", &penalties[1], "a number"),
		field(f, "store", new(bool), "a boolean"),
		field(f, "parallel_tool_calls", new(bool), "a boolean"),
		field(f, "seed", new(int64), "an integer"),
		field(f, "service_tier", new(string), "a string"),
		field(f, "reasoning_effort", new(string), "a string"),
		field(f, "verbosity", new(string), "a string"),
		field(f, "prompt_cache_retention", new(string), "a string"),
		field(f, "prompt_cache_options", new(map[string]any), "an object"),
		field(f, "prediction", new(map[string]any), "an object"),
		field(f, "moderation", new(map[string]any), "an object"),
	}
	for _, err := range checks {
		if err != nil {
			return nil, err
		}
	}
	if raw, ok := f["metadata"]; ok && !isNull(raw) {
		if _, err := DecodeMetadata(raw); err != nil {
			return nil, err
		}
	}
	if req.Model == "" {
		return nil, invalid("model", "Missing required parameter: 'model'.")
	}
	if req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2) {
		return nil, invalid("temperature", "Invalid 'temperature': expected a value between 0 and 2, but got %v instead.", *req.Temperature)
	}
	if req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1) {
		return nil, invalid("top_p", "Invalid 'top_p': expected a value between 0 and 1, but got %v instead.", *req.TopP)
	}
	for i, name := range []string{"frequency_penalty", "presence_penalty"} {
		if p := penalties[i]; p != nil && (*p < -2 || *p > 2) {
			return nil, invalid(name, "Invalid '%s': expected a value between -2 and 2, but got %v instead.", name, *p)
		}
	}
	// max_completion_tokens replaced max_tokens; a client may send both.
	for _, m := range []struct {
		name string
		v    *int
	}{{"max_tokens", maxTokens}, {"max_completion_tokens", maxCompletion}} {
		if m.v == nil {
			continue
		}
		if *m.v < 1 {
			return nil, invalid(m.name, "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", m.name, *m.v)
		}
		req.MaxTokens = *m.v
	}
	if n != nil && *n != 1 {
		if *n < 1 || *n > 128 {
			return nil, invalid("n", "Invalid 'n': expected a value between 1 and 128, but got %d instead.", *n)
		}
		return nil, unsupported("n", "Engram answers with one choice: 'n' must be 1, but got %d.", *n)
	}
	if streamOptions != nil {
		if !req.Stream {
			return nil, invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		req.IncludeUsage = streamOptions.IncludeUsage != nil && *streamOptions.IncludeUsage
	}
	if req.User == "" {
		req.User = safetyID
	}
	if err := checkChatUnsupported(f, logprobs, topLogprobs, logitBias, modalities); err != nil {
		return nil, err
	}

	raw, ok := f["messages"]
	if !ok || isNull(raw) {
		return nil, invalid("messages", "Missing required parameter: 'messages'.")
	}
	if req.Instructions, req.Input, err = decodeChatMessages(raw); err != nil {
		return nil, err
	}
	if raw, ok := f["tools"]; ok && !isNull(raw) {
		if req.Tools, err = decodeChatTools(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := f["tool_choice"]; ok && !isNull(raw) {
		if req.ToolChoice, err = decodeChatToolChoice(raw, req.Tools); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// checkChatUnsupported refuses the fields whose loss a client would not
// notice until it read a wrong answer (see chatFields); their empty forms
// (null, false, 0, [], {}, {type: text}) are what clients send by default
// and pass.
func checkChatUnsupported(f map[string]json.RawMessage, logprobs *bool, topLogprobs *int, logitBias map[string]float64, modalities []string) error {
	if raw, ok := f["stop"]; ok && !isNull(raw) {
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			if one != "" {
				return unsupported("stop", "Stop sequences are not supported by Engram's chat completions: the answer would run past them.")
			}
		case json.Unmarshal(raw, &many) == nil:
			if len(many) > 4 {
				return invalid("stop", "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length %d instead.", len(many))
			}
			if len(many) > 0 {
				return unsupported("stop", "Stop sequences are not supported by Engram's chat completions: the answer would run past them.")
			}
		default:
			return invalid("stop", "Invalid type for 'stop': expected a string or an array of strings.")
		}
	}
	if logprobs != nil && *logprobs {
		return unsupported("logprobs", "Log probabilities are not supported by Engram's chat completions.")
	}
	if topLogprobs != nil {
		if *topLogprobs < 0 || *topLogprobs > 20 {
			return invalid("top_logprobs", "Invalid 'top_logprobs': expected a value between 0 and 20, but got %d instead.", *topLogprobs)
		}
		if *topLogprobs > 0 {
			return unsupported("top_logprobs", "Log probabilities are not supported by Engram's chat completions.")
		}
	}
	if len(logitBias) > 0 {
		return unsupported("logit_bias", "logit_bias is not supported by Engram's chat completions: not every provider can bias tokens.")
	}
	for _, m := range modalities {
		switch m {
		case "text":
		case "audio":
			return unsupported("modalities", "Audio output is not supported by Engram's chat completions.")
		default:
			return invalid("modalities", "Invalid value: '%s'. Supported values are: 'text' and 'audio'.", m)
		}
	}
	if raw, ok := f["response_format"]; ok && !isNull(raw) {
		var rf struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &rf); err != nil {
			return invalid("response_format", "Invalid type for 'response_format': expected an object.")
		}
		switch rf.Type {
		case "text":
		case "json_object", "json_schema":
			return unsupported("response_format.type", "response_format '%s' is not supported by Engram's chat completions: the answer would not be held to it.", rf.Type)
		case "":
			return invalid("response_format.type", "Missing required parameter: 'response_format.type'.")
		default:
			return invalid("response_format.type", "Invalid value: '%s'. Supported values are: 'text', 'json_object' and 'json_schema'.", rf.Type)
		}
	}
	for _, name := range []string{"audio", "web_search_options", "functions", "function_call"} {
		if raw, ok := f[name]; ok && !isNull(raw) {
			switch name {
			case "functions", "function_call":
				return unsupported(name, "'%s' is deprecated and not supported by Engram: declare 'tools' and use 'tool_choice'.", name)
			case "audio":
				return unsupported(name, "Audio output is not supported by Engram's chat completions.")
			default:
				return unsupported(name, "Web search is not supported by Engram's chat completions.")
			}
		}
	}
	return nil
}

// chatMessageFields is every field of the chat message shapes, all roles,
// and "annotations", which an answer's message carries: clients send the
// message they were given back as history, as OpenAI accepts.
var chatMessageFields = map[string]bool{
	"role": true, "content": true, "name": true, "tool_calls": true, "tool_call_id": true,
	"refusal": true, "function_call": true, "audio": true, "annotations": true,
}

// chatMessage is the union of the chat message shapes Engram reads.
// name is accepted and not passed on: no provider but OpenAI reads it.
type chatMessage struct {
	Role         string            `json:"role"`
	Content      json.RawMessage   `json:"content"`
	Name         string            `json:"name"`
	ToolCalls    []json.RawMessage `json:"tool_calls"`
	ToolCallID   string            `json:"tool_call_id"`
	Refusal      *string           `json:"refusal"`
	FunctionCall json.RawMessage   `json:"function_call"`
	Audio        json.RawMessage   `json:"audio"`
}

// decodeChatMessages reads messages: the leading system and developer
// messages are the instructions; the others become items in order.
func decodeChatMessages(raw json.RawMessage) (string, []*engram.Item, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", nil, invalid("messages", "Invalid type for 'messages': expected an array of message objects.")
	}
	if len(list) == 0 {
		return "", nil, invalid("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	var instructions []string
	var items []*engram.Item
	calls := map[string]bool{}
	head := true // still reading the leading system messages
	for i, el := range list {
		param := fmt.Sprintf("messages[%d]", i)
		var m chatMessage
		if err := decodeStrict(el, chatMessageFields, param, &m); err != nil {
			return "", nil, err
		}
		switch m.Role {
		case "system", "developer":
			text, err := chatText(m.Content, param+".content", false)
			if err != nil {
				return "", nil, err
			}
			if head {
				instructions = append(instructions, text)
				continue
			}
			items = append(items, &engram.Item{Type: engram.ItemMessage, Role: m.Role, Status: engram.StatusCompleted,
				Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}})
		case "user":
			parts, err := chatUserContent(m.Content, param+".content")
			if err != nil {
				return "", nil, err
			}
			items = append(items, &engram.Item{Type: engram.ItemMessage, Role: "user", Status: engram.StatusCompleted, Content: parts})
		case "assistant":
			its, err := chatAssistant(m, param)
			if err != nil {
				return "", nil, err
			}
			for _, it := range its {
				if it.Type == engram.ItemFunctionCall {
					calls[it.CallID] = true
				}
			}
			items = append(items, its...)
		case "tool":
			if m.ToolCallID == "" {
				return "", nil, invalid(param+".tool_call_id", "Missing required parameter: '%s.tool_call_id'.", param)
			}
			if !calls[m.ToolCallID] {
				// As OpenAI: an orphan result would be refused upstream anyway.
				return "", nil, invalid(param+".tool_call_id", "Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls' (no call has id '%s').", m.ToolCallID)
			}
			text, err := chatText(m.Content, param+".content", false)
			if err != nil {
				return "", nil, err
			}
			items = append(items, &engram.Item{Type: engram.ItemFunctionCallOutput, CallID: m.ToolCallID, Output: text, Status: engram.StatusCompleted})
		case "function":
			return "", nil, unsupported(param+".role", "Messages with role 'function' are deprecated and not supported by Engram: use 'tool' messages.")
		case "":
			return "", nil, invalid(param+".role", "Missing required parameter: '%s.role'.", param)
		default:
			return "", nil, invalid(param+".role", "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role)
		}
		head = false
	}
	return strings.Join(instructions, "\n\n"), items, nil
}

// decodeStrict decodes an object into out, refusing fields not in allowed
// with the path of the field at fault.
func decodeStrict(raw json.RawMessage, allowed map[string]bool, param string, out any) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return invalid(param, "Invalid type for '%s': expected an object.", param)
	}
	var unknown []string
	for k := range fields {
		if !allowed[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return invalid(param+"."+unknown[0], "Unknown parameter: '%s.%s'.", param, unknown[0])
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return invalid(param, "Invalid type for a field of '%s': %s.", param, jsonProblem(err))
	}
	return nil
}

// chatPart is the union of the chat content part shapes.
type chatPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
	File *struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
	} `json:"file"`
}

func chatParts(raw json.RawMessage, param string) ([]chatPart, error) {
	var parts []chatPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, invalid(param, "Invalid type for '%s': expected a string or an array of content parts.", param)
	}
	return parts, nil
}

// chatText reads a content that may hold only text: a string or text
// parts, joined. Absent content is an error unless optional.
func chatText(raw json.RawMessage, param string, optional bool) (string, error) {
	if isNull(raw) {
		if optional {
			return "", nil
		}
		return "", invalid(param, "Missing required parameter: '%s'.", param)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	parts, err := chatParts(raw, param)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, p := range parts {
		if p.Type != "text" {
			return "", invalid(fmt.Sprintf("%s[%d].type", param, i), "Invalid value: '%s'. Supported values are: 'text'.", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func chatUserContent(raw json.RawMessage, param string) ([]engram.Content, error) {
	if isNull(raw) {
		return nil, invalid(param, "Missing required parameter: '%s'.", param)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []engram.Content{{Type: engram.ContentInputText, Text: s}}, nil
	}
	parts, err := chatParts(raw, param)
	if err != nil {
		return nil, err
	}
	out := make([]engram.Content, 0, len(parts))
	for i, p := range parts {
		pp := fmt.Sprintf("%s[%d]", param, i)
		switch p.Type {
		case "text":
			out = append(out, engram.Content{Type: engram.ContentInputText, Text: p.Text})
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, invalid(pp+".image_url.url", "Missing required parameter: '%s.image_url.url'.", pp)
			}
			switch p.ImageURL.Detail {
			case "", "auto", "low", "high":
			default:
				return nil, invalid(pp+".image_url.detail", "Invalid value: '%s'. Supported values are: 'auto', 'low', and 'high'.", p.ImageURL.Detail)
			}
			out = append(out, engram.Content{Type: engram.ContentInputImage, ImageURL: p.ImageURL.URL, Detail: p.ImageURL.Detail})
		case "file":
			if p.File == nil || (p.File.FileData == "" && p.File.FileID == "") {
				return nil, invalid(pp+".file", "A file part needs 'file.file_data' or 'file.file_id'.")
			}
			out = append(out, engram.Content{Type: engram.ContentInputFile, FileID: p.File.FileID, FileData: p.File.FileData, Filename: p.File.Filename})
		case "input_audio":
			return nil, unsupported(pp+".type", "Audio input is not supported by Engram's chat completions.")
		default:
			return nil, invalid(pp+".type", "Invalid value: '%s'. Supported values are: 'text', 'image_url', 'input_audio', and 'file'.", p.Type)
		}
	}
	return out, nil
}

// chatAssistant reads an assistant message: a message item when it says
// something, then one function_call item per tool call.
func chatAssistant(m chatMessage, param string) ([]*engram.Item, error) {
	if !isNull(m.FunctionCall) {
		return nil, unsupported(param+".function_call", "'function_call' is deprecated and not supported by Engram: use 'tool_calls'.")
	}
	if !isNull(m.Audio) {
		return nil, unsupported(param+".audio", "Audio is not supported by Engram's chat completions.")
	}
	var content []engram.Content
	if !isNull(m.Content) {
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			content = append(content, engram.Content{Type: engram.ContentOutputText, Text: s})
		} else {
			parts, err := chatParts(m.Content, param+".content")
			if err != nil {
				return nil, err
			}
			for i, p := range parts {
				switch p.Type {
				case "text":
					content = append(content, engram.Content{Type: engram.ContentOutputText, Text: p.Text})
				case "refusal":
					content = append(content, engram.Content{Type: engram.ContentRefusal, Refusal: p.Refusal})
				default:
					return nil, invalid(fmt.Sprintf("%s.content[%d].type", param, i), "Invalid value: '%s'. Supported values are: 'text' and 'refusal'.", p.Type)
				}
			}
		}
	}
	if m.Refusal != nil && *m.Refusal != "" {
		content = append(content, engram.Content{Type: engram.ContentRefusal, Refusal: *m.Refusal})
	}
	var out []*engram.Item
	if len(content) > 0 && !(len(content) == 1 && content[0].Type == engram.ContentOutputText && content[0].Text == "" && len(m.ToolCalls) > 0) {
		out = append(out, &engram.Item{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusCompleted, Content: content})
	}
	for i, raw := range m.ToolCalls {
		pp := fmt.Sprintf("%s.tool_calls[%d]", param, i)
		var tc struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Function *struct {
				Name      string  `json:"name"`
				Arguments *string `json:"arguments"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &tc); err != nil {
			return nil, invalid(pp, "Invalid type for '%s': expected a tool call object.", pp)
		}
		switch tc.Type {
		case "function":
		case "custom":
			return nil, unsupported(pp+".type", "Custom tool calls are not supported by Engram: declare function tools.")
		case "":
			return nil, invalid(pp+".type", "Missing required parameter: '%s.type'.", pp)
		default:
			return nil, invalid(pp+".type", "Invalid value: '%s'. Supported values are: 'function' and 'custom'.", tc.Type)
		}
		if tc.ID == "" {
			return nil, invalid(pp+".id", "Missing required parameter: '%s.id'.", pp)
		}
		if tc.Function == nil || tc.Function.Name == "" {
			return nil, invalid(pp+".function.name", "Missing required parameter: '%s.function.name'.", pp)
		}
		if tc.Function.Arguments == nil {
			return nil, invalid(pp+".function.arguments", "Missing required parameter: '%s.function.arguments'.", pp)
		}
		out = append(out, &engram.Item{Type: engram.ItemFunctionCall, CallID: tc.ID, Name: tc.Function.Name,
			Arguments: *tc.Function.Arguments, Status: engram.StatusCompleted})
	}
	if len(out) == 0 && isNull(m.Content) {
		return nil, invalid(param+".content", "Missing required parameter: '%s.content' (an assistant message needs content or tool_calls).", param)
	}
	if len(out) == 0 {
		// An empty answer still took its turn: keep its place.
		out = append(out, &engram.Item{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusCompleted,
			Content: []engram.Content{{Type: engram.ContentOutputText}}})
	}
	return out, nil
}

func decodeChatTools(raw json.RawMessage) ([]engram.ToolSpec, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("tools", "Invalid type for 'tools': expected an array of tool objects.")
	}
	out := make([]engram.ToolSpec, 0, len(list))
	seen := map[string]bool{}
	for i, el := range list {
		param := fmt.Sprintf("tools[%d]", i)
		var t struct {
			Type     string `json:"type"`
			Function *struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Parameters  json.RawMessage `json:"parameters"`
				Strict      *bool           `json:"strict"`
			} `json:"function"`
		}
		if err := json.Unmarshal(el, &t); err != nil {
			return nil, invalid(param, "Invalid type for '%s': expected a tool object.", param)
		}
		switch t.Type {
		case "function":
		case "custom":
			return nil, unsupported(param+".type", "Custom tools are not supported by Engram: declare function tools.")
		case "":
			return nil, invalid(param+".type", "Missing required parameter: '%s.type'.", param)
		default:
			return nil, invalid(param+".type", "Invalid value: '%s'. Supported values are: 'function' and 'custom'.", t.Type)
		}
		if t.Function == nil || t.Function.Name == "" {
			return nil, invalid(param+".function.name", "Missing required parameter: '%s.function.name'.", param)
		}
		if seen[t.Function.Name] {
			return nil, invalid(param+".function.name", "Invalid 'tools': the function '%s' is declared twice.", t.Function.Name)
		}
		seen[t.Function.Name] = true
		spec := engram.ToolSpec{Type: engram.ToolFunction, Name: t.Function.Name, Description: t.Function.Description, Strict: t.Function.Strict}
		if !isNull(t.Function.Parameters) {
			var schema map[string]any
			if err := json.Unmarshal(t.Function.Parameters, &schema); err != nil {
				return nil, invalid(param+".function.parameters", "Invalid '%s.function.parameters': expected a JSON schema object.", param)
			}
			spec.Parameters = append(json.RawMessage(nil), t.Function.Parameters...)
		}
		out = append(out, spec)
	}
	return out, nil
}

// decodeChatToolChoice maps Chat's tool_choice to the Responses shape.
func decodeChatToolChoice(raw json.RawMessage, tools []engram.ToolSpec) (json.RawMessage, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none", "required":
			return append(json.RawMessage(nil), raw...), nil
		}
		return nil, invalid("tool_choice", "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or an object, but got '%s'.", s)
	}
	var obj struct {
		Type     string `json:"type"`
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, invalid("tool_choice", "Invalid type for 'tool_choice': expected a string or an object.")
	}
	switch obj.Type {
	case "function":
	case "allowed_tools", "custom":
		return nil, unsupported("tool_choice.type", "tool_choice of type '%s' is not supported by Engram: name one function or use 'auto', 'none' or 'required'.", obj.Type)
	case "":
		return nil, invalid("tool_choice.type", "Missing required parameter: 'tool_choice.type'.")
	default:
		return nil, invalid("tool_choice.type", "Invalid value: '%s'. Supported values are: 'function', 'allowed_tools' and 'custom'.", obj.Type)
	}
	if obj.Function == nil || obj.Function.Name == "" {
		return nil, invalid("tool_choice.function.name", "Missing required parameter: 'tool_choice.function.name'.")
	}
	declared := false
	for _, t := range tools {
		declared = declared || t.Name == obj.Function.Name
	}
	if !declared {
		return nil, invalid("tool_choice", "Invalid value for 'tool_choice': function '%s' is not among the declared tools.", obj.Function.Name)
	}
	out, _ := json.Marshal(map[string]string{"type": "function", "name": obj.Function.Name})
	return out, nil
}

// ChatCompletion is OpenAI's chat.completion object.
type ChatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []ChatChoice `json:"choices"`
	Usage             ChatUsage    `json:"usage"`
	SystemFingerprint *string      `json:"system_fingerprint"` // always null: no backend configuration to name
}

// ChatChoice is the one choice Engram answers with.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      ChatMessage     `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"` // always null
	FinishReason string          `json:"finish_reason"`
}

// ChatMessage is an assistant message of a chat completion.
type ChatMessage struct {
	Role        string            `json:"role"`
	Content     *string           `json:"content"`
	Refusal     *string           `json:"refusal"`
	ToolCalls   []ChatToolCall    `json:"tool_calls,omitempty"`
	Annotations []json.RawMessage `json:"annotations"`
}

// ChatToolCall is a tool call of a message, or a piece of one in a stream
// delta (Index set; id, type and name only in a call's first piece).
type ChatToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function ChatFunction `json:"function"`
}

// ChatFunction is a tool call's function and arguments.
type ChatFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ChatUsage is OpenAI's CompletionUsage, details included as OpenAI sends them.
type ChatUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

// EncodeChatUsage returns usage in Chat Completions' shape.
func EncodeChatUsage(u engram.Usage) ChatUsage {
	var c ChatUsage
	c.PromptTokens, c.CompletionTokens, c.TotalTokens = u.InputTokens, u.OutputTokens, u.TotalTokens
	if c.TotalTokens == 0 {
		c.TotalTokens = u.InputTokens + u.OutputTokens
	}
	c.PromptTokensDetails.CachedTokens = u.CachedTokens
	c.CompletionTokensDetails.ReasoningTokens = u.ReasoningTokens
	return c
}

// FinishReason maps a model call's stop reason to Chat's finish_reason. A
// call that ended with tool calls finished for them, whatever the
// provider called it.
func FinishReason(res *engram.ModelResult) string {
	switch res.StopReason {
	case engram.StopMaxTokens:
		return "length"
	case engram.StopContentFilter:
		return "content_filter"
	case engram.StopToolCalls:
		return "tool_calls"
	}
	for _, it := range res.Output {
		if it.Type == engram.ItemFunctionCall {
			return "tool_calls"
		}
	}
	return "stop"
}

// EncodeChatCompletion returns a model call's answer as a chat.completion:
// the texts of its messages joined as content, its refusals as refusal,
// its function calls as tool_calls; reasoning has no place in this API.
func EncodeChatCompletion(id, model string, created int64, res *engram.ModelResult, u engram.Usage) *ChatCompletion {
	msg := ChatMessage{Role: "assistant", Annotations: []json.RawMessage{}}
	var text, refusal strings.Builder
	hasText := false
	for _, it := range res.Output {
		switch it.Type {
		case engram.ItemMessage:
			for _, c := range it.Content {
				switch c.Type {
				case engram.ContentRefusal:
					refusal.WriteString(c.Refusal)
				case engram.ContentOutputText:
					text.WriteString(c.Text)
					hasText = true
				}
			}
		case engram.ItemFunctionCall:
			msg.ToolCalls = append(msg.ToolCalls, ChatToolCall{ID: it.CallID, Type: "function",
				Function: ChatFunction{Name: it.Name, Arguments: it.Arguments}})
		}
	}
	// OpenAI sends null content beside tool calls or a refusal, and a
	// string (maybe empty) otherwise.
	if hasText || (len(msg.ToolCalls) == 0 && refusal.Len() == 0) {
		msg.Content = str(text.String())
	}
	if refusal.Len() > 0 {
		msg.Refusal = str(refusal.String())
	}
	return &ChatCompletion{ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []ChatChoice{{Index: 0, Message: msg, Logprobs: json.RawMessage("null"), FinishReason: FinishReason(res)}},
		Usage:   EncodeChatUsage(u)}
}

// chatChunk is OpenAI's chat.completion.chunk.
type chatChunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint *string         `json:"system_fingerprint"`
	Choices           []chunkChoice   `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"` // null on all but the last with include_usage; absent without
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        chatDelta       `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"` // always null
	FinishReason *string         `json:"finish_reason"`
}

type chatDelta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	Refusal   json.RawMessage `json:"refusal,omitempty"`
	ToolCalls []ChatToolCall  `json:"tool_calls,omitempty"`
}

// ChatStream turns a model call's events into chat.completion.chunk JSON,
// one chunk per text, refusal or arguments delta. The first chunk carries
// the role; each tool call's first chunk its index, id and name, the
// following ones only its index and arguments. Chunks are made as events
// come, so a failure before the first event can still be a plain error.
type ChatStream struct {
	ID           string
	Model        string
	Created      int64
	IncludeUsage bool

	started bool
	calls   map[int]*streamCall // by the model's item index
	text    map[int]int         // bytes of each message's text sent so far
	refused map[int]int         // and of its refusal
}

type streamCall struct {
	index int // among the tool calls, from 0
	sent  int // bytes of arguments sent
}

func (s *ChatStream) chunk(choices []chunkChoice, usage json.RawMessage) []byte {
	c := chatChunk{ID: s.ID, Object: "chat.completion.chunk", Created: s.Created, Model: s.Model, Choices: choices, Usage: usage}
	if c.Usage == nil && s.IncludeUsage {
		c.Usage = json.RawMessage("null")
	}
	b, _ := json.Marshal(c)
	return b
}

func (s *ChatStream) delta(d chatDelta) []byte {
	return s.chunk([]chunkChoice{{Delta: d, Logprobs: json.RawMessage("null")}}, nil)
}

// start returns the role chunk the first time.
func (s *ChatStream) start() [][]byte {
	if s.started {
		return nil
	}
	s.started = true
	s.calls, s.text, s.refused = map[int]*streamCall{}, map[int]int{}, map[int]int{}
	return [][]byte{s.delta(chatDelta{Role: "assistant", Content: str(""), Refusal: json.RawMessage("null")})}
}

// Event returns the chunks an event makes (often none).
func (s *ChatStream) Event(ev engram.ModelEvent) [][]byte {
	out := s.start()
	switch ev.Type {
	case engram.ModelTextDelta:
		if ev.Delta != "" {
			s.text[ev.Index] += len(ev.Delta)
			out = append(out, s.delta(chatDelta{Content: str(ev.Delta)}))
		}
	case engram.ModelRefusalDelta:
		if ev.Delta != "" {
			s.refused[ev.Index] += len(ev.Delta)
			b, _ := json.Marshal(ev.Delta)
			out = append(out, s.delta(chatDelta{Refusal: b}))
		}
	case engram.ModelItemAdded:
		if ev.Item != nil && ev.Item.Type == engram.ItemFunctionCall {
			out = append(out, s.openCall(ev.Index, ev.Item)...)
		}
	case engram.ModelArgumentsDelta:
		if c := s.calls[ev.Index]; c != nil && ev.Delta != "" {
			c.sent += len(ev.Delta)
			out = append(out, s.arguments(c, ev.Delta))
		}
	case engram.ModelItemDone:
		out = append(out, s.settle(ev.Index, ev.Item)...)
	}
	return out
}

func (s *ChatStream) openCall(i int, it *engram.Item) [][]byte {
	if s.calls[i] != nil {
		return nil
	}
	c := &streamCall{index: len(s.calls)}
	s.calls[i] = c
	idx := c.index
	return [][]byte{s.delta(chatDelta{ToolCalls: []ChatToolCall{{Index: &idx, ID: it.CallID, Type: "function",
		Function: ChatFunction{Name: it.Name}}}})}
}

func (s *ChatStream) arguments(c *streamCall, delta string) []byte {
	idx := c.index
	return s.delta(chatDelta{ToolCalls: []ChatToolCall{{Index: &idx, Function: ChatFunction{Arguments: delta}}}})
}

// settle sends what a finished item holds beyond what its deltas said: an
// adapter that streams nothing, or less than it ends with, still reaches
// the client whole.
func (s *ChatStream) settle(i int, it *engram.Item) [][]byte {
	if it == nil {
		return nil
	}
	var out [][]byte
	switch it.Type {
	case engram.ItemFunctionCall:
		out = append(out, s.openCall(i, it)...)
		c := s.calls[i]
		if c.sent < len(it.Arguments) {
			rest := it.Arguments[c.sent:]
			c.sent = len(it.Arguments)
			out = append(out, s.arguments(c, rest))
		}
	case engram.ItemMessage:
		var text, refusal string
		for _, c := range it.Content {
			text += c.Text
			refusal += c.Refusal
		}
		if n := s.text[i]; n < len(text) {
			s.text[i] = len(text)
			out = append(out, s.delta(chatDelta{Content: str(text[n:])}))
		}
		if n := s.refused[i]; n < len(refusal) {
			s.refused[i] = len(refusal)
			b, _ := json.Marshal(refusal[n:])
			out = append(out, s.delta(chatDelta{Refusal: b}))
		}
	}
	return out
}

// Finish returns the last chunks: the finish reason, then (when asked)
// the usage with no choices.
func (s *ChatStream) Finish(res *engram.ModelResult, u engram.Usage) [][]byte {
	out := s.start()
	reason := FinishReason(res)
	out = append(out, s.chunk([]chunkChoice{{Delta: chatDelta{}, Logprobs: json.RawMessage("null"), FinishReason: &reason}}, nil))
	if s.IncludeUsage {
		b, _ := json.Marshal(EncodeChatUsage(u))
		out = append(out, s.chunk([]chunkChoice{}, b))
	}
	return out
}

// Started reports whether a chunk was made: after that, an error can only
// be sent in the stream.
func (s *ChatStream) Started() bool { return s.started }
