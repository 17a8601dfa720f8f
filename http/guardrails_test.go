package http_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestGuardrails: an agent's guardrails through the API: validated on
// write, a blocked input refused with 400 content_filter and nothing
// stored, PII redacted in the stored conversation and in the answer,
// plain and streamed, and a blocked output ending incomplete.
func TestGuardrails(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct{ body, param string }{
		{`{"name":"bad","model":"scripted/echo","guardrails":{"input":{"redact":[{"pattern":"(oops"}]}}}`, "guardrails.input.redact[0].pattern"},
		{`{"name":"bad","model":"scripted/echo","guardrails":{"output":{"redact":[{"builtin":"passport"}]}}}`, "guardrails.output.redact[0].builtin"},
		{`{"name":"bad","model":"scripted/echo","guardrails":{"input":{"redact":[{"builtin":"email","regex":"x"}]}}}`, "regex"},
	} {
		status, out := e.do(t, "mine/developer", "POST", "/v1/agents", tt.body)
		if status != 400 || !strings.Contains(out, `"param":"`+tt.param+`"`) {
			t.Errorf("%s: %d %s", tt.body, status, out)
		}
	}
	status, out := e.do(t, "mine/developer", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo","guardrails":{
		"input":{"redact":[{"builtin":"email"},{"builtin":"credit_card"},{"builtin":"phone"},{"pattern":"hive-[0-9]+","name":"hive"}],"block":["project nightingale"]},
		"output":{"redact":[{"pattern":"colony-[0-9]+","replacement":"***"}],"block":["queen excluder"]}}}`)
	if status != 200 || !strings.Contains(out, `"guardrails":{"input":{"redact":[{"builtin":"email"}`) {
		t.Fatalf("create: %d %s", status, out)
	}
	_, conv := e.do(t, "mine/invoker", "POST", "/v1/conversations", `{}`)

	status, out = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","conversation":"`+id(conv)+`","input":"What is Project Nightingale?"}`)
	if status != 400 || !strings.Contains(out, `"code":"content_filter"`) || !strings.Contains(out, `"param":"input"`) {
		t.Errorf("blocked input: %d %s", status, out)
	}
	_, items := e.do(t, "mine/invoker", "GET", "/v1/conversations/"+id(conv)+"/items", ``)
	if strings.Contains(items, "Nightingale") {
		t.Errorf("a refused input was stored: %s", items)
	}

	raw := []string{"ada@example.org", "4242 4242 4242 4242", "+44 20 7946 0958", "hive-7", "colony-42"}
	input := "I am ada@example.org, card 4242 4242 4242 4242, phone +44 20 7946 0958, about hive-7."
	status, out = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","conversation":"`+id(conv)+`","input":"`+input+`"}`)
	if status != 200 || !strings.Contains(out, "[REDACTED:email]") || !strings.Contains(out, "[REDACTED:hive]") {
		t.Errorf("redacted turn: %d %s", status, out)
	}
	// Output filters: the echo of a colony's name (no input filter for it)
	// is redacted in the stream, whose deltas hold no raw text.
	status, stream := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","conversation":"`+id(conv)+`","stream":true,"input":"My colony-42 swarmed."}`)
	var deltas strings.Builder
	for _, line := range strings.Split(stream, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Type  string `json:"type"`
			Delta string `json:"delta"`
		}
		if json.Unmarshal([]byte(data), &ev) == nil && ev.Type == "response.output_text.delta" {
			deltas.WriteString(ev.Delta)
		}
	}
	if status != 200 || deltas.String() != "echo: My *** swarmed." {
		t.Errorf("streamed deltas %q (%d)", deltas.String(), status)
	}
	_, items = e.do(t, "mine/invoker", "GET", "/v1/conversations/"+id(conv)+"/items?limit=100", ``)
	for _, r := range raw[:4] {
		if strings.Contains(items, r) || strings.Contains(out, r) || strings.Contains(stream, "echo: My colony-42") {
			t.Errorf("%q reached the store or the answer: %s", r, items)
		}
	}
	if !strings.Contains(items, "My colony-42 swarmed") || strings.Contains(items, "echo: My colony-42") {
		t.Errorf("stored items: the input keeps the name (no input filter for it), the output must not: %s", items)
	}

	status, out = e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"agent/keeper","input":"Do I need a queen excluder?"}`)
	if status != 200 || !strings.Contains(out, `"status":"incomplete"`) || !strings.Contains(out, `"reason":"content_filter"`) || strings.Contains(out, "echo:") {
		t.Errorf("blocked output: %d %s", status, out)
	}
}
