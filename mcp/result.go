package mcp

import (
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// resultText is what the model reads of a tool's result: its text, with
// other content (images, audio, resources) summarised in a line each, as
// the model is given text; the structured content when there is nothing
// else. A result the server marked as an error reads "error: …", so the
// model can correct itself; it is not the run's failure. At most max
// bytes, cut with a note.
func resultText(res *sdk.CallToolResult, max int) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *sdk.TextContent:
			parts = append(parts, c.Text)
		case *sdk.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %d bytes, not shown]", c.MIMEType, len(c.Data)))
		case *sdk.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %d bytes, not shown]", c.MIMEType, len(c.Data)))
		case *sdk.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource link %s %s]", c.URI, strings.TrimSpace(c.Name+" "+c.Description)))
		case *sdk.EmbeddedResource:
			switch r := c.Resource; {
			case r == nil:
			case r.Text != "":
				parts = append(parts, r.Text)
			default:
				parts = append(parts, fmt.Sprintf("[resource %s %s, %d bytes, not shown]", r.URI, r.MIMEType, len(r.Blob)))
			}
		default:
			parts = append(parts, fmt.Sprintf("[%T content, not shown]", c))
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			parts = append(parts, string(b))
		}
	}
	out := strings.Join(parts, "\n")
	if res.IsError {
		out = "error: " + out
	}
	if max > 0 && len(out) > max {
		cut := max
		for cut > 0 && !isRuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + fmt.Sprintf("\n[truncated: the result was %d bytes, only the first %d are shown]", len(out), cut)
	}
	return out
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
