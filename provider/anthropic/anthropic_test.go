package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider/anthropic"
	"github.com/engram-run/engram/provider/anthropic/anthropictest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func user(s string) *engram.Item {
	return &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: s}}}
}

func assistant(s string) *engram.Item {
	return &engram.Item{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: s}}}
}

func call(id, name, args string) *engram.Item {
	return &engram.Item{Type: engram.ItemFunctionCall, CallID: id, Name: name, Arguments: args}
}

func output(id, out string) *engram.Item {
	return &engram.Item{Type: engram.ItemFunctionCallOutput, CallID: id, Output: out}
}

func newProvider(fake *anthropictest.Server, timeout time.Duration) *anthropic.Provider {
	return anthropic.New(anthropic.Config{BaseURL: fake.URL(), APIKey: "sk-ant-test", Timeout: timeout, MaxRetries: 2})
}

func collect(p *anthropic.Provider, req *engram.ModelRequest) (*engram.ModelResult, []engram.ModelEvent, error) {
	var evs []engram.ModelEvent
	res, err := p.Generate(context.Background(), req, func(ev engram.ModelEvent) { evs = append(evs, ev) })
	return res, evs, err
}

// checkEvents holds the events to the engram.Provider contract: per item,
// added, then deltas, then done with the item the result holds; indexes
// count from 0 in order; the deltas add up to the item's text or arguments.
func checkEvents(t *testing.T, evs []engram.ModelEvent, res *engram.ModelResult) {
	t.Helper()
	state := map[int]string{}
	deltas := map[int]string{}
	next := 0
	for _, ev := range evs {
		switch ev.Type {
		case engram.ModelItemAdded:
			if ev.Index != next || state[ev.Index] != "" {
				t.Fatalf("item %d added out of order (next %d, %q)", ev.Index, next, state[ev.Index])
			}
			next++
			state[ev.Index] = "open"
		case engram.ModelItemDone:
			if state[ev.Index] != "open" {
				t.Fatalf("item %d done while %q", ev.Index, state[ev.Index])
			}
			state[ev.Index] = "done"
			if ev.Index >= len(res.Output) || ev.Item != res.Output[ev.Index] {
				t.Errorf("item %d done is not the result's item", ev.Index)
			}
		default:
			if state[ev.Index] != "open" {
				t.Fatalf("%s for item %d while %q", ev.Type, ev.Index, state[ev.Index])
			}
			deltas[ev.Index] += ev.Delta
		}
	}
	if next != len(res.Output) {
		t.Fatalf("%d items added, %d in the result", next, len(res.Output))
	}
	for i, it := range res.Output {
		if state[i] != "done" {
			t.Errorf("item %d never done", i)
		}
		whole := it.Text()
		if it.Type == engram.ItemFunctionCall {
			whole = it.Arguments
		}
		if deltas[i] != whole {
			t.Errorf("item %d: deltas add up to %q, the item says %q", i, deltas[i], whole)
		}
	}
}

func TestText(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Text: "Hive two needs a queen."})
	res, evs, err := collect(newProvider(fake, 5*time.Second), &engram.ModelRequest{Model: "claude-fake", Instructions: "Be brief.", Input: []*engram.Item{user("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, evs, res)
	if len(res.Output) != 1 || res.StopReason != engram.StopEnd {
		t.Fatalf("result %+v", res)
	}
	it := res.Output[0]
	if it.Type != engram.ItemMessage || it.Role != "assistant" || len(it.Content) != 1 || it.Content[0].Type != engram.ContentOutputText || it.Content[0].Text != "Hive two needs a queen." {
		t.Errorf("item %+v", it)
	}
	if n := countType(evs, engram.ModelTextDelta); n < 2 {
		t.Errorf("%d text deltas: the text was not streamed", n)
	}
	got := fake.Requests()[0]
	if got.Path != "/v1/messages" || got.Header.Get("X-Api-Key") != "sk-ant-test" || got.Header.Get("Anthropic-Version") == "" {
		t.Errorf("request %s %v", got.Path, got.Header)
	}
	if !strings.Contains(string(got.Body), `"stream":true`) {
		t.Errorf("not a streaming request: %s", got.Body)
	}
}

func countType(evs []engram.ModelEvent, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// TestParallelToolCalls: two tool_use blocks whose input arrives in
// input_json_delta fragments become two function calls.
func TestParallelToolCalls(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Text: "Checking both.", ToolCalls: []anthropictest.ToolCall{
		{ID: "toolu_1", Name: "hive_status", Input: `{"hive": 2, "frames": [1, 2, 3]}`},
		{ID: "toolu_2", Name: "weather", Input: `{"city": "Lisbon"}`},
	}})
	res, evs, err := collect(newProvider(fake, 5*time.Second), &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("hives?")},
		Tools: []engram.ToolSpec{{Type: "function", Name: "hive_status"}, {Type: "function", Name: "weather"}}})
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, evs, res)
	if len(res.Output) != 3 || res.StopReason != engram.StopToolCalls {
		t.Fatalf("result %+v", res)
	}
	want := []struct{ id, name, args string }{{"toolu_1", "hive_status", `{"hive": 2, "frames": [1, 2, 3]}`}, {"toolu_2", "weather", `{"city": "Lisbon"}`}}
	for i, w := range want {
		c := res.Output[i+1]
		if c.Type != engram.ItemFunctionCall || c.CallID != w.id || c.Name != w.name || c.Arguments != w.args || c.Status != engram.StatusCompleted {
			t.Errorf("call %d = %+v, want %+v", i, c, w)
		}
	}
	fragments := map[int]int{}
	for _, ev := range evs {
		switch ev.Type {
		case engram.ModelItemAdded:
			if ev.Index > 0 && (ev.Item.CallID != want[ev.Index-1].id || ev.Item.Name != want[ev.Index-1].name) {
				t.Errorf("added %d does not name its call: %+v", ev.Index, ev.Item)
			}
		case engram.ModelArgumentsDelta:
			fragments[ev.Index]++
		}
	}
	if fragments[1] < 2 || fragments[2] < 2 {
		t.Errorf("argument fragments %v: the input was not streamed in pieces", fragments)
	}
}

func TestThinking(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Thinking: "Queenless hives need a new queen.", Text: "Order a queen."})
	res, evs, err := collect(newProvider(fake, 5*time.Second), &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("hive 2?")}})
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, evs, res)
	if len(res.Output) != 2 {
		t.Fatalf("output %+v", res.Output)
	}
	r := res.Output[0]
	if r.Type != engram.ItemReasoning || len(r.Summary) != 1 || r.Summary[0].Type != engram.ContentSummaryText || r.Summary[0].Text != "Queenless hives need a new queen." {
		t.Errorf("reasoning %+v", r)
	}
	if r.EncryptedContent != "sig-Queenless hives need a new queen." {
		t.Errorf("the signature is lost: %q", r.EncryptedContent)
	}
	if countType(evs, engram.ModelReasoningDelta) == 0 {
		t.Error("no reasoning deltas")
	}
	if res.Output[1].Text() != "Order a queen." {
		t.Errorf("text %+v", res.Output[1])
	}
}

func TestUsage(t *testing.T) {
	cases := []struct {
		name  string
		usage anthropictest.Usage
		want  engram.Usage
	}{
		{"no cache", anthropictest.Usage{InputTokens: 120, OutputTokens: 7},
			engram.Usage{InputTokens: 120, OutputTokens: 7, TotalTokens: 127}},
		{"cache written", anthropictest.Usage{InputTokens: 10, CacheCreationInputTokens: 900, OutputTokens: 7},
			engram.Usage{InputTokens: 910, CacheWriteTokens: 900, OutputTokens: 7, TotalTokens: 917}},
		{"cache read", anthropictest.Usage{InputTokens: 10, CacheReadInputTokens: 900, OutputTokens: 7},
			engram.Usage{InputTokens: 910, CachedTokens: 900, OutputTokens: 7, TotalTokens: 917}},
		{"read and written", anthropictest.Usage{InputTokens: 10, CacheReadInputTokens: 900, CacheCreationInputTokens: 50, OutputTokens: 7},
			engram.Usage{InputTokens: 960, CachedTokens: 900, CacheWriteTokens: 50, OutputTokens: 7, TotalTokens: 967}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := anthropictest.NewServer(t)
			fake.Push(anthropictest.Reply{Text: "ok", Usage: &tc.usage})
			res, _, err := collect(newProvider(fake, 5*time.Second), &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("x")}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Usage != tc.want {
				t.Errorf("usage %+v, want %+v", res.Usage, tc.want)
			}
		})
	}
}

func TestStopReasons(t *testing.T) {
	cases := map[string]string{
		"end_turn":                      engram.StopEnd,
		"stop_sequence":                 engram.StopEnd,
		"tool_use":                      engram.StopToolCalls,
		"max_tokens":                    engram.StopMaxTokens,
		"model_context_window_exceeded": engram.StopMaxTokens,
		"refusal":                       engram.StopContentFilter,
	}
	for anthropicReason, want := range cases {
		t.Run(anthropicReason, func(t *testing.T) {
			fake := anthropictest.NewServer(t)
			fake.Push(anthropictest.Reply{Text: "ok", StopReason: anthropicReason})
			res, _, err := collect(newProvider(fake, 5*time.Second), &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("x")}})
			if err != nil {
				t.Fatal(err)
			}
			if res.StopReason != want {
				t.Errorf("stop %q, want %q", res.StopReason, want)
			}
		})
	}
}

// TestRequestGolden fixes the whole request for a conversation with tool
// round trips, reasoning, an image, a developer message in the input and
// runs of one role.
func TestRequestGolden(t *testing.T) {
	fake := anthropictest.NewServer(t)
	temp, topP := 0.3, 0.9
	req := &engram.ModelRequest{
		Model: "claude-fake", Instructions: "You help a beekeeper.", Temperature: &temp, TopP: &topP, MaxOutputTokens: 1000, User: "ada",
		Tools: []engram.ToolSpec{
			{Type: "function", Name: "hive_status", Description: "Reads a hive.", Parameters: json.RawMessage(`{"type":"object","properties":{"hive":{"type":"integer"}},"required":["hive"]}`)},
			{Type: "builtin", Name: "current_time"},
		},
		ToolChoice: json.RawMessage(`"required"`),
		Input: []*engram.Item{
			{Type: engram.ItemMessage, Role: "developer", Content: []engram.Content{{Type: engram.ContentInputText, Text: "Answer in metric."}}},
			user("How is hive 2?"),
			user("And the time?"),
			{Type: engram.ItemReasoning, Summary: []engram.Content{{Type: engram.ContentSummaryText, Text: "look"}}, EncryptedContent: "sig-look"},
			assistant("Let me look."),
			call("toolu_1", "hive_status", `{"hive":2}`),
			call("toolu_2", "current_time", ``),
			output("toolu_1", `{"weight_kg":31}`),
			output("toolu_2", `12:00`),
			assistant("31 kg at noon."),
			{Type: engram.ItemMessage, Role: "system", Content: []engram.Content{{Type: engram.ContentInputText, Text: "Be brief."}}},
			{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{
				{Type: engram.ContentInputText, Text: "This frame, and this one?"},
				{Type: engram.ContentInputImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
				{Type: engram.ContentInputImage, ImageURL: "https://example.com/frame.jpg"},
			}},
		},
	}
	if _, _, err := collect(newProvider(fake, 5*time.Second), req); err != nil {
		t.Fatal(err)
	}
	var pretty any
	if err := json.Unmarshal(fake.Requests()[0].Body, &pretty); err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(pretty, "", "  ")
	got = append(got, '\n')
	path := filepath.Join("testdata", "messages_request.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("request differs from %s (go test -update rewrites it):\n got %s\nwant %s", path, got, want)
	}
	// The properties that matter, stated outright too.
	body := string(fake.Requests()[0].Body)
	for _, want := range []string{
		`"system":[{"type":"text","text":"You help a beekeeper.\n\nAnswer in metric.\n\nBe brief.","cache_control":{"type":"ephemeral"}}]`,
		`"tool_choice":{"type":"any"}`, `"metadata":{"user_id":"ada"}`, `"max_tokens":1000`, `"temperature":0.3`, `"top_p":0.9`,
		`{"type":"tool_use","id":"toolu_2","name":"current_time","input":{}}`,
		`{"type":"image","source":{"type":"url","url":"https://example.com/frame.jpg"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("request lacks %s", want)
		}
	}
}

// sentMessages is the part of a sent request the mapping tests read.
type sentMessages struct {
	System   []sentBlock `json:"system"`
	Messages []struct {
		Role    string      `json:"role"`
		Content []sentBlock `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name         string          `json:"name"`
		CacheControl json.RawMessage `json:"cache_control"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
	MaxTokens  int             `json:"max_tokens"`
}

type sentBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// shape writes messages as "role:type,type role:type": what alternation and
// merging tests compare.
func (s sentMessages) shape() string {
	var parts []string
	for _, m := range s.Messages {
		var types []string
		for _, b := range m.Content {
			types = append(types, b.Type)
		}
		parts = append(parts, m.Role+":"+strings.Join(types, ","))
	}
	return strings.Join(parts, " ")
}

func send(t *testing.T, req *engram.ModelRequest) sentMessages {
	t.Helper()
	fake := anthropictest.NewServer(t)
	if req.Model == "" {
		req.Model = "claude-fake"
	}
	if _, _, err := collect(newProvider(fake, 5*time.Second), req); err != nil {
		t.Fatal(err)
	}
	var sent sentMessages
	if err := json.Unmarshal(fake.Requests()[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	return sent
}

func TestRoleMerging(t *testing.T) {
	reasoning := func(sig string) *engram.Item {
		return &engram.Item{Type: engram.ItemReasoning, Summary: []engram.Content{{Type: engram.ContentSummaryText, Text: "hm"}}, EncryptedContent: sig}
	}
	cases := []struct {
		name  string
		input []*engram.Item
		want  string
	}{
		{"user runs merge", []*engram.Item{user("a"), user("b"), user("c")}, "user:text,text,text"},
		{"assistant text and its calls merge", []*engram.Item{user("a"), assistant("looking"), call("c1", "f", `{}`), call("c2", "g", `{}`), output("c1", "1"), output("c2", "2")},
			"user:text assistant:text,tool_use,tool_use user:tool_result,tool_result"},
		{"results then the next user message", []*engram.Item{user("a"), call("c1", "f", `{}`), output("c1", "1"), user("thanks")},
			"user:text assistant:tool_use user:tool_result,text"},
		{"signed reasoning kept first", []*engram.Item{user("a"), reasoning("sig"), call("c1", "f", `{}`), output("c1", "1")},
			"user:text assistant:thinking,tool_use user:tool_result"},
		{"unsigned reasoning dropped", []*engram.Item{user("a"), reasoning(""), assistant("b"), user("c")}, "user:text assistant:text user:text"},
		{"system and developer leave the messages", []*engram.Item{
			{Type: engram.ItemMessage, Role: "system", Content: []engram.Content{{Type: engram.ContentInputText, Text: "s"}}},
			user("a"),
			{Type: engram.ItemMessage, Role: "developer", Content: []engram.Content{{Type: engram.ContentInputText, Text: "d"}}},
			user("b")}, "user:text,text"},
		{"empty messages skipped", []*engram.Item{user("a"), assistant(""), user("b")}, "user:text,text"},
		{"two turns", []*engram.Item{user("a"), assistant("b"), user("c"), assistant("d"), user("e")}, "user:text assistant:text user:text assistant:text user:text"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sent := send(t, &engram.ModelRequest{Input: tc.input})
			if got := sent.shape(); got != tc.want {
				t.Errorf("messages %s, want %s", got, tc.want)
			}
		})
	}
}

// TestCacheControl: breakpoints sit on the last tool, the system prompt and
// the last block of the conversation, and nowhere else.
func TestCacheControl(t *testing.T) {
	tools := []engram.ToolSpec{{Type: "function", Name: "a"}, {Type: "function", Name: "b"}, {Type: "function", Name: "c"}}
	cases := []struct {
		name        string
		req         engram.ModelRequest
		tool        int // index of the tool with the breakpoint, -1 for none
		system      bool
		lastMessage bool
	}{
		{"everything", engram.ModelRequest{Instructions: "sys", Tools: tools, Input: []*engram.Item{user("a"), assistant("b"), user("c")}}, 2, true, true},
		{"no tools", engram.ModelRequest{Instructions: "sys", Input: []*engram.Item{user("a")}}, -1, true, true},
		{"no instructions", engram.ModelRequest{Tools: tools[:1], Input: []*engram.Item{user("a")}}, 0, false, true},
		{"ends in tool results", engram.ModelRequest{Tools: tools[:1], Input: []*engram.Item{user("a"), call("c1", "a", `{}`), output("c1", "x")}}, 0, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sent := send(t, &tc.req)
			total := 0
			for i, tool := range sent.Tools {
				if tool.CacheControl != nil {
					total++
					if i != tc.tool {
						t.Errorf("breakpoint on tool %d, want %d", i, tc.tool)
					}
				}
			}
			if tc.tool >= 0 && string(sent.Tools[tc.tool].CacheControl) != `{"type":"ephemeral"}` {
				t.Errorf("tool %d has cache_control %s", tc.tool, sent.Tools[tc.tool].CacheControl)
			}
			if tc.system != (len(sent.System) == 1 && string(sent.System[0].CacheControl) == `{"type":"ephemeral"}`) {
				t.Errorf("system %+v", sent.System)
			}
			total += len(sent.System)
			for i, m := range sent.Messages {
				for j, b := range m.Content {
					if b.CacheControl == nil {
						continue
					}
					total++
					if i != len(sent.Messages)-1 || j != len(m.Content)-1 {
						t.Errorf("breakpoint on message %d block %d: only the conversation's last block gets one", i, j)
					}
				}
			}
			want := 0
			for _, on := range []bool{tc.tool >= 0, tc.system, tc.lastMessage} {
				if on {
					want++
				}
			}
			if total != want {
				t.Errorf("%d breakpoints, want %d", total, want)
			}
		})
	}
}

func TestToolChoice(t *testing.T) {
	tools := []engram.ToolSpec{{Type: "function", Name: "hive_status"}}
	cases := []struct {
		choice string
		tools  []engram.ToolSpec
		want   string
	}{
		{``, tools, ``},
		{`"auto"`, tools, `{"type":"auto"}`},
		{`"required"`, tools, `{"type":"any"}`},
		{`"none"`, tools, `{"type":"none"}`},
		{`{"type":"function","name":"hive_status"}`, tools, `{"name":"hive_status","type":"tool"}`},
		{`{"type":"function","function":{"name":"hive_status"}}`, tools, `{"name":"hive_status","type":"tool"}`},
		{`{"type":"allowed_tools"}`, tools, ``},
		{`"required"`, nil, ``}, // Anthropic refuses tool_choice without tools
	}
	for _, tc := range cases {
		t.Run(tc.choice, func(t *testing.T) {
			sent := send(t, &engram.ModelRequest{Tools: tc.tools, ToolChoice: json.RawMessage(tc.choice), Input: []*engram.Item{user("x")}})
			if string(sent.ToolChoice) != tc.want {
				t.Errorf("tool_choice %s, want %s", sent.ToolChoice, tc.want)
			}
		})
	}
}

func TestMaxTokens(t *testing.T) {
	cases := []struct {
		request, defaultMax, want int
	}{
		{0, 0, 4096},
		{0, 512, 512},
		{100, 512, 100},
	}
	for _, tc := range cases {
		fake := anthropictest.NewServer(t)
		p := anthropic.New(anthropic.Config{BaseURL: fake.URL(), APIKey: "k", DefaultMaxTokens: tc.defaultMax})
		if _, err := p.Generate(context.Background(), &engram.ModelRequest{Model: "m", MaxOutputTokens: tc.request, Input: []*engram.Item{user("x")}}, nil); err != nil {
			t.Fatal(err)
		}
		var sent sentMessages
		json.Unmarshal(fake.Requests()[0].Body, &sent)
		if sent.MaxTokens != tc.want {
			t.Errorf("request %d, default %d: max_tokens %d, want %d", tc.request, tc.defaultMax, sent.MaxTokens, tc.want)
		}
	}
}

func TestName(t *testing.T) {
	if n := anthropic.New(anthropic.Config{}).Name(); n != "anthropic" {
		t.Errorf("default name %q", n)
	}
	if n := anthropic.New(anthropic.Config{Name: "claude"}).Name(); n != "claude" {
		t.Errorf("name %q", n)
	}
}

const (
	malformedJSON      = "event: message_start\ndata: {nope\n\n"
	htmlPage           = "<html><body>502 Bad Gateway</body></html>"
	blockWithoutBlock  = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0}\n\n"
	toolInputNotJSON   = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	blockNeverStopped  = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	blockStartedTwice  = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	overloadedAtStart  = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
	pingsOnly          = "event: ping\ndata: {\"type\":\"ping\"}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n"
	messageStopNoStart = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)

func TestErrors(t *testing.T) {
	rateLimited := anthropictest.Reply{Status: 429, RetryAfter: "0"}
	cases := []struct {
		name    string
		replies []anthropictest.Reply
		timeout time.Duration
		code    string // "" for success
		message string // in the error
		calls   int
	}{
		{"429 then success", []anthropictest.Reply{rateLimited, {Text: "ok"}}, 0, "", "", 2},
		{"529 then success", []anthropictest.Reply{{Status: 529}, {Text: "ok"}}, 0, "", "", 2},
		{"500 then success", []anthropictest.Reply{{Status: 500}, {Text: "ok"}}, 0, "", "", 2},
		{"503 twice then success", []anthropictest.Reply{{Status: 503, RetryAfter: "0"}, {Status: 503, RetryAfter: "0"}, {Text: "ok"}}, 0, "", "", 3},
		{"dropped connection then success", []anthropictest.Reply{{Disconnect: true}, {Text: "ok"}}, 0, "", "", 2},
		{"400", []anthropictest.Reply{{Status: 400}}, 0, engram.EUpstream, "invalid_request_error: scripted failure Bad Request", 1},
		{"401", []anthropictest.Reply{{Status: 401}}, 0, engram.EUpstream, "authentication_error", 1},
		{"persistent 429", []anthropictest.Reply{rateLimited, rateLimited, rateLimited}, 0, engram.ERateLimited, "rate_limit_error", 3},
		{"429 asking to wait past the deadline", []anthropictest.Reply{{Status: 429, RetryAfter: "60"}, {Text: "ok"}}, 2 * time.Second, engram.ERateLimited, "rate_limit_error", 1},
		{"persistent 529", []anthropictest.Reply{{Status: 529, RetryAfter: "0"}, {Status: 529, RetryAfter: "0"}, {Status: 529, RetryAfter: "0"}}, 0, engram.EUpstream, "overloaded_error", 3},
		{"garbage JSON in an event", []anthropictest.Reply{{Body: malformedJSON}}, 0, engram.EUpstream, "malformed stream", 1},
		{"an HTML page", []anthropictest.Reply{{Body: htmlPage}}, 0, engram.EUpstream, "before message_stop", 1},
		{"pings only", []anthropictest.Reply{{Body: pingsOnly}}, 0, engram.EUpstream, "before message_stop", 1},
		{"content_block_start without a block", []anthropictest.Reply{{Body: blockWithoutBlock}}, 0, engram.EUpstream, "malformed stream", 1},
		{"tool input not JSON", []anthropictest.Reply{{Body: toolInputNotJSON}}, 0, engram.EUpstream, "not JSON", 1},
		{"block never stopped", []anthropictest.Reply{{Body: blockNeverStopped}}, 0, engram.EUpstream, "never stopped", 1},
		{"block started twice", []anthropictest.Reply{{Body: blockStartedTwice}}, 0, engram.EUpstream, "started twice", 1},
		{"message_stop alone", []anthropictest.Reply{{Body: messageStopNoStart}}, 0, engram.EUpstream, "", 1},
		{"error event first", []anthropictest.Reply{{Body: overloadedAtStart}}, 0, engram.EUpstream, "overloaded_error: Overloaded", 1},
		{"error event mid-stream", []anthropictest.Reply{{Text: "a b c", StreamError: true}}, 0, engram.EUpstream, "overloaded_error: Overloaded", 1},
		{"truncated", []anthropictest.Reply{{Text: "a b c", Truncate: true}}, 0, engram.EUpstream, "before message_stop", 1},
		{"slow server", []anthropictest.Reply{{Text: "slow", Delay: 10 * time.Second}}, 300 * time.Millisecond, engram.EUpstreamTimeout, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := anthropictest.NewServer(t)
			fake.Push(tc.replies...)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second // room for the SDK's backoff between retries
			}
			res, evs, err := collect(newProvider(fake, timeout), &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("x")}})
			if tc.code == "" {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				checkEvents(t, evs, res)
				if res.Output[0].Text() != "ok" {
					t.Errorf("output %+v", res.Output)
				}
			} else {
				var e *engram.Error
				if !errors.As(err, &e) || e.Code != tc.code {
					t.Fatalf("err = %#v, want an *engram.Error %s", err, tc.code)
				}
				if !strings.Contains(e.Message, tc.message) {
					t.Errorf("message %q lacks %q", e.Message, tc.message)
				}
				if res != nil {
					t.Errorf("a result with an error: %+v", res)
				}
			}
			if n := len(fake.Requests()); n != tc.calls {
				t.Errorf("%d requests, want %d", n, tc.calls)
			}
		})
	}
}

// TestRetryAfterHonoured: the SDK waits what retry-after says before it
// retries. The check is a lower bound, which no slowness can break: the
// SDK's own backoff before a first retry is at most half a second.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Status: 429, RetryAfter: "1"}, anthropictest.Reply{Text: "ok"})
	start := time.Now()
	res, _, err := collect(newProvider(fake, 10*time.Second), &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("x")}})
	if err != nil || res.Output[0].Text() != "ok" {
		t.Fatalf("res %+v err %v", res, err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s; retry-after asked for 1s", waited)
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestNoRetries(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Status: 500}, anthropictest.Reply{Text: "ok"})
	p := anthropic.New(anthropic.Config{BaseURL: fake.URL(), APIKey: "k", MaxRetries: -1})
	_, err := p.Generate(context.Background(), &engram.ModelRequest{Model: "m", Input: []*engram.Item{user("x")}}, nil)
	if engram.ErrorCode(err) != engram.EUpstream {
		t.Fatalf("err %v", err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests with retries off", n)
	}
}

// TestDeadlineDuringStream: a stream still being read when the call's time
// runs out ends as a timeout, not as a broken stream.
func TestDeadlineDuringStream(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Text: "a b c d"})
	timeout := 200 * time.Millisecond
	_, err := newProvider(fake, timeout).Generate(context.Background(), &engram.ModelRequest{Model: "m", Input: []*engram.Item{user("x")}}, func(ev engram.ModelEvent) {
		if ev.Type == engram.ModelTextDelta {
			time.Sleep(timeout + 100*time.Millisecond) // a slow reader: the deadline passes mid-stream
		}
	})
	if engram.ErrorCode(err) != engram.EUpstreamTimeout {
		t.Fatalf("err = %v, want %s", err, engram.EUpstreamTimeout)
	}
}

func TestCancel(t *testing.T) {
	t.Run("waiting for the answer", func(t *testing.T) {
		fake := anthropictest.NewServer(t)
		fake.Push(anthropictest.Reply{Text: "slow", Delay: 10 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			// Cancel once the request has arrived, so the wait is what is cut.
			for len(fake.Requests()) == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := newProvider(fake, 30*time.Second).Generate(ctx, &engram.ModelRequest{Model: "m", Input: []*engram.Item{user("x")}}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		fake := anthropictest.NewServer(t)
		fake.Push(anthropictest.Reply{Text: "a b c d e f"})
		ctx, cancel := context.WithCancel(context.Background())
		deltas := 0
		_, err := newProvider(fake, 30*time.Second).Generate(ctx, &engram.ModelRequest{Model: "m", Input: []*engram.Item{user("x")}}, func(ev engram.ModelEvent) {
			if ev.Type == engram.ModelTextDelta {
				deltas++
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if deltas != 1 {
			t.Errorf("%d deltas after the caller cancelled at the first", deltas-1)
		}
	})
}

// TestEcho: with nothing scripted the fake answers the last user text, so
// tests elsewhere can run a conversation without scripting it.
func TestEcho(t *testing.T) {
	fake := anthropictest.NewServer(t)
	res, _, err := collect(newProvider(fake, 5*time.Second), &engram.ModelRequest{Model: "m", Input: []*engram.Item{user("first"), assistant("echo: first"), user("second")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Output[0].Text(); got != "echo: second" {
		t.Errorf("echo %q", got)
	}
	var evs []string
	for _, it := range res.Output {
		evs = append(evs, it.Type)
	}
	if !reflect.DeepEqual(evs, []string{engram.ItemMessage}) {
		t.Errorf("output types %v", evs)
	}
}
