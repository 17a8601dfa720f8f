package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram/provider/anthropic/anthropictest"
	"github.com/engram-run/engram/provider/openai/openaitest"
)

// upstreams starts a fake OpenAI and a fake Anthropic and returns the
// environment that points Engram at them.
func upstreams(t *testing.T) (*openaitest.Server, *anthropictest.Server, map[string]string) {
	oa, an := openaitest.NewServer(t), anthropictest.NewServer(t)
	return oa, an, map[string]string{
		"OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": oa.URL(),
		"ANTHROPIC_API_KEY": "sk-ant-fake", "ANTHROPIC_BASE_URL": an.URL(),
		"ENGRAM_PROVIDER_TIMEOUT": "3s",
	}
}

// lastRequestTexts returns the texts of the messages the upstream received
// in its last request, whatever its API.
func lastRequestTexts(t *testing.T, body []byte) []string {
	t.Helper()
	var req struct {
		Input    []struct{ Content []struct{ Text string } }
		Messages []struct {
			Content json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range req.Input {
		for _, c := range m.Content {
			out = append(out, c.Text)
		}
	}
	for _, m := range req.Messages {
		var blocks []struct{ Text string }
		if json.Unmarshal(m.Content, &blocks) == nil {
			for _, b := range blocks {
				out = append(out, b.Text)
			}
		}
	}
	return out
}

// TestUpstreamSeesHistoryAcrossRestart: with each real provider kind, the
// state kept by Engram reaches the model after a restart.
func TestUpstreamSeesHistoryAcrossRestart(t *testing.T) {
	oa, an, env := upstreams(t)
	for _, tc := range []struct {
		model    string
		requests func() [][]byte
	}{
		{"openai/gpt-fake", func() [][]byte { return bodies(oa.Requests()) }},
		{"anthropic/claude-fake", func() [][]byte { return bodiesA(an.Requests()) }},
	} {
		t.Run(tc.model, func(t *testing.T) {
			srv := startEngram(t, env)
			var r1 respBody
			if st := srv.call(t, "POST", "/v1/responses", `{"model":"`+tc.model+`","input":"Hive 2 is queenless."}`, &r1); st != 200 {
				t.Fatalf("first turn %d %+v", st, r1)
			}
			if r1.text() != "echo: Hive 2 is queenless." {
				t.Errorf("first answer %q", r1.text())
			}
			srv.Stop()
			again := startEngram(t, map[string]string{"ENGRAM_DATA": srv.DataDir, "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": oa.URL(),
				"ANTHROPIC_API_KEY": "sk-ant-fake", "ANTHROPIC_BASE_URL": an.URL()})
			var r2 respBody
			if st := again.call(t, "POST", "/v1/responses", `{"model":"`+tc.model+`","input":"Which hive?","previous_response_id":"`+r1.ID+`"}`, &r2); st != 200 {
				t.Fatalf("after restart %d %+v", st, r2)
			}
			reqs := tc.requests()
			got := strings.Join(lastRequestTexts(t, reqs[len(reqs)-1]), " | ")
			if want := "Hive 2 is queenless. | echo: Hive 2 is queenless. | Which hive?"; got != want {
				t.Errorf("the upstream saw %q, want %q", got, want)
			}
		})
	}
}

func bodies(rs []openaitest.Recorded) [][]byte {
	var out [][]byte
	for _, r := range rs {
		out = append(out, r.Body)
	}
	return out
}

func bodiesA(rs []anthropictest.Recorded) [][]byte {
	var out [][]byte
	for _, r := range rs {
		out = append(out, r.Body)
	}
	return out
}

// TestUpstreamFailures: what a provider does wrong reaches the client as
// the right status, and the conversation stays consistent.
func TestUpstreamFailures(t *testing.T) {
	oa, an, env := upstreams(t)
	srv := startEngram(t, env)
	var conv struct{ ID string }
	srv.call(t, "POST", "/v1/conversations", `{}`, &conv)
	cases := []struct {
		name   string
		push   func()
		model  string
		status int
	}{
		{"rate limited", func() {
			oa.Push(openaitest.Reply{Status: 429, RetryAfter: "0"}, openaitest.Reply{Status: 429, RetryAfter: "0"}, openaitest.Reply{Status: 429, RetryAfter: "0"}, openaitest.Reply{Status: 429, RetryAfter: "0"})
		}, "openai/gpt-fake", http.StatusTooManyRequests},
		{"upstream 400", func() { oa.Push(openaitest.Reply{Status: 400}) }, "openai/gpt-fake", http.StatusBadGateway},
		{"garbage", func() { an.Push(anthropictest.Reply{Body: "event: message_start\ndata: {nope\n\n"}) }, "anthropic/claude-fake", http.StatusBadGateway},
		{"timeout", func() { an.Push(anthropictest.Reply{Text: "slow", Delay: 10 * time.Second}) }, "anthropic/claude-fake", http.StatusGatewayTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.push()
			var e struct {
				Error struct{ Message, Type, Code string }
			}
			st := srv.call(t, "POST", "/v1/responses", `{"model":"`+tc.model+`","input":"x","conversation":"`+conv.ID+`"}`, &e)
			if st != tc.status || e.Error.Message == "" {
				t.Fatalf("status %d %+v, want %d", st, e, tc.status)
			}
		})
	}
	// Each failed turn kept the user's message and no half answer.
	var items struct {
		Data []struct{ Type, Role string }
	}
	srv.call(t, "GET", "/v1/conversations/"+conv.ID+"/items?order=asc", "", &items)
	if len(items.Data) != len(cases) {
		t.Fatalf("conversation has %d items after %d failed turns, want one user message each", len(items.Data), len(cases))
	}
	for _, it := range items.Data {
		if it.Role != "user" {
			t.Errorf("a failed turn left a %s %s item", it.Role, it.Type)
		}
	}
	// And the next turn works, with the earlier messages in context.
	var ok respBody
	if st := srv.call(t, "POST", "/v1/responses", `{"model":"openai/gpt-fake","input":"again","conversation":"`+conv.ID+`"}`, &ok); st != 200 || ok.Status != "completed" {
		t.Fatalf("after failures: %d %+v", st, ok)
	}
}

// TestLimitsEndIncomplete: the model running out of output tokens, and
// server-side tool calls past max_tool_calls, end the response incomplete
// with the reason.
func TestLimitsEndIncomplete(t *testing.T) {
	oa, _, env := upstreams(t)
	srv := startEngram(t, env)
	type incomplete struct {
		Status            string
		IncompleteDetails *struct{ Reason string } `json:"incomplete_details"`
		Output            []struct{ Type string }
	}
	oa.Push(openaitest.Reply{Text: "cut sh", Incomplete: "max_output_tokens"})
	var r incomplete
	srv.call(t, "POST", "/v1/responses", `{"model":"openai/gpt-fake","input":"x","max_output_tokens":16}`, &r)
	if r.Status != "incomplete" || r.IncompleteDetails == nil || r.IncompleteDetails.Reason != "max_output_tokens" {
		t.Errorf("max_output_tokens: %+v", r)
	}
	call := openaitest.ToolCall{Name: "current_time", Arguments: `{"timezone":"UTC"}`}
	for i := 0; i < 3; i++ {
		call.CallID = "call_" + string(rune('a'+i))
		oa.Push(openaitest.Reply{ToolCalls: []openaitest.ToolCall{call}})
	}
	r = incomplete{}
	srv.call(t, "POST", "/v1/responses", `{"model":"openai/gpt-fake","input":"time, again and again","max_tool_calls":2,"tools":[{"type":"builtin","name":"current_time"}]}`, &r)
	if r.Status != "incomplete" || r.IncompleteDetails == nil || r.IncompleteDetails.Reason != "max_tool_calls" {
		t.Fatalf("max_tool_calls: %+v", r)
	}
	var types []string
	for _, o := range r.Output {
		types = append(types, o.Type)
	}
	want := "function_call function_call_output function_call function_call_output function_call"
	if strings.Join(types, " ") != want {
		t.Errorf("output %v, want %s", types, want)
	}
}
