package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engram-run/engram"
)

// serverEnv makes the test binary an MCP server on stdio (the stdio tests
// start it again as their server's command).
const serverEnv = "ENGRAM_MCP_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		fmt.Fprintln(os.Stderr, "test server up, token", os.Getenv("TEST_TOKEN"))
		if err := newTestServer().Run(context.Background(), &sdk.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, "test server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

// newTestServer is a real MCP server (the SDK's) with six tools listed two
// per page, so a listing takes three pages.
func newTestServer() *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "test-server", Version: "1"}, &sdk.ServerOptions{PageSize: 2})
	text := func(s string) *sdk.CallToolResult {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
	}
	object := json.RawMessage(`{"type":"object"}`)
	sdk.AddTool(s, &sdk.Tool{Name: "echo", Description: "Echoes text."},
		func(_ context.Context, _ *sdk.CallToolRequest, in echoIn) (*sdk.CallToolResult, any, error) {
			return text("echo: " + in.Text), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "fail", Description: "Always fails."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			return nil, nil, errors.New("boom")
		})
	// whoami tells which credential reached the server: the Authorization
	// header over HTTP, the TEST_TOKEN variable over stdio; and the
	// idempotency key the call carried.
	s.AddTool(&sdk.Tool{Name: "whoami", InputSchema: object}, func(_ context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		who := os.Getenv("TEST_TOKEN")
		if req.Extra != nil && req.Extra.Header != nil {
			who = req.Extra.Header.Get("Authorization")
		}
		key, _ := req.Params.Meta[IdempotencyMetaKey].(string)
		return text("who=" + who + " key=" + key), nil
	})
	s.AddTool(&sdk.Tool{Name: "env", InputSchema: object}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return text(strings.Join(os.Environ(), "\n")), nil
	})
	s.AddTool(&sdk.Tool{Name: "pid", InputSchema: object}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return text(strconv.Itoa(os.Getpid())), nil
	})
	// grow adds a tool: the server tells its sessions the list changed.
	s.AddTool(&sdk.Tool{Name: "files.grow", Description: "Adds a tool.", InputSchema: object}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		s.AddTool(&sdk.Tool{Name: "added_later", Description: "Came later.", InputSchema: object}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return text("late"), nil
		})
		return text("grew"), nil
	})
	return s
}

// mapConnectors is a STAND-IN for connector resolution only (the real
// engram.Connectors reads the store and unseals credentials): connectors by
// name, and secrets by connector and user ("" for the shared one), with
// the same rules for per-user connectors.
type mapConnectors struct {
	mu      sync.Mutex
	conns   map[string]*engram.Connector
	secrets map[string]map[string]engram.Secret
}

func (m *mapConnectors) add(c *engram.Connector, secrets map[string]engram.Secret) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns == nil {
		m.conns, m.secrets = map[string]*engram.Connector{}, map[string]map[string]engram.Secret{}
	}
	c.ID, c.Kind = "conn_"+c.Name, engram.ConnectorMCP
	m.conns[c.Name], m.secrets[c.Name] = c, secrets
}

func (m *mapConnectors) Resolve(_ context.Context, projectID, name, user string) (*engram.ResolvedConnector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.conns[name]
	if c == nil || projectID != "proj_test" {
		return nil, engram.Errorf(engram.ENotFound, "connector %s not found", name)
	}
	if s, ok := m.secrets[name][user]; ok && user != "" {
		return &engram.ResolvedConnector{Connector: c, Secret: s, User: user}, nil
	}
	if c.PerUser {
		return nil, engram.Errorf(engram.EForbidden, "connector %s needs a credential for user %s", name, user)
	}
	return &engram.ResolvedConnector{Connector: c, Secret: m.secrets[name][""]}, nil
}

// events records what the pool observes, so tests wait on a notification
// instead of sleeping.
type events chan string

func (e events) wait(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case got := <-e:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("the pool never saw %q", want)
		}
	}
}

func newPool(t *testing.T, conns engram.Connectors) (*Pool, events) {
	p := New(conns, nil)
	ev := make(events, 64)
	p.observe = func(event, _ string) {
		select {
		case ev <- event:
		default:
		}
	}
	t.Cleanup(func() { p.Close() })
	return p, ev
}

func names(specs []engram.ToolSpec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func call(t *testing.T, p *Pool, user, name, args string) (string, error) {
	t.Helper()
	return p.Call(context.Background(), engram.ToolCall{ProjectID: "proj_test", User: user, Arguments: json.RawMessage(args),
		IdempotencyKey: "resp_1/step-" + name}, engram.ToolSpec{Type: engram.ToolMCP, Name: name, Connector: nameConnector(name)})
}

func nameConnector(name string) string { c, _, _ := strings.Cut(name, "__"); return c }

func mustCall(t *testing.T, p *Pool, user, name, args string) string {
	t.Helper()
	out, err := call(t, p, user, name, args)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return out
}

var grownName = ToolName("srv", "files.grow")

// exercise is what both transports must do alike: list (three pages),
// filter, call, show a tool's failure to the model, refuse an unknown
// tool, and see a tool added while the session is open.
func exercise(t *testing.T, p *Pool, ev events, user string) {
	ctx := context.Background()
	spec := engram.ToolSpec{Type: engram.ToolMCP, Connector: "srv", RequireApproval: "always"}
	// The session outlives the request that opened it: its context ends
	// at once, and the session must go on hearing from the server.
	first, cancel := context.WithCancel(ctx)
	tools, err := p.Tools(first, "proj_test", spec, user)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"srv__echo", "srv__env", "srv__fail", "srv__pid", "srv__whoami", grownName}
	slices.Sort(want)
	if got := names(tools); !slices.Equal(got, want) {
		t.Fatalf("tools = %v, want %v", got, want)
	}
	for _, ts := range tools {
		if ts.Type != engram.ToolMCP || ts.Connector != "srv" || ts.RequireApproval != "always" {
			t.Errorf("tool %+v: type, connector or require_approval not carried", ts)
		}
		if ts.Name == "srv__echo" {
			if ts.Description != "Echoes text." || !strings.Contains(string(ts.Parameters), `"text"`) {
				t.Errorf("echo: description %q, parameters %s", ts.Description, ts.Parameters)
			}
		}
	}
	spec.AllowedTools = []string{"echo", "srv__fail", "missing"}
	tools, err = p.Tools(ctx, "proj_test", spec, user)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(tools); !slices.Equal(got, []string{"srv__echo", "srv__fail"}) {
		t.Errorf("allowed_tools [echo srv__fail missing] gave %v", got)
	}

	if out := mustCall(t, p, user, "srv__echo", `{"text":"hi"}`); out != "echo: hi" {
		t.Errorf("echo = %q", out)
	}
	if out := mustCall(t, p, user, "srv__fail", `{}`); out != "error: boom" {
		t.Errorf("fail = %q, want the tool's error as a result", out)
	}
	if out := mustCall(t, p, user, "srv__echo", `{"text":42}`); !strings.HasPrefix(out, "error: ") {
		t.Errorf("echo with a number = %q, want the server's validation error as a result", out)
	}
	if _, err := call(t, p, user, "srv__nope", `{}`); engram.ErrorCode(err) != engram.EInvalid {
		t.Errorf("unknown tool: err = %v, want EInvalid (the model reads it)", err)
	}
	if _, err := call(t, p, user, "srv__echo", `[1]`); engram.ErrorCode(err) != engram.EInvalid {
		t.Errorf("array arguments: err = %v, want EInvalid", err)
	}
	if out := mustCall(t, p, user, "srv__whoami", `null`); !strings.HasSuffix(out, " key=resp_1/step-srv__whoami") {
		t.Errorf("whoami = %q: the idempotency key did not reach the server", out)
	}

	// The server adds a tool while the session is open.
	if out := mustCall(t, p, user, grownName, `{}`); out != "grew" {
		t.Fatalf("grow = %q", out)
	}
	ev.wait(t, "tools_changed")
	tools, err = p.Tools(ctx, "proj_test", engram.ToolSpec{Type: engram.ToolMCP, Connector: "srv"}, user)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(tools); !slices.Contains(got, "srv__added_later") || len(got) != 7 {
		t.Errorf("after list_changed tools = %v, want the 6 and srv__added_later", got)
	}
	if out := mustCall(t, p, user, "srv__added_later", `{}`); out != "late" {
		t.Errorf("added_later = %q", out)
	}
}

func stdioConnector(name string) *engram.Connector {
	exe, _ := os.Executable()
	cfg, _ := json.Marshal(Config{Transport: TransportStdio, Command: exe, Env: map[string]string{serverEnv: "1"}})
	return &engram.Connector{Name: name, Config: cfg}
}

// TestStdio: a stdio server (this test binary, started again) does all a
// server does; it gets the credential as its environment and nothing of
// Engram's own; killed, it is started again on the next call.
func TestStdio(t *testing.T) {
	t.Setenv("ENGRAM_TEST_CANARY", "engram-own-secret")
	conns := &mapConnectors{}
	conns.add(stdioConnector("srv"), map[string]engram.Secret{"": {Fields: map[string]string{"TEST_TOKEN": "tok-shared"}}})
	p, ev := newPool(t, conns)
	p.AllowStdio = true
	exercise(t, p, ev, "ada")

	if out := mustCall(t, p, "ada", "srv__whoami", `{}`); !strings.HasPrefix(out, "who=tok-shared ") {
		t.Errorf("whoami = %q, want the secret's TEST_TOKEN", out)
	}
	env := mustCall(t, p, "ada", "srv__env", `{}`)
	if strings.Contains(env, "engram-own-secret") || !strings.Contains(env, "PATH=") {
		t.Errorf("the server's environment holds Engram's own variables (or lacks PATH):\n%s", env)
	}

	pid, err := strconv.Atoi(mustCall(t, p, "ada", "srv__pid", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, "lost")
	if out := mustCall(t, p, "ada", "srv__echo", `{"text":"again"}`); out != "echo: again" {
		t.Errorf("after the server was killed: %q", out)
	}
	pid2, _ := strconv.Atoi(mustCall(t, p, "ada", "srv__pid", `{}`))
	if pid2 == pid || pid2 == 0 {
		t.Errorf("pid after restart = %d (was %d)", pid2, pid)
	}

	// Close ends the server process.
	p.Close()
	if err := syscall.Kill(pid2, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("after Close the server process %d is still there (kill 0: %v)", pid2, err)
	}
	if _, err := p.Tools(context.Background(), "proj_test", engram.ToolSpec{Type: engram.ToolMCP, Connector: "srv"}, "ada"); engram.ErrorCode(err) != engram.EUnavailable {
		t.Errorf("a closed pool: err = %v", err)
	}
}

// TestStdioOffByDefault: a pool runs no command unless told it may.
func TestStdioOffByDefault(t *testing.T) {
	conns := &mapConnectors{}
	conns.add(stdioConnector("srv"), nil)
	p, _ := newPool(t, conns)
	_, err := p.Tools(context.Background(), "proj_test", engram.ToolSpec{Type: engram.ToolMCP, Connector: "srv"}, "")
	if engram.ErrorCode(err) != engram.EForbidden || !strings.Contains(err.Error(), "ENGRAM_MCP_ALLOW_STDIO") {
		t.Fatalf("err = %v, want EForbidden naming ENGRAM_MCP_ALLOW_STDIO", err)
	}
}

// httpServer serves newTestServer over streamable HTTP on 127.0.0.1,
// refusing requests without a known bearer token, and counts the sessions
// opened.
func httpServer(t *testing.T, tokens ...string) (url string, sessions *atomic.Int64) {
	url, sessions, _ = countingServer(t, tokens...)
	return url, sessions
}

// countingServer is httpServer counting the tools/list requests too.
func countingServer(t *testing.T, tokens ...string) (url string, sessions, listings *atomic.Int64) {
	srv := newTestServer()
	sessions, listings = new(atomic.Int64), new(atomic.Int64)
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(tokens, r.Header.Get("Authorization")) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			var msg struct{ Method string }
			if json.Unmarshal(body, &msg) == nil {
				switch msg.Method {
				case "initialize":
					sessions.Add(1)
				case "tools/list":
					listings.Add(1)
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/mcp", sessions, listings
}

func httpConnector(name, url string, perUser bool) *engram.Connector {
	cfg, _ := json.Marshal(Config{Transport: TransportHTTP, URL: url, AllowPrivate: true})
	return &engram.Connector{Name: name, Config: cfg, PerUser: perUser}
}

// TestHTTP: a streamable HTTP server does all a server does; each user's
// calls carry their own credential's headers, over a session of their own
// that every later call reuses.
func TestHTTP(t *testing.T) {
	url, sessions := httpServer(t, "Bearer ada-token", "Bearer bob-token", "Bearer bob-new")
	conns := &mapConnectors{}
	conns.add(httpConnector("srv", url, true), map[string]engram.Secret{
		"ada": {Headers: map[string]string{"Authorization": "Bearer ada-token"}},
		"bob": {Headers: map[string]string{"Authorization": "Bearer bob-token"}},
	})
	p, ev := newPool(t, conns)
	exercise(t, p, ev, "ada")
	opened := sessions.Load()

	for user, want := range map[string]string{"ada": "Bearer ada-token", "bob": "Bearer bob-token"} {
		for range 2 {
			if out := mustCall(t, p, user, "srv__whoami", `{}`); !strings.HasPrefix(out, "who="+want+" ") {
				t.Errorf("%s's call reached the server as %q, want %q", user, out, want)
			}
		}
	}
	if n := sessions.Load() - opened; n != 1 {
		t.Errorf("%d sessions opened for bob's two calls (and none for ada's), want 1", n)
	}
	if _, err := call(t, p, "cy", "srv__whoami", `{}`); engram.ErrorCode(err) != engram.EForbidden {
		t.Errorf("a user without a credential on a per-user connector: err = %v, want EForbidden", err)
	}

	// A new credential is a new session with the new header.
	conns.add(httpConnector("srv", url, true), map[string]engram.Secret{
		"ada": {Headers: map[string]string{"Authorization": "Bearer ada-token"}},
		"bob": {Headers: map[string]string{"Authorization": "Bearer bob-new"}},
	})
	if out := mustCall(t, p, "bob", "srv__whoami", `{}`); !strings.HasPrefix(out, "who=Bearer bob-new ") {
		t.Errorf("after bob's credential changed: %q", out)
	}

	// A refused credential is a server that cannot be reached.
	conns.add(httpConnector("srv", url, true), map[string]engram.Secret{"ada": {Headers: map[string]string{"Authorization": "Bearer wrong"}}})
	if _, err := p.Tools(context.Background(), "proj_test", engram.ToolSpec{Type: engram.ToolMCP, Connector: "srv"}, "ada"); engram.ErrorCode(err) != engram.EUnavailable {
		t.Errorf("wrong credential: err = %v, want EUnavailable", err)
	}
}

// TestIdleSessionsClose: a session unused for IdleTimeout is closed, and
// the next use opens a new one.
func TestIdleSessionsClose(t *testing.T) {
	url, sessions := httpServer(t, "Bearer t")
	conns := &mapConnectors{}
	conns.add(httpConnector("srv", url, false), map[string]engram.Secret{"": {Headers: map[string]string{"Authorization": "Bearer t"}}})
	p, _ := newPool(t, conns)
	// Runs starting at once share one session.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := p.Tools(context.Background(), "proj_test", engram.ToolSpec{Type: engram.ToolMCP, Connector: "srv"}, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mustCall(t, p, "", "srv__echo", `{"text":"a"}`)
	p.closeIdle(time.Now()) // just used: stays
	mustCall(t, p, "", "srv__echo", `{"text":"b"}`)
	if n := sessions.Load(); n != 1 {
		t.Fatalf("sessions = %d, want 1", n)
	}
	p.closeIdle(time.Now().Add(p.IdleTimeout))
	p.mu.Lock()
	left := len(p.sessions)
	p.mu.Unlock()
	if left != 0 {
		t.Errorf("%d sessions left after the idle sweep", left)
	}
	mustCall(t, p, "", "srv__echo", `{"text":"c"}`)
	if n := sessions.Load(); n != 2 {
		t.Errorf("sessions = %d after an idle close and a call, want 2", n)
	}
}

// TestUnreachable: a server that is not there, a connector that is not
// there or not mcp.
func TestUnreachable(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL + "/mcp"
	ts.Close()
	conns := &mapConnectors{}
	conns.add(httpConnector("down", url, false), nil)
	conns.add(&engram.Connector{Name: "bad", Config: json.RawMessage(`{"transport":"ftp"}`)}, nil)
	conns.add(&engram.Connector{Name: "nocmd", Config: json.RawMessage(`{"transport":"stdio","command":"/nonexistent/mcp-server"}`)}, nil)
	p, _ := newPool(t, conns)
	p.AllowStdio = true
	for _, c := range []struct {
		connector string
		code      string
	}{{"down", engram.EUnavailable}, {"nocmd", engram.EUnavailable}, {"missing", engram.EInvalid}, {"bad", engram.EInvalid}, {"", engram.EInvalid}} {
		_, err := p.Tools(context.Background(), "proj_test", engram.ToolSpec{Type: engram.ToolMCP, Connector: c.connector}, "")
		if engram.ErrorCode(err) != c.code {
			t.Errorf("connector %q: err = %v, want %s", c.connector, err, c.code)
		}
	}
	if _, err := call(t, p, "", "down__echo", `{}`); engram.ErrorCode(err) != engram.EUnavailable {
		t.Errorf("call on a server that is down: err = %v, want EUnavailable", err)
	}
}

// TestListingIsCached: once listed, a server's tools cost no round trip
// (every turn of every run asks for them), until the server says they
// changed.
func TestListingIsCached(t *testing.T) {
	url, _, listings := countingServer(t, "Bearer t")
	conns := &mapConnectors{}
	conns.add(httpConnector("srv", url, false), map[string]engram.Secret{"": {Headers: map[string]string{"Authorization": "Bearer t"}}})
	p, ev := newPool(t, conns)
	spec := engram.ToolSpec{Type: engram.ToolMCP, Connector: "srv"}
	for range 10 {
		if _, err := p.Tools(context.Background(), "proj_test", spec, "ada"); err != nil {
			t.Fatal(err)
		}
	}
	if n := listings.Load(); n != 3 {
		t.Errorf("%d tools/list requests for 10 listings, want 3 (one listing of three pages)", n)
	}
	mustCall(t, p, "ada", grownName, `{}`)
	ev.wait(t, "tools_changed")
	for range 3 {
		if _, err := p.Tools(context.Background(), "proj_test", spec, "ada"); err != nil {
			t.Fatal(err)
		}
	}
	if n := listings.Load(); n != 7 {
		t.Errorf("%d tools/list requests after a change, want 7 (a second listing, now of four pages)", n)
	}
}

// TestStdioPerUser: a per-user stdio connector starts a server per user,
// each with its own credential in its environment.
func TestStdioPerUser(t *testing.T) {
	conns := &mapConnectors{}
	c := stdioConnector("srv")
	c.PerUser = true
	conns.add(c, map[string]engram.Secret{
		"ada": {Fields: map[string]string{"TEST_TOKEN": "ada-token"}},
		"bob": {Headers: map[string]string{"TEST_TOKEN": "bob-token"}},
	})
	p, _ := newPool(t, conns)
	p.AllowStdio = true
	var logs syncBuffer
	p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	pids := map[string]bool{}
	for user, want := range map[string]string{"ada": "ada-token", "bob": "bob-token"} {
		if out := mustCall(t, p, user, "srv__whoami", `{}`); !strings.HasPrefix(out, "who="+want+" ") {
			t.Errorf("%s's server saw %q, want %s", user, out, want)
		}
		pids[mustCall(t, p, user, "srv__pid", `{}`)] = true
	}
	if len(pids) != 2 {
		t.Errorf("two users shared one server process: %v", pids)
	}
	if _, err := call(t, p, "cy", "srv__whoami", `{}`); engram.ErrorCode(err) != engram.EForbidden {
		t.Errorf("a user without a credential: err = %v, want EForbidden", err)
	}
	// What the servers wrote to stderr is in the log, a line each, once
	// they have exited.
	p.Close()
	for _, want := range []string{`line="test server up, token ada-token"`, `line="test server up, token bob-token"`, "mcp_connector=srv"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs.String())
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestHTTPPrivateAddressRefused: an http server at a private address (here
// loopback) is not reached unless its connector says allow_private, as
// http_request refuses such addresses.
func TestHTTPPrivateAddressRefused(t *testing.T) {
	url, sessions := httpServer(t, "")
	cfg, _ := json.Marshal(Config{Transport: TransportHTTP, URL: url})
	conns := &mapConnectors{}
	conns.add(&engram.Connector{Name: "srv", Config: cfg}, nil)
	p, _ := newPool(t, conns)
	_, err := p.Tools(context.Background(), "proj_test", engram.ToolSpec{Type: engram.ToolMCP, Connector: "srv"}, "")
	if engram.ErrorCode(err) != engram.EForbidden || !strings.Contains(err.Error(), "allow_private") {
		t.Errorf("a loopback MCP server without allow_private: %v", err)
	}
	if n := sessions.Load(); n != 0 {
		t.Errorf("the server saw %d sessions", n)
	}
}
