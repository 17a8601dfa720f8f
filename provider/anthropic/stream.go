package anthropic

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"
	"github.com/engram-run/engram"
)

type mEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message *struct {
		Usage mUsage `json:"usage"`
	} `json:"message"`
	ContentBlock *struct {
		Type  string          `json:"type"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Text  string          `json:"text"`
		Input json.RawMessage `json:"input"`
	} `json:"content_block"`
	Delta *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		Thinking    string `json:"thinking"`
		Signature   string `json:"signature"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *mUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

type mUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
}

// block is a content block being streamed.
type block struct {
	item *engram.Item
	text []byte // text, tool input JSON, or thinking
}

// readStream turns Anthropic's message stream into model events and the
// call's result. It stops at the first event after ctx ends, so a caller
// that gives up is not kept waiting by a stream the transport had already
// buffered.
func readStream(ctx context.Context, dec ssestream.Decoder, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	res := &engram.ModelResult{}
	blocks := map[int]*block{} // Anthropic block index -> our item
	order := map[int]int{}     // Anthropic block index -> our item index
	var usage mUsage
	started := false
	stop := ""
	for dec.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data := bytes.TrimSpace(dec.Event().Data)
		if len(data) == 0 {
			continue
		}
		var ev mEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return nil, streamBroken("event %q: %v", data, err)
		}
		switch ev.Type {
		case "message_start":
			if ev.Message == nil {
				return nil, streamBroken("message_start without a message")
			}
			started = true
			usage = ev.Message.Usage
		case "content_block_start":
			cb := ev.ContentBlock
			if cb == nil {
				return nil, streamBroken("content_block_start without a block")
			}
			var it *engram.Item
			switch cb.Type {
			case "text":
				it = &engram.Item{Type: engram.ItemMessage, Role: "assistant"}
			case "tool_use":
				it = &engram.Item{Type: engram.ItemFunctionCall, CallID: cb.ID, Name: cb.Name}
			case "thinking":
				it = &engram.Item{Type: engram.ItemReasoning}
			default:
				continue // redacted_thinking and server tools: not requested
			}
			if _, dup := blocks[ev.Index]; dup {
				return nil, streamBroken("content block %d started twice", ev.Index)
			}
			i := len(order)
			order[ev.Index] = i
			b := &block{item: it}
			if cb.Type == "text" {
				b.text = append(b.text, cb.Text...)
			}
			blocks[ev.Index] = b
			emit(engram.ModelEvent{Type: engram.ModelItemAdded, Index: i, Item: &engram.Item{Type: it.Type, Role: it.Role, CallID: it.CallID, Name: it.Name}})
			if cb.Type == "text" && cb.Text != "" {
				emit(engram.ModelEvent{Type: engram.ModelTextDelta, Index: i, Delta: cb.Text})
			}
		case "content_block_delta":
			b, ok := blocks[ev.Index]
			if !ok || ev.Delta == nil {
				continue
			}
			i := order[ev.Index]
			switch ev.Delta.Type {
			case "text_delta":
				b.text = append(b.text, ev.Delta.Text...)
				emit(engram.ModelEvent{Type: engram.ModelTextDelta, Index: i, Delta: ev.Delta.Text})
			case "input_json_delta":
				b.text = append(b.text, ev.Delta.PartialJSON...)
				emit(engram.ModelEvent{Type: engram.ModelArgumentsDelta, Index: i, Delta: ev.Delta.PartialJSON})
			case "thinking_delta":
				b.text = append(b.text, ev.Delta.Thinking...)
				emit(engram.ModelEvent{Type: engram.ModelReasoningDelta, Index: i, Delta: ev.Delta.Thinking})
			case "signature_delta":
				b.item.EncryptedContent += ev.Delta.Signature
			}
		case "content_block_stop":
			b, ok := blocks[ev.Index]
			if !ok {
				continue
			}
			it := b.item
			switch it.Type {
			case engram.ItemMessage:
				it.Content = []engram.Content{{Type: engram.ContentOutputText, Text: string(b.text)}}
			case engram.ItemFunctionCall:
				it.Arguments = string(b.text)
				if it.Arguments == "" {
					it.Arguments = "{}"
				}
				if !json.Valid([]byte(it.Arguments)) {
					return nil, streamBroken("tool_use %s input is not JSON", it.CallID)
				}
			case engram.ItemReasoning:
				it.Summary = []engram.Content{{Type: engram.ContentSummaryText, Text: string(b.text)}}
			}
			it.Status = engram.StatusCompleted
			i := order[ev.Index]
			for len(res.Output) <= i {
				res.Output = append(res.Output, nil)
			}
			res.Output[i] = it
			emit(engram.ModelEvent{Type: engram.ModelItemDone, Index: i, Item: it})
		case "message_delta":
			if ev.Delta != nil && ev.Delta.StopReason != "" {
				stop = ev.Delta.StopReason
			}
			if ev.Usage != nil {
				// message_delta's counts are cumulative; the input ones
				// come only when they changed since message_start.
				usage.OutputTokens = ev.Usage.OutputTokens
				if ev.Usage.InputTokens > 0 {
					usage.InputTokens = ev.Usage.InputTokens
				}
				if ev.Usage.CacheReadInputTokens > 0 {
					usage.CacheReadInputTokens = ev.Usage.CacheReadInputTokens
				}
				if ev.Usage.CacheCreationInputTokens > 0 {
					usage.CacheCreationInputTokens = ev.Usage.CacheCreationInputTokens
				}
			}
		case "message_stop":
			if !started {
				return nil, streamBroken("message_stop without message_start")
			}
			for _, it := range res.Output {
				if it == nil {
					return nil, streamBroken("a content block was never stopped")
				}
			}
			if len(res.Output) < len(order) {
				return nil, streamBroken("a content block was never stopped")
			}
			res.Usage = engram.Usage{
				InputTokens:      usage.InputTokens + usage.CacheReadInputTokens + usage.CacheCreationInputTokens,
				CachedTokens:     usage.CacheReadInputTokens,
				CacheWriteTokens: usage.CacheCreationInputTokens,
				OutputTokens:     usage.OutputTokens,
			}
			res.Usage.TotalTokens = res.Usage.InputTokens + res.Usage.OutputTokens
			switch stop {
			case "tool_use":
				res.StopReason = engram.StopToolCalls
			case "max_tokens", "model_context_window_exceeded":
				res.StopReason = engram.StopMaxTokens
			case "refusal":
				res.StopReason = engram.StopContentFilter
			default:
				res.StopReason = engram.StopEnd
			}
			return res, nil
		case "error":
			msg := "stream error"
			if ev.Error != nil {
				msg = ev.Error.Type + ": " + ev.Error.Message
			}
			return nil, engram.Errorf(engram.EUpstream, "error event in the stream: %s", msg)
		}
	}
	if err := dec.Err(); err != nil {
		return nil, err
	}
	return nil, streamBroken("the stream ended before message_stop")
}
