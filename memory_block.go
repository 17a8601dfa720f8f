package engram

import (
	"regexp"
	"unicode/utf8"
)

// MaxBlockLimit bounds a block's limit: blocks sit in every context of
// every agent that sees them, so a large one is paid for on every turn.
const MaxBlockLimit = 20000

// Who edited a block's version.
const (
	EditedByAPI   = "api"
	EditedByAgent = "agent"
)

// blockLabel keeps labels short identifiers a model can type back exactly
// and that render safely inside the prompt's markup.
var blockLabel = regexp.MustCompile(`^[a-z0-9_][a-z0-9_-]{0,63}$`)

// ValidBlockLabel reports whether label may name a block.
func ValidBlockLabel(label string) bool { return blockLabel.MatchString(label) }

// Check fills b's defaults (Limit, EditedBy) and checks its fields: every
// store calls it before writing a version, so no path stores a block that
// breaks its own limit.
func (b *MemoryBlock) Check() error {
	if b.Limit == 0 {
		b.Limit = DefaultBlockLimit
	}
	if b.EditedBy == "" {
		b.EditedBy = EditedByAPI
	}
	if !ValidBlockLabel(b.Label) {
		if b.Label == "" {
			return ParamErrorf(EInvalid, "label", "Missing required parameter: 'label'.")
		}
		return ParamErrorf(EInvalid, "label", "Invalid 'label': use 1 to 64 lower-case letters, digits, '_' or '-', not starting with '-'.")
	}
	if b.Limit < 1 || b.Limit > MaxBlockLimit {
		return ParamErrorf(EInvalid, "limit", "Invalid 'limit': expected an integer between 1 and %d, but got %d.", MaxBlockLimit, b.Limit)
	}
	if n := utf8.RuneCountInString(b.Value); n > b.Limit {
		return ParamErrorf(EInvalid, "value", "Invalid 'value': %d characters, over the block's limit of %d.", n, b.Limit)
	}
	if b.EditedBy != EditedByAPI && b.EditedBy != EditedByAgent {
		return Errorf(EInvalid, "a block version is edited by %q or %q, not %q", EditedByAPI, EditedByAgent, b.EditedBy)
	}
	return nil
}

// Chars is the length of b's value in characters, the unit of its limit.
func (b *MemoryBlock) Chars() int { return utf8.RuneCountInString(b.Value) }
