package anthropic

import (
	"encoding/json"
	"strings"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider"
)

// The Messages API request, as Engram sends it.
type mRequest struct {
	Model       string          `json:"model"`
	MaxTokens   int             `json:"max_tokens"`
	System      []mBlock        `json:"system,omitempty"`
	Messages    []mMessage      `json:"messages"`
	Tools       []mTool         `json:"tools,omitempty"`
	ToolChoice  json.RawMessage `json:"tool_choice,omitempty"`
	Temperature *float64        `json:"temperature,omitempty"`
	TopP        *float64        `json:"top_p,omitempty"`
	Metadata    *struct {
		UserID string `json:"user_id"`
	} `json:"metadata,omitempty"`
	Stream bool `json:"stream"`
}

type cacheControl struct {
	Type string `json:"type"`
}

var ephemeral = &cacheControl{Type: "ephemeral"}

type mMessage struct {
	Role    string   `json:"role"`
	Content []mBlock `json:"content"`
}

type mBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	ToolUseID    string          `json:"tool_use_id,omitempty"`
	Content      string          `json:"content,omitempty"`
	Thinking     string          `json:"thinking,omitempty"`
	Signature    string          `json:"signature,omitempty"`
	Source       *mSource        `json:"source,omitempty"`
	CacheControl *cacheControl   `json:"cache_control,omitempty"`
}

type mSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type mTool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl *cacheControl   `json:"cache_control,omitempty"`
}

// messagesRequest maps a model call to the Messages API. Anthropic wants
// user and assistant turns to alternate, tool results in user turns right
// after the assistant's tool_use, and the system prompt apart; consecutive
// items of one role are merged into one message.
func messagesRequest(req *engram.ModelRequest, defaultMax int) *mRequest {
	out := &mRequest{Model: req.Model, MaxTokens: req.MaxOutputTokens, Temperature: req.Temperature, TopP: req.TopP, Stream: true, Messages: []mMessage{}}
	if out.MaxTokens == 0 {
		out.MaxTokens = defaultMax
	}
	system := req.Instructions
	add := func(role string, blocks ...mBlock) {
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			return
		}
		out.Messages = append(out.Messages, mMessage{Role: role, Content: blocks})
	}
	for _, it := range req.Input {
		switch it.Type {
		case engram.ItemMessage:
			if it.Role == "system" || it.Role == "developer" {
				system = strings.TrimSpace(system + "\n\n" + it.Text())
				continue
			}
			role := "user"
			if it.Role == "assistant" {
				role = "assistant"
			}
			if blocks := contentBlocks(it); len(blocks) > 0 {
				add(role, blocks...)
			}
		case engram.ItemFunctionCall:
			input := json.RawMessage(it.Arguments)
			if !json.Valid(input) || !strings.HasPrefix(strings.TrimSpace(it.Arguments), "{") {
				input = json.RawMessage("{}")
			}
			add("assistant", mBlock{Type: "tool_use", ID: it.CallID, Name: it.Name, Input: input})
		case engram.ItemFunctionCallOutput:
			add("user", mBlock{Type: "tool_result", ToolUseID: it.CallID, Content: it.Output})
		case engram.ItemReasoning:
			// Thinking goes back only with the signature Anthropic made.
			if it.EncryptedContent != "" {
				var text strings.Builder
				for _, s := range it.Summary {
					text.WriteString(s.Text)
				}
				add("assistant", mBlock{Type: "thinking", Thinking: text.String(), Signature: it.EncryptedContent})
			}
		}
	}
	if system != "" {
		out.System = []mBlock{{Type: "text", Text: system, CacheControl: ephemeral}}
	}
	for _, t := range req.Tools {
		schema := t.Parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, mTool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	if n := len(out.Tools); n > 0 {
		out.Tools[n-1].CacheControl = ephemeral
		// Anthropic refuses tool_choice without tools.
		out.ToolChoice = toolChoice(req.ToolChoice)
	}
	markConversationPrefix(out.Messages)
	if req.User != "" {
		out.Metadata = &struct {
			UserID string `json:"user_id"`
		}{req.User}
	}
	return out
}

// markConversationPrefix puts the third cache breakpoint on the last block
// of the conversation. The next turn resends this conversation unchanged
// plus its new items, so it reads all of it from the cache instead of
// paying for the whole history again: Anthropic's own advice for multi-turn
// conversations. Thinking blocks cannot carry cache_control; a conversation
// ending in one keeps only the tools and system breakpoints.
func markConversationPrefix(messages []mMessage) {
	if len(messages) == 0 {
		return
	}
	last := messages[len(messages)-1].Content
	if len(last) == 0 {
		return
	}
	if b := &last[len(last)-1]; b.Type != "thinking" {
		b.CacheControl = ephemeral
	}
}

func contentBlocks(it *engram.Item) []mBlock {
	var blocks []mBlock
	for _, c := range it.Content {
		switch c.Type {
		case engram.ContentInputText, engram.ContentOutputText:
			if c.Text != "" {
				blocks = append(blocks, mBlock{Type: "text", Text: c.Text})
			}
		case engram.ContentRefusal:
			if c.Refusal != "" {
				blocks = append(blocks, mBlock{Type: "text", Text: c.Refusal})
			}
		case engram.ContentInputImage:
			if src := imageSource(c.ImageURL); src != nil {
				blocks = append(blocks, mBlock{Type: "image", Source: src})
			}
		}
	}
	return blocks
}

// imageSource reads a data: URL into a base64 source, or passes a URL.
func imageSource(u string) *mSource {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		media, data, found := strings.Cut(rest, ",")
		media, isB64 := strings.CutSuffix(media, ";base64")
		if !found || !isB64 {
			return nil
		}
		return &mSource{Type: "base64", MediaType: media, Data: data}
	}
	if u == "" {
		return nil
	}
	return &mSource{Type: "url", URL: u}
}

// toolChoice maps OpenAI's tool_choice to Anthropic's.
func toolChoice(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "required":
			return json.RawMessage(`{"type":"any"}`)
		case "none":
			return json.RawMessage(`{"type":"none"}`)
		}
		return json.RawMessage(`{"type":"auto"}`)
	}
	// Responses names the function at the top, Chat Completions inside
	// "function"; either may reach us.
	var obj struct {
		Type     string `json:"type"`
		Name     string `json:"name"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Type != "function" {
		return nil
	}
	name := obj.Name
	if name == "" {
		name = obj.Function.Name
	}
	if name == "" {
		return nil
	}
	out, _ := json.Marshal(map[string]string{"type": "tool", "name": name})
	return out
}

// CheckInput implements provider.InputChecker: what the Messages API has
// no place for, or Engram does not map, is refused rather than dropped.
func (p *Provider) CheckInput(items []*engram.Item) error {
	for i, it := range items {
		switch it.Type {
		case engram.ItemReasoning:
			if provider.OpenAIReasoning(it.EncryptedContent) {
				return provider.Unreadable("Anthropic", i, "a reasoning item made by an OpenAI model (its encrypted_content is OpenAI's); leave it out, or continue with an OpenAI model")
			}
		case engram.ItemMessage:
			for _, c := range it.Content {
				switch c.Type {
				case engram.ContentInputImage:
					if imageSource(c.ImageURL) == nil {
						return provider.Unreadable("Anthropic", i, "an input_image needs an image_url, an http(s) URL or a base64 data: URL (OpenAI file ids are not readable here)")
					}
				case engram.ContentInputFile:
					return provider.Unreadable("Anthropic", i, "input_file parts are not supported with Anthropic models; send the text, or images as input_image")
				}
			}
		}
	}
	return nil
}
