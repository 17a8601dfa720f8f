package main

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/conversations"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// nodeBinary finds Node ≥ 22 (openai@7 needs it): $ENGRAM_TEST_NODE, which
// scripts/test sets, or node on PATH. In CI its absence is a failure.
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
		t.Fatal("Node 22 is needed for the openai npm conformance suite: run scripts/test, which installs it")
	}
	t.Skip("no Node ≥ 22: run scripts/test, which installs it and runs this suite")
	return ""
}

// TestConformanceOpenAIJS runs conformance/js with the official openai npm
// client against a live server.
func TestConformanceOpenAIJS(t *testing.T) {
	node := nodeBinary(t)
	dir, _ := filepath.Abs("../../conformance/js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		t.Fatalf("conformance/js has no node_modules/openai: run scripts/test (npm ci there): %v", err)
	}
	srv := startEngram(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "responses.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ENGRAM_BASE_URL="+srv.URL, "ENGRAM_API_KEY="+srv.AdminKey)
	out, err := cmd.CombinedOutput()
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}

// TestConformanceOpenAIGo drives the server with the official openai-go
// client.
func TestConformanceOpenAIGo(t *testing.T) {
	srv := startEngram(t, nil)
	ctx := context.Background()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey(srv.AdminKey), option.WithMaxRetries(0))

	first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "scripted/recall",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("My name is Ada.")}})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != "completed" || first.OutputText() != "My name is Ada." {
		t.Fatalf("first: %s %q", first.Status, first.OutputText())
	}
	second, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "scripted/recall", PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is my name?")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := second.OutputText(); got != "My name is Ada. | What is my name?" {
		t.Errorf("chained: %q", got)
	}

	conv, err := client.Conversations.New(ctx, conversations.ConversationNewParams{Metadata: map[string]string{"topic": "bees"}})
	if err != nil {
		t.Fatal(err)
	}
	inConv, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "scripted/recall",
		Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String(conv.ID)},
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Hive 2 is queenless.")}})
	if err != nil || inConv.OutputText() != "Hive 2 is queenless." || inConv.Conversation.ID != conv.ID {
		t.Fatalf("in conversation: %v %+v", err, inConv)
	}

	stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "scripted/echo",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("stream this")}})
	var text strings.Builder
	var completed *responses.Response
	seq := int64(-1)
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != seq+1 {
			t.Errorf("sequence_number %d after %d", ev.SequenceNumber, seq)
		}
		seq = ev.SequenceNumber
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.completed":
			r := ev.Response
			completed = &r
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "echo: stream this" || completed == nil || completed.OutputText() != "echo: stream this" {
		t.Errorf("streamed %q, completed %v", text.String(), completed)
	}

	// Items, created in two calls and read back through auto-pagination.
	for _, batch := range [][2]int{{0, 20}, {20, 25}} {
		var params []responses.ResponseInputItemUnionParam
		for i := batch[0]; i < batch[1]; i++ {
			params = append(params, responses.ResponseInputItemParamOfMessage("item "+strconv.Itoa(i), responses.EasyInputMessageRoleUser))
		}
		if _, err := client.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: params}); err != nil {
			t.Fatal(err)
		}
	}
	pager := client.Conversations.Items.ListAutoPaging(ctx, conv.ID, conversations.ItemListParams{Limit: openai.Int(7), Order: conversations.ItemListParamsOrderAsc})
	n := 0
	for pager.Next() {
		n++
	}
	if err := pager.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 27 { // 2 from the turn, 25 added
		t.Errorf("auto-paging saw %d items, want 27", n)
	}

	// Function calling round trip.
	tool := responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object", "properties": map[string]any{}}, false)
	r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "scripted/tools", Tools: []responses.ToolUnionParam{tool},
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather?")}})
	if err != nil {
		t.Fatal(err)
	}
	call := r.Output[0].AsFunctionCall()
	if call.Name != "get_weather" || call.CallID == "" {
		t.Fatalf("function call %+v", r.Output)
	}
	output := responses.ResponseInputItemParamOfFunctionCallOutput("sunny")
	output.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	r2, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "scripted/tools", PreviousResponseID: openai.String(r.ID), Tools: []responses.ToolUnionParam{tool},
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{output}}})
	if err != nil || r2.OutputText() != "tool said: sunny" {
		t.Fatalf("round trip: %v %q", err, r2.OutputText())
	}

	// Errors.
	_, err = client.Responses.Get(ctx, "resp_missing", responses.ResponseGetParams{})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("missing response: %v", err)
	}
	bad := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-engram-wrong"), option.WithMaxRetries(0))
	_, err = bad.Conversations.Get(ctx, conv.ID)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Code != "invalid_api_key" {
		t.Errorf("bad key: %v", err)
	}
	if _, err := client.Conversations.Delete(ctx, conv.ID); err != nil {
		t.Error(err)
	}
}
