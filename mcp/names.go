package mcp

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// validName is what every model provider accepts as a function name
// (OpenAI's rule, the strictest).
var validName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

const maxName = 64

// ToolName is the name a run's model sees for an MCP server's tool:
// "<connector>__<tool>". A name that would not be a valid function name
// (other characters, or longer than 64) is made one deterministically: the
// invalid characters become '_', it is cut, and 8 hex digits of the
// SHA-256 of the full name are added, so that two server tools never end
// up with the same name ("a.b" and "a_b" differ) and a name never changes
// between listings.
func ToolName(connector, tool string) string {
	full := connector + "__" + tool
	if validName.MatchString(full) {
		return full
	}
	var b strings.Builder
	for _, r := range full {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(full))
	suffix := "_" + hex.EncodeToString(sum[:4])
	name := b.String()
	if len(name) > maxName-len(suffix) {
		name = name[:maxName-len(suffix)]
	}
	return name + suffix
}
