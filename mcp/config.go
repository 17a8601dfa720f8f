package mcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"sync"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tool"
)

// Transports a connector's config may name.
const (
	TransportStdio = "stdio"
	TransportHTTP  = "http"
)

// Config is the config of a connector of kind mcp.
type Config struct {
	// Transport is "stdio" (Engram starts Command with Args and talks to it
	// over its stdin and stdout) or "http" (the streamable HTTP transport
	// at URL).
	Transport string            `json:"transport"`
	Command   string            `json:"command,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	URL       string            `json:"url,omitempty"`
	// AllowPrivate lets an http server's URL be a private address
	// (loopback, RFC 1918, link-local): refused otherwise, as http_request
	// refuses them (see tool.GuardedTransport), so a connector cannot
	// point a session at the host's own services by mistake.
	AllowPrivate bool `json:"allow_private,omitempty"`
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseConfig reads and checks a connector's config. The connector API
// may call it to refuse a bad one when it is written; the pool calls it
// again before every connection.
func ParseConfig(raw json.RawMessage) (*Config, error) {
	var c Config
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, engram.ParamErrorf(engram.EInvalid, "config", "Invalid MCP connector config: %v.", err)
		}
	}
	switch c.Transport {
	case TransportStdio:
		if c.Command == "" {
			return nil, engram.ParamErrorf(engram.EInvalid, "config.command", "An MCP connector with transport 'stdio' needs a 'command'.")
		}
		if c.URL != "" {
			return nil, engram.ParamErrorf(engram.EInvalid, "config.url", "An MCP connector with transport 'stdio' takes no 'url'.")
		}
		for k := range c.Env {
			if !envName.MatchString(k) {
				return nil, engram.ParamErrorf(engram.EInvalid, "config.env", "Invalid environment variable name %q.", k)
			}
		}
	case TransportHTTP:
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, engram.ParamErrorf(engram.EInvalid, "config.url", "An MCP connector with transport 'http' needs an absolute http or https 'url'.")
		}
		if c.Command != "" || len(c.Args) > 0 || len(c.Env) > 0 {
			return nil, engram.ParamErrorf(engram.EInvalid, "config", "An MCP connector with transport 'http' takes no 'command', 'args' or 'env'.")
		}
	default:
		return nil, engram.ParamErrorf(engram.EInvalid, "config.transport", "Invalid MCP transport %q: expected 'stdio' or 'http'.", c.Transport)
	}
	return &c, nil
}

// fingerprint identifies what a session was opened with: a connector
// whose config or credential changes gets a new session.
func fingerprint(rc *engram.ResolvedConnector) string {
	h := sha256.New()
	h.Write(rc.Connector.Config)
	for _, m := range []map[string]string{rc.Secret.Headers, rc.Secret.Fields} {
		h.Write([]byte{0})
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			h.Write([]byte(k + "\x00" + m[k] + "\x00"))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// inheritedEnv are the variables of Engram's own environment a stdio
// server gets: enough to find programs and a home, and nothing else, so
// that Engram's own secrets (master key, database URL, provider keys)
// never reach a server a project registered.
var inheritedEnv = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT"}

// transport builds the SDK transport for a connector: for stdio the
// process (not started yet), for http the client whose requests carry the
// credential's headers.
func (p *Pool) transport(c *Config, rc *engram.ResolvedConnector) (sdk.Transport, error) {
	switch c.Transport {
	case TransportStdio:
		if !p.AllowStdio {
			return nil, engram.Errorf(engram.EForbidden,
				"MCP connector %q runs a command on the Engram host, and stdio MCP servers are disabled on this server (ENGRAM_MCP_ALLOW_STDIO=1 enables them)", rc.Connector.Name)
		}
		cmd := exec.Command(c.Command, c.Args...)
		var env []string
		for _, k := range inheritedEnv {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
		for _, m := range []map[string]string{c.Env, rc.Secret.Fields, rc.Secret.Headers} {
			for k, v := range m {
				if !envName.MatchString(k) {
					return nil, engram.Errorf(engram.EInvalid, "MCP connector %q: its secret's %q is not a valid environment variable name for a stdio server", rc.Connector.Name, k)
				}
				env = append(env, k+"="+v) // later entries win: exec keeps the last of duplicates
			}
		}
		cmd.Env = env
		cmd.Stderr = &lineLogger{logger: p.Logger.With("mcp_connector", rc.Connector.Name, "project", rc.Connector.ProjectID)}
		return &sdk.CommandTransport{Command: cmd, TerminateDuration: p.TerminateWait}, nil
	case TransportHTTP:
		base := p.HTTPClient
		if base == nil {
			private := ""
			if c.AllowPrivate {
				u, _ := url.Parse(c.URL) // checked by ParseConfig
				private = tool.HostPort(u)
			}
			base = &http.Client{Transport: tool.GuardedTransport(p.ConnectTimeout, private)}
		}
		rt := base.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		hc := *base
		hc.Transport = headerTransport{base: rt, headers: rc.Secret.Headers}
		// The SDK retries lost SSE streams itself; a request that cannot
		// connect at all fails at once and the pool reconnects later.
		return &sdk.StreamableClientTransport{Endpoint: c.URL, HTTPClient: &hc, MaxRetries: 2}, nil
	}
	return nil, engram.Errorf(engram.EInvalid, "MCP transport %q", c.Transport)
}

// headerTransport adds a credential's headers to every request of a
// session: the secret never leaves the process any other way.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 {
		r = r.Clone(r.Context())
		for k, v := range t.headers {
			r.Header.Set(k, v)
		}
	}
	return t.base.RoundTrip(r)
}

// lineLogger logs what a stdio server writes to its stderr, a line at a
// time (long lines cut), so a failing server can be diagnosed.
type lineLogger struct {
	logger *slog.Logger
	mu     sync.Mutex
	buf    []byte
}

const maxLogLine = 4096

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) > maxLogLine {
				l.emit(l.buf[:maxLogLine])
				l.buf = l.buf[:0]
			}
			return len(b), nil
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) emit(line []byte) {
	if len(line) > maxLogLine {
		line = line[:maxLogLine]
	}
	l.logger.LogAttrs(context.Background(), slog.LevelInfo, "mcp server stderr", slog.String("line", string(line)))
}

var _ io.Writer = (*lineLogger)(nil)
