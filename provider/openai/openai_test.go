package openai_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider/openai"
	"github.com/engram-run/engram/provider/openai/openaitest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func user(s string) *engram.Item {
	return &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: s}}}
}

func newProvider(t *testing.T, api string, fake *openaitest.Server) *openai.Provider {
	return openai.New(openai.Config{Name: "openai", BaseURL: fake.URL(), APIKey: "sk-test", API: api, Timeout: 5 * time.Second, MaxRetries: 2})
}

// collect runs a call and returns its result and the events it emitted.
func collect(t *testing.T, p *openai.Provider, req *engram.ModelRequest) (*engram.ModelResult, []engram.ModelEvent, error) {
	var evs []engram.ModelEvent
	res, err := p.Generate(context.Background(), req, func(ev engram.ModelEvent) { evs = append(evs, ev) })
	return res, evs, err
}

// checkOrder verifies the provider contract: per item, added, deltas, done.
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
	for i, s := range state {
		if s != "done" {
			t.Fatalf("item %d never done", i)
		}
	}
}

func deltas(evs []engram.ModelEvent, kind string) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Type == kind {
			b.WriteString(ev.Delta)
		}
	}
	return b.String()
}

func TestGenerate(t *testing.T) {
	for _, api := range []string{"responses", "chat"} {
		t.Run(api, func(t *testing.T) {
			t.Run("text", func(t *testing.T) {
				fake := openaitest.NewServer(t)
				fake.Push(openaitest.Reply{Text: "Hive two needs a queen.", Usage: &openaitest.Usage{InputTokens: 30, CachedTokens: 20, OutputTokens: 6}})
				res, evs, err := collect(t, newProvider(t, api, fake), &engram.ModelRequest{Model: "gpt-fake", Input: []*engram.Item{user("hi")}})
				if err != nil {
					t.Fatal(err)
				}
				checkOrder(t, evs)
				if len(res.Output) != 1 || res.Output[0].Text() != "Hive two needs a queen." || deltas(evs, engram.ModelTextDelta) != "Hive two needs a queen." {
					t.Fatalf("output %+v", res.Output)
				}
				if res.StopReason != engram.StopEnd || res.Usage.InputTokens != 30 || res.Usage.CachedTokens != 20 || res.Usage.OutputTokens != 6 {
					t.Errorf("stop %s usage %+v", res.StopReason, res.Usage)
				}
			})
			t.Run("parallel tool calls", func(t *testing.T) {
				fake := openaitest.NewServer(t)
				fake.Push(openaitest.Reply{ToolCalls: []openaitest.ToolCall{{CallID: "call_a", Name: "get_weather", Arguments: `{"city": "Lisbon"}`}, {CallID: "call_b", Name: "get_time", Arguments: `{"tz": "UTC"}`}}})
				res, evs, err := collect(t, newProvider(t, api, fake), &engram.ModelRequest{Model: "gpt-fake", Input: []*engram.Item{user("w")},
					Tools: []engram.ToolSpec{{Type: "function", Name: "get_weather"}, {Type: "function", Name: "get_time"}}})
				if err != nil {
					t.Fatal(err)
				}
				checkOrder(t, evs)
				var calls []string
				for _, it := range res.Output {
					if it.Type == engram.ItemFunctionCall {
						calls = append(calls, it.CallID+" "+it.Name+" "+it.Arguments)
					}
				}
				want := []string{`call_a get_weather {"city": "Lisbon"}`, `call_b get_time {"tz": "UTC"}`}
				if strings.Join(calls, ";") != strings.Join(want, ";") || res.StopReason != engram.StopToolCalls {
					t.Errorf("calls %v stop %s", calls, res.StopReason)
				}
			})
			t.Run("max tokens", func(t *testing.T) {
				fake := openaitest.NewServer(t)
				fake.Push(openaitest.Reply{Text: "cut", Incomplete: "max_output_tokens"})
				res, _, err := collect(t, newProvider(t, api, fake), &engram.ModelRequest{Model: "gpt-fake", Input: []*engram.Item{user("x")}})
				if err != nil || res.StopReason != engram.StopMaxTokens {
					t.Fatalf("res %+v err %v", res, err)
				}
			})
			errorCases := []struct {
				name     string
				replies  []openaitest.Reply
				code     string // "" for success
				calls    int
				contains string // in the error message
			}{
				{"429 then success", []openaitest.Reply{{Status: 429, RetryAfter: "0"}, {Text: "ok"}}, "", 2, ""},
				{"429 retry-after-ms then success", []openaitest.Reply{{Status: 429, RetryAfterMS: "5"}, {Text: "ok"}}, "", 2, ""},
				{"500 then success", []openaitest.Reply{{Status: 500, RetryAfter: "0"}, {Text: "ok"}}, "", 2, ""},
				{"connection dropped then success", []openaitest.Reply{{Hangup: true}, {Text: "ok"}}, "", 2, ""},
				{"400", []openaitest.Reply{{Status: 400}}, engram.EUpstream, 1, "scripted failure Bad Request"},
				{"401", []openaitest.Reply{{Status: 401}}, engram.EUpstream, 1, "answered 401"},
				{"persistent 429", []openaitest.Reply{{Status: 429, RetryAfter: "0"}, {Status: 429, RetryAfter: "0"}, {Status: 429, RetryAfter: "0"}}, engram.ERateLimited, 3, "scripted failure"},
				{"persistent 503", []openaitest.Reply{{Status: 503, RetryAfter: "0"}, {Status: 503, RetryAfter: "0"}, {Status: 503, RetryAfter: "0"}}, engram.EUpstream, 3, "503"},
				{"429 asking to wait past the deadline", []openaitest.Reply{{Status: 429, RetryAfter: "30"}}, engram.ERateLimited, 1, "rate limiting"},
				{"garbage JSON body", []openaitest.Reply{{Body: `{"id": "resp_1", "output": [`, ContentType: "application/json"}}, engram.EUpstream, 1, ""},
				{"malformed SSE data", []openaitest.Reply{{Body: "data: {not json\n\n"}}, engram.EUpstream, 1, "malformed stream"},
				{"no events", []openaitest.Reply{{Body: "hello"}}, engram.EUpstream, 1, "ended before"},
				{"truncated", []openaitest.Reply{{Text: "a b c", Truncate: true}}, engram.EUpstream, 1, "ended before"},
				{"slow to answer", []openaitest.Reply{{Text: "slow", Delay: 10 * time.Second}}, engram.EUpstreamTimeout, 1, ""},
				{"stalls mid-stream", []openaitest.Reply{{Text: "slow stream", Stall: 10 * time.Second}}, engram.EUpstreamTimeout, 1, ""},
			}
			for _, tc := range errorCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					fake := openaitest.NewServer(t)
					fake.Push(tc.replies...)
					timeout := 10 * time.Second // room for the SDK's backoff between retries
					if tc.code == engram.EUpstreamTimeout {
						timeout = 300 * time.Millisecond
					}
					p := openai.New(openai.Config{BaseURL: fake.URL(), APIKey: "sk-test", API: api, Timeout: timeout, MaxRetries: 2})
					res, evs, err := collect(t, p, &engram.ModelRequest{Model: "gpt-fake", Input: []*engram.Item{user("x")}})
					if tc.code == "" {
						if err != nil || res.Output[0].Text() != "ok" {
							t.Fatalf("res %+v err %v", res, err)
						}
						checkOrder(t, evs)
					} else if engram.ErrorCode(err) != tc.code {
						t.Fatalf("err = %v, want %s", err, tc.code)
					} else if !strings.Contains(err.Error(), tc.contains) {
						t.Errorf("err = %q, want it to say %q", err, tc.contains)
					}
					if n := len(fake.Requests()); n != tc.calls {
						t.Errorf("%d requests, want %d", n, tc.calls)
					}
				})
			}
			// The wait between attempts is at least what the upstream asked
			// for (a lower bound: a slow machine cannot fail it).
			for _, wait := range []openaitest.Reply{{Status: 429, RetryAfter: "1"}, {Status: 503, RetryAfterMS: "1200"}} {
				t.Run("honours retry-after "+wait.RetryAfter+wait.RetryAfterMS, func(t *testing.T) {
					t.Parallel()
					fake := openaitest.NewServer(t)
					fake.Push(wait, openaitest.Reply{Text: "ok"})
					start := time.Now()
					if _, _, err := collect(t, newProvider(t, api, fake), &engram.ModelRequest{Model: "gpt-fake", Input: []*engram.Item{user("x")}}); err != nil {
						t.Fatal(err)
					}
					if elapsed := time.Since(start); elapsed < time.Second {
						t.Errorf("retried after %s, before the upstream's retry-after", elapsed)
					}
					if n := len(fake.Requests()); n != 2 {
						t.Errorf("%d requests, want 2", n)
					}
				})
			}
			t.Run("no usage reported", func(t *testing.T) {
				fake := openaitest.NewServer(t)
				fake.Push(openaitest.Reply{Text: "local model", NoUsage: true})
				res, _, err := collect(t, newProvider(t, api, fake), &engram.ModelRequest{Model: "llama", Input: []*engram.Item{user("x")}})
				if err != nil {
					t.Fatal(err)
				}
				if res.Usage != (engram.Usage{}) || res.Output[0].Text() != "local model" {
					t.Errorf("usage %+v output %+v, want zero usage", res.Usage, res.Output[0])
				}
			})
			t.Run("single tool call, arguments in fragments", func(t *testing.T) {
				fake := openaitest.NewServer(t)
				fake.Push(openaitest.Reply{ToolCalls: []openaitest.ToolCall{{CallID: "call_1", Name: "log_inspection", Arguments: `{"hive": 2, "queen_seen": true, "notes": "calm"}`}}})
				res, evs, err := collect(t, newProvider(t, api, fake), &engram.ModelRequest{Model: "gpt-fake", Input: []*engram.Item{user("log it")}})
				if err != nil {
					t.Fatal(err)
				}
				checkOrder(t, evs)
				fragments := 0
				for _, ev := range evs {
					if ev.Type == engram.ModelArgumentsDelta {
						fragments++
					}
				}
				want := `{"hive": 2, "queen_seen": true, "notes": "calm"}`
				if fragments < 2 || deltas(evs, engram.ModelArgumentsDelta) != want {
					t.Errorf("%d fragments adding up to %q", fragments, deltas(evs, engram.ModelArgumentsDelta))
				}
				var call *engram.Item
				for _, it := range res.Output {
					if it.Type == engram.ItemFunctionCall {
						call = it
					}
				}
				if call == nil || call.CallID != "call_1" || call.Name != "log_inspection" || call.Arguments != want || call.Status != engram.StatusCompleted || res.StopReason != engram.StopToolCalls {
					t.Errorf("call %+v stop %s", call, res.StopReason)
				}
				if evs[0].Item == nil || (evs[0].Item.Type == engram.ItemFunctionCall && evs[0].Item.CallID != "call_1") {
					t.Errorf("first event %+v", evs[0])
				}
			})
			t.Run("cancel mid-stream", func(t *testing.T) {
				fake := openaitest.NewServer(t)
				fake.Push(openaitest.Reply{Text: "slow stream", Stall: 10 * time.Second})
				ctx, cancel := context.WithCancel(context.Background())
				var evs []engram.ModelEvent
				_, err := newProvider(t, api, fake).Generate(ctx, &engram.ModelRequest{Model: "gpt-fake", Input: []*engram.Item{user("x")}}, func(ev engram.ModelEvent) {
					evs = append(evs, ev)
					if ev.Type == engram.ModelTextDelta {
						cancel() // the caller leaves while the model is talking
					}
				})
				if err != context.Canceled {
					t.Fatalf("err = %v, want context.Canceled", err)
				}
			})
			t.Run("cancel", func(t *testing.T) {
				fake := openaitest.NewServer(t)
				fake.Push(openaitest.Reply{Text: "slow", Delay: 10 * time.Second})
				ctx, cancel := context.WithCancel(context.Background())
				go func() { time.Sleep(50 * time.Millisecond); cancel() }()
				start := time.Now()
				_, err := newProvider(t, api, fake).Generate(ctx, &engram.ModelRequest{Model: "gpt-fake", Input: []*engram.Item{user("x")}}, nil)
				if err != context.Canceled {
					t.Fatalf("err = %v, want context.Canceled", err)
				}
				if time.Since(start) > 5*time.Second {
					t.Errorf("cancel took %s", time.Since(start))
				}
			})
		})
	}
}

func TestReasoningRoundTrip(t *testing.T) {
	fake := openaitest.NewServer(t)
	fake.Push(openaitest.Reply{Reasoning: "think", Text: "answer"})
	p := newProvider(t, "responses", fake)
	res, evs, err := collect(t, p, &engram.ModelRequest{Model: "o-fake", Input: []*engram.Item{user("q")}})
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, evs)
	if len(res.Output) != 2 || res.Output[0].Type != engram.ItemReasoning || res.Output[0].EncryptedContent != "enc-think" || deltas(evs, engram.ModelReasoningDelta) != "think" {
		t.Fatalf("output %+v", res.Output)
	}
	// Sent back on the next call, encrypted content and all.
	if _, _, err := collect(t, p, &engram.ModelRequest{Model: "o-fake", Input: append([]*engram.Item{user("q")}, append(res.Output, user("more"))...)}); err != nil {
		t.Fatal(err)
	}
	body := string(fake.Requests()[1].Body)
	if !strings.Contains(body, `"encrypted_content":"enc-think"`) || !strings.Contains(body, `"include":["reasoning.encrypted_content"]`) {
		t.Errorf("second request lost the reasoning: %s", body)
	}
}

// TestRequestGolden fixes the exact JSON each API is sent for a
// conversation with instructions, tools, a tool round trip and an image.
func TestRequestGolden(t *testing.T) {
	temp := 0.2
	req := &engram.ModelRequest{
		Model: "gpt-fake", Instructions: "You help a beekeeper.", Temperature: &temp, MaxOutputTokens: 256, CacheKey: "agent_x.v2", User: "ada",
		Tools:      []engram.ToolSpec{{Type: "function", Name: "hive_status", Description: "Reads a hive's sensors.", Parameters: json.RawMessage(`{"type":"object","properties":{"hive":{"type":"integer"}}}`)}},
		ToolChoice: json.RawMessage(`{"type":"function","name":"hive_status"}`),
		Input: []*engram.Item{
			user("How is hive 2?"),
			{Type: engram.ItemFunctionCall, CallID: "call_1", Name: "hive_status", Arguments: `{"hive":2}`},
			{Type: engram.ItemFunctionCallOutput, CallID: "call_1", Output: `{"weight_kg":31}`},
			{Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "It weighs 31 kg."}}},
			{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "And this frame?"}, {Type: engram.ContentInputImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="}}},
		},
	}
	for _, api := range []string{"responses", "chat"} {
		fake := openaitest.NewServer(t)
		if _, _, err := collect(t, newProvider(t, api, fake), req); err != nil {
			t.Fatal(err)
		}
		var pretty map[string]any
		json.Unmarshal(fake.Requests()[0].Body, &pretty)
		got, _ := json.MarshalIndent(pretty, "", "  ")
		golden(t, filepath.Join("testdata", api+"_request.golden"), got)
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	got = regexp.MustCompile(`call_[0-9a-z]{32}`).ReplaceAll(got, []byte("call_ID"))
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n got %s\nwant %s", path, got, want)
	}
}

// TestModels: the upstream's GET /models is the provider's list; an
// upstream that fails or is not there fails at once, without retries.
func TestModels(t *testing.T) {
	oa := openaitest.NewServer(t)
	p := openai.New(openai.Config{BaseURL: oa.URL(), APIKey: "sk-fake"})
	ids, err := p.Models(context.Background())
	if err != nil || strings.Join(ids, ",") != "gpt-fake,gpt-fake-mini" {
		t.Fatalf("%v %v", ids, err)
	}
	oa.SetModels()
	before := len(oa.Requests())
	if _, err := p.Models(context.Background()); engram.ErrorCode(err) != engram.EUpstream {
		t.Errorf("a failing upstream: %v", err)
	}
	if n := len(oa.Requests()) - before; n > 0 {
		t.Errorf("the listing is recorded as %d calls", n) // GET /models is not a model call
	}
	start := time.Now()
	gone := openai.New(openai.Config{BaseURL: "http://127.0.0.1:1/v1", APIKey: "k"})
	if _, err := gone.Models(context.Background()); engram.ErrorCode(err) != engram.EUpstream || time.Since(start) > 2*time.Second {
		t.Errorf("an absent upstream: %v after %s", err, time.Since(start))
	}
}
