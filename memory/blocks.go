package memory

import (
	"strconv"
	"strings"

	"github.com/engram-run/engram"
)

// blockEditNote tells the model its blocks are its own to keep; it appears
// only when some block is editable, so an agent with read-only blocks is
// not invited to call tools that would refuse it.
const blockEditNote = "These memory blocks are kept across conversations. Keep the ones not marked read_only up to date with memory_block_append and memory_block_replace, within their character limits."

var attrEscaper = strings.NewReplacer(`&`, "&amp;", `"`, "&quot;", `<`, "&lt;", `>`, "&gt;", "\n", " ")

// RenderBlocks renders an agent's memory blocks, in the agent's order, as
// the text placed after the instructions. The text depends only on the
// blocks, byte for byte, so the prompt prefix stays cacheable until a
// block changes. Values are written as they are, never escaped: the model
// must be able to copy a passage exactly into memory_block_replace.
func RenderBlocks(blocks []*engram.MemoryBlock) string {
	var sb strings.Builder
	editable := false
	for _, b := range blocks {
		if b == nil {
			continue
		}
		editable = editable || !b.ReadOnly
		sb.WriteString(`<block label="`)
		sb.WriteString(attrEscaper.Replace(b.Label))
		sb.WriteString(`" chars="`)
		sb.WriteString(strconv.Itoa(b.Chars()))
		sb.WriteString("/")
		sb.WriteString(strconv.Itoa(b.Limit))
		sb.WriteString(`"`)
		if b.ReadOnly {
			sb.WriteString(` read_only="true"`)
		}
		if b.Description != "" {
			sb.WriteString(` description="`)
			sb.WriteString(attrEscaper.Replace(b.Description))
			sb.WriteString(`"`)
		}
		sb.WriteString(">\n")
		if b.Value != "" {
			sb.WriteString(b.Value)
			if !strings.HasSuffix(b.Value, "\n") {
				sb.WriteString("\n")
			}
		}
		sb.WriteString("</block>\n")
	}
	if sb.Len() == 0 {
		return ""
	}
	head := "<memory_blocks>\n"
	if editable {
		head += blockEditNote + "\n"
	}
	return head + sb.String() + "</memory_blocks>"
}
