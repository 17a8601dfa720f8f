package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/engram-run/engram/provider/openai/openaitest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// chatBackend is a provider the chat gateway is driven through: the
// scripted model, or a fake OpenAI upstream behind the real adapter.
type chatBackend struct {
	name  string
	model string
	env   func(t *testing.T) (map[string]string, *openaitest.Server)
	// listed are models GET /v1/models must show.
	listed []string
}

func chatBackends() []chatBackend {
	upstream := func(api string) func(t *testing.T) (map[string]string, *openaitest.Server) {
		return func(t *testing.T) (map[string]string, *openaitest.Server) {
			oa := openaitest.NewServer(t)
			return map[string]string{"OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": oa.URL(), "OPENAI_API": api,
				"ENGRAM_PROVIDER_TIMEOUT": "3s"}, oa
		}
	}
	return []chatBackend{
		{"scripted", "scripted/echo", func(*testing.T) (map[string]string, *openaitest.Server) { return nil, nil },
			[]string{"scripted/echo", "scripted/tools"}},
		{"openai responses upstream", "openai/gpt-fake", upstream("responses"), []string{"scripted/echo", "openai/gpt-fake", "openai/gpt-fake-mini"}},
		{"openai chat upstream", "openai/gpt-fake", upstream("chat"), []string{"scripted/echo", "openai/gpt-fake"}},
	}
}

// TestConformanceChatOpenAIGo drives /v1/chat/completions and /v1/models
// with the official openai-go client, through each backend.
func TestConformanceChatOpenAIGo(t *testing.T) {
	for _, b := range chatBackends() {
		t.Run(b.name, func(t *testing.T) {
			env, oa := b.env(t)
			srv := startEngram(t, env)
			ctx := context.Background()
			client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey(srv.AdminKey), option.WithMaxRetries(0))
			apiError := func(t *testing.T, what string, err error, status int, code string) {
				t.Helper()
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) || apiErr.StatusCode != status || (code != "" && apiErr.Code != code) {
					t.Errorf("%s: got %v, want an *openai.Error with status %d and code %q", what, err, status, code)
				}
			}

			t.Run("plain", func(t *testing.T) {
				c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: b.model,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Hello there")}})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Created == 0 || c.Model != b.model {
					t.Errorf("envelope %s %s %d %s", c.ID, c.Object, c.Created, c.Model)
				}
				if len(c.Choices) != 1 || c.Choices[0].Message.Content != "echo: Hello there" || c.Choices[0].FinishReason != "stop" {
					t.Fatalf("choices %+v", c.Choices)
				}
				if c.Usage.PromptTokens <= 0 || c.Usage.CompletionTokens <= 0 || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
					t.Errorf("usage %+v", c.Usage)
				}
				if oa != nil {
					// The system message reached the upstream as its system prompt.
					reqs := oa.Requests()
					if body := string(reqs[len(reqs)-1].Body); !strings.Contains(body, "Be brief.") {
						t.Errorf("the upstream did not get the system message: %s", body)
					}
				}
			})

			t.Run("streamed with usage", func(t *testing.T) {
				stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: b.model,
					Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream this please")},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
				acc := openai.ChatCompletionAccumulator{}
				chunks, finished := 0, ""
				for stream.Next() {
					chunk := stream.Current()
					if !acc.AddChunk(chunk) {
						t.Fatalf("the accumulator refused chunk %d: %s", chunks, chunk.RawJSON())
					}
					chunks++
					if content, ok := acc.JustFinishedContent(); ok {
						finished = content
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				if chunks < 4 {
					t.Errorf("%d chunks: the answer was not streamed", chunks)
				}
				if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "echo: stream this please" || acc.Choices[0].FinishReason != "stop" {
					t.Fatalf("accumulated %+v", acc.Choices)
				}
				if finished != "echo: stream this please" {
					t.Errorf("JustFinishedContent %q", finished)
				}
				if acc.Usage.PromptTokens <= 0 || acc.Usage.CompletionTokens <= 0 || acc.Usage.TotalTokens <= 0 {
					t.Errorf("usage %+v", acc.Usage)
				}
			})

			t.Run("function calling round trip", func(t *testing.T) {
				tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
					Name: "get_weather", Description: openai.String("The weather in a city"),
					Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}})}
				args := `{"city":"Lisbon"}`
				if oa != nil {
					oa.Push(openaitest.Reply{ToolCalls: []openaitest.ToolCall{{Name: "get_weather", Arguments: args}}})
				}
				messages := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("call get_weather " + args)}
				// Streamed, so the tool call deltas meet the accumulator.
				stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: b.model, Tools: tools, Messages: messages})
				acc := openai.ChatCompletionAccumulator{}
				var justFinished []openai.FinishedChatCompletionToolCall
				for stream.Next() {
					acc.AddChunk(stream.Current())
					if tc, ok := acc.JustFinishedToolCall(); ok {
						justFinished = append(justFinished, tc)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "tool_calls" || len(acc.Choices[0].Message.ToolCalls) != 1 {
					t.Fatalf("accumulated %+v", acc.Choices)
				}
				call := acc.Choices[0].Message.ToolCalls[0]
				if call.Type != "function" || call.Function.Name != "get_weather" || call.Function.Arguments != args || call.ID == "" {
					t.Fatalf("tool call %+v", call)
				}
				if len(justFinished) != 1 || justFinished[0].ID != call.ID {
					t.Errorf("JustFinishedToolCall saw %+v", justFinished)
				}

				messages = append(messages, acc.Choices[0].Message.ToParam(), openai.ToolMessage("sunny, 24C", call.ID))
				c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: b.model, Tools: tools, Messages: messages})
				if err != nil {
					t.Fatal(err)
				}
				if oa == nil {
					if got := c.Choices[0].Message.Content; got != "tool said: sunny, 24C" {
						t.Errorf("after the tool: %q", got)
					}
					return
				}
				// The upstream saw the call and its output, paired by id.
				reqs := oa.Requests()
				body := string(reqs[len(reqs)-1].Body)
				if !strings.Contains(body, "sunny, 24C") || strings.Count(body, call.ID) < 2 {
					t.Errorf("the upstream did not get the call and its output: %s", body)
				}
			})

			t.Run("non-streamed tool call", func(t *testing.T) {
				tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "now"})}
				if oa != nil {
					oa.Push(openaitest.Reply{ToolCalls: []openaitest.ToolCall{{Name: "now", Arguments: "{}"}}})
				}
				c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: b.model, Tools: tools,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("call now")}})
				if err != nil {
					t.Fatal(err)
				}
				m := c.Choices[0].Message
				if c.Choices[0].FinishReason != "tool_calls" || len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Name != "now" || m.Content != "" {
					t.Errorf("got %+v", c.Choices[0])
				}
			})

			t.Run("models", func(t *testing.T) {
				var ids []string
				pager := client.Models.ListAutoPaging(ctx)
				for pager.Next() {
					m := pager.Current()
					if m.Object != "model" || m.OwnedBy == "" {
						t.Errorf("model %+v", m)
					}
					ids = append(ids, m.ID)
				}
				if err := pager.Err(); err != nil {
					t.Fatal(err)
				}
				for _, want := range b.listed {
					if !slices.Contains(ids, want) {
						t.Errorf("models %v lack %s", ids, want)
					}
				}
				if slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, "ollama/") }) {
					t.Errorf("models %v list an ollama that is not running", ids)
				}
				m, err := client.Models.Get(ctx, b.model)
				if err != nil || m.ID != b.model || m.Object != "model" {
					t.Errorf("retrieve %s: %v %+v", b.model, err, m)
				}
				_, err = client.Models.Get(ctx, "scripted/nothing")
				apiError(t, "retrieve an unknown model", err, http.StatusNotFound, "model_not_found")
			})

			t.Run("agents are models", func(t *testing.T) {
				if st := srv.call(t, "POST", "/v1/agents", `{"name":"brief-`+strings.ReplaceAll(b.name, " ", "-")+`","model":"`+b.model+`","instructions":"Answer in one line."}`, nil); st != 200 {
					t.Fatalf("create agent: %d", st)
				}
				agent := "agent/brief-" + strings.ReplaceAll(b.name, " ", "-")
				c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: agent,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi agent")}})
				if err != nil || c.Choices[0].Message.Content != "echo: hi agent" || c.Model != agent {
					t.Fatalf("%v %+v", err, c)
				}
				if oa != nil {
					reqs := oa.Requests()
					if body := string(reqs[len(reqs)-1].Body); !strings.Contains(body, "Answer in one line.") {
						t.Errorf("the agent's instructions did not reach the upstream: %s", body)
					}
				}
				m, err := client.Models.Get(ctx, agent)
				if err != nil || m.ID != agent || m.OwnedBy != "engram" {
					t.Errorf("retrieve %s: %v %+v", agent, err, m)
				}
			})

			t.Run("errors", func(t *testing.T) {
				user := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}
				_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "agent/nobody", Messages: user})
				apiError(t, "unknown agent", err, http.StatusNotFound, "model_not_found")
				_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nowhere/x", Messages: user})
				apiError(t, "unconfigured provider", err, http.StatusBadRequest, "invalid_value")
				_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: b.model, Messages: user, N: openai.Int(2)})
				apiError(t, "n=2", err, http.StatusBadRequest, "unsupported_parameter")
				bad := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-engram-wrong"), option.WithMaxRetries(0))
				_, err = bad.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: b.model, Messages: user})
				apiError(t, "bad key", err, http.StatusUnauthorized, "invalid_api_key")
				if oa == nil {
					return
				}
				// The upstream's failures map as they do for /v1/responses.
				limited := openaitest.Reply{Status: 429, RetryAfter: "0"}
				oa.Push(limited, limited, limited, limited)
				_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: b.model, Messages: user})
				apiError(t, "upstream rate limit", err, http.StatusTooManyRequests, "rate_limit_exceeded")
				oa.Push(openaitest.Reply{Status: 400})
				_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: b.model, Messages: user})
				apiError(t, "upstream 400", err, http.StatusBadGateway, "upstream_error")
				// A stream that breaks after it began ends with an error chunk.
				oa.Push(openaitest.Reply{Text: "half an answer", Truncate: true})
				stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: b.model, Messages: user})
				for stream.Next() {
				}
				if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "malformed stream") {
					t.Errorf("a broken upstream stream: %v", err)
				}
			})
		})
	}
}
