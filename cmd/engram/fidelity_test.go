package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/engram-run/engram/provider/anthropic/anthropictest"
	"github.com/engram-run/engram/provider/openai/openaitest"
)

// TestProviderRefusesWhatItCannotTake: input a provider kind has no place
// for is a 422 naming the item, never silently left out.
func TestProviderRefusesWhatItCannotTake(t *testing.T) {
	srv := startConformanceServer(t)
	file := `{"role":"user","content":[{"type":"input_text","text":"read this"},{"type":"input_file","file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}]}`
	imageByID := `{"role":"user","content":[{"type":"input_image","file_id":"file-abc"}]}`
	openaiThought := `{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAAABoSecret"}`
	anthropicThought := `{"type":"reasoning","id":"rs_2","summary":[{"type":"summary_text","text":"hm"}],"encrypted_content":"EqQBCkgIARABSignature"}`
	ask := `{"role":"user","content":"and?"}`
	for _, tc := range []struct {
		model, input, want string
	}{
		{"anthropic/echo", file, "input_file"},
		{"anthropic/echo", imageByID, "input_image"},
		{"anthropic/echo", openaiThought, "OpenAI model"},
		{"ollama/echo", file, "input_file"},
		{"ollama/echo", imageByID, "input_image"},
		{"ollama/echo", openaiThought, "Chat Completions"},
		{"openai/echo", anthropicThought, "another provider"},
	} {
		t.Run(tc.model+" "+tc.want, func(t *testing.T) {
			var e struct {
				Error struct{ Message, Type, Param, Code string }
			}
			st := srv.call(t, "POST", "/v1/responses", `{"model":"`+tc.model+`","input":[`+tc.input+`,`+ask+`]}`, &e)
			if st != 422 || e.Error.Param != "input[0]" || !strings.Contains(e.Error.Message, tc.want) || e.Error.Type != "invalid_request_error" {
				t.Errorf("status %d %+v, want 422 on input[0] saying %q", st, e.Error, tc.want)
			}
		})
	}
}

// TestProviderFidelity: tool calls, their outputs, reasoning, images and
// usage mean the same whichever provider serves the model.
func TestProviderFidelity(t *testing.T) {
	oa, an, env := upstreams(t)
	srv := startEngram(t, env)
	image := `{"role":"user","content":[{"type":"input_text","text":"what is this?"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]}`

	t.Run("anthropic", func(t *testing.T) {
		an.Push(anthropictest.Reply{Thinking: "pondering", ToolCalls: []anthropictest.ToolCall{{ID: "toolu_1", Name: "look", Input: `{"at":"it"}`}},
			Usage: &anthropictest.Usage{InputTokens: 10, OutputTokens: 5, CacheReadInputTokens: 20, CacheCreationInputTokens: 30}})
		var r1 fidelityResponse
		srv.call(t, "POST", "/v1/responses", `{"model":"anthropic/claude-fake","input":[`+image+`],"tools":[{"type":"function","name":"look","parameters":{"type":"object","properties":{"at":{"type":"string"}}}}]}`, &r1)
		if got := r1.types(); got != "reasoning function_call" {
			t.Fatalf("output %s: %+v", got, r1)
		}
		if r1.Output[0].Summary[0].Text != "pondering" || r1.Output[0].EncryptedContent == "" || r1.Output[1].CallID != "toolu_1" || r1.Output[1].Arguments != `{"at":"it"}` {
			t.Errorf("reasoning and call: %+v", r1.Output)
		}
		u := r1.Usage
		if u.InputTokens != 60 || u.InputTokensDetails.CachedTokens != 20 || u.InputTokensDetails.CacheWriteTokens != 30 || u.OutputTokens != 5 || u.TotalTokens != 65 {
			t.Errorf("usage %+v, want input 60 (10 + 20 read + 30 written), cached 20, cache_write 30, output 5", u)
		}
		var r2 fidelityResponse
		srv.call(t, "POST", "/v1/responses", `{"model":"anthropic/claude-fake","previous_response_id":"`+r1.ID+`","input":[{"type":"function_call_output","call_id":"toolu_1","output":"a cat"}]}`, &r2)
		reqs := an.Requests()
		var sent struct {
			Messages []struct {
				Role    string
				Content []map[string]any
			}
		}
		json.Unmarshal(reqs[len(reqs)-1].Body, &sent)
		var kinds []string
		for _, m := range sent.Messages {
			for _, b := range m.Content {
				kinds = append(kinds, m.Role+":"+b["type"].(string))
			}
		}
		if got := strings.Join(kinds, " "); got != "user:text user:image assistant:thinking assistant:tool_use user:tool_result" {
			t.Errorf("Anthropic received %s", got)
		}
		if r2.text() != "tool said: a cat" {
			t.Errorf("after the tool output: %+v", r2)
		}
	})

	t.Run("openai", func(t *testing.T) {
		oa.Push(openaitest.Reply{Reasoning: "pondering", ToolCalls: []openaitest.ToolCall{{CallID: "call_1", Name: "look", Arguments: `{"at":"it"}`}},
			Usage: &openaitest.Usage{InputTokens: 50, CachedTokens: 20, OutputTokens: 5, ReasoningTokens: 3}})
		var r1 fidelityResponse
		srv.call(t, "POST", "/v1/responses", `{"model":"openai/gpt-fake","input":[`+image+`],"tools":[{"type":"function","name":"look","parameters":{"type":"object","properties":{"at":{"type":"string"}}}}]}`, &r1)
		if got := r1.types(); got != "reasoning function_call" {
			t.Fatalf("output %s: %+v", got, r1)
		}
		if r1.Output[0].Summary[0].Text != "pondering" || r1.Output[0].EncryptedContent == "" || r1.Output[1].CallID != "call_1" {
			t.Errorf("reasoning and call: %+v", r1.Output)
		}
		u := r1.Usage
		if u.InputTokens != 50 || u.InputTokensDetails.CachedTokens != 20 || u.OutputTokens != 5 || u.OutputTokensDetails.ReasoningTokens != 3 {
			t.Errorf("usage %+v", u)
		}
		var r2 fidelityResponse
		srv.call(t, "POST", "/v1/responses", `{"model":"openai/gpt-fake","previous_response_id":"`+r1.ID+`","input":[{"type":"function_call_output","call_id":"call_1","output":"a cat"}]}`, &r2)
		reqs := oa.Requests()
		var sent struct {
			Input   []map[string]any
			Include []string
		}
		json.Unmarshal(reqs[len(reqs)-1].Body, &sent)
		var kinds []string
		for _, it := range sent.Input {
			kinds = append(kinds, it["type"].(string))
		}
		if got := strings.Join(kinds, " "); got != "message reasoning function_call function_call_output" || len(sent.Include) != 1 || sent.Include[0] != "reasoning.encrypted_content" {
			t.Errorf("OpenAI received %s, include %v", got, sent.Include)
		}
		if !strings.Contains(string(reqs[len(reqs)-1].Body), `"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="`) {
			t.Errorf("the image did not reach OpenAI: %s", reqs[len(reqs)-1].Body)
		}
	})
}

type fidelityResponse struct {
	respBody
	Output []struct {
		Type             string `json:"type"`
		CallID           string `json:"call_id"`
		Arguments        string `json:"arguments"`
		EncryptedContent string `json:"encrypted_content"`
		Summary          []struct{ Text string }
		Content          []struct{ Text string }
	} `json:"output"`
	Usage struct {
		InputTokens        int `json:"input_tokens"`
		InputTokensDetails struct {
			CachedTokens     int `json:"cached_tokens"`
			CacheWriteTokens int `json:"cache_write_tokens"`
		} `json:"input_tokens_details"`
		OutputTokens        int `json:"output_tokens"`
		OutputTokensDetails struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"output_tokens_details"`
		TotalTokens int `json:"total_tokens"`
	} `json:"usage"`
}

func (r fidelityResponse) text() string {
	var b strings.Builder
	for _, o := range r.Output {
		for _, c := range o.Content {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

func (r fidelityResponse) types() string {
	var out []string
	for _, o := range r.Output {
		out = append(out, o.Type)
	}
	return strings.Join(out, " ")
}
