package tool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/engram-run/engram"
)

// HTTPRequestName is the built-in tool that calls HTTP APIs for the model.
const HTTPRequestName = "http_request"

// Limits of http_request, unless its HTTPRequest says otherwise.
const (
	DefaultHTTPRequestTimeout   = 10 * time.Second
	DefaultMaxHTTPResponseBytes = 1 << 20
	DefaultMaxHTTPRequestBytes  = 1 << 20
	maxHTTPRedirects            = 5
)

// HTTPRequest is the http_request built-in: the model calls an HTTP API, on
// the hosts its agent allows (allowed_hosts, and its connector's base_url
// host), never an address off the public internet (loopback, private,
// link-local and cloud metadata, …) unless its connector says
// allow_private, and then only that connector's host. Through a connector,
// relative URLs are resolved against its base_url and the credential
// headers of the user the run acts for are added, on that host only: the
// model never sees them. Every redirect hop is checked again.
type HTTPRequest struct {
	// Connectors resolves the agent's connector; nil: agents may not name one.
	Connectors engram.Connectors
	// Def is the agent's declaration of the tool (its connector and allowed
	// hosts): set by WithSpec for each call.
	Def engram.ToolSpec
	// Timeout bounds a whole call, redirects included; MaxResponseBytes
	// the body the model reads (the rest is cut, with a note);
	// MaxRequestBytes the body the model may send. Zero: the defaults.
	Timeout          time.Duration
	MaxResponseBytes int64
	MaxRequestBytes  int64

	// allowAddr, in tests, admits one server's loopback address as if it
	// were public, so the guard can be tested on loopback alone.
	allowAddr func(netip.AddrPort) bool
}

// SpecBound is a built-in tool that acts on the agent's declaration of it
// (its connector, its allowed hosts): the runtime calls WithSpec with that
// declaration and calls the tool it returns.
type SpecBound interface {
	WithSpec(engram.ToolSpec) engram.Tool
}

// WithSpec implements SpecBound.
func (h *HTTPRequest) WithSpec(spec engram.ToolSpec) engram.Tool {
	c := *h
	c.Def = spec
	return &c
}

// Spec implements engram.Tool. Bound to an agent's declaration, its
// description tells the model which hosts it may call.
func (h *HTTPRequest) Spec() engram.ToolSpec {
	desc := "Makes an HTTP request and returns the status, content type and body (text, cut at 1 MiB). " +
		"Only the hosts this agent is allowed to reach answer; a relative url goes to the agent's connector."
	if len(h.Def.AllowedHosts) > 0 {
		desc += " Allowed hosts: " + strings.Join(h.Def.AllowedHosts, ", ") + "."
	}
	if h.Def.Connector != "" {
		desc += " Relative urls go to the connector " + h.Def.Connector + ", which adds its credentials."
	}
	return engram.ToolSpec{
		Type:         engram.ToolBuiltin,
		Name:         HTTPRequestName,
		Connector:    h.Def.Connector,
		AllowedHosts: h.Def.AllowedHosts,
		Description:  desc,
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"method":{"type":"string","enum":["GET","HEAD","POST","PUT","PATCH","DELETE"],"description":"default GET"},` +
			`"url":{"type":"string","description":"absolute http(s) URL, or a path relative to the agent's connector"},` +
			`"headers":{"type":"object","additionalProperties":{"type":"string"}},` +
			`"body":{"type":"string","description":"request body (e.g. JSON text)"}},` +
			`"required":["url"],"additionalProperties":false}`),
	}
}

type httpRequestArgs struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// httpRequestResult is what the model reads.
type httpRequestResult struct {
	Status      int    `json:"status"`
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body"`
	Truncated   bool   `json:"truncated,omitempty"`
	Note        string `json:"note,omitempty"`
}

// headers the model may not set: the transport owns them.
var reservedHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer", "Proxy-Authorization", "Proxy-Connection"}

func forbidden(format string, args ...any) error {
	return engram.Errorf(engram.EForbidden, "http_request: "+format, args...)
}

// route is where a call may go: the hosts it may reach, and the
// connector's host, credential and private-address allowance.
type route struct {
	allowed      []string
	base         *url.URL // the connector's base_url, or nil
	headers      map[string]string
	allowPrivate bool
}

// connectorHTTPConfig is an http connector's config.
type connectorHTTPConfig struct {
	BaseURL      string `json:"base_url"`
	AllowPrivate bool   `json:"allow_private"`
}

func (h *HTTPRequest) route(ctx context.Context, call engram.ToolCall) (*route, error) {
	rt := &route{allowed: h.Def.AllowedHosts}
	if h.Def.Connector == "" {
		return rt, nil
	}
	if h.Connectors == nil {
		return nil, engram.Errorf(engram.EUnavailable, "http_request: connectors are not configured on this server")
	}
	rc, err := h.Connectors.Resolve(ctx, call.ProjectID, h.Def.Connector, call.User)
	if err != nil {
		if code := engram.ErrorCode(err); code == engram.EForbidden || code == engram.ENotFound {
			return nil, engram.Errorf(engram.EForbidden, "http_request: %s", engram.ErrorMessage(err))
		}
		return nil, err
	}
	if rc.Connector.Kind != engram.ConnectorHTTP {
		return nil, forbidden("connector %s is of kind %s, not http", rc.Connector.Name, rc.Connector.Kind)
	}
	var cfg connectorHTTPConfig
	if len(rc.Connector.Config) > 0 {
		if err := json.Unmarshal(rc.Connector.Config, &cfg); err != nil {
			return nil, engram.Errorf(engram.EInternal, "http_request: connector %s has a bad config: %v", rc.Connector.Name, err)
		}
	}
	if cfg.BaseURL != "" {
		if rt.base, err = url.Parse(cfg.BaseURL); err != nil || rt.base.Host == "" {
			return nil, engram.Errorf(engram.EInternal, "http_request: connector %s has a bad base_url", rc.Connector.Name)
		}
	}
	rt.headers = rc.Secret.Headers
	rt.allowPrivate = cfg.AllowPrivate && rt.base != nil
	return rt, nil
}

// connectorHost reports whether u is on the connector's host (scheme,
// host and port): the only place its credential and its private-address
// allowance go.
func (rt *route) connectorHost(u *url.URL) bool {
	return rt.base != nil && strings.EqualFold(u.Scheme, rt.base.Scheme) && strings.EqualFold(u.Host, rt.base.Host)
}

// check refuses a URL the call may not reach.
func (rt *route) check(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return forbidden("only http and https URLs may be requested, not %q", u.Scheme)
	}
	if u.Host == "" {
		return forbidden("the URL %q has no host", u.Redacted())
	}
	if u.User != nil {
		return forbidden("URLs with credentials in them are not allowed")
	}
	if rt.connectorHost(u) || hostAllowed(rt.allowed, u) {
		return nil
	}
	return forbidden("host %s is not in this agent's allowed_hosts", u.Host)
}

// hostPattern is an allowed_hosts entry: a host name or IP literal,
// optionally with a port, or "*." and a domain.
var hostPattern = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?(:[0-9]{1,5})?$|^\[[0-9a-f:.]+\](:[0-9]{1,5})?$`)

// CheckAllowedHosts refuses an allowed_hosts entry that could never match
// (a URL, a path, a wildcard elsewhere than in front).
func CheckAllowedHosts(patterns []string) error {
	for _, p := range patterns {
		if !hostPattern.MatchString(strings.ToLower(strings.TrimSpace(p))) {
			return engram.Errorf(engram.EInvalid, "allowed_hosts entry %q is not a host (api.example.com), host:port or *.domain", p)
		}
	}
	return nil
}

// hostAllowed matches u's host against patterns: "api.example.com" (any
// port), "api.example.com:8443", "*.example.com" (its subdomains, not
// itself).
func hostAllowed(patterns []string, u *url.URL) bool {
	host, hostPort := strings.ToLower(u.Hostname()), strings.ToLower(u.Host)
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
			p = p[1 : len(p)-1] // an IPv6 literal without a port: any port
		}
		switch {
		case p == "":
		case strings.HasPrefix(p, "*."):
			if strings.HasSuffix(host, p[1:]) && len(host) > len(p)-1 {
				return true
			}
		case p == host, p == hostPort:
			return true
		}
	}
	return false
}

// client makes a client for one call: its dials are guarded (but for the
// connector's host when it allows private addresses) and redirects are
// left to Call, which checks each hop.
func (h *HTTPRequest) client(rt *route, timeout time.Duration) *http.Client {
	private := ""
	if rt.allowPrivate {
		private = HostPort(rt.base)
	}
	return &http.Client{
		Transport:     guardedTransport(timeout, private, h.allowAddr),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// GuardedTransport is an HTTP transport for a tool's outbound calls: it
// dials public addresses only (see PublicAddress; checked on the address
// actually dialled), except privateHostPort ("host:port" as dialled, ""
// for none), which may be private: a connector's own host when its config
// says allow_private. It uses no proxy. Redirects are the client's to
// check (each hop's dial is guarded again). Other tools (object storage,
// MCP over HTTP) can give it to their clients.
func GuardedTransport(timeout time.Duration, privateHostPort string) *http.Transport {
	return guardedTransport(timeout, privateHostPort, nil)
}

func guardedTransport(timeout time.Duration, privateHostPort string, allowAddr func(netip.AddrPort) bool) *http.Transport {
	guarded := guardedDialer(timeout, allowAddr).DialContext
	open := (&net.Dialer{Timeout: timeout}).DialContext
	var dial dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if privateHostPort != "" && strings.EqualFold(addr, privateHostPort) {
			return open(ctx, network, addr)
		}
		return guarded(ctx, network, addr)
	}
	return &http.Transport{
		Proxy:               nil, // a proxy would be what the guard sees
		DialContext:         dial,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: timeout,
		MaxIdleConns:        1,
	}
}

// HostPort is u's host with its port, as a transport dials it.
func HostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// Call implements engram.Tool.
func (h *HTTPRequest) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	var args httpRequestArgs
	dec := json.NewDecoder(bytes.NewReader(call.Arguments))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return "", engram.Errorf(engram.EInvalid, "http_request: arguments must be a JSON object {method, url, headers, body}: %v", err)
	}
	method := strings.ToUpper(args.Method)
	if method == "" {
		method = http.MethodGet
	}
	if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}, method) {
		return "", engram.Errorf(engram.EInvalid, "http_request: method %q is not one of GET, HEAD, POST, PUT, PATCH, DELETE", args.Method)
	}
	maxReq := orDefault(h.MaxRequestBytes, DefaultMaxHTTPRequestBytes)
	if int64(len(args.Body)) > maxReq {
		return "", engram.Errorf(engram.EInvalid, "http_request: the body is %d bytes, over the limit of %d", len(args.Body), maxReq)
	}
	for k := range args.Headers {
		if slices.ContainsFunc(reservedHeaders, func(r string) bool { return strings.EqualFold(r, k) }) {
			return "", engram.Errorf(engram.EInvalid, "http_request: header %s may not be set", k)
		}
	}
	rt, err := h.route(ctx, call)
	if err != nil {
		return "", err
	}
	target, err := url.Parse(args.URL)
	if err != nil {
		return "", engram.Errorf(engram.EInvalid, "http_request: bad url: %v", err)
	}
	if !target.IsAbs() {
		if rt.base == nil {
			return "", engram.Errorf(engram.EInvalid, "http_request: the url %q is relative and this agent has no connector to resolve it against", args.URL)
		}
		target = rt.base.ResolveReference(target)
	}

	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHTTPRequestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := h.client(rt, timeout)
	defer client.CloseIdleConnections()

	body := args.Body
	var resp *http.Response
	for hop := 0; ; hop++ {
		if err := rt.check(target); err != nil {
			if hop > 0 {
				return "", forbidden("refused a redirect to %s: %s", target.Redacted(), strings.TrimPrefix(engram.ErrorMessage(err), "http_request: "))
			}
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, method, target.String(), strings.NewReader(body))
		if err != nil {
			return "", engram.Errorf(engram.EInvalid, "http_request: %v", err)
		}
		if body == "" {
			req.Body, req.ContentLength = nil, 0
		}
		for k, v := range args.Headers {
			req.Header.Set(k, v)
		}
		if req.Header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", "engram-http-request")
		}
		// The credential goes to the connector's host only, and wins over
		// any header of the same name the model wrote.
		if rt.connectorHost(target) {
			for k, v := range rt.headers {
				req.Header.Set(k, v)
			}
		}
		resp, err = client.Do(req)
		if err != nil {
			return "", h.transportError(ctx, method, target, timeout, err)
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || resp.StatusCode == http.StatusNotModified || loc == "" {
			break
		}
		resp.Body.Close()
		if hop+1 > maxHTTPRedirects {
			return "", engram.Errorf(engram.EInvalid, "http_request: more than %d redirects", maxHTTPRedirects)
		}
		next, err := target.Parse(loc)
		if err != nil {
			return "", engram.Errorf(engram.EInvalid, "http_request: a bad redirect location %q", loc)
		}
		// As browsers do: 301, 302 and 303 turn a POST into a GET
		// without a body; 307 and 308 repeat the request.
		if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect && method != http.MethodHead {
			method, body = http.MethodGet, ""
		}
		target = next
	}
	defer resp.Body.Close()

	maxResp := orDefault(h.MaxResponseBytes, DefaultMaxHTTPResponseBytes)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResp+1))
	if err != nil {
		return "", h.transportError(ctx, method, target, timeout, err)
	}
	out := httpRequestResult{Status: resp.StatusCode, URL: target.Redacted(), ContentType: resp.Header.Get("Content-Type")}
	if int64(len(data)) > maxResp {
		data = data[:maxResp]
		out.Truncated = true
		out.Note = fmt.Sprintf("the body was cut at %d bytes", maxResp)
	}
	out.Body = strings.ToValidUTF8(string(data), "\uFFFD")
	b, _ := json.Marshal(out)
	return string(b), nil
}

// transportError says why a request got no answer. A refused address is
// EForbidden; the rest (timeouts, refused connections, unknown hosts) is
// shown to the model, which may try something else.
func (h *HTTPRequest) transportError(ctx context.Context, method string, u *url.URL, timeout time.Duration, err error) error {
	if errors.Is(err, ErrForbiddenAddress) {
		return forbidden("%s resolves to an address off the public internet (loopback, private, link-local or metadata), which is not allowed", u.Host)
	}
	var te interface{ Timeout() bool }
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout()) {
		return engram.Errorf(engram.EInvalid, "http_request: %s %s: no answer within %s", method, u.Redacted(), timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return engram.Errorf(engram.EInvalid, "http_request: %s %s failed: %v", method, u.Redacted(), err)
}

func orDefault(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}
