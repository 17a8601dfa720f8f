// Package scripted is a deterministic model for tests and offline demos.
// It is not a language model: its answers follow fixed rules, and every
// answer says so nowhere but in its name, "scripted/…", which Engram shows
// wherever a model is named.
//
// Models:
//
//	scripted/echo    answers "echo: <the last user message>"
//	scripted/recall  answers with every user message in its window, joined
//	                 by " | ", so tests can see what context reached it
//	scripted/tools   calls the first declared tool with arguments {}
//	scripted/silent  answers with no text (a summariser that fails)
//	scripted/slow    answers as echo does, after SlowDelay (for background
//	                 runs and cancellation)
//
// Asked to compact a conversation (ModelRequest.Task), any scripted model
// but silent writes an extractive summary: the previous summary, then the
// first sentence of each user message, within the output budget. It is a
// stand-in that keeps what a summary must keep, not a summary.
//
// Asked to extract memories, a scripted model takes every sentence of the
// user's lines in the transcript in the first person (I, me, my, we, our)
// that is not a question as a fact, or a preference when it says like, love,
// prefer, hate or favourite, and supersedes a known memory about the same
// subject (the words before " is " or " are "). A stand-in for tests and
// offline demos, not an understanding.
//
// Any scripted model calls a tool when the last user message reads
// "call <tool> <json arguments>", and answers "tool said: <output>" when
// the last input item is a tool's output. A last user message of several
// such lines is a plan: the model makes the calls one after another, each
// once the previous one's output is in, then answers "tools said: " and
// every output, joined by " | ".
package scripted

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/engram-run/engram"
)

// SlowDelay is how long scripted/slow waits before it answers.
const SlowDelay = 1500 * time.Millisecond

// Provider is the scripted provider. The zero value is ready to use.
type Provider struct{}

// New returns the scripted provider.
func New() *Provider { return &Provider{} }

// Name implements engram.Provider.
func (*Provider) Name() string { return "scripted" }

// Models implements engram.ModelLister.
func (*Provider) Models(context.Context) ([]string, error) {
	return []string{"echo", "recall", "tools", "silent"}, nil
}

// Generate implements engram.Provider.
func (*Provider) Generate(ctx context.Context, req *engram.ModelRequest, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if emit == nil {
		emit = func(engram.ModelEvent) {}
	}
	var last *engram.Item
	if n := len(req.Input); n > 0 {
		last = req.Input[n-1]
	}
	lastUser := lastUserText(req.Input)
	if req.Model == "silent" {
		return text(emit, ""), nil
	}
	if req.Task == engram.TaskCompaction {
		return text(emit, extractiveSummary(req.Input, req.MaxOutputTokens)), nil
	}
	if req.Task == engram.TaskExtraction {
		return text(emit, extractMemories(req.Input)), nil
	}

	if calls := parseCalls(lastUser); len(calls) > 1 {
		// A plan of several calls: one per model call, each after the
		// previous one's output, then every output.
		outputs := outputsSinceUser(req.Input)
		if len(outputs) < len(calls) {
			return call(emit, calls[len(outputs)][0], calls[len(outputs)][1]), nil
		}
		return text(emit, "tools said: "+strings.Join(outputs, " | ")), nil
	}
	if last != nil && last.Type == engram.ItemFunctionCallOutput {
		return text(emit, "tool said: "+last.Output), nil
	}
	if name, args, ok := parseCall(lastUser); ok && last != nil && last.Type == engram.ItemMessage {
		return call(emit, name, args), nil
	}
	switch req.Model {
	case "echo":
		return text(emit, "echo: "+lastUser), nil
	case "slow":
		select {
		case <-time.After(SlowDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return text(emit, "echo: "+lastUser), nil
	case "recall":
		var said []string
		for _, it := range req.Input {
			if it.Type == engram.ItemMessage && it.Role == "user" {
				said = append(said, it.Text())
			}
		}
		return text(emit, strings.Join(said, " | ")), nil
	case "tools":
		if len(req.Tools) == 0 {
			return text(emit, "no tools declared"), nil
		}
		return call(emit, req.Tools[0].Name, "{}"), nil
	}
	return nil, engram.ParamErrorf(engram.EInvalid, "model", "scripted model %q does not exist: use scripted/echo, scripted/recall, scripted/tools, scripted/slow or scripted/silent", req.Model)
}

// extractiveSummary keeps the previous summary and the first sentence of
// every user message but the last (the request to summarise), within
// about maxTokens (four characters a token).
func extractiveSummary(input []*engram.Item, maxTokens int) string {
	limit := 4 * maxTokens
	if limit <= 0 {
		limit = 4096
	}
	var parts []string
	for i, it := range input {
		if it.Type != engram.ItemMessage || i == len(input)-1 {
			continue
		}
		t := strings.TrimSpace(it.Text())
		switch it.Role {
		case "developer", "system":
			t = strings.TrimPrefix(t, "Summary of the earlier conversation:\n")
		case "user":
			if j := strings.IndexAny(t, ".!?\n"); j > 0 {
				t = t[:j+1]
			}
		default:
			continue
		}
		parts = append(parts, t)
	}
	out := strings.Join(parts, " ")
	if len(out) > limit {
		out = out[len(out)-limit:] // the newest matter most to a continuing conversation
	}
	return out
}

// transcriptLine matches "[id] role (date): text" and "[id] kind: text".
var transcriptLine = regexp.MustCompile(`^\[([a-z]+_[0-9a-z]+)\] ([a-z]+)(?: \([^)]*\))?: (.*)$`)

// aboutUser matches a sentence in the first person: it says something of
// the user.
var aboutUser = regexp.MustCompile(`\b(I|I'm|I've|I'd|[Mm]e|[Mm]y|[Ww]e|[Ww]e're|[Oo]ur|[Uu]s)\b`)

var preferenceWord = regexp.MustCompile(`(?i)\b(like|likes|love|loves|prefer|prefers|hate|hates|favourite|favorite)\b`)

// subject is what a statement is about, for superseding: the words before
// " is " or " are ", in lower case.
func subject(s string) string {
	s = strings.ToLower(s)
	for _, sep := range []string{" is ", " are "} {
		if i := strings.Index(s, sep); i > 0 {
			return strings.TrimPrefix(strings.TrimPrefix(s[:i], "the user's "), "my ")
		}
	}
	return ""
}

func extractMemories(input []*engram.Item) string {
	known := map[string]string{} // subject -> memory id
	type memory struct {
		Kind       string   `json:"kind"`
		Text       string   `json:"text"`
		Evidence   []string `json:"evidence"`
		Supersedes string   `json:"supersedes,omitempty"`
	}
	out := []memory{}
	for _, it := range input {
		for _, line := range strings.Split(it.Text(), "\n") {
			m := transcriptLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			id, role, text := m[1], m[2], m[3]
			if strings.HasPrefix(id, "mem_") {
				if subj := subject(text); subj != "" {
					known[subj] = id
				}
				continue
			}
			if role != "user" {
				continue
			}
			for _, sentence := range regexp.MustCompile(`[^.!?]+[.!?]?`).FindAllString(text, -1) {
				sentence = strings.TrimSpace(sentence)
				if !aboutUser.MatchString(sentence) || strings.HasSuffix(sentence, "?") {
					continue
				}
				kind := engram.RecordFact
				if preferenceWord.MatchString(sentence) {
					kind = engram.RecordPreference
				}
				mem := memory{Kind: kind, Text: sentence, Evidence: []string{id}}
				if subj := subject(sentence); subj != "" {
					mem.Supersedes = known[strings.TrimPrefix(subj, "my ")]
				}
				out = append(out, mem)
			}
		}
	}
	b, _ := json.Marshal(map[string]any{"memories": out})
	return string(b)
}

func lastUserText(input []*engram.Item) string {
	for i := len(input) - 1; i >= 0; i-- {
		if it := input[i]; it.Type == engram.ItemMessage && it.Role == "user" {
			return it.Text()
		}
	}
	return ""
}

// parseCalls reads a plan: one "call <tool> <json>" per line.
func parseCalls(s string) [][2]string {
	var calls [][2]string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		name, args, ok := parseCall(line)
		if !ok {
			return nil
		}
		calls = append(calls, [2]string{name, args})
	}
	return calls
}

// outputsSinceUser are the tool outputs after the last user message.
func outputsSinceUser(input []*engram.Item) []string {
	var out []string
	for i := len(input) - 1; i >= 0; i-- {
		it := input[i]
		if it.Type == engram.ItemMessage && it.Role == "user" {
			break
		}
		if it.Type == engram.ItemFunctionCallOutput {
			out = append([]string{it.Output}, out...)
		}
	}
	return out
}

// parseCall reads "call <tool> <json>" (the JSON may be absent).
func parseCall(s string) (name, args string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "call ")
	if !found {
		return "", "", false
	}
	name, args, _ = strings.Cut(strings.TrimSpace(rest), " ")
	args = strings.TrimSpace(args)
	if args == "" {
		args = "{}"
	}
	if name == "" || !json.Valid([]byte(args)) {
		return "", "", false
	}
	return name, args, true
}

// text streams s word by word as one assistant message.
func text(emit func(engram.ModelEvent), s string) *engram.ModelResult {
	item := &engram.Item{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusInProgress}
	emit(engram.ModelEvent{Type: engram.ModelItemAdded, Index: 0, Item: item})
	for rest := s; rest != ""; {
		i := strings.IndexByte(rest[min(1, len(rest)):], ' ')
		chunk := rest
		if i >= 0 {
			chunk = rest[:i+1]
		}
		rest = rest[len(chunk):]
		emit(engram.ModelEvent{Type: engram.ModelTextDelta, Index: 0, Delta: chunk})
	}
	done := &engram.Item{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusCompleted,
		Content: []engram.Content{{Type: engram.ContentOutputText, Text: s}}}
	emit(engram.ModelEvent{Type: engram.ModelItemDone, Index: 0, Item: done})
	return &engram.ModelResult{Output: []*engram.Item{done}, StopReason: engram.StopEnd}
}

func call(emit func(engram.ModelEvent), name, args string) *engram.ModelResult {
	callID := engram.NewID("call")
	emit(engram.ModelEvent{Type: engram.ModelItemAdded, Index: 0,
		Item: &engram.Item{Type: engram.ItemFunctionCall, CallID: callID, Name: name, Status: engram.StatusInProgress}})
	emit(engram.ModelEvent{Type: engram.ModelArgumentsDelta, Index: 0, Delta: args})
	done := &engram.Item{Type: engram.ItemFunctionCall, CallID: callID, Name: name, Arguments: args, Status: engram.StatusCompleted}
	emit(engram.ModelEvent{Type: engram.ModelItemDone, Index: 0, Item: done})
	return &engram.ModelResult{Output: []*engram.Item{done}, StopReason: engram.StopToolCalls}
}
