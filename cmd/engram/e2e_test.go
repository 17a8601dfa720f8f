package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func jsonDecode(data []byte, out any) error { return json.Unmarshal(data, out) }

type respBody struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Output []struct {
		Type    string `json:"type"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		Name   string `json:"name"`
		CallID string `json:"call_id"`
		Output string `json:"output"`
	} `json:"output"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (r respBody) text() string {
	var b strings.Builder
	for _, o := range r.Output {
		for _, c := range o.Content {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// TestRestartKeepsConversation: start, converse, stop, start again on the
// same data, continue; the model sees the earlier turns.
func TestRestartKeepsConversation(t *testing.T) {
	srv := startEngram(t, nil)
	var conv struct{ ID string }
	if st := srv.call(t, "POST", "/v1/conversations", `{"metadata":{"topic":"bees"}}`, &conv); st != http.StatusOK {
		t.Fatalf("create conversation: %d", st)
	}
	var r1 respBody
	if st := srv.call(t, "POST", "/v1/responses", `{"model":"scripted/recall","input":"Hive 2 is queenless.","conversation":"`+conv.ID+`"}`, &r1); st != http.StatusOK {
		t.Fatalf("first turn: %d %+v", st, r1)
	}
	var chained respBody
	if st := srv.call(t, "POST", "/v1/responses", `{"model":"scripted/recall","input":"I keep three hives.","previous_response_id":"`+r1.ID+`"}`, &chained); st != http.StatusOK {
		t.Fatalf("chained turn: %d", st)
	}
	srv.Stop()

	again := startEngram(t, map[string]string{"ENGRAM_DATA": srv.DataDir})
	var r2 respBody
	if st := again.call(t, "POST", "/v1/responses", `{"model":"scripted/recall","input":"Which hive?","conversation":"`+conv.ID+`"}`, &r2); st != http.StatusOK {
		t.Fatalf("turn after restart: %d %+v", st, r2)
	}
	if got, want := r2.text(), "Hive 2 is queenless. | Which hive?"; got != want {
		t.Errorf("after restart the model saw %q, want %q", got, want)
	}
	var r3 respBody
	if st := again.call(t, "POST", "/v1/responses", `{"model":"scripted/recall","input":"How many?","previous_response_id":"`+chained.ID+`"}`, &r3); st != http.StatusOK {
		t.Fatalf("chain after restart: %d", st)
	}
	if got, want := r3.text(), "Hive 2 is queenless. | I keep three hives. | How many?"; got != want {
		t.Errorf("chain after restart: model saw %q, want %q", got, want)
	}
}

// TestBuiltinToolRunsServerSide: a builtin tool is called by the server and
// its result goes back to the model in the same response.
func TestBuiltinToolRunsServerSide(t *testing.T) {
	srv := startEngram(t, nil)
	var r respBody
	st := srv.call(t, "POST", "/v1/responses", `{"model":"scripted/echo","input":"call current_time {\"timezone\":\"Europe/Lisbon\"}","tools":[{"type":"builtin","name":"current_time"}]}`, &r)
	if st != http.StatusOK || r.Status != "completed" {
		t.Fatalf("status %d %+v", st, r)
	}
	if len(r.Output) != 3 || r.Output[0].Type != "function_call" || r.Output[1].Type != "function_call_output" || r.Output[2].Type != "message" {
		t.Fatalf("output = %+v, want function_call, function_call_output, message", r.Output)
	}
	if !strings.Contains(r.Output[1].Output, `"timezone":"Europe/Lisbon"`) || !strings.HasPrefix(r.text(), "tool said: {") {
		t.Errorf("tool output %q, answer %q", r.Output[1].Output, r.text())
	}
}

// TestClientToolRoundTrip: a function tool stops the response with the call;
// the client's output continues it.
func TestClientToolRoundTrip(t *testing.T) {
	srv := startEngram(t, nil)
	var r respBody
	srv.call(t, "POST", "/v1/responses", `{"model":"scripted/tools","input":"weather?","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{}}}]}`, &r)
	if r.Status != "completed" || len(r.Output) != 1 || r.Output[0].Type != "function_call" || r.Output[0].Name != "get_weather" {
		t.Fatalf("first response %+v", r)
	}
	var r2 respBody
	body := `{"model":"scripted/tools","previous_response_id":"` + r.ID + `","input":[{"type":"function_call_output","call_id":"` + r.Output[0].CallID + `","output":"sunny"}],"tools":[{"type":"function","name":"get_weather"}]}`
	if st := srv.call(t, "POST", "/v1/responses", body, &r2); st != http.StatusOK {
		t.Fatalf("second: %d %+v", st, r2)
	}
	if r2.text() != "tool said: sunny" {
		t.Errorf("answer %q", r2.text())
	}
	var bad struct {
		Error struct{ Message, Param string }
	}
	body = `{"model":"scripted/tools","previous_response_id":"` + r.ID + `","input":[{"type":"function_call_output","call_id":"call_nope","output":"x"}]}`
	if st := srv.call(t, "POST", "/v1/responses", body, &bad); st != http.StatusBadRequest || !strings.Contains(bad.Error.Message, "call_nope") {
		t.Errorf("orphan tool output: %d %+v", st, bad)
	}
}
