package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/engram-run/engram"
)

// Names of the tools that edit memory blocks.
const (
	MemoryBlockAppendName  = "memory_block_append"
	MemoryBlockReplaceName = "memory_block_replace"
)

// blockEditAttempts bounds how often an edit is tried again when another
// editor changed the block between its read and its write.
const blockEditAttempts = 3

// MemoryBlocks returns the tools with which an agent edits its own memory
// blocks: memory_block_append and memory_block_replace. They edit only
// the blocks the running agent sees (ToolCall.Blocks), found by label.
func MemoryBlocks(store engram.BlockStore) []engram.Tool {
	return []engram.Tool{MemoryBlockAppend{Store: store}, MemoryBlockReplace{Store: store}}
}

// MemoryBlockAppend adds text at the end of a block.
type MemoryBlockAppend struct{ Store engram.BlockStore }

// Spec implements engram.Tool.
func (MemoryBlockAppend) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type:        engram.ToolBuiltin,
		Name:        MemoryBlockAppendName,
		Description: "Adds text at the end of one of your memory blocks (shown in <memory_blocks>), on a new line. Use it to remember something lasting. The block must not be read-only and must stay within its character limit.",
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"label":{"type":"string","description":"the block's label"},` +
			`"text":{"type":"string","description":"the text to add"}},` +
			`"required":["label","text"],"additionalProperties":false}`),
	}
}

// Call implements engram.Tool.
func (t MemoryBlockAppend) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	var args struct {
		Label string `json:"label"`
		Text  string `json:"text"`
	}
	if err := json.Unmarshal(call.Arguments, &args); err != nil {
		return "", engram.Errorf(engram.EInvalid, "%s: arguments must be a JSON object like {\"label\":\"human\",\"text\":\"...\"}", MemoryBlockAppendName)
	}
	if args.Text == "" {
		return "", engram.Errorf(engram.EInvalid, "%s: text is empty; give the text to add", MemoryBlockAppendName)
	}
	b, err := editBlock(ctx, t.Store, call, MemoryBlockAppendName, args.Label, func(value string) (string, error) {
		if value != "" && !strings.HasSuffix(value, "\n") {
			value += "\n"
		}
		return value + args.Text, nil
	})
	if err != nil {
		return "", err
	}
	return confirm("Appended to", b), nil
}

// MemoryBlockReplace replaces one exact passage of a block, or deletes it
// when the new text is empty.
type MemoryBlockReplace struct{ Store engram.BlockStore }

// Spec implements engram.Tool.
func (MemoryBlockReplace) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type:        engram.ToolBuiltin,
		Name:        MemoryBlockReplaceName,
		Description: "Replaces text in one of your memory blocks (shown in <memory_blocks>): \"old\" must appear exactly once in the block, copied exactly; it becomes \"new\". An empty \"new\" deletes the text. Use it to correct or remove what is no longer true.",
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"label":{"type":"string","description":"the block's label"},` +
			`"old":{"type":"string","description":"the exact text to replace; it must appear exactly once"},` +
			`"new":{"type":"string","description":"the text to put in its place; empty to delete"}},` +
			`"required":["label","old","new"],"additionalProperties":false}`),
	}
}

// Call implements engram.Tool.
func (t MemoryBlockReplace) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	var args struct {
		Label string `json:"label"`
		Old   string `json:"old"`
		New   string `json:"new"`
	}
	if err := json.Unmarshal(call.Arguments, &args); err != nil {
		return "", engram.Errorf(engram.EInvalid, "%s: arguments must be a JSON object like {\"label\":\"human\",\"old\":\"...\",\"new\":\"...\"}", MemoryBlockReplaceName)
	}
	if args.Old == "" {
		return "", engram.Errorf(engram.EInvalid, "%s: old is empty; give the exact text to replace (use %s to add text)", MemoryBlockReplaceName, MemoryBlockAppendName)
	}
	b, err := editBlock(ctx, t.Store, call, MemoryBlockReplaceName, args.Label, func(value string) (string, error) {
		switch n := strings.Count(value, args.Old); n {
		case 1:
			return strings.Replace(value, args.Old, args.New, 1), nil
		case 0:
			return "", engram.Errorf(engram.EInvalid, "%s: the text to replace is not in block %q; copy it exactly from the block as shown", MemoryBlockReplaceName, args.Label)
		default:
			return "", engram.Errorf(engram.EInvalid, "%s: the text to replace appears %d times in block %q; include more of the text around it so it appears once", MemoryBlockReplaceName, n, args.Label)
		}
	})
	if err != nil {
		return "", err
	}
	return confirm("Replaced text in", b), nil
}

// editBlock applies edit to the agent's block labelled label and stores
// the result as the block's next version, recording the call that made it.
// The write is a compare-and-set on the version read, so an edit never
// overwrites one made meanwhile by another agent sharing the block: the
// block is read again and the edit applied to what is there now.
func editBlock(ctx context.Context, store engram.BlockStore, call engram.ToolCall, tool, label string, edit func(string) (string, error)) (*engram.MemoryBlock, error) {
	if label == "" {
		return nil, engram.Errorf(engram.EInvalid, "%s: label is empty; name one of your memory blocks", tool)
	}
	for attempt := 1; ; attempt++ {
		blocks, err := store.GetBlocks(ctx, call.ProjectID, call.Blocks)
		if err != nil {
			return nil, err
		}
		var b *engram.MemoryBlock
		var labels []string
		for _, blk := range blocks {
			labels = append(labels, blk.Label)
			if blk.Label == label && b == nil {
				b = blk
			}
		}
		if b == nil {
			if len(labels) == 0 {
				return nil, engram.Errorf(engram.EInvalid, "%s: you have no memory blocks", tool)
			}
			return nil, engram.Errorf(engram.EInvalid, "%s: you have no memory block labelled %q; your blocks are: %s", tool, label, strings.Join(labels, ", "))
		}
		// The run may be retrying a call whose edit was stored before a
		// crash: the block's last version then already records this call.
		if call.CallID != "" && b.CallID == call.CallID && b.ResponseID == call.ResponseID {
			return b, nil
		}
		if b.ReadOnly {
			return nil, engram.Errorf(engram.EInvalid, "%s: memory block %q is read-only; you cannot change it", tool, label)
		}
		value, err := edit(b.Value)
		if err != nil {
			return nil, err
		}
		if n := utf8.RuneCountInString(value); n > b.Limit {
			return nil, engram.Errorf(engram.EInvalid, "%s: block %q would hold %d characters, over its limit of %d (it holds %d now); shorten or remove text with %s first",
				tool, label, n, b.Limit, b.Chars(), MemoryBlockReplaceName)
		}
		version := b.Version
		b.Value = value
		b.EditedBy, b.ConversationID, b.ResponseID, b.CallID = engram.EditedByAgent, call.ConversationID, call.ResponseID, call.CallID
		err = store.UpdateBlock(ctx, b, version)
		switch {
		case err == nil:
			return b, nil
		case engram.ErrorCode(err) != engram.EConflict:
			return nil, err
		case attempt == blockEditAttempts:
			return nil, engram.Errorf(engram.EInvalid, "%s: memory block %q kept changing while you edited it; read it again and retry", tool, label)
		}
	}
}

func confirm(did string, b *engram.MemoryBlock) string {
	return fmt.Sprintf("%s memory block %q: now version %d, %d of %d characters (%d left).", did, b.Label, b.Version, b.Chars(), b.Limit, b.Limit-b.Chars())
}
