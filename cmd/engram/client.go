package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// client talks to an Engram server for the client commands.
type client struct {
	base string // http://host:port
	key  string
	http *http.Client
}

// clientFlags adds --url and --key to fs; call connect after parsing.
func clientFlags(fs *flag.FlagSet, e *invocation) (url, key *string) {
	url = fs.String("url", e.env("ENGRAM_URL", "http://"+e.env("ENGRAM_ADDR", "127.0.0.1:8080")), "server URL (ENGRAM_URL, or http://$ENGRAM_ADDR)")
	k := &secretFlag{value: e.env("ENGRAM_API_KEY", e.getenv("ENGRAM_ADMIN_KEY"))}
	fs.Var(k, "key", "API key (ENGRAM_API_KEY, or ENGRAM_ADMIN_KEY)")
	return url, &k.value
}

// secretFlag is a flag whose value -h shows only by its first characters:
// a key taken from the environment must not end up in a terminal's
// scrollback or a pasted help text.
type secretFlag struct{ value string }

func (s *secretFlag) Set(v string) error { s.value = v; return nil }
func (s *secretFlag) String() string {
	if s == nil || s.value == "" {
		return ""
	}
	return s.value[:min(len(s.value), 10)] + "…"
}

func newClient(url, key string) (*client, error) {
	if key == "" {
		return nil, errors.New("no API key: set ENGRAM_API_KEY or pass --key")
	}
	return &client{base: strings.TrimSuffix(url, "/"), key: key, http: &http.Client{}}, nil
}

// apiError is an error answer of the server.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

func (c *client) request(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Engram at %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		return nil, &apiError{Status: resp.StatusCode, Message: msg}
	}
	return resp, nil
}

// do makes a request and decodes the JSON answer into out (if not nil),
// returning the raw answer too.
func (c *client) do(ctx context.Context, method, path string, body, out any) (json.RawMessage, error) {
	resp, err := c.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("unexpected answer from %s %s: %w", method, path, err)
		}
	}
	return data, nil
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Type string
	Data []byte
}

// readSSE calls fn with each event of a stream that has a data field;
// comments, ids and retry hints are skipped.
func readSSE(r io.Reader, fn func(sseEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Data != nil {
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event:"):
			ev.Type = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			// As the SSE spec says: one leading space is dropped, and the
			// lines of a multi-line data field are joined by newlines.
			value := strings.TrimPrefix(line[len("data:"):], " ")
			if ev.Data == nil {
				ev.Data = []byte{}
			} else {
				ev.Data = append(ev.Data, '\n')
			}
			ev.Data = append(ev.Data, value...)
		}
	}
	return sc.Err()
}

// printJSON writes raw JSON indented.
func printJSON(w io.Writer, raw json.RawMessage) {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		w.Write(raw)
		return
	}
	buf.WriteByte('\n')
	w.Write(buf.Bytes())
}

// parseFlags parses a command's flags, which may come before or after its
// positional arguments, and returns the positional ones. -h prints usage:
// done is then true and err nil.
func parseFlags(fs *flag.FlagSet, args []string) (positional []string, done bool, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, nil
			}
			return nil, true, errUsage
		}
		if fs.NArg() == 0 {
			return positional, false, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
