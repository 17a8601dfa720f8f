package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

func runChat(ctx context.Context, e *invocation, args []string) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	serverURL, key := clientFlags(fs, e)
	model := fs.String("model", "scripted/echo", "model as provider/model (scripted/echo is an offline test model)")
	agent := fs.String("agent", "", "agent name or id (instead of --model)")
	user := fs.String("user", "", "end user the conversation belongs to")
	fresh := fs.Bool("new", false, "start a new conversation")
	convFlag := fs.String("conversation", "", "continue this conversation id (and keep it as the current one)")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: engram chat [flags] [MESSAGE...]

Chats with a model or an agent through the server, streaming the answer.
With a MESSAGE it sends it and exits; without, it reads lines from standard
input: /new starts a new conversation, /quit or end of input stops.
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
	c, err := newClient(*serverURL, *key)
	if err != nil {
		return err
	}
	target := "model:" + *model
	if *agent != "" {
		target = "agent:" + *agent
	}
	ch := &chatter{
		c: c, e: e, model: *model, agent: *agent, user: *user,
		state: &chatState{path: statePath(e)},
		slot:  *serverURL + " " + target + " " + *user,
		out:   &streamPrinter{stdout: e.stdout, stderr: e.stderr, dim: isTerminal(e.stderr)},
	}
	if *agent != "" {
		ch.labelAgentModel(ctx)
	}
	switch {
	case *convFlag != "":
		ch.conv = *convFlag
		if err := ch.state.set(ch.slot, ch.conv); err != nil {
			return err
		}
	case !*fresh:
		ch.conv = ch.state.get(ch.slot)
		ch.convFromState = ch.conv != ""
	}
	if len(positional) > 0 {
		return ch.send(ctx, strings.Join(positional, " "))
	}

	interactive := isTerminal(e.stdin)
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
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
			ch.conv, ch.convFromState = "", false
			fmt.Fprintln(e.stderr, "(new conversation)")
			continue
		}
		if err := ch.send(ctx, line); err != nil {
			if ctx.Err() != nil {
				return err
			}
			// One failed turn (a provider down, a bad model) need not end
			// the session: say so and read the next line.
			fmt.Fprintln(e.stderr, "engram:", err)
		}
	}
}

// chatter holds one chat session: where it talks to and its current
// conversation.
type chatter struct {
	c                  *client
	e                  *invocation
	model, agent, user string
	state              *chatState
	slot               string // the state file's key for this server, target and user
	out                *streamPrinter

	conv          string // current conversation id; "" until the first message
	convFromState bool   // conv was read from the state file, so it may be gone
}

// send sends one message in the current conversation, creating the
// conversation first if there is none.
func (ch *chatter) send(ctx context.Context, text string) error {
	if ch.conv == "" {
		if err := ch.newConversation(ctx); err != nil {
			return err
		}
	}
	err := ch.turn(ctx, text)
	var apiErr *apiError
	if ch.convFromState && errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound && ch.conversationGone(ctx) {
		// The saved conversation was deleted since: start over rather than
		// fail on every run until someone passes --new.
		fmt.Fprintf(ch.e.stderr, "(conversation %s no longer exists; starting a new one)\n", ch.conv)
		if err := ch.newConversation(ctx); err != nil {
			return err
		}
		err = ch.turn(ctx, text)
	}
	ch.convFromState = false
	return err
}

// labelAgentModel prints the scripted-model notice when the agent runs on
// a scripted model: an agent's responses name the agent ("agent/NAME"), not
// its model. Keys that may not read agents (invokers) get no notice.
func (ch *chatter) labelAgentModel(ctx context.Context) {
	var a struct {
		Model string `json:"model"`
	}
	if _, err := ch.c.do(ctx, "GET", "/v1/agents/"+url.PathEscape(ch.agent), nil, &a); err != nil {
		return
	}
	ch.out.labelModel(a.Model)
}

// conversationGone reports whether the current conversation is not found.
func (ch *chatter) conversationGone(ctx context.Context) bool {
	_, err := ch.c.do(ctx, "GET", "/v1/conversations/"+url.PathEscape(ch.conv), nil, nil)
	var apiErr *apiError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound
}

// newConversation creates a conversation and makes it the current one, in
// the state file too.
func (ch *chatter) newConversation(ctx context.Context) error {
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
	if _, err := ch.c.do(ctx, "POST", "/v1/conversations", body, &conv); err != nil {
		return err
	}
	if conv.ID == "" {
		return errors.New("the server created a conversation without an id")
	}
	ch.conv, ch.convFromState = conv.ID, false
	return ch.state.set(ch.slot, conv.ID)
}

// turn sends one message and streams the answer.
func (ch *chatter) turn(ctx context.Context, text string) error {
	body := map[string]any{"input": text, "conversation": ch.conv, "stream": true}
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
	return ch.out.print(resp.Body)
}

// streamPrinter shows a streamed response: its text on stdout as it
// arrives; tool activity, usage and notices on stderr, so that stdout is
// the answer alone.
type streamPrinter struct {
	stdout, stderr io.Writer
	dim            bool // stderr is a terminal: the usage line may be dimmed
	labelled       bool // the scripted-model notice was printed
}

// streamEvent is the part of a Responses stream event the chat shows.
type streamEvent struct {
	Delta string `json:"delta"`
	Item  *struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
		Output    string `json:"output"`
	} `json:"item"`
	Response *struct {
		Status string `json:"status"`
		Model  string `json:"model"`
		Error  *struct {
			Message string `json:"message"`
		} `json:"error"`
		IncompleteDetails *struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
		Usage *struct {
			InputTokens          int `json:"input_tokens"`
			OutputTokens         int `json:"output_tokens"`
			StatelessInputTokens int `json:"stateless_input_tokens"`
		} `json:"usage"`
	} `json:"response"`
}

// print shows one response stream, returning the response's error if it
// failed.
func (p *streamPrinter) print(r io.Reader) error {
	var failure string
	ended := false
	err := readSSE(r, func(ev sseEvent) error {
		if string(ev.Data) == "[DONE]" {
			return nil
		}
		var data streamEvent
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			return fmt.Errorf("bad event from the server: %w", err)
		}
		if data.Response != nil {
			p.labelModel(data.Response.Model)
		}
		switch ev.Type {
		case "response.output_text.delta":
			fmt.Fprint(p.stdout, data.Delta)
		case "response.output_item.done":
			if it := data.Item; it != nil && it.Type == "function_call" {
				fmt.Fprintf(p.stderr, "[tool call %s %s]\n", it.Name, it.Arguments)
			} else if it != nil && it.Type == "function_call_output" {
				fmt.Fprintf(p.stderr, "[tool result %s]\n", it.Output)
			}
		case "response.completed", "response.incomplete", "response.failed":
			ended = true
			fmt.Fprintln(p.stdout)
			r := data.Response
			if r == nil {
				break
			}
			if r.Error != nil {
				failure = r.Error.Message
			}
			if r.IncompleteDetails != nil && r.IncompleteDetails.Reason != "" {
				fmt.Fprintf(p.stderr, "(incomplete: %s)\n", r.IncompleteDetails.Reason)
			}
			if u := r.Usage; u != nil {
				p.usage(r.Status, u.InputTokens, u.OutputTokens, u.StatelessInputTokens)
			}
		case "error":
			// A stream-level error event (OpenAI's shape: message at the top).
			var e struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(ev.Data, &e)
			failure = e.Message
			if failure == "" {
				failure = "the server reported an error"
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
	if !ended {
		return errors.New("the answer's stream ended before the response did")
	}
	return nil
}

// labelModel says, once, that a scripted model is not a real LLM, so
// nobody mistakes its answers for one's.
func (p *streamPrinter) labelModel(model string) {
	if !p.labelled && strings.HasPrefix(model, "scripted/") {
		p.labelled = true
		fmt.Fprintln(p.stderr, "(scripted: a deterministic offline test model, not a real LLM)")
	}
}

// usage prints one line of token counts after an answer.
func (p *streamPrinter) usage(status string, in, out, stateless int) {
	line := fmt.Sprintf("(%s: %d tokens in, %d out", status, in, out)
	if stateless > in {
		line += fmt.Sprintf("; a stateless client would have sent %d in", stateless)
	}
	line += ")"
	if p.dim {
		line = "\x1b[2m" + line + "\x1b[0m"
	}
	fmt.Fprintln(p.stderr, line)
}

// isTerminal reports whether f is an *os.File on a character device, the
// closest the standard library comes to "is a terminal".
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// chatState remembers the current conversation per server, target and
// user, in a small JSON file.
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

// load returns the saved conversations; a missing or damaged file is an
// empty state (it only saves typing --conversation).
func (s *chatState) load() map[string]string {
	m := map[string]string{}
	if data, err := os.ReadFile(s.path); err == nil {
		if json.Unmarshal(data, &m) != nil {
			return map[string]string{}
		}
	}
	return m
}

func (s *chatState) get(slot string) string { return s.load()[slot] }

// set saves conv for slot. The file is replaced by a rename, so a reader
// (another engram chat) never sees it half written.
func (s *chatState) set(slot, conv string) error {
	m := s.load()
	m[slot] = conv
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".cli-state-*") // created 0600
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("saving the chat state: %w", err)
	}
	return nil
}
