// Package mcp gives runs the tools of MCP servers (Model Context Protocol),
// through the official Go SDK. A server is a project connector of kind mcp:
// a command Engram starts and talks to over stdio, or a streamable HTTP
// endpoint. The Pool keeps one client session per server and credential,
// lists its tools once (and again when the server says they changed), and
// calls them.
package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tool"
)

// Defaults of a Pool's limits.
const (
	DefaultConnectTimeout = 30 * time.Second
	DefaultCallTimeout    = 5 * time.Minute
	DefaultIdleTimeout    = 10 * time.Minute
	DefaultMaxResultBytes = 1 << 20
)

// maxPages bounds the pages of one tool listing, against a server whose
// cursors never end.
const maxPages = 100

// IdempotencyMetaKey is the _meta key of a tools/call request that carries
// the call's idempotency key (stable across retries of the same call), for
// servers that can use it.
const IdempotencyMetaKey = "engram/idempotency_key"

// Pool keeps Engram's client sessions to the projects' MCP servers: one per
// project, connector and credential (on-behalf-of: a connector with a
// credential per user has a session per user). Sessions open on first use,
// are reused by every run, reopen after they are lost, and close after
// IdleTimeout unused and on Close. It implements engram.MCPTools.
type Pool struct {
	Connectors engram.Connectors
	Logger     *slog.Logger
	// HTTPClient makes the requests of streamable HTTP sessions (each
	// gets a copy whose transport adds the credential's headers); nil:
	// http.DefaultClient.
	HTTPClient *http.Client
	// AllowStdio lets connectors start stdio servers: commands run on the
	// Engram host as its user, so it is off unless the operator says so.
	AllowStdio bool
	// ConnectTimeout bounds opening a session and listing its tools;
	// CallTimeout one tool call; IdleTimeout how long an unused session
	// stays open; TerminateWait how long a stdio server has to exit after
	// its stdin closes before it is sent SIGTERM (0: the SDK's 5s).
	ConnectTimeout time.Duration
	CallTimeout    time.Duration
	IdleTimeout    time.Duration
	TerminateWait  time.Duration
	// MaxResultBytes bounds the text of one call's result given to the
	// model (cut with a note).
	MaxResultBytes int

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	stop     chan struct{} // ends the idle sweeper; nil until it starts
	sweeper  sync.WaitGroup

	// observe, when set (tests), hears of a session's tool list changing
	// ("tools_changed") and of a session lost ("lost").
	observe func(event, connector string)
}

var _ engram.MCPTools = (*Pool)(nil)

// New returns a pool that finds connectors and their credentials in conns.
func New(conns engram.Connectors, logger *slog.Logger) *Pool {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pool{Connectors: conns, Logger: logger, ConnectTimeout: DefaultConnectTimeout, CallTimeout: DefaultCallTimeout,
		IdleTimeout: DefaultIdleTimeout, MaxResultBytes: DefaultMaxResultBytes, sessions: map[string]*session{}}
}

// session is the pool's connection to one server with one credential.
type session struct {
	key         string
	connector   string // its name, for messages
	fingerprint string

	mu sync.Mutex // serialises connecting and listing
	cs *sdk.ClientSession
	// tools is the last listing; kept when the session is lost, so a
	// call still finds its tool's name.
	tools  []*sdk.Tool
	listed bool
	// seen is the count of changes the listing reflects; changes counts
	// list_changed notifications and reconnections.
	seen    int64
	changes atomic.Int64
	retired bool

	// Guarded by the pool's mu.
	inFlight int
	lastUsed time.Time
}

// Tools implements engram.MCPTools.
func (p *Pool) Tools(ctx context.Context, projectID string, spec engram.ToolSpec, user string) ([]engram.ToolSpec, error) {
	s, c, rc, err := p.acquire(ctx, projectID, spec.Connector, user)
	if err != nil {
		return nil, err
	}
	defer p.release(s)
	tools, err := p.list(ctx, s, c, rc, false)
	if err != nil {
		return nil, err
	}
	var out []engram.ToolSpec
	for _, t := range tools {
		name := ToolName(spec.Connector, t.Name)
		if len(spec.AllowedTools) > 0 && !slices.Contains(spec.AllowedTools, t.Name) && !slices.Contains(spec.AllowedTools, name) {
			continue
		}
		desc := t.Description
		if desc == "" {
			desc = t.Title
		}
		ts := engram.ToolSpec{Type: engram.ToolMCP, Name: name, Description: desc, Connector: spec.Connector,
			RequireApproval: spec.RequireApproval, Idempotent: spec.Idempotent}
		if t.InputSchema != nil {
			if b, err := json.Marshal(t.InputSchema); err == nil && string(b) != "null" {
				ts.Parameters = b
			}
		}
		out = append(out, ts)
	}
	return out, nil
}

// Call implements engram.MCPTools.
func (p *Pool) Call(ctx context.Context, call engram.ToolCall, spec engram.ToolSpec) (string, error) {
	s, c, rc, err := p.acquire(ctx, call.ProjectID, spec.Connector, call.User)
	if err != nil {
		return "", err
	}
	defer p.release(s)
	name, err := p.serverName(ctx, s, c, rc, spec)
	if err != nil {
		return "", err
	}
	var args any
	if a := call.Arguments; len(a) > 0 && string(a) != "null" {
		var obj map[string]json.RawMessage
		if json.Unmarshal(a, &obj) != nil {
			return "", engram.Errorf(engram.EInvalid, "the arguments of %s must be a JSON object", spec.Name)
		}
		args = a
	}
	cctx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	defer cancel()
	params := &sdk.CallToolParams{Name: name, Arguments: args}
	if call.IdempotencyKey != "" {
		params.Meta = sdk.Meta{IdempotencyMetaKey: call.IdempotencyKey}
	}
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		cs, err := p.connect(ctx, s, c, rc)
		s.mu.Unlock()
		if err != nil {
			return "", err
		}
		res, err := cs.CallTool(cctx, params)
		if err == nil {
			return resultText(res, p.MaxResultBytes), nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var rpc *jsonrpc.Error
		if errors.As(err, &rpc) {
			// The server answered, with an error (an unknown tool, bad
			// arguments): the model reads it and may try again.
			return "", engram.Errorf(engram.EInvalid, "MCP server %q refused the call to %s: %s", s.connector, name, rpc.Message)
		}
		p.drop(s, cs)
		if errors.Is(err, sdk.ErrSessionMissing) && attempt == 0 {
			// The server no longer knows the session (it restarted, or
			// ended it) and said so without acting on the call: once
			// more, on a new session.
			continue
		}
		// The connection failed under the call: whether the server
		// acted on it is unknown. The session is dropped; the next use
		// opens a new one.
		if errors.Is(cctx.Err(), context.DeadlineExceeded) {
			return "", engram.Errorf(engram.EUnavailable, "MCP server %q did not answer the call to %s within %s (whether it acted is unknown)", s.connector, name, p.CallTimeout)
		}
		return "", engram.Errorf(engram.EUnavailable, "MCP server %q was lost during the call to %s (whether it acted is unknown): %v", s.connector, name, err)
	}
}

// serverName is the server's name for the tool spec stands for, from the
// last listing (listed again if the tool is not in it).
func (p *Pool) serverName(ctx context.Context, s *session, c *Config, rc *engram.ResolvedConnector, spec engram.ToolSpec) (string, error) {
	find := func(tools []*sdk.Tool) string {
		for _, t := range tools {
			if ToolName(spec.Connector, t.Name) == spec.Name {
				return t.Name
			}
		}
		return ""
	}
	s.mu.Lock()
	name := find(s.tools)
	s.mu.Unlock()
	if name != "" {
		return name, nil
	}
	tools, err := p.list(ctx, s, c, rc, true)
	if err != nil {
		return "", err
	}
	if name = find(tools); name == "" {
		return "", engram.Errorf(engram.EInvalid, "MCP server %q no longer offers the tool %s", s.connector, spec.Name)
	}
	return name, nil
}

// acquire resolves the connector for user and returns its session (made
// if need be), counted as in use until release.
func (p *Pool) acquire(ctx context.Context, projectID, connector, user string) (*session, *Config, *engram.ResolvedConnector, error) {
	if connector == "" {
		return nil, nil, nil, engram.Errorf(engram.EInvalid, "an mcp tool needs a connector")
	}
	if p.Connectors == nil {
		return nil, nil, nil, engram.Errorf(engram.EUnavailable, "MCP tools need connectors, and none are configured on this server")
	}
	rc, err := p.Connectors.Resolve(ctx, projectID, connector, user)
	if err != nil {
		if engram.ErrorCode(err) == engram.ENotFound {
			return nil, nil, nil, engram.Errorf(engram.EInvalid, "MCP connector %q does not exist in this project", connector)
		}
		return nil, nil, nil, err
	}
	if rc.Connector.Kind != engram.ConnectorMCP {
		return nil, nil, nil, engram.Errorf(engram.EInvalid, "connector %q is of kind %q, not mcp", connector, rc.Connector.Kind)
	}
	c, err := ParseConfig(rc.Connector.Config)
	if err != nil {
		return nil, nil, nil, engram.Errorf(engram.EInvalid, "MCP connector %q: %s", connector, engram.ErrorMessage(err))
	}
	key := projectID + "\x00" + rc.Connector.ID + "\x00" + rc.User
	fp := fingerprint(rc)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, nil, engram.Errorf(engram.EUnavailable, "the server is shutting down")
	}
	s := p.sessions[key]
	if s != nil && s.fingerprint != fp {
		// The connector's config or credential changed: its session is
		// the old one's no more.
		p.retireLocked(s)
		s = nil
	}
	if s == nil {
		s = &session{key: key, connector: connector, fingerprint: fp}
		p.sessions[key] = s
		p.startSweeperLocked()
	}
	s.inFlight++
	s.lastUsed = time.Now()
	return s, c, rc, nil
}

func (p *Pool) release(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.inFlight--
	s.lastUsed = time.Now()
	if s.inFlight == 0 && s.retired {
		go p.closeSession(s)
	}
}

// list returns the session's tools: the cached listing unless the server
// said they changed (or force), else a new one, page by page.
func (p *Pool) list(ctx context.Context, s *session, c *Config, rc *engram.ResolvedConnector, force bool) ([]*sdk.Tool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listed && !force && s.seen == s.changes.Load() {
		return s.tools, nil
	}
	lctx, cancel := context.WithTimeout(ctx, p.ConnectTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		cs, err := p.connect(ctx, s, c, rc)
		if err != nil {
			return nil, err
		}
		seen := s.changes.Load()
		tools, err := listTools(lctx, cs, s.connector)
		if err == nil {
			s.tools, s.listed, s.seen = tools, true, seen
			return tools, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var rpc *jsonrpc.Error
		var own *engram.Error
		if errors.As(err, &own) {
			return nil, err
		}
		if errors.As(err, &rpc) {
			return nil, engram.Errorf(engram.EUpstream, "MCP server %q cannot list its tools: %s", s.connector, rpc.Message)
		}
		// The connection failed: drop it. Listing changes nothing, so it
		// is tried once more on a new session (a server that restarted).
		if s.cs == cs {
			s.cs = nil
			go cs.Close()
		}
		if attempt > 0 || lctx.Err() != nil {
			return nil, engram.Errorf(engram.EUnavailable, "MCP server %q cannot list its tools: %v", s.connector, err)
		}
	}
}

// listTools lists every tool of a session, page by page.
func listTools(ctx context.Context, cs *sdk.ClientSession, connector string) ([]*sdk.Tool, error) {
	var tools []*sdk.Tool
	cursor := ""
	for page := 0; page < maxPages; page++ {
		res, err := cs.ListTools(ctx, &sdk.ListToolsParams{Cursor: cursor})
		if err != nil {
			return nil, err
		}
		tools = append(tools, res.Tools...)
		if res.NextCursor == "" {
			return tools, nil
		}
		cursor = res.NextCursor
	}
	return nil, engram.Errorf(engram.EUpstream, "MCP server %q lists its tools in more than %d pages", connector, maxPages)
}

// connect returns the session's live client session, opening one if it
// has none. s.mu is held.
func (p *Pool) connect(ctx context.Context, s *session, c *Config, rc *engram.ResolvedConnector) (*sdk.ClientSession, error) {
	if s.retired {
		return nil, engram.Errorf(engram.EUnavailable, "MCP server %q: its session is closing", s.connector)
	}
	if s.cs != nil {
		return s.cs, nil
	}
	t, err := p.transport(c, rc)
	if err != nil {
		return nil, err
	}
	var cs *sdk.ClientSession
	client := sdk.NewClient(&sdk.Implementation{Name: "engram", Version: "1"}, &sdk.ClientOptions{
		// Set before Connect: the SDK subscribes to list changes only when
		// a handler is there.
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			s.changes.Add(1)
			p.note("tools_changed", s.connector)
		},
	})
	cctx, cancel := context.WithTimeout(ctx, p.ConnectTimeout)
	defer cancel()
	cs, err = client.Connect(cctx, t, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, tool.ErrForbiddenAddress) {
			// Not a server that is down: one it may not reach, whatever
			// the retries.
			return nil, engram.Errorf(engram.EForbidden, "MCP connector %q: its url is a private address (loopback, private network, link-local), which is refused unless its config says allow_private: true", s.connector)
		}
		return nil, engram.Errorf(engram.EUnavailable, "MCP server %q cannot be reached: %v", s.connector, err)
	}
	s.cs = cs
	// A new session may offer other tools than the one before it.
	s.changes.Add(1)
	go p.watch(s, cs)
	return cs, nil
}

// watch forgets a session the server ended (a stdio server exiting, say),
// so the next use opens a new one.
func (p *Pool) watch(s *session, cs *sdk.ClientSession) {
	_ = cs.Wait()
	s.mu.Lock()
	lost := s.cs == cs
	if lost {
		s.cs = nil
	}
	s.mu.Unlock()
	if lost {
		_ = cs.Close()
		p.Logger.Warn("mcp session lost", "mcp_connector", s.connector)
		p.note("lost", s.connector)
	}
}

// drop closes a session found broken, if it is still the current one.
func (p *Pool) drop(s *session, cs *sdk.ClientSession) {
	s.mu.Lock()
	current := s.cs == cs
	if current {
		s.cs = nil
	}
	s.mu.Unlock()
	if current {
		_ = cs.Close()
	}
}

// retireLocked takes s out of the pool; it closes once no call uses it.
// p.mu is held.
func (p *Pool) retireLocked(s *session) {
	if p.sessions[s.key] == s {
		delete(p.sessions, s.key)
	}
	s.retired = true
	if s.inFlight == 0 {
		go p.closeSession(s)
	}
}

func (p *Pool) closeSession(s *session) {
	s.mu.Lock()
	s.retired = true
	cs := s.cs
	s.cs = nil
	s.mu.Unlock()
	if cs != nil {
		_ = cs.Close()
	}
}

// closeIdle closes the sessions unused since IdleTimeout before now.
func (p *Pool) closeIdle(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sessions {
		if s.inFlight == 0 && now.Sub(s.lastUsed) >= p.IdleTimeout {
			p.retireLocked(s)
		}
	}
}

// startSweeperLocked starts the goroutine that closes idle sessions, once.
func (p *Pool) startSweeperLocked() {
	if p.stop != nil || p.IdleTimeout <= 0 {
		return
	}
	p.stop = make(chan struct{})
	every := max(p.IdleTimeout/4, time.Second)
	p.sweeper.Add(1)
	go func() {
		defer p.sweeper.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				p.closeIdle(now)
			}
		}
	}()
}

// Close closes every session (stdio servers are asked to exit) and
// refuses new ones.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.stop != nil {
		close(p.stop)
	}
	all := make([]*session, 0, len(p.sessions))
	for _, s := range p.sessions {
		all = append(all, s)
	}
	p.sessions = map[string]*session{}
	p.mu.Unlock()
	p.sweeper.Wait()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Go(func() { p.closeSession(s) })
	}
	wg.Wait()
	return nil
}

func (p *Pool) note(event, connector string) {
	if p.observe != nil {
		p.observe(event, connector)
	}
}
