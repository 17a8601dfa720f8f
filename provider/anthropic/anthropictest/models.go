package anthropictest

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
//	recall  every user text block, joined by " | "
//	tools   a tool_use of the first declared tool with input {}
//	slow    like echo, after SlowDelay
//	other   "echo: <the last user text block>"
//
// (Engram merges consecutive user items into one message of several
// blocks; a block is what was one item.)
//
// Whatever the model, a request whose last block is a tool_result is
// answered "tool said: <its content>".
func byModel(body []byte) Reply {
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	_ = json.Unmarshal(body, &req)
	type block struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		Content json.RawMessage `json:"content"`
	}
	var texts []string
	var last *block
	for _, m := range req.Messages {
		var blocks []block
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			blocks = []block{{Type: "text", Text: s}}
		} else {
			_ = json.Unmarshal(m.Content, &blocks)
		}
		for i, b := range blocks {
			if m.Role == "user" && b.Type == "text" {
				texts = append(texts, b.Text)
			}
			last = &blocks[i]
		}
	}
	if last != nil && last.Type == "tool_result" {
		return Reply{Text: "tool said: " + contentText(last.Content)}
	}
	switch req.Model {
	case "recall":
		return Reply{Text: strings.Join(texts, " | ")}
	case "tools":
		if len(req.Tools) == 0 {
			return Reply{Text: "no tools declared"}
		}
		return Reply{ToolCalls: []ToolCall{{ID: newID("toolu"), Name: req.Tools[0].Name, Input: "{}"}}}
	}
	echo := "echo: "
	if len(texts) > 0 {
		echo += texts[len(texts)-1]
	}
	if req.Model == "slow" {
		return Reply{Text: echo, Delay: SlowDelay}
	}
	return Reply{Text: echo}
}

// contentText reads a tool_result's content: a string or text blocks.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString(bl.Text)
	}
	return b.String()
}
