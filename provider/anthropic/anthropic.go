// Package anthropic is the provider for Anthropic's Messages API. It writes
// the request JSON itself, placing cache_control breakpoints on the stable
// head of the prompt (tools, then the system prompt) and on the end of the
// conversation, so Anthropic's prompt cache serves both the head and the
// history on the next turn, and leaves transport, auth, retries with
// backoff (honouring retry-after) and SSE framing to anthropic-sdk-go.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"
	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider"
)

// Config configures the Anthropic upstream.
type Config struct {
	Name             string // prefix in model names; default "anthropic"
	BaseURL          string // without /v1, as ANTHROPIC_BASE_URL is
	APIKey           string
	Timeout          time.Duration // one call, retries included; default 120s
	MaxRetries       int           // default 3; negative for none
	HTTPClient       *http.Client
	DefaultMaxTokens int // Anthropic requires max_tokens; default 4096
}

// Provider is an engram.Provider for Anthropic.
type Provider struct {
	cfg    Config
	client anthropic.Client
}

// New returns a provider for cfg.
func New(cfg Config) *Provider {
	if cfg.Name == "" {
		cfg.Name = "anthropic"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 120 * time.Second
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 3
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.DefaultMaxTokens == 0 {
		cfg.DefaultMaxTokens = 4096
	}
	opts := []option.RequestOption{
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(cfg.MaxRetries),
		option.WithMiddleware(giveUpOnLongRetryAfter),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &Provider{cfg: cfg, client: anthropic.NewClient(opts...)}
}

// Name implements engram.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// Generate implements engram.Provider.
func (p *Provider) Generate(ctx context.Context, req *engram.ModelRequest, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	if emit == nil {
		emit = func(engram.ModelEvent) {}
	}
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	body, err := json.Marshal(messagesRequest(req, p.cfg.DefaultMaxTokens))
	if err != nil {
		return nil, err
	}
	var resp *http.Response
	if err := p.client.Post(callCtx, "v1/messages", json.RawMessage(body), &resp); err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, p.upstreamError(ctx, callCtx, err)
	}
	dec := ssestream.NewDecoder(resp)
	if dec == nil {
		return nil, engram.Errorf(engram.EUpstream, "%s: empty response", p.cfg.Name)
	}
	defer dec.Close()
	res, err := readStream(callCtx, dec, emit)
	if err != nil {
		return nil, p.upstreamError(ctx, callCtx, err)
	}
	return res, nil
}

// upstreamError maps a failed call to the domain (see provider.CallError).
func (p *Provider) upstreamError(ctx, callCtx context.Context, err error) error {
	status, msg := 0, ""
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		status, msg = apiErr.StatusCode, errorMessage(apiErr.RawJSON())
	}
	return provider.CallError(ctx, callCtx, p.cfg.Name, p.cfg.Timeout, status, msg, err)
}

// giveUpOnLongRetryAfter stops the SDK's retries when the upstream asks for
// a wait that outlasts the call's deadline (see provider.HopelessRetry);
// x-should-retry is the SDK's own switch for that.
func giveUpOnLongRetryAfter(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err == nil && provider.HopelessRetry(req, res) {
		res.Header.Set("X-Should-Retry", "false")
	}
	return res, err
}

// errorMessage reads Anthropic's {"type":"error","error":{"type","message"}}.
func errorMessage(raw string) string {
	var body struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(raw), &body) != nil || body.Error.Message == "" {
		return strings.TrimSpace(raw)
	}
	return body.Error.Type + ": " + body.Error.Message
}

func streamBroken(format string, args ...any) error {
	return engram.Errorf(engram.EUpstream, "malformed stream: "+format, args...)
}
