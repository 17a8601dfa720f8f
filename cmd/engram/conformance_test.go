package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram/internal/pgtest"
	"github.com/engram-run/engram/provider/anthropic/anthropictest"
	"github.com/engram-run/engram/provider/openai/openaitest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/conversations"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// nodeBinary finds Node ≥ 22 (openai@7 needs it): $ENGRAM_TEST_NODE, which
// scripts/test sets, or node on PATH. CI must never skip the suite, so there
// its absence is a failure.
func nodeBinary(t *testing.T) string {
	if p := os.Getenv("ENGRAM_TEST_NODE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("node"); err == nil {
		out, err := exec.Command(p, "--version").Output()
		major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0])
		if err == nil && major >= 22 {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Node ≥ 22 is needed for the openai npm conformance suite: run scripts/test, which installs it, or set ENGRAM_TEST_NODE")
	}
	t.Skip("no Node ≥ 22: run scripts/test, which installs it and runs this suite (or set ENGRAM_TEST_NODE)")
	return ""
}

// TestConformanceOpenAIJS runs conformance/js with the official openai npm
// client against a live server.
func TestConformanceOpenAIJS(t *testing.T) {
	node := nodeBinary(t)
	dir, err := filepath.Abs(filepath.Join("..", "..", "conformance", "js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		t.Fatalf("conformance/js has no node_modules/openai: run scripts/test (it runs npm ci there): %v", err)
	}
	srv := startConformanceServer(t)
	for _, kind := range conformanceKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			runNodeSuite(t, node, dir, srv, kind)
		})
	}
}

// runNodeSuite runs every *.test.mjs of dir with its models served by the
// given provider kind (ENGRAM_MODEL_PROVIDER).
func runNodeSuite(t *testing.T, node, dir string, srv *testServer, kind string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec") // every *.test.mjs there
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ENGRAM_BASE_URL="+srv.URL, "ENGRAM_API_KEY="+srv.AdminKey, "ENGRAM_MODEL_PROVIDER="+kind, "NO_COLOR=1")
	// One pipe for both streams keeps node's lines in order in the test log.
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		io.Copy(io.Discard, pr) // a line too long for the scanner must not block node
	}()
	err := cmd.Wait()
	pw.Close()
	<-logged
	if err != nil {
		t.Fatalf("node --test conformance/js: %v", err)
	}
}

// conformanceKinds are the kinds of provider the conformance suites run
// against, each named by the provider prefix of its models on one server:
// Engram's scripted models, an OpenAI Responses upstream, a Chat
// Completions upstream (as Ollama, vLLM and llama.cpp serve) and an
// Anthropic Messages upstream. The fake upstreams answer model names as the
// scripted models do (echo, recall, tools, slow), so every suite checks the
// same client-visible behaviour whatever serves the model.
var conformanceKinds = []string{"scripted", "openai", "ollama", "anthropic"}

// startConformanceServer starts Engram with a fake upstream behind every
// provider kind of conformanceKinds.
func startConformanceServer(t *testing.T) *testServer {
	oa, chat, an := openaitest.NewServer(t), openaitest.NewServer(t), anthropictest.NewServer(t)
	return startEngram(t, map[string]string{
		"OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": oa.URL(),
		"ANTHROPIC_API_KEY": "sk-ant-fake", "ANTHROPIC_BASE_URL": an.URL(),
		"OLLAMA_HOST":             strings.TrimSuffix(chat.URL(), "/v1"),
		"ENGRAM_PROVIDER_TIMEOUT": "10s",
	})
}

// TestConformanceOpenAIGo drives the server with the official openai-go
// client through the same behaviours as conformance/js, for every provider
// kind.
func TestConformanceOpenAIGo(t *testing.T) {
	srv := startConformanceServer(t)
	for _, kind := range conformanceKinds {
		t.Run(kind, func(t *testing.T) { conformanceGo(t, srv, kind) })
	}
}

// TestConformanceOnPostgres runs both official clients' suites against a
// server on the PostgreSQL store: what a client sees does not depend on
// the store.
func TestConformanceOnPostgres(t *testing.T) {
	srv := startEngram(t, map[string]string{"ENGRAM_DATABASE_URL": pgtest.Database(t)})
	t.Run("openai-go", func(t *testing.T) { conformanceGo(t, srv, "scripted") })
	t.Run("openai-js", func(t *testing.T) {
		node := nodeBinary(t)
		dir, err := filepath.Abs(filepath.Join("..", "..", "conformance", "js"))
		if err != nil {
			t.Fatal(err)
		}
		runNodeSuite(t, node, dir, srv, "scripted")
	})
}

func conformanceGo(t *testing.T, srv *testServer, kind string) {
	m := func(name string) string { return kind + "/" + name }
	ctx := context.Background()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey(srv.AdminKey), option.WithMaxRetries(0))
	text := func(s string) responses.ResponseNewParamsInputUnion {
		return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
	}
	wantStatus := func(t *testing.T, what string, err error, status int) {
		t.Helper()
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
			t.Errorf("%s: got %v, want an *openai.Error with status %d", what, err, status)
		}
	}

	t.Run("plain", func(t *testing.T) {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("echo"), Input: text("Hello there")})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != responses.ResponseStatusCompleted || !strings.HasPrefix(r.ID, "resp_") || r.OutputText() != "echo: Hello there" {
			t.Errorf("got %s %s %q", r.ID, r.Status, r.OutputText())
		}
		if r.Usage.InputTokens <= 0 || r.Usage.OutputTokens <= 0 {
			t.Errorf("usage %+v", r.Usage)
		}
	})

	t.Run("chained", func(t *testing.T) {
		first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("recall"), Input: text("My name is Ada.")})
		if err != nil {
			t.Fatal(err)
		}
		if first.OutputText() != "My name is Ada." {
			t.Fatalf("first: %q", first.OutputText())
		}
		second, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("recall"), PreviousResponseID: openai.String(first.ID), Input: text("What is my name?")})
		if err != nil {
			t.Fatal(err)
		}
		if got := second.OutputText(); got != "My name is Ada. | What is my name?" {
			t.Errorf("the earlier turn did not reach the model: %q", got)
		}
		echoed, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("echo"), PreviousResponseID: openai.String(second.ID), Input: text("and again")})
		if err != nil || echoed.OutputText() != "echo: and again" || echoed.PreviousResponseID != second.ID {
			t.Errorf("echo after a chain: %v %q previous %q", err, echoed.OutputText(), echoed.PreviousResponseID)
		}
	})

	t.Run("conversation", func(t *testing.T) {
		conv, err := client.Conversations.New(ctx, conversations.ConversationNewParams{Metadata: map[string]string{"topic": "bees"}})
		if err != nil {
			t.Fatal(err)
		}
		for i, say := range []string{"Hive 2 is queenless.", "Which hive?"} {
			r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("recall"), Input: text(say),
				Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String(conv.ID)}})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"Hive 2 is queenless.", "Hive 2 is queenless. | Which hive?"}[i]
			if r.OutputText() != want || r.Conversation.ID != conv.ID {
				t.Errorf("turn %d: %q in %q, want %q in %q", i, r.OutputText(), r.Conversation.ID, want, conv.ID)
			}
		}
	})

	t.Run("streaming", func(t *testing.T) {
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: m("echo"), Input: text("stream this")})
		var types []string
		var deltas strings.Builder
		var completed *responses.Response
		seq := int64(-1)
		for stream.Next() {
			ev := stream.Current()
			if ev.SequenceNumber != seq+1 {
				t.Errorf("sequence_number %d after %d", ev.SequenceNumber, seq)
			}
			seq = ev.SequenceNumber
			if ev.Type != "response.output_text.delta" || len(types) == 0 || types[len(types)-1] != ev.Type {
				types = append(types, ev.Type)
			}
			switch ev.Type {
			case "response.output_text.delta":
				deltas.WriteString(ev.Delta)
			case "response.completed":
				r := ev.Response
				completed = &r
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
			"response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
		if strings.Join(types, " ") != strings.Join(want, " ") {
			t.Errorf("events (deltas collapsed):\n got %v\nwant %v", types, want)
		}
		if deltas.String() != "echo: stream this" || completed == nil || completed.OutputText() != "echo: stream this" {
			t.Errorf("streamed %q, completed %v", deltas.String(), completed)
		}
	})

	t.Run("retrieve, input items, delete", func(t *testing.T) {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("echo"), Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("hi", responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfMessage("there", responses.EasyInputMessageRoleUser),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := client.Responses.Get(ctx, r.ID, responses.ResponseGetParams{})
		if err != nil || got.ID != r.ID || got.OutputText() != "echo: there" {
			t.Fatalf("retrieve: %v %+v", err, got)
		}
		var input []string
		pager := client.Responses.InputItems.ListAutoPaging(ctx, r.ID, responses.InputItemListParams{Limit: openai.Int(1), Order: responses.InputItemListParamsOrderAsc})
		for pager.Next() {
			input = append(input, pager.Current().AsMessage().Content[0].Text)
		}
		if err := pager.Err(); err != nil || strings.Join(input, ",") != "hi,there" {
			t.Errorf("input items %q, %v", input, err)
		}
		if err := client.Responses.Delete(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		_, err = client.Responses.Get(ctx, r.ID, responses.ResponseGetParams{})
		wantStatus(t, "retrieve after delete", err, http.StatusNotFound)
	})

	t.Run("conversations and items", func(t *testing.T) {
		conv, err := client.Conversations.New(ctx, conversations.ConversationNewParams{Metadata: map[string]string{"topic": "demo"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range [][2]int{{0, 20}, {20, 25}} {
			var items []responses.ResponseInputItemUnionParam
			for i := batch[0]; i < batch[1]; i++ {
				items = append(items, responses.ResponseInputItemParamOfMessage("item "+strconv.Itoa(i), responses.EasyInputMessageRoleUser))
			}
			if _, err := client.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: items}); err != nil {
				t.Fatal(err)
			}
		}
		var seen []string
		var ids []string
		pager := client.Conversations.Items.ListAutoPaging(ctx, conv.ID, conversations.ItemListParams{Limit: openai.Int(10), Order: conversations.ItemListParamsOrderAsc})
		for pager.Next() {
			it := pager.Current()
			seen = append(seen, it.AsMessage().Content[0].Text)
			ids = append(ids, it.ID)
		}
		if err := pager.Err(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 25; i++ {
			if i >= len(seen) || seen[i] != "item "+strconv.Itoa(i) {
				t.Fatalf("auto-paging saw %q, want item 0 … item 24 in order", seen)
			}
		}
		if len(seen) != 25 {
			t.Fatalf("auto-paging saw %d items, want 25", len(seen))
		}

		got, err := client.Conversations.Get(ctx, conv.ID)
		if err != nil || got.Metadata.(map[string]any)["topic"] != "demo" {
			t.Errorf("retrieve: %v %+v", err, got)
		}
		updated, err := client.Conversations.Update(ctx, conv.ID, conversations.ConversationUpdateParams{Metadata: map[string]string{"topic": "x"}})
		if err != nil || updated.Metadata.(map[string]any)["topic"] != "x" {
			t.Errorf("update: %v %+v", err, updated)
		}

		item, err := client.Conversations.Items.Get(ctx, conv.ID, ids[3], conversations.ItemGetParams{})
		if err != nil || item.ID != ids[3] || item.AsMessage().Content[0].Text != "item 3" {
			t.Errorf("item retrieve: %v %+v", err, item)
		}
		if _, err := client.Conversations.Items.Delete(ctx, conv.ID, ids[3]); err != nil {
			t.Fatal(err)
		}
		_, err = client.Conversations.Items.Get(ctx, conv.ID, ids[3], conversations.ItemGetParams{})
		wantStatus(t, "item retrieve after delete", err, http.StatusNotFound)

		deleted, err := client.Conversations.Delete(ctx, conv.ID)
		if err != nil || !deleted.Deleted || deleted.ID != conv.ID {
			t.Fatalf("delete: %v %+v", err, deleted)
		}
		_, err = client.Conversations.Get(ctx, conv.ID)
		wantStatus(t, "retrieve after delete", err, http.StatusNotFound)
	})

	t.Run("function call round trip", func(t *testing.T) {
		tool := responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}, false)
		tools := []responses.ToolUnionParam{tool}
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("tools"), Tools: tools, Input: text("Weather in Lisbon?")})
		if err != nil {
			t.Fatal(err)
		}
		var call *responses.ResponseFunctionToolCall
		for _, item := range r.Output {
			if item.Type == "function_call" {
				c := item.AsFunctionCall()
				call = &c
			}
		}
		if call == nil || call.Name != "get_weather" || call.CallID == "" || call.Arguments != "{}" {
			t.Fatalf("want a get_weather call with arguments {}, got output %+v", r.Output)
		}
		output := responses.ResponseInputItemParamOfFunctionCallOutput("sunny, 24C")
		output.OfFunctionCallOutput.CallID = openai.String(call.CallID)
		r2, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("tools"), PreviousResponseID: openai.String(r.ID), Tools: tools,
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{output}}})
		if err != nil || r2.OutputText() != "tool said: sunny, 24C" {
			t.Fatalf("round trip: %v %q", err, r2.OutputText())
		}
	})

	t.Run("stateless round trip re-sending output items", func(t *testing.T) {
		tool := responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object", "properties": map[string]any{}}, false)
		tools := []responses.ToolUnionParam{tool}
		input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("Weather in Porto?", responses.EasyInputMessageRoleUser)}
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("tools"), Tools: tools, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}})
		if err != nil || len(r.Output) != 1 {
			t.Fatalf("%v %+v", err, r)
		}
		call := r.Output[0].AsFunctionCall()
		callParam := call.ToParam()
		output := responses.ResponseInputItemParamOfFunctionCallOutput("rainy")
		output.OfFunctionCallOutput.CallID = openai.String(call.CallID)
		input = append(input, responses.ResponseInputItemUnionParam{OfFunctionCall: &callParam}, output)
		r2, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("tools"), Tools: tools, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}})
		if err != nil || r2.OutputText() != "tool said: rainy" {
			t.Fatalf("re-sent call %s: %v %q", call.ID, err, r2.OutputText())
		}
	})

	t.Run("background poll and cancel", func(t *testing.T) {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("slow"), Input: text("in the background"), Background: openai.Bool(true)})
		if err != nil || (r.Status != "queued" && r.Status != "in_progress") {
			t.Fatalf("%v %s", err, r.Status)
		}
		for i := 0; i < 200 && (r.Status == "queued" || r.Status == "in_progress"); i++ {
			time.Sleep(50 * time.Millisecond)
			if r, err = client.Responses.Get(ctx, r.ID, responses.ResponseGetParams{}); err != nil {
				t.Fatal(err)
			}
		}
		if r.Status != "completed" || r.OutputText() != "echo: in the background" {
			t.Errorf("polled: %s %q", r.Status, r.OutputText())
		}
		// A turn queued behind another in its conversation is cancelled at once.
		conv, err := client.Conversations.New(ctx, conversations.ConversationNewParams{})
		if err != nil {
			t.Fatal(err)
		}
		in := responses.ResponseNewParamsConversationUnion{OfString: openai.String(conv.ID)}
		running, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("slow"), Input: text("first"), Background: openai.Bool(true), Conversation: in})
		if err != nil {
			t.Fatal(err)
		}
		queued, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("slow"), Input: text("never mind"), Background: openai.Bool(true), Conversation: in})
		if err != nil || queued.Status != "queued" {
			t.Fatalf("second turn: %v %s", err, queued.Status)
		}
		got, err := client.Responses.Cancel(ctx, queued.ID)
		if err != nil || got.Status != "cancelled" {
			t.Errorf("cancel: %v %s", err, got.Status)
		}
		for i := 0; i < 200 && (running.Status == "queued" || running.Status == "in_progress"); i++ {
			time.Sleep(50 * time.Millisecond)
			if running, err = client.Responses.Get(ctx, running.ID, responses.ResponseGetParams{}); err != nil {
				t.Fatal(err)
			}
		}
		if running.Status != "completed" {
			t.Errorf("the turn ahead: %s", running.Status)
		}
	})

	t.Run("stream resume", func(t *testing.T) {
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: m("echo"), Input: text("resume me")})
		var all []string
		var id string
		for stream.Next() {
			ev := stream.Current()
			all = append(all, ev.Type)
			if ev.Type == "response.created" {
				id = ev.Response.ID
			}
		}
		if err := stream.Err(); err != nil || id == "" {
			t.Fatal(err, id)
		}
		resumed := client.Responses.GetStreaming(ctx, id, responses.ResponseGetParams{StartingAfter: openai.Int(3)})
		var tail []string
		for resumed.Next() {
			tail = append(tail, resumed.Current().Type)
		}
		if err := resumed.Err(); err != nil || strings.Join(tail, " ") != strings.Join(all[4:], " ") {
			t.Errorf("resumed after 3: %v %v, want %v", err, tail, all[4:])
		}
	})

	t.Run("compact and input tokens", func(t *testing.T) {
		first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: m("recall"), Input: text("Hive 2 is queenless. It needs a queen.")})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Responses.Compact(ctx, responses.ResponseCompactParams{Model: responses.ResponseCompactParamsModel(m("recall")), PreviousResponseID: openai.String(first.ID)})
		if err != nil || len(c.Output) == 0 || c.Output[0].Type != "compaction" || c.Output[0].EncryptedContent == "" {
			t.Fatalf("compact: %v %+v", err, c)
		}
		n, err := client.Responses.InputTokens.Count(ctx, responses.InputTokenCountParams{Model: openai.String(m("echo")), PreviousResponseID: openai.String(first.ID),
			Input: responses.InputTokenCountParamsInputUnion{OfString: openai.String("and?")}})
		if err != nil || n.InputTokens <= 0 {
			t.Errorf("input tokens: %v %+v", err, n)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := client.Responses.Get(ctx, "resp_doesnotexist", responses.ResponseGetParams{})
		wantStatus(t, "unknown response", err, http.StatusNotFound)
		bad := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-engram-wrong"), option.WithMaxRetries(0))
		_, err = bad.Responses.New(ctx, responses.ResponseNewParams{Model: m("echo"), Input: text("x")})
		wantStatus(t, "bad key", err, http.StatusUnauthorized)
		var apiErr *openai.Error
		if errors.As(err, &apiErr) && apiErr.Code != "invalid_api_key" {
			t.Errorf("bad key: code %q, want invalid_api_key", apiErr.Code)
		}
	})
}
