package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/engram-run/engram/provider/anthropic/anthropictest"
)

// TestConformanceAnthropicGo drives /v1/messages with the official
// anthropic-sdk-go client, over the scripted model and over a (fake)
// Anthropic upstream: plain, streamed, a tool round trip, a stateful
// conversation through the x-engram-conversation header, and errors.
func TestConformanceAnthropicGo(t *testing.T) {
	_, an, env := upstreams(t)
	for _, tc := range []struct {
		name string
		// model answers "echo: <last user text>"; recall answers with
		// every user message it sees (for the upstream, what the upstream
		// received is read instead).
		model, recall string
		env           map[string]string
		upstream      *anthropictest.Server
	}{
		{"scripted", "scripted/echo", "scripted/recall", nil, nil},
		{"anthropic upstream", "anthropic/claude-fake", "anthropic/claude-fake", env, an},
	} {
		t.Run(tc.name, func(t *testing.T) {
			driveMessages(t, startEngram(t, tc.env), tc.model, tc.recall, tc.upstream)
		})
	}
}

func driveMessages(t *testing.T, srv *testServer, model, recall string, up *anthropictest.Server) {
	ctx := context.Background()
	client := anthropic.NewClient(option.WithBaseURL(srv.URL+"/"), option.WithAPIKey(srv.AdminKey), option.WithMaxRetries(0))
	user := func(s string) anthropic.MessageParam { return anthropic.NewUserMessage(anthropic.NewTextBlock(s)) }
	params := func(m string, msgs ...anthropic.MessageParam) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{Model: anthropic.Model(m), MaxTokens: 256, Messages: msgs}
	}
	text := func(m *anthropic.Message) string {
		var b strings.Builder
		for _, c := range m.Content {
			if c.Type == "text" {
				b.WriteString(c.Text)
			}
		}
		return b.String()
	}
	weather := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("The weather in a city."),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}}}
	pushCall := func(id string) {
		if up != nil {
			up.Push(anthropictest.Reply{ToolCalls: []anthropictest.ToolCall{{ID: id, Name: "get_weather", Input: `{"city":"Lisbon"}`}}})
		}
	}
	callText := `call get_weather {"city":"Lisbon"}`

	t.Run("plain", func(t *testing.T) {
		m, err := client.Messages.New(ctx, params(model, user("Hello there")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.ID, "msg_") || text(m) != "echo: Hello there" || m.StopReason != anthropic.StopReasonEndTurn || m.Role != "assistant" {
			t.Errorf("got %s %q %s", m.ID, text(m), m.StopReason)
		}
		if m.Usage.InputTokens <= 0 || m.Usage.OutputTokens <= 0 {
			t.Errorf("usage %+v", m.Usage)
		}
	})

	t.Run("streamed", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, params(model, user("Stream this to me")))
		var acc anthropic.Message
		var types []string
		for stream.Next() {
			ev := stream.Current()
			types = append(types, ev.Type)
			if err := acc.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text(&acc) != "echo: Stream this to me" || acc.StopReason != anthropic.StopReasonEndTurn || acc.Usage.OutputTokens <= 0 {
			t.Errorf("accumulated %q %s %+v", text(&acc), acc.StopReason, acc.Usage)
		}
		if types[0] != "message_start" || types[len(types)-1] != "message_stop" || types[len(types)-2] != "message_delta" {
			t.Errorf("event order %v", types)
		}
	})

	t.Run("tool round trip", func(t *testing.T) {
		pushCall("toolu_plain")
		p := params(model, user(callText))
		p.Tools = weather
		p.ToolChoice = anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{}}
		m, err := client.Messages.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if m.StopReason != anthropic.StopReasonToolUse || len(m.Content) == 0 {
			t.Fatalf("got %s %+v", m.StopReason, m.Content)
		}
		call := m.Content[len(m.Content)-1].AsToolUse()
		if call.Name != "get_weather" || string(call.Input) != `{"city":"Lisbon"}` || call.ID == "" {
			t.Fatalf("tool_use %+v", call)
		}
		if up != nil {
			up.Push(anthropictest.Reply{Text: "tool said: sunny"})
		}
		p.Messages = append(p.Messages, m.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "sunny", false)))
		m, err = client.Messages.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if text(m) != "tool said: sunny" || m.StopReason != anthropic.StopReasonEndTurn {
			t.Errorf("after the result: %q %s", text(m), m.StopReason)
		}
		if up != nil {
			// The upstream got the call and its result as Anthropic's blocks.
			reqs := up.Requests()
			last := string(reqs[len(reqs)-1].Body)
			if !strings.Contains(last, `"type":"tool_use"`) || !strings.Contains(last, `"tool_use_id":"`+call.ID+`"`) {
				t.Errorf("upstream request %s", last)
			}
		}
	})

	t.Run("streamed tool use", func(t *testing.T) {
		pushCall("toolu_streamed")
		p := params(model, user(callText))
		p.Tools = weather
		stream := client.Messages.NewStreaming(ctx, p)
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.StopReason != anthropic.StopReasonToolUse || len(acc.Content) == 0 {
			t.Fatalf("accumulated %s %+v", acc.StopReason, acc.Content)
		}
		call := acc.Content[len(acc.Content)-1].AsToolUse()
		if call.Name != "get_weather" || string(call.Input) != `{"city":"Lisbon"}` {
			t.Errorf("tool_use %+v", call)
		}
	})

	t.Run("stateful", func(t *testing.T) {
		var conv struct{ ID string }
		if st := srv.call(t, "POST", "/v1/conversations", `{}`, &conv); st != 200 {
			t.Fatalf("create conversation: %d", st)
		}
		in := option.WithHeader("x-engram-conversation", conv.ID)
		first, err := client.Messages.New(ctx, params(recall, user("My hive is in Lisbon.")), in)
		if err != nil {
			t.Fatal(err)
		}
		second, err := client.Messages.New(ctx, params(recall, user("Where is it?")), in)
		if err != nil {
			t.Fatal(err)
		}
		if up == nil {
			if got := text(second); got != "My hive is in Lisbon. | Where is it?" {
				t.Errorf("the model saw %q", got)
			}
			return
		}
		reqs := up.Requests()
		got := strings.Join(lastRequestTexts(t, reqs[len(reqs)-1].Body), " | ")
		if want := "My hive is in Lisbon. | " + text(first) + " | Where is it?"; got != want {
			t.Errorf("the upstream saw %q, want %q", got, want)
		}
	})

	t.Run("errors", func(t *testing.T) {
		wantStatus := func(what string, err error, status int, typ string) {
			t.Helper()
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status || !strings.Contains(apiErr.RawJSON(), `"type":"`+typ+`"`) {
				t.Errorf("%s: got %v, want an *anthropic.Error with status %d and type %s", what, err, status, typ)
			}
		}
		_, err := client.Messages.New(ctx, params(model, user("x")), option.WithJSONDel("max_tokens"))
		wantStatus("missing max_tokens", err, 400, "invalid_request_error")
		_, err = client.Messages.New(ctx, params(model, user("x")), option.WithAPIKey("sk-engram-wrong"))
		wantStatus("bad key", err, 401, "authentication_error")
		_, err = client.Messages.New(ctx, params("agent/nobody", user("x")))
		wantStatus("unknown agent", err, 404, "not_found_error")
		_, err = client.Messages.New(ctx, params(model, user("x")), option.WithHeader("x-engram-conversation", "conv_nope"))
		wantStatus("unknown conversation", err, 404, "not_found_error")
		stream := client.Messages.NewStreaming(ctx, params("nowhere/x", user("x")))
		for stream.Next() {
		}
		wantStatus("streamed, refused before it starts", stream.Err(), 400, "invalid_request_error")
		if up == nil {
			return
		}
		// The upstream fails after the stream began: the stream ends with
		// Anthropic's error event, which the client reports.
		up.Push(anthropictest.Reply{Text: "half an answer", StreamError: true})
		stream = client.Messages.NewStreaming(ctx, params(model, user("x")))
		var acc anthropic.Message
		for stream.Next() {
			_ = acc.Accumulate(stream.Current())
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "api_error") {
			t.Errorf("a failure mid-stream: %v (accumulated %+v)", err, acc)
		}
	})

	t.Run("count tokens", func(t *testing.T) {
		n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: anthropic.Model(model),
			Messages: []anthropic.MessageParam{user("How many tokens is this?")}})
		if err != nil {
			t.Fatal(err)
		}
		if n.InputTokens <= 0 {
			t.Errorf("input_tokens %d", n.InputTokens)
		}
	})
}
