// Package tokens counts tokens offline with OpenAI's o200k_base encoding,
// for when a provider reports none and for budgeting the context window
// before a call. Counts for other vendors' models are estimates.
package tokens

import (
	"sync"

	"github.com/engram-run/engram"
	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// Per-item overhead of the chat format (role and separators), as OpenAI's
// counting guide gives it.
const itemOverhead = 4

var (
	loadOnce sync.Once
	encoding *tiktoken.Tiktoken
)

func load() *tiktoken.Tiktoken {
	loadOnce.Do(func() {
		// The offline loader reads the encoding embedded in the binary: no
		// network at start-up or ever.
		tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
		enc, err := tiktoken.GetEncoding("o200k_base")
		if err != nil {
			panic("tokens: embedded o200k_base encoding failed to load: " + err.Error())
		}
		encoding = enc
	})
	return encoding
}

// Warm loads the encoding now, so the first request does not pay for it.
func Warm() {
	load()
	loadRanks()
}

// Count returns the number of tokens in s.
func Count(s string) int {
	if s == "" {
		return 0
	}
	if isASCII(s) {
		return countASCII(s)
	}
	return len(load().EncodeOrdinary(s))
}

// Item returns the tokens an item costs in a model's input.
func Item(it *engram.Item) int {
	n := itemOverhead + Count(it.Text())
	for _, c := range it.Content {
		if c.Type == engram.ContentInputImage || c.Type == engram.ContentInputFile {
			n += 765 // a high-detail 512px tile's price: a fair default for budgeting
		}
	}
	return n
}

// Stamp records on each item the tokens it costs, once, when it enters
// the log: windows and usage read the count instead of counting again.
func Stamp(items []*engram.Item) {
	for _, it := range items {
		it.Tokens = Item(it)
	}
}

// Items returns the tokens of items, using the count each item carries
// from when it was written and counting only those without one.
func Items(items []*engram.Item) int {
	n := 0
	for _, it := range items {
		if it.Tokens > 0 {
			n += it.Tokens
		} else {
			n += Item(it)
		}
	}
	return n
}

// Tools returns the tokens tool declarations cost in a model's input:
// names, descriptions and about four characters a token of schema.
func Tools(specs []engram.ToolSpec) int {
	n := 0
	for _, s := range specs {
		n += Count(s.Name) + Stable(s.Description) + len(s.Parameters)/4
	}
	return n
}

// Stable counts text that recurs call after call (instructions, tool
// schemas): it is counted once and remembered, so a long system prompt
// costs nothing per turn.
func Stable(s string) int {
	if len(s) < 64 {
		return Count(s)
	}
	stableMu.Lock()
	n, ok := stable[s]
	stableMu.Unlock()
	if ok {
		return n
	}
	n = Count(s)
	stableMu.Lock()
	if len(stable) >= 4096 { // bounded: forget everything rather than grow
		clear(stable)
	}
	stable[s] = n
	stableMu.Unlock()
	return n
}

var (
	stableMu sync.Mutex
	stable   = map[string]int{}
)
