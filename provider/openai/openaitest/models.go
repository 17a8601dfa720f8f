package openaitest

import (
	"encoding/json"
	"strings"
	"time"
)

// SlowDelay is how long the "slow" model waits before it answers.
const SlowDelay = 1500 * time.Millisecond

// byModel is the answer when no reply is queued. The fake then behaves like
// Engram's scripted models, chosen by the model's name, so that one
// conformance suite can run against scripted models and fake upstreams
// alike:
//
//	recall  every user message's text, joined by " | "
//	tools   a call of the first declared tool with arguments {}
//	slow    like echo, after SlowDelay
//	other   "echo: <the last user message>"
//
// Whatever the model, a request whose last item is a tool's output is
// answered "tool said: <output>".
func byModel(body []byte) Reply {
	var req struct {
		Model    string          `json:"model"`
		Input    json.RawMessage `json:"input"`
		Messages []struct {
			Role       string          `json:"role"`
			Content    json.RawMessage `json:"content"`
			ToolCallID string          `json:"tool_call_id"`
		} `json:"messages"`
		Tools []struct {
			Name     string `json:"name"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	_ = json.Unmarshal(body, &req)
	type said struct {
		role, text, toolOutput string
		isOutput               bool
	}
	var items []said
	if len(req.Input) > 0 {
		var s string
		if json.Unmarshal(req.Input, &s) == nil {
			items = append(items, said{role: "user", text: s})
		}
		var list []struct {
			Type    string          `json:"type"`
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
			Output  json.RawMessage `json:"output"`
		}
		_ = json.Unmarshal(req.Input, &list)
		for _, it := range list {
			switch it.Type {
			case "function_call_output":
				items = append(items, said{isOutput: true, toolOutput: textOf(it.Output)})
			case "", "message":
				items = append(items, said{role: it.Role, text: textOf(it.Content)})
			default:
				items = append(items, said{role: it.Type})
			}
		}
	}
	for _, m := range req.Messages {
		if m.Role == "tool" {
			items = append(items, said{isOutput: true, toolOutput: textOf(m.Content)})
			continue
		}
		items = append(items, said{role: m.Role, text: textOf(m.Content)})
	}
	if n := len(items); n > 0 && items[n-1].isOutput {
		return Reply{Text: "tool said: " + items[n-1].toolOutput}
	}
	model := req.Model
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	switch model {
	case "recall":
		var texts []string
		for _, it := range items {
			if it.role == "user" && !it.isOutput {
				texts = append(texts, it.text)
			}
		}
		return Reply{Text: strings.Join(texts, " | ")}
	case "tools":
		if len(req.Tools) == 0 {
			return Reply{Text: "no tools declared"}
		}
		name := req.Tools[0].Name
		if name == "" {
			name = req.Tools[0].Function.Name
		}
		return Reply{ToolCalls: []ToolCall{{Name: name, Arguments: "{}"}}}
	case "slow":
		return Reply{Text: "echo: " + lastUserText(body), Delay: SlowDelay}
	}
	return Reply{Text: "echo: " + lastUserText(body)}
}

// textOf reads a string or the texts of a list of content parts.
func textOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}
