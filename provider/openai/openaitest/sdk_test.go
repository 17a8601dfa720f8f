package openaitest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/engram-run/engram/provider/openai/openaitest"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// The fake is checked with OpenAI's own Go client: if the client parses
// what the fake sends into the values scripted, the shapes are OpenAI's.

func client(fake *openaitest.Server) *sdk.Client {
	c := sdk.NewClient(option.WithBaseURL(fake.URL()), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	return &c
}

var replies = []struct {
	name  string
	reply openaitest.Reply
	last  string // the event that ends the stream
}{
	{"text", openaitest.Reply{Text: "Hive two needs a queen.", Usage: &openaitest.Usage{InputTokens: 40, CachedTokens: 32, OutputTokens: 6}}, "response.completed"},
	{"tool calls", openaitest.Reply{ToolCalls: []openaitest.ToolCall{{CallID: "call_a", Name: "get_weather", Arguments: `{"city": "Lisbon"}`}, {Name: "get_time", Arguments: `{}`}}}, "response.completed"},
	{"reasoning", openaitest.Reply{Reasoning: "weigh the frames", Text: "Heavy.", Usage: &openaitest.Usage{InputTokens: 5, OutputTokens: 20, ReasoningTokens: 14}}, "response.completed"},
	{"incomplete", openaitest.Reply{Text: "cut short", Incomplete: "max_output_tokens"}, "response.incomplete"},
	{"no usage", openaitest.Reply{Text: "local", NoUsage: true}, "response.completed"},
}

func TestResponsesStream(t *testing.T) {
	for _, tc := range replies {
		t.Run(tc.name, func(t *testing.T) {
			fake := openaitest.NewServer(t)
			fake.Push(tc.reply)
			stream := client(fake).Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "gpt-fake", Input: responses.ResponseNewParamsInputUnion{OfString: sdk.String("hi")}})
			var types []string
			var final responses.Response
			text := ""
			for i := 0; stream.Next(); i++ {
				ev := stream.Current()
				if ev.SequenceNumber != int64(i) {
					t.Fatalf("event %d has sequence_number %d", i, ev.SequenceNumber)
				}
				types = append(types, ev.Type)
				switch ev.Type {
				case "response.output_text.delta":
					text += ev.Delta
				case "response.completed", "response.incomplete":
					final = ev.Response
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if types[0] != "response.created" || types[1] != "response.in_progress" || types[len(types)-1] != tc.last {
				t.Fatalf("events %v", types)
			}
			if text != tc.reply.Text || final.OutputText() != tc.reply.Text {
				t.Errorf("streamed %q, final %q, want %q", text, final.OutputText(), tc.reply.Text)
			}
			checkResponse(t, final, tc.reply)
		})
	}
}

func checkResponse(t *testing.T, res responses.Response, r openaitest.Reply) {
	t.Helper()
	var calls []string
	reasoning := ""
	for _, it := range res.Output {
		switch it.Type {
		case "function_call":
			if it.CallID == "" {
				t.Errorf("function call without call_id: %s", it.RawJSON())
			}
			calls = append(calls, it.Name+" "+it.Arguments.OfString)
		case "reasoning":
			for _, s := range it.Summary {
				reasoning += s.Text
			}
			if it.EncryptedContent == "" {
				t.Errorf("reasoning without encrypted_content")
			}
		}
	}
	var want []string
	for _, c := range r.ToolCalls {
		want = append(want, c.Name+" "+c.Arguments)
	}
	if strings.Join(calls, ";") != strings.Join(want, ";") || reasoning != r.Reasoning {
		t.Errorf("calls %v reasoning %q, want %v %q", calls, reasoning, want, r.Reasoning)
	}
	if r.Incomplete != "" && (res.Status != "incomplete" || res.IncompleteDetails.Reason != r.Incomplete) {
		t.Errorf("status %s %+v", res.Status, res.IncompleteDetails)
	}
	u := res.Usage
	switch {
	case r.NoUsage:
		if u.JSON.InputTokens.Valid() {
			t.Errorf("usage %s, want none", u.RawJSON())
		}
	case r.Usage != nil:
		if u.InputTokens != int64(r.Usage.InputTokens) || u.InputTokensDetails.CachedTokens != int64(r.Usage.CachedTokens) ||
			u.OutputTokens != int64(r.Usage.OutputTokens) || u.OutputTokensDetails.ReasoningTokens != int64(r.Usage.ReasoningTokens) ||
			u.TotalTokens != int64(r.Usage.InputTokens+r.Usage.OutputTokens) {
			t.Errorf("usage %s, want %+v", u.RawJSON(), *r.Usage)
		}
	}
}

func TestResponsesJSON(t *testing.T) {
	for _, tc := range replies {
		t.Run(tc.name, func(t *testing.T) {
			fake := openaitest.NewServer(t)
			fake.Push(tc.reply)
			res, err := client(fake).Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-fake", Input: responses.ResponseNewParamsInputUnion{OfString: sdk.String("hi")}})
			if err != nil {
				t.Fatal(err)
			}
			if res.OutputText() != tc.reply.Text {
				t.Errorf("text %q, want %q", res.OutputText(), tc.reply.Text)
			}
			checkResponse(t, *res, tc.reply)
		})
	}
}

func TestChatStream(t *testing.T) {
	for _, tc := range replies {
		for _, usage := range []bool{true, false} {
			t.Run(tc.name, func(t *testing.T) {
				fake := openaitest.NewServer(t)
				fake.Push(tc.reply)
				params := sdk.ChatCompletionNewParams{Model: "gpt-fake", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}}
				if usage {
					params.StreamOptions.IncludeUsage = sdk.Bool(true)
				}
				stream := client(fake).Chat.Completions.NewStreaming(context.Background(), params)
				var acc sdk.ChatCompletionAccumulator
				for stream.Next() {
					acc.AddChunk(stream.Current())
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				checkChat(t, acc.ChatCompletion, tc.reply, usage)
			})
		}
	}
}

func TestChatJSON(t *testing.T) {
	for _, tc := range replies {
		t.Run(tc.name, func(t *testing.T) {
			fake := openaitest.NewServer(t)
			fake.Push(tc.reply)
			res, err := client(fake).Chat.Completions.New(context.Background(), sdk.ChatCompletionNewParams{Model: "gpt-fake", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}})
			if err != nil {
				t.Fatal(err)
			}
			checkChat(t, *res, tc.reply, true)
		})
	}
}

func checkChat(t *testing.T, c sdk.ChatCompletion, r openaitest.Reply, usageAsked bool) {
	t.Helper()
	if len(c.Choices) != 1 {
		t.Fatalf("%d choices", len(c.Choices))
	}
	msg := c.Choices[0].Message
	var calls []string
	for _, tc := range msg.ToolCalls {
		if tc.ID == "" {
			t.Errorf("tool call without id")
		}
		calls = append(calls, tc.Function.Name+" "+tc.Function.Arguments)
	}
	var want []string
	for _, tc := range r.ToolCalls {
		want = append(want, tc.Name+" "+tc.Arguments)
	}
	finish := "stop"
	switch {
	case r.Incomplete != "":
		finish = "length"
	case len(r.ToolCalls) > 0:
		finish = "tool_calls"
	}
	if msg.Content != r.Text || strings.Join(calls, ";") != strings.Join(want, ";") || c.Choices[0].FinishReason != finish {
		t.Errorf("content %q calls %v finish %q, want %q %v %q", msg.Content, calls, c.Choices[0].FinishReason, r.Text, want, finish)
	}
	wantUsage := usageAsked && !r.NoUsage
	if got := c.Usage.TotalTokens > 0; got != wantUsage {
		t.Errorf("usage %+v, want usage: %v", c.Usage, wantUsage)
	}
	if wantUsage && r.Usage != nil && (c.Usage.PromptTokens != int64(r.Usage.InputTokens) || c.Usage.PromptTokensDetails.CachedTokens != int64(r.Usage.CachedTokens)) {
		t.Errorf("usage %+v, want %+v", c.Usage, *r.Usage)
	}
}

func TestEchoAndRecording(t *testing.T) {
	fake := openaitest.NewServer(t)
	c := client(fake)
	res, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-fake", Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("first", responses.EasyInputMessageRoleUser),
		responses.ResponseInputItemParamOfMessage("answer", responses.EasyInputMessageRoleAssistant),
		responses.ResponseInputItemParamOfMessage("second", responses.EasyInputMessageRoleUser),
	}}})
	if err != nil || res.OutputText() != "echo: second" {
		t.Fatalf("res %v err %v", res.OutputText(), err)
	}
	chat, err := c.Chat.Completions.New(context.Background(), sdk.ChatCompletionNewParams{Model: "gpt-fake", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("one"), sdk.AssistantMessage("x"), sdk.UserMessage("two")}})
	if err != nil || chat.Choices[0].Message.Content != "echo: two" {
		t.Fatalf("chat %+v err %v", chat, err)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/v1/responses" || reqs[1].Path != "/v1/chat/completions" {
		t.Fatalf("recorded %+v", reqs)
	}
	if reqs[0].Header.Get("Authorization") != "Bearer sk-test" || !json.Valid(reqs[1].Body) || !strings.Contains(string(reqs[1].Body), `"two"`) {
		t.Errorf("recorded %s %s", reqs[0].Header, reqs[1].Body)
	}
}

func TestErrors(t *testing.T) {
	fake := openaitest.NewServer(t)
	cases := []struct {
		name, auth, path string
		reply            *openaitest.Reply
		status           int
		code             string
	}{
		{"no key", "", "/v1/responses", nil, 401, "invalid_api_key"},
		{"empty key", "Bearer ", "/v1/responses", nil, 401, "invalid_api_key"},
		{"scripted 429", "Bearer k", "/v1/chat/completions", &openaitest.Reply{Status: 429, RetryAfter: "2"}, 429, "Too Many Requests"},
		{"unknown path", "Bearer k", "/v1/embeddingz", nil, 404, "unknown_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reply != nil {
				fake.Push(*tc.reply)
			}
			req, _ := http.NewRequest("POST", fake.URL()+strings.TrimPrefix(tc.path, "/v1"), strings.NewReader(`{"model":"m","input":"hi"}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Error struct {
					Message, Type, Code string
				}
			}
			if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("%d %s, want %d with code %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.reply != nil && resp.Header.Get("Retry-After") != tc.reply.RetryAfter {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		})
	}
}
