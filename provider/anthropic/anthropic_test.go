package anthropic_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
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

func newProvider(fake *anthropictest.Server, timeout time.Duration) *anthropic.Provider {
	return anthropic.New(anthropic.Config{BaseURL: fake.URL(), APIKey: "sk-ant-test", Timeout: timeout, MaxRetries: 2})
}

func collect(p *anthropic.Provider, req *engram.ModelRequest) (*engram.ModelResult, []engram.ModelEvent, error) {
	var evs []engram.ModelEvent
	res, err := p.Generate(context.Background(), req, func(ev engram.ModelEvent) { evs = append(evs, ev) })
	return res, evs, err
}

func checkOrder(t *testing.T, evs []engram.ModelEvent) {
	t.Helper()
	state := map[int]string{}
	for _, ev := range evs {
		switch ev.Type {
		case engram.ModelItemAdded:
			if state[ev.Index] != "" {
				t.Fatalf("item %d added twice", ev.Index)
			}
			state[ev.Index] = "open"
		case engram.ModelItemDone:
			if state[ev.Index] != "open" {
				t.Fatalf("item %d done while %q", ev.Index, state[ev.Index])
			}
			state[ev.Index] = "done"
		default:
			if state[ev.Index] != "open" {
				t.Fatalf("%s for item %d while %q", ev.Type, ev.Index, state[ev.Index])
			}
		}
	}
}

func TestText(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Text: "Hive two needs a queen.", Usage: &anthropictest.Usage{InputTokens: 10, CacheReadInputTokens: 900, CacheCreationInputTokens: 50, OutputTokens: 7}})
	res, evs, err := collect(newProvider(fake, 5*time.Second), &engram.ModelRequest{Model: "claude-fake", Instructions: "Be brief.", Input: []*engram.Item{user("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, evs)
	if len(res.Output) != 1 || res.Output[0].Text() != "Hive two needs a queen." || res.StopReason != engram.StopEnd {
		t.Fatalf("result %+v", res)
	}
	if u := res.Usage; u.InputTokens != 960 || u.CachedTokens != 900 || u.OutputTokens != 7 || u.TotalTokens != 967 {
		t.Errorf("usage %+v", u)
	}
	h := fake.Requests()[0].Header
	if h.Get("X-Api-Key") != "sk-ant-test" || h.Get("Anthropic-Version") == "" {
		t.Errorf("headers %v", h)
	}
}

func TestToolUseAndThinking(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Thinking: "check both", ToolCalls: []anthropictest.ToolCall{
		{ID: "toolu_1", Name: "hive_status", Input: `{"hive": 2}`}, {ID: "toolu_2", Name: "weather", Input: `{"city": "Lisbon"}`}}})
	res, evs, err := collect(newProvider(fake, 5*time.Second), &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("hives?")},
		Tools: []engram.ToolSpec{{Type: "function", Name: "hive_status"}, {Type: "function", Name: "weather"}}})
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, evs)
	if len(res.Output) != 3 || res.StopReason != engram.StopToolCalls {
		t.Fatalf("result %+v", res)
	}
	if r := res.Output[0]; r.Type != engram.ItemReasoning || r.EncryptedContent != "sig-check both" || r.Text() != "check both" {
		t.Errorf("thinking %+v", r)
	}
	if c := res.Output[2]; c.CallID != "toolu_2" || c.Name != "weather" || c.Arguments != `{"city": "Lisbon"}` {
		t.Errorf("second call %+v", c)
	}
}

// TestRequestGolden fixes the request for a conversation with a tool round
// trip, an image, a system message in the input and same-role runs.
func TestRequestGolden(t *testing.T) {
	fake := anthropictest.NewServer(t)
	temp := 0.3
	req := &engram.ModelRequest{
		Model: "claude-fake", Instructions: "You help a beekeeper.", Temperature: &temp, User: "ada",
		Tools:      []engram.ToolSpec{{Type: "function", Name: "hive_status", Description: "Reads a hive.", Parameters: json.RawMessage(`{"type":"object","properties":{"hive":{"type":"integer"}}}`)}, {Type: "function", Name: "current_time"}},
		ToolChoice: json.RawMessage(`"required"`),
		Input: []*engram.Item{
			{Type: engram.ItemMessage, Role: "developer", Content: []engram.Content{{Type: engram.ContentInputText, Text: "Answer in metric."}}},
			user("How is hive 2?"),
			user("And the weather?"),
			{Type: engram.ItemReasoning, Summary: []engram.Content{{Type: engram.ContentSummaryText, Text: "look"}}, EncryptedContent: "sig-look"},
			{Type: engram.ItemFunctionCall, CallID: "toolu_1", Name: "hive_status", Arguments: `{"hive":2}`},
			{Type: engram.ItemFunctionCall, CallID: "toolu_2", Name: "current_time", Arguments: `{}`},
			{Type: engram.ItemFunctionCallOutput, CallID: "toolu_1", Output: `{"weight_kg":31}`},
			{Type: engram.ItemFunctionCallOutput, CallID: "toolu_2", Output: `12:00`},
			{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "31 kg at noon."}}},
			{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "This frame?"}, {Type: engram.ContentInputImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="}}},
		},
	}
	if _, _, err := collect(newProvider(fake, 5*time.Second), req); err != nil {
		t.Fatal(err)
	}
	var pretty any
	json.Unmarshal(fake.Requests()[0].Body, &pretty)
	got, _ := json.MarshalIndent(pretty, "", "  ")
	path := filepath.Join("testdata", "messages_request.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("request differs:\n got %s\nwant %s", got, want)
	}
	// The properties that matter, stated outright too.
	body := string(fake.Requests()[0].Body)
	for _, want := range []string{`"system":[{"type":"text","text":"You help a beekeeper.\n\nAnswer in metric.","cache_control":{"type":"ephemeral"}}]`,
		`"tool_choice":{"type":"any"}`, `"metadata":{"user_id":"ada"}`, `"max_tokens":4096`} {
		if !strings.Contains(body, want) {
			t.Errorf("request lacks %s", want)
		}
	}
	var sent struct {
		Messages []struct{ Role string } `json:"messages"`
		Tools    []struct {
			CacheControl any `json:"cache_control"`
		} `json:"tools"`
	}
	json.Unmarshal(fake.Requests()[0].Body, &sent)
	for i := 1; i < len(sent.Messages); i++ {
		if sent.Messages[i].Role == sent.Messages[i-1].Role {
			t.Errorf("messages %d and %d are both %s: roles must alternate", i-1, i, sent.Messages[i].Role)
		}
	}
	if sent.Tools[0].CacheControl != nil || sent.Tools[1].CacheControl == nil {
		t.Errorf("cache_control belongs on the last tool only")
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name    string
		replies []anthropictest.Reply
		code    string
		calls   int
	}{
		{"429 then success", []anthropictest.Reply{{Status: 429, RetryAfter: "0"}, {Text: "ok"}}, "", 2},
		{"529 then success", []anthropictest.Reply{{Status: 529}, {Text: "ok"}}, "", 2},
		{"500 then success", []anthropictest.Reply{{Status: 500}, {Text: "ok"}}, "", 2},
		{"400", []anthropictest.Reply{{Status: 400}}, engram.EUpstream, 1},
		{"persistent 429", []anthropictest.Reply{{Status: 429, RetryAfter: "0"}, {Status: 429, RetryAfter: "0"}, {Status: 429, RetryAfter: "0"}}, engram.ERateLimited, 3},
		{"garbage", []anthropictest.Reply{{Body: "event: message_start\ndata: {nope\n\n"}}, engram.EUpstream, 1},
		{"error event", []anthropictest.Reply{{Text: "a b c", StreamError: true}}, engram.EUpstream, 1},
		{"truncated", []anthropictest.Reply{{Text: "a b c", Truncate: true}}, engram.EUpstream, 1},
		{"timeout", []anthropictest.Reply{{Text: "slow", Delay: 10 * time.Second}}, engram.EUpstreamTimeout, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := anthropictest.NewServer(t)
			fake.Push(tc.replies...)
			timeout := 10 * time.Second // room for the SDK's backoff between retries
			if tc.code == engram.EUpstreamTimeout {
				timeout = 300 * time.Millisecond
			}
			res, _, err := collect(newProvider(fake, timeout), &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("x")}})
			if tc.code == "" {
				if err != nil || res.Output[0].Text() != "ok" {
					t.Fatalf("res %+v err %v", res, err)
				}
			} else if engram.ErrorCode(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if tc.code == engram.EUpstream && tc.name == "400" && !strings.Contains(err.Error(), "invalid_request_error") {
				t.Errorf("the upstream's message is lost: %v", err)
			}
			if n := len(fake.Requests()); n != tc.calls {
				t.Errorf("%d requests, want %d", n, tc.calls)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Push(anthropictest.Reply{Text: "slow", Delay: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := newProvider(fake, 5*time.Second).Generate(ctx, &engram.ModelRequest{Model: "claude-fake", Input: []*engram.Item{user("x")}}, nil)
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
