package provider

import (
	"fmt"
	"strings"

	"github.com/engram-run/engram"
)

// InputChecker is a provider that knows, before a run starts, the input
// items it cannot send to its model: a request carrying one is refused
// (422, naming the item) rather than run with part of its input silently
// left out. Items already in a conversation's log are not checked: a
// conversation may change models, and what one model cannot read of
// another's turns (its private reasoning) is left out of the window.
type InputChecker interface {
	CheckInput(items []*engram.Item) error
}

// CheckInput applies p's InputChecker, if it has one.
func CheckInput(p engram.Provider, items []*engram.Item) error {
	if c, ok := p.(InputChecker); ok {
		return c.CheckInput(items)
	}
	return nil
}

// Unreadable is the error of input item i that a provider cannot take.
func Unreadable(provider string, i int, format string, args ...any) error {
	return engram.ParamErrorf(engram.EUnprocessable, fmt.Sprintf("input[%d]", i),
		"%s models cannot take input[%d]: %s", provider, i, fmt.Sprintf(format, args...))
}

// OpenAIReasoning reports whether a reasoning item's encrypted_content was
// made by OpenAI: OpenAI's are Fernet tokens, whose version byte and
// timestamp always encode as "gAAAAA".
func OpenAIReasoning(encrypted string) bool {
	return strings.HasPrefix(encrypted, "gAAAAA")
}
