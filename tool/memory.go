package tool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/engram-run/engram"
)

// Names of the memory tools.
const (
	MemorySearchName       = "memory_search"
	MemoryWriteName        = "memory_write"
	ConversationSearchName = "conversation_search"
)

// maxToolLimit bounds what one memory tool call may put in front of the
// model; more than this is better asked for with a narrower query.
const maxToolLimit = 50

// maxItemTextChars cuts each message conversation_search shows: a long
// answer's first part is enough for the model to know whether to ask more.
const maxItemTextChars = 1000

// Memory returns the tools that search and write an agent's long-term
// memory through svc: memory_search, memory_write and conversation_search.
// Every call reads and writes only the memory of the call's own project,
// agent and end user; no argument can name another scope.
func Memory(svc engram.MemoryService) []engram.Tool {
	return []engram.Tool{MemorySearch{Service: svc}, MemoryWrite{Service: svc}, ConversationSearch{Service: svc}}
}

func scopeOf(call engram.ToolCall) engram.MemoryScope {
	return engram.MemoryScope{ProjectID: call.ProjectID, AgentID: call.AgentID, User: call.User}
}

// decodeArgs reads a tool's JSON arguments strictly, so a misspelled
// argument is pointed out to the model instead of silently ignored.
func decodeArgs(name string, raw json.RawMessage, example string, out any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage(`{}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return engram.Errorf(engram.EInvalid, "%s: arguments must be a JSON object like %s: %v", name, example, err)
	}
	return nil
}

// toModel turns a service's refusal of the model's arguments into an
// error the model is shown, so it can correct itself; anything else fails
// the call.
func toModel(name string, err error) error {
	var e *engram.Error
	if errors.As(err, &e) && (e.Code == engram.EInvalid || e.Code == engram.ENotFound || e.Code == engram.EConflict) {
		return engram.Errorf(engram.EInvalid, "%s: %s", name, e.Message)
	}
	return err
}

func checkToolLimit(name string, limit int) (int, error) {
	switch {
	case limit == 0:
		return 10, nil
	case limit < 0 || limit > maxToolLimit:
		return 0, engram.Errorf(engram.EInvalid, "%s: limit must be between 1 and %d", name, maxToolLimit)
	}
	return limit, nil
}

// date shows a time as the model best reads it: a calendar day is what
// "when" questions need, and a shorter string costs fewer tokens.
func date(unix int64) string {
	if unix == 0 {
		return ""
	}
	return time.Unix(unix, 0).UTC().Format(time.DateOnly)
}

func roundScore(x float64) float64 { return math.Round(x*1000) / 1000 }

func encode(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// memoryJSON is a record as the model reads it.
type memoryJSON struct {
	ID         string   `json:"id"`
	Kind       string   `json:"kind"`
	Text       string   `json:"text"`
	OccurredAt string   `json:"occurred_at,omitempty"`
	Supersedes string   `json:"supersedes,omitempty"`
	Score      *float64 `json:"score,omitempty"`
}

func encodeMemory(r *engram.MemoryRecord) memoryJSON {
	return memoryJSON{ID: r.ID, Kind: r.Kind, Text: r.Text, OccurredAt: date(r.OccurredAt), Supersedes: r.Supersedes}
}

// MemorySearch is memory_search: a search of the agent's long-term memory
// of the current end user.
type MemorySearch struct{ Service engram.MemoryService }

// Spec implements engram.Tool.
func (MemorySearch) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type: engram.ToolBuiltin,
		Name: MemorySearchName,
		Description: "Searches your long-term memory of this user: facts, preferences, episodes and passages saved earlier. " +
			"Give a query in plain words; results come best first with their id, kind, text, the date they were true from (occurred_at) and a relevance score. " +
			"When two results disagree, the later occurred_at is usually the current truth.",
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"query":{"type":"string","description":"what to look for, in plain words"},` +
			`"limit":{"type":"integer","minimum":1,"maximum":50,"description":"at most this many results (default 10)"},` +
			`"kinds":{"type":"array","items":{"type":"string","enum":["fact","preference","episode","passage"]},"description":"only these kinds (default all)"}` +
			`},"required":["query"],"additionalProperties":false}`),
		Idempotent: true,
	}
}

// Call implements engram.Tool.
func (t MemorySearch) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	var args struct {
		Query string   `json:"query"`
		Limit int      `json:"limit"`
		Kinds []string `json:"kinds"`
	}
	if err := decodeArgs(MemorySearchName, call.Arguments, `{"query":"where are the hives"}`, &args); err != nil {
		return "", err
	}
	if strings.TrimSpace(args.Query) == "" {
		return "", engram.Errorf(engram.EInvalid, "%s: give a query", MemorySearchName)
	}
	limit, err := checkToolLimit(MemorySearchName, args.Limit)
	if err != nil {
		return "", err
	}
	hits, err := t.Service.SearchRecords(ctx, engram.MemoryQuery{Scope: scopeOf(call), Text: args.Query, Limit: limit, Kinds: args.Kinds})
	if err != nil {
		return "", toModel(MemorySearchName, err)
	}
	results := make([]memoryJSON, len(hits))
	for i, h := range hits {
		results[i] = encodeMemory(h.Record)
		score := roundScore(h.Score)
		results[i].Score = &score
	}
	return encode(map[string]any{"results": results}), nil
}

// MemoryWrite is memory_write: the agent saves something worth knowing
// later about the current end user, or corrects what it saved before.
type MemoryWrite struct{ Service engram.MemoryService }

// Spec implements engram.Tool.
func (MemoryWrite) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type: engram.ToolBuiltin,
		Name: MemoryWriteName,
		Description: "Saves one thing worth remembering about this user in your long-term memory, for later conversations. " +
			"Write one self-contained statement (\"Ada keeps three hives in Lisbon.\"), not a transcript. " +
			"kind is fact (default), preference, episode (something that happened) or passage. " +
			"To correct or update a memory, give its id as supersedes: the old one is kept but no longer found by searches.",
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"text":{"type":"string","description":"one self-contained statement"},` +
			`"kind":{"type":"string","enum":["fact","preference","episode","passage"],"description":"default fact"},` +
			`"supersedes":{"type":"string","description":"the id of a memory this one corrects or updates"}` +
			`},"required":["text"],"additionalProperties":false}`),
	}
}

// Call implements engram.Tool.
func (t MemoryWrite) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	var args struct {
		Text       string `json:"text"`
		Kind       string `json:"kind"`
		Supersedes string `json:"supersedes"`
	}
	if err := decodeArgs(MemoryWriteName, call.Arguments, `{"text":"Ada keeps three hives in Lisbon."}`, &args); err != nil {
		return "", err
	}
	if strings.TrimSpace(args.Text) == "" {
		return "", engram.Errorf(engram.EInvalid, "%s: give the text to remember", MemoryWriteName)
	}
	r := &engram.MemoryRecord{
		ProjectID: call.ProjectID, AgentID: call.AgentID, User: call.User,
		Kind: args.Kind, Text: args.Text, Supersedes: args.Supersedes,
		Source: engram.SourceTool, ConversationID: call.ConversationID,
		Metadata: map[string]string{},
	}
	if err := t.Service.WriteRecord(ctx, r); err != nil {
		return "", toModel(MemoryWriteName, err)
	}
	return encode(map[string]any{"saved": encodeMemory(r)}), nil
}

// ConversationSearch is conversation_search: a search of what was said in
// the user's earlier conversations with this agent.
type ConversationSearch struct{ Service engram.MemoryService }

// Spec implements engram.Tool.
func (ConversationSearch) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type: engram.ToolBuiltin,
		Name: ConversationSearchName,
		Description: "Searches the messages of your earlier conversations with this user (not this one) for words in the query. " +
			"Results come best first with the conversation id, who spoke (role), the date and the message text (long ones cut short).",
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"query":{"type":"string","description":"words to look for"},` +
			`"limit":{"type":"integer","minimum":1,"maximum":50,"description":"at most this many messages (default 10)"}` +
			`},"required":["query"],"additionalProperties":false}`),
		Idempotent: true,
	}
}

// Call implements engram.Tool.
func (t ConversationSearch) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	var args struct {
		Query string `json:"query"`
		Limit int    `json:"limit"`
	}
	if err := decodeArgs(ConversationSearchName, call.Arguments, `{"query":"hive inspection"}`, &args); err != nil {
		return "", err
	}
	if strings.TrimSpace(args.Query) == "" {
		return "", engram.Errorf(engram.EInvalid, "%s: give a query", ConversationSearchName)
	}
	limit, err := checkToolLimit(ConversationSearchName, args.Limit)
	if err != nil {
		return "", err
	}
	hits, err := t.Service.SearchConversations(ctx, scopeOf(call), args.Query, limit, call.ConversationID)
	if err != nil {
		return "", toModel(ConversationSearchName, err)
	}
	type messageJSON struct {
		Conversation string  `json:"conversation"`
		ID           string  `json:"id"`
		Role         string  `json:"role,omitempty"`
		Date         string  `json:"date,omitempty"`
		Text         string  `json:"text"`
		Score        float64 `json:"score"`
	}
	results := make([]messageJSON, len(hits))
	for i, h := range hits {
		results[i] = messageJSON{Conversation: h.ConversationID, ID: h.Item.ID, Role: h.Item.Role,
			Date: date(h.Item.CreatedAt), Text: cut(h.Item.Text(), maxItemTextChars), Score: roundScore(h.Score)}
	}
	return encode(map[string]any{"results": results}), nil
}

// cut shortens s to at most n characters, marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return fmt.Sprintf("%s…", string(r[:n]))
}
