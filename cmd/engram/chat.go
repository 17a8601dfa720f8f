package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func runChat(ctx context.Context, e *invocation, args []string) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	url, key := clientFlags(fs, e)
	model := fs.String("model", "scripted/echo", "model as provider/model (scripted/echo is an offline test model)")
	agent := fs.String("agent", "", "agent name or id (instead of --model)")
	user := fs.String("user", "", "end user the conversation belongs to")
	fresh := fs.Bool("new", false, "start a new conversation")
	convFlag := fs.String("conversation", "", "continue this conversation id")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: engram chat [flags] [MESSAGE...]

Chats with a model or an agent through the server, streaming the answer.
With a MESSAGE it sends it and exits; without, it reads lines from standard
input (/new starts a new conversation, /quit or end of input stops).
The conversation is kept across invocations, per server, model or agent, and
user, in $ENGRAM_CLI_STATE (default: the user config dir's engram/cli-state.json).

Flags:
`)
		fs.PrintDefaults()
	}
	positional, done, err := parseFlags(fs, args)
	if done {
		return err
	}
	c, err := newClient(*url, *key)
	if err != nil {
		return err
	}
	st := &chatState{path: statePath(e)}
	target := "model:" + *model
	if *agent != "" {
		target = "agent:" + *agent
	}
	slot := *url + " " + target + " " + *user
	conv := *convFlag
	if conv == "" && !*fresh {
		conv = st.get(slot)
	}
	if strings.HasPrefix(*model, "scripted/") && *agent == "" {
		fmt.Fprintln(e.stderr, "(scripted: a deterministic offline test model, not a real LLM)")
	}
	ch := &chatter{c: c, e: e, model: *model, agent: *agent, user: *user}
	send := func(text string) error {
		if conv == "" {
			if conv, err = ch.newConversation(ctx); err != nil {
				return err
			}
			if err := st.set(slot, conv); err != nil {
				return err
			}
		}
		return ch.turn(ctx, conv, text)
	}
	if len(positional) > 0 {
		return send(strings.Join(positional, " "))
	}
	interactive := isTerminal(e.stdin)
	sc := bufio.NewScanner(e.stdin)
	for {
		if interactive {
			fmt.Fprint(e.stdout, "> ")
		}
		if !sc.Scan() {
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
			continue
		case "/quit", "/exit":
			return nil
		case "/new":
			conv = ""
			fmt.Fprintln(e.stderr, "(new conversation)")
			continue
		}
		if err := send(line); err != nil {
			return err
		}
	}
}

type chatter struct {
	c                  *client
	e                  *invocation
	model, agent, user string
}

func (ch *chatter) newConversation(ctx context.Context) (string, error) {
	body := map[string]any{"metadata": map[string]string{"source": "engram chat"}}
	if ch.agent != "" {
		body["agent"] = ch.agent
	}
	if ch.user != "" {
		body["user"] = ch.user
	}
	var conv struct {
		ID string `json:"id"`
	}
	_, err := ch.c.do(ctx, "POST", "/v1/conversations", body, &conv)
	return conv.ID, err
}

// turn sends one message and streams the answer's text to stdout.
func (ch *chatter) turn(ctx context.Context, conv, text string) error {
	body := map[string]any{"input": text, "conversation": conv, "stream": true}
	if ch.agent != "" {
		body["agent"] = ch.agent
	} else {
		body["model"] = ch.model
	}
	if ch.user != "" {
		body["user"] = ch.user
	}
	resp, err := ch.c.request(ctx, "POST", "/v1/responses", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var failure string
	err = readSSE(resp.Body, func(ev sseEvent) error {
		var data struct {
			Delta string `json:"delta"`
			Item  *struct {
				Type, Name, Arguments, Output string
			} `json:"item"`
			Response *struct {
				Status string `json:"status"`
				Error  *struct {
					Message string `json:"message"`
				} `json:"error"`
				Usage *struct {
					InputTokens          int `json:"input_tokens"`
					OutputTokens         int `json:"output_tokens"`
					StatelessInputTokens int `json:"stateless_input_tokens"`
				} `json:"usage"`
			} `json:"response"`
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			return fmt.Errorf("bad event from the server: %w", err)
		}
		switch ev.Type {
		case "response.output_text.delta":
			fmt.Fprint(ch.e.stdout, data.Delta)
		case "response.output_item.done":
			if it := data.Item; it != nil && it.Type == "function_call" {
				fmt.Fprintf(ch.e.stderr, "[tool call %s %s]\n", it.Name, it.Arguments)
			} else if it != nil && it.Type == "function_call_output" {
				fmt.Fprintf(ch.e.stderr, "[tool result %s]\n", it.Output)
			}
		case "response.completed", "response.incomplete", "response.failed":
			fmt.Fprintln(ch.e.stdout)
			if r := data.Response; r != nil {
				if r.Error != nil {
					failure = r.Error.Message
				}
				if u := r.Usage; u != nil {
					fmt.Fprintf(ch.e.stderr, "\x1b[2m(%s: %d tokens in, %d out; a stateless client would have sent %d)\x1b[0m\n", r.Status, u.InputTokens, u.OutputTokens, u.StatelessInputTokens)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if failure != "" {
		return fmt.Errorf("the response failed: %s", failure)
	}
	return nil
}

func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// chatState remembers the current conversation per server, target and user.
type chatState struct{ path string }

func statePath(e *invocation) string {
	if p := e.getenv("ENGRAM_CLI_STATE"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "engram", "cli-state.json")
}

func (s *chatState) load() map[string]string {
	m := map[string]string{}
	if data, err := os.ReadFile(s.path); err == nil {
		_ = json.Unmarshal(data, &m)
	}
	return m
}

func (s *chatState) get(slot string) string { return s.load()[slot] }

func (s *chatState) set(slot, conv string) error {
	m := s.load()
	m[slot] = conv
	data, _ := json.MarshalIndent(m, "", "  ")
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(s.path, data, 0o600)
}
