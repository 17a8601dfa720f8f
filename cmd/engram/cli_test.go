package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli runs an engram client command against srv with key, returning its
// output and error.
func cli(t *testing.T, srv *testServer, key, stdin string, args ...string) (string, string, error) {
	t.Helper()
	state := filepath.Join(srv.DataDir, "cli-state.json")
	env := map[string]string{"ENGRAM_URL": srv.URL, "ENGRAM_API_KEY": key, "ENGRAM_CLI_STATE": state}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestChatKeepsConversation(t *testing.T) {
	srv := startEngram(t, nil)
	out, errOut, err := cli(t, srv, srv.AdminKey, "", "chat", "--model", "scripted/recall", "I keep three hives.")
	if err != nil || strings.TrimSpace(out) != "I keep three hives." {
		t.Fatalf("first chat: %q %q %v", out, errOut, err)
	}
	if !strings.Contains(errOut, "scripted: a deterministic offline test model") {
		t.Errorf("the scripted model is not labelled: %q", errOut)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "chat", "--model", "scripted/recall", "How many hives?")
	if err != nil || strings.TrimSpace(out) != "I keep three hives. | How many hives?" {
		t.Fatalf("second chat did not continue: %q %v", out, err)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "chat", "--model", "scripted/recall", "--new", "Fresh start.")
	if err != nil || strings.TrimSpace(out) != "Fresh start." {
		t.Fatalf("--new: %q %v", out, err)
	}
	// Interactive: lines from stdin, /new, /quit.
	out, _, err = cli(t, srv, srv.AdminKey, "one\ntwo\n/new\nthree\n/quit\nnever\n", "chat", "--model", "scripted/recall")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"Fresh start. | one", "Fresh start. | one | two", "three"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("interactive answers %q, want %q", lines, want)
	}
}

func TestAgentsConversationsKeysCommands(t *testing.T) {
	srv := startEngram(t, nil)
	admin := srv.AdminKey
	out, _, err := cli(t, srv, admin, "", "agents", "create", "--name", "keeper", "--model", "scripted/recall", "--instructions", "You help a beekeeper.", "--budget-tokens", "8000")
	if err != nil || !strings.Contains(out, "keeper") || !strings.Contains(out, "version 1") {
		t.Fatalf("create: %q %v", out, err)
	}
	out, _, err = cli(t, srv, admin, "", "agents", "update", "keeper", "--instructions", "Be brief.")
	if err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("update: %q %v", out, err)
	}
	out, _, _ = cli(t, srv, admin, "", "agents", "show", "keeper", "--version", "1")
	if !strings.Contains(out, "You help a beekeeper.") || !strings.Contains(out, "8000") {
		t.Errorf("show version 1: %q", out)
	}
	out, _, _ = cli(t, srv, admin, "", "agents", "versions", "keeper")
	if strings.Count(out, "keeper") != 2 {
		t.Errorf("versions: %q", out)
	}
	out, _, _ = cli(t, srv, admin, "", "agents", "list")
	if !strings.Contains(out, "keeper") || !strings.Contains(out, "scripted/recall") {
		t.Errorf("list: %q", out)
	}

	// A chat with the agent, then its conversation through the commands.
	if out, _, err := cli(t, srv, admin, "", "chat", "--agent", "keeper", "--user", "ada", "Hive 2 is queenless."); err != nil || !strings.Contains(out, "Hive 2 is queenless.") {
		t.Fatalf("agent chat: %q %v", out, err)
	}
	out, _, _ = cli(t, srv, admin, "", "conversations", "list", "--agent", "keeper", "--user", "ada")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("conversations list: %q", out)
	}
	convID := strings.Fields(lines[1])[0]
	out, _, _ = cli(t, srv, admin, "", "conversations", "show", convID)
	if !strings.Contains(out, "user: Hive 2 is queenless.") || !strings.Contains(out, "assistant: Hive 2 is queenless.") {
		t.Errorf("show: %q", out)
	}
	if _, _, err := cli(t, srv, admin, "", "conversations", "delete", convID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, srv, admin, "", "conversations", "show", convID); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("show after delete: %v", err)
	}
	if out, _, err := cli(t, srv, admin, "", "agents", "delete", "keeper"); err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("agents delete: %q %v", out, err)
	}

	// Keys: create, use, list, revoke, refused.
	out, _, err = cli(t, srv, admin, "", "keys", "create", "--name", "front-end", "--role", "invoker", "--user", "ada")
	if err != nil {
		t.Fatal(err)
	}
	var secret, keyID string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "sk-engram-") {
			secret = f
		}
		if strings.HasPrefix(f, "key_") {
			keyID = strings.TrimSuffix(f, ".")
		}
	}
	if secret == "" || keyID == "" {
		t.Fatalf("keys create printed no secret or id: %q", out)
	}
	if _, _, err := cli(t, srv, secret, "", "conversations", "list"); err != nil {
		t.Fatalf("the new key does not work: %v", err)
	}
	out, _, _ = cli(t, srv, admin, "", "keys", "list")
	if !strings.Contains(out, "front-end") || strings.Contains(out, secret) {
		t.Errorf("keys list shows %q (must list the key, never its secret)", out)
	}
	if _, _, err := cli(t, srv, admin, "", "keys", "revoke", keyID); err != nil {
		t.Fatal(err)
	}
	_, _, err = cli(t, srv, secret, "", "conversations", "list")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a revoked key still works: %v", err)
	}
	if _, _, err := cli(t, srv, "sk-engram-wrong", "", "agents", "list"); err == nil || !strings.Contains(err.Error(), "Incorrect API key") {
		t.Errorf("bad key error: %v", err)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "-h"}, {"chat", "-h"}, {"agents", "--help"}, {"projects", "--help"}, {"bench", "-h"}, {"secrets", "-h"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if out.Len()+errOut.Len() == 0 || !strings.Contains(out.String()+errOut.String(), "Usage") {
			t.Errorf("%v printed no usage", args)
		}
	}
}

// TestChatStateAndLabels: a saved conversation deleted since is replaced by
// a new one; --conversation continues a given one and makes it current; an
// agent on a scripted model is labelled; the state file is private.
func TestChatStateAndLabels(t *testing.T) {
	srv := startEngram(t, nil)
	admin := srv.AdminKey
	if _, _, err := cli(t, srv, admin, "", "chat", "--model", "scripted/recall", "first"); err != nil {
		t.Fatal(err)
	}
	out, _, _ := cli(t, srv, admin, "", "conversations", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("conversations list: %q", out)
	}
	first := strings.Fields(lines[1])[0]
	if _, _, err := cli(t, srv, admin, "", "conversations", "delete", first); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := cli(t, srv, admin, "", "chat", "--model", "scripted/recall", "second")
	if err != nil || strings.TrimSpace(out) != "second" || !strings.Contains(errOut, "no longer exists") {
		t.Fatalf("chat after its conversation was deleted: %q %q %v", out, errOut, err)
	}
	out, _, err = cli(t, srv, admin, "", "chat", "--model", "scripted/recall", "--new", "third")
	if err != nil || strings.TrimSpace(out) != "third" {
		t.Fatalf("--new: %q %v", out, err)
	}

	// --conversation picks the one "second" went to, and it stays current.
	out, _, _ = cli(t, srv, admin, "", "conversations", "list")
	var second string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		id := strings.Fields(line)[0]
		items, _, _ := cli(t, srv, admin, "", "conversations", "show", id)
		if strings.Contains(items, "user: second") {
			second = id
		}
	}
	if second == "" {
		t.Fatalf("no conversation holds %q: %q", "second", out)
	}
	out, _, err = cli(t, srv, admin, "", "chat", "--model", "scripted/recall", "--conversation", second, "fourth")
	if err != nil || strings.TrimSpace(out) != "second | fourth" {
		t.Fatalf("--conversation: %q %v", out, err)
	}
	out, _, err = cli(t, srv, admin, "", "chat", "--model", "scripted/recall", "fifth")
	if err != nil || strings.TrimSpace(out) != "second | fourth | fifth" {
		t.Fatalf("after --conversation: %q %v", out, err)
	}

	if _, _, err := cli(t, srv, admin, "", "agents", "create", "--name", "scribe", "--model", "scripted/echo"); err != nil {
		t.Fatal(err)
	}
	_, errOut, err = cli(t, srv, admin, "", "chat", "--agent", "scribe", "hello")
	if err != nil || strings.Count(errOut, "scripted: a deterministic offline test model") != 1 {
		t.Errorf("agent on a scripted model: stderr %q, err %v", errOut, err)
	}
	if !strings.Contains(errOut, "tokens in") {
		t.Errorf("no usage line: %q", errOut)
	}
	fi, err := os.Stat(filepath.Join(srv.DataDir, "cli-state.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v %v, want mode 0600", fi, err)
	}
}

// TestInteractiveSurvivesAFailedTurn: in the interactive loop a turn the
// server refuses is reported and the next line is still answered.
func TestInteractiveSurvivesAFailedTurn(t *testing.T) {
	srv := startEngram(t, nil)
	out, errOut, err := cli(t, srv, srv.AdminKey, "one\n/quit\n", "chat", "--model", "nowhere/model")
	if err != nil || !strings.Contains(errOut, "engram: 400: ") {
		t.Fatalf("unknown provider: %q %q %v", out, errOut, err)
	}
	if _, errOut, err := cli(t, srv, srv.AdminKey, "", "chat", "--model", "nowhere/model", "one"); err == nil {
		t.Errorf("a refused message with MESSAGE succeeds: %q", errOut)
	}
}

// TestClientErrors: what the commands say when they cannot do their work.
func TestClientErrors(t *testing.T) {
	srv := startEngram(t, nil)
	tests := []struct {
		name    string
		key     string
		args    []string
		wantErr string
	}{
		{"bad key", "sk-engram-wrong", []string{"agents", "list"}, "401: Incorrect API key"},
		{"no key", "", []string{"keys", "list"}, "no API key"},
		{"unknown agent", srv.AdminKey, []string{"agents", "show", "nobody"}, "404: "},
		{"unknown conversation", srv.AdminKey, []string{"conversations", "show", "conv_nope"}, "404: "},
		{"missing name", srv.AdminKey, []string{"agents", "show"}, "missing agent NAME"},
		{"unknown verb", srv.AdminKey, []string{"keys", "rotate"}, `unknown command "rotate"`},
		{"bad role", srv.AdminKey, []string{"keys", "create", "--name", "x", "--role", "emperor"}, "400: "},
		{"bad flag", srv.AdminKey, []string{"agents", "list", "--colour"}, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cli(t, srv, tt.key, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want one containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

// TestReadSSECases: the SSE reader against the spec's corners (the plain
// case is TestReadSSE; its fuzz target FuzzReadSSE is in client_test.go).
func TestReadSSECases(t *testing.T) {
	tests := []struct {
		name, stream string
		want         string // type=data per event, joined by ";"
	}{
		{"two events", "event: a\ndata: {\"x\":1}\n\nevent: b\ndata: 2\n\n", `a={"x":1};b=2`},
		{"comments and ids skipped", ": hi\nid: 7\nevent: a\ndata: 1\n\n", "a=1"},
		{"multi-line data", "data: one\ndata: two\n\n", "=one\ntwo"},
		{"one space dropped", "data:  x\n\n", "= x"},
		{"no data, no event", "event: c\n\n", ""},
		{"unterminated last event dropped", "event: a\ndata: 1\n\nevent: b\ndata: 2", "a=1"},
		{"CRLF lines", "event: a\r\ndata: 1\r\n\r\n", "a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := readSSE(strings.NewReader(tt.stream), func(ev sseEvent) error {
				got = append(got, ev.Type+"="+string(ev.Data))
				return nil
			})
			if err != nil || strings.Join(got, ";") != tt.want {
				t.Errorf("events %q, err %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestStreamPrinter(t *testing.T) {
	const completed = "event: response.completed\ndata: {\"response\":{\"status\":\"completed\",\"model\":\"openai/x\",\"usage\":{\"input_tokens\":3,\"output_tokens\":2,\"stateless_input_tokens\":9}}}\n\n"
	tests := []struct {
		name, stream         string
		wantOut, wantErrText string // stdout; a substring of stderr
		wantErr              string
	}{
		{"text and usage",
			"event: response.output_text.delta\ndata: {\"delta\":\"Hel\"}\n\nevent: response.output_text.delta\ndata: {\"delta\":\"lo\"}\n\n" + completed,
			"Hello\n", "(completed: 3 tokens in, 2 out; a stateless client would have sent 9 in)", ""},
		{"tool call shown on stderr",
			"event: response.output_item.done\ndata: {\"item\":{\"type\":\"function_call\",\"name\":\"current_time\",\"arguments\":\"{}\"}}\n\n" + completed,
			"\n", "[tool call current_time {}]", ""},
		{"scripted label",
			"event: response.created\ndata: {\"response\":{\"status\":\"in_progress\",\"model\":\"scripted/echo\"}}\n\n" + completed,
			"\n", "(scripted: a deterministic offline test model", ""},
		{"failed",
			"event: response.failed\ndata: {\"response\":{\"status\":\"failed\",\"error\":{\"message\":\"upstream down\"}}}\n\n",
			"\n", "", "the response failed: upstream down"},
		{"error event",
			"event: error\ndata: {\"message\":\"overloaded\"}\n\n",
			"", "", "the response failed: overloaded"},
		{"cut short",
			"event: response.output_text.delta\ndata: {\"delta\":\"Hel\"}\n\n",
			"Hel", "", "stream ended before the response did"},
		{"not JSON", "event: response.output_text.delta\ndata: {\n\n", "", "", "bad event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			p := &streamPrinter{stdout: &out, stderr: &errOut}
			err := p.print(strings.NewReader(tt.stream))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if out.String() != tt.wantOut || !strings.Contains(errOut.String(), tt.wantErrText) {
				t.Errorf("stdout %q stderr %q; want stdout %q, stderr containing %q", out.String(), errOut.String(), tt.wantOut, tt.wantErrText)
			}
		})
	}
}

// FuzzStreamPrinter: whatever a server streams, the chat prints or returns
// an error, never panics, and stdout carries only the deltas' text and
// line ends.
func FuzzStreamPrinter(f *testing.F) {
	f.Add("event: response.output_text.delta\ndata: {\"delta\":\"hi\"}\n\nevent: response.completed\ndata: {\"response\":{\"model\":\"scripted/echo\",\"usage\":{\"input_tokens\":1}}}\n\n")
	f.Add("event: response.failed\ndata: {\"response\":{\"error\":null}}\n\n")
	f.Add("event: response.output_item.done\ndata: {\"item\":null}\n\n")
	f.Add("event: error\ndata: 7\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		var out bytes.Buffer
		p := &streamPrinter{stdout: &out, stderr: &bytes.Buffer{}}
		err := p.print(strings.NewReader(stream))
		if err == nil && !strings.HasSuffix(out.String(), "\n") {
			t.Fatalf("a finished answer did not end its line: %q", out.String())
		}
		if errors.Is(err, errUsage) {
			t.Fatal("a stream error reported as a usage error")
		}
	})
}

// TestRunsCommands: a background run waiting for approval is listed,
// shown with its journal, approved, and its stream watched to the end.
func TestRunsCommands(t *testing.T) {
	srv := startEngram(t, nil)
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "shipped") }))
	defer tool.Close()
	agent := fmt.Sprintf(`{"name":"shipper","model":"scripted/echo","tools":[{"type":"http","name":"ship","url":%q,"require_approval":"always"}]}`, tool.URL)
	if code := srv.call(t, "POST", "/v1/agents", agent, nil); code != 200 {
		t.Fatalf("create agent: %d", code)
	}
	var r struct{ ID string }
	srv.call(t, "POST", "/v1/responses", `{"model":"agent/shipper","input":"call ship {}","background":true}`, &r)
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out, r.ID) && time.Now().Before(deadline) {
		out, _, _ = cli(t, srv, srv.AdminKey, "", "runs", "list", "--status", "requires_action")
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out, r.ID) || !strings.Contains(out, "requires_action") {
		t.Fatalf("runs list: %s", out)
	}
	out, _, err := cli(t, srv, srv.AdminKey, "", "runs", "show", r.ID)
	if err != nil || !strings.Contains(out, "waiting for approval mcpr_") || !strings.Contains(out, "awaiting_approval") {
		t.Fatalf("runs show: %v\n%s", err, out)
	}
	request := strings.Fields(out[strings.Index(out, "mcpr_"):])[0]
	request = strings.TrimSuffix(request, ":")
	if out, _, err = cli(t, srv, srv.AdminKey, "", "runs", "approve", r.ID, request); err != nil {
		t.Fatalf("runs approve: %v %s", err, out)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "runs", "watch", r.ID)
	if err != nil || !strings.Contains(out, "tool said: shipped") || !strings.Contains(out, "response.completed (completed)") {
		t.Fatalf("runs watch: %v\n%s", err, out)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "runs", "cancel", r.ID)
	if err != nil || !strings.Contains(out, "is completed") {
		t.Fatalf("cancelling an ended run: %v %s", err, out)
	}
}
