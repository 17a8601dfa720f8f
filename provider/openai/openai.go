// Package openai is the provider for OpenAI and every server that speaks
// its API (Ollama, vLLM, llama.cpp): the Responses API, or Chat Completions
// for servers that have only that. It writes the request JSON itself (so
// the mapping is exact and testable) and leaves transport, auth, retries
// with backoff (honouring retry-after) and SSE framing to openai-go.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// Config configures one OpenAI-compatible upstream.
type Config struct {
	Name       string // prefix in model names: "openai", "ollama", "vllm"
	BaseURL    string // e.g. https://api.openai.com/v1; default OpenAI's
	APIKey     string
	API        string        // "responses" (default) or "chat"
	Timeout    time.Duration // one call, retries included; default 120s
	MaxRetries int           // default 3; negative for none
	HTTPClient *http.Client
}

// Provider is an engram.Provider for an OpenAI-compatible upstream.
type Provider struct {
	cfg    Config
	client sdk.Client
}

// New returns a provider for cfg.
func New(cfg Config) *Provider {
	if cfg.Name == "" {
		cfg.Name = "openai"
	}
	if cfg.API == "" {
		cfg.API = "responses"
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
	opts := []option.RequestOption{option.WithAPIKey(cfg.APIKey), option.WithMaxRetries(cfg.MaxRetries), option.WithMiddleware(noHopelessRetry)}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &Provider{cfg: cfg, client: sdk.NewClient(opts...)}
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

	var body []byte
	var path string
	var err error
	if p.cfg.API == "chat" {
		path = "chat/completions"
		body, err = json.Marshal(chatRequest(req))
	} else {
		path = "responses"
		body, err = json.Marshal(responsesRequest(req))
	}
	if err != nil {
		return nil, err
	}
	var resp *http.Response
	err = p.client.Post(callCtx, path, json.RawMessage(body), &resp)
	if err != nil {
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
	var res *engram.ModelResult
	if p.cfg.API == "chat" {
		res, err = readChatStream(dec, emit)
	} else {
		res, err = readResponsesStream(dec, emit)
	}
	if err != nil {
		return nil, p.upstreamError(ctx, callCtx, err)
	}
	return res, nil
}

// modelsTimeout bounds a listing of the upstream's models: GET /v1/models
// asks every provider at once and must not wait on one that is down.
const modelsTimeout = 5 * time.Second

// Models implements engram.ModelLister with the upstream's GET /models,
// which OpenAI, Ollama, vLLM and llama.cpp all serve. It does not retry:
// a listing is cheap to ask again, and an absent local server (Ollama is
// registered whether it runs or not) must fail at once.
func (p *Provider) Models(ctx context.Context) ([]string, error) {
	callCtx, cancel := context.WithTimeout(ctx, min(p.cfg.Timeout, modelsTimeout))
	defer cancel()
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := p.client.Get(callCtx, "models", nil, &list, option.WithMaxRetries(0)); err != nil {
		return nil, p.upstreamError(ctx, callCtx, err)
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// upstreamError maps a failed call to the domain (see provider.CallError).
func (p *Provider) upstreamError(ctx, callCtx context.Context, err error) error {
	status, msg := 0, ""
	var apiErr *sdk.Error
	if errors.As(err, &apiErr) {
		status, msg = apiErr.StatusCode, apiErr.Message
	}
	return provider.CallError(ctx, callCtx, p.cfg.Name, p.cfg.Timeout, status, msg, err)
}

// noHopelessRetry stops the SDK from sleeping through a Retry-After that
// ends past the call's deadline: the answer would be a timeout, later, when
// it is really the upstream's rate limit (or outage), now.
func noHopelessRetry(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err == nil && provider.HopelessRetry(req, res) {
		res.Header.Set("X-Should-Retry", "false")
	}
	return res, err
}

// streamBroken is the error of a stream that is malformed or ends early.
func streamBroken(format string, args ...any) error {
	return engram.Errorf(engram.EUpstream, "malformed stream: "+format, args...)
}

func toolSchema(t engram.ToolSpec) json.RawMessage {
	if len(t.Parameters) > 0 {
		return t.Parameters
	}
	return json.RawMessage(`{"type":"object","properties":{}}`)
}

// CheckInput implements provider.InputChecker: what the upstream's API has
// no place for is refused rather than dropped. Chat Completions carries no
// files and no reasoning items; the Responses API decrypts only OpenAI's
// own reasoning.
func (p *Provider) CheckInput(items []*engram.Item) error {
	for i, it := range items {
		switch it.Type {
		case engram.ItemReasoning:
			if it.EncryptedContent == "" {
				continue // a summary only: nothing the model reads again
			}
			if p.cfg.API == "chat" {
				return provider.Unreadable(p.cfg.Name, i, "a reasoning item with encrypted_content, which Chat Completions cannot carry; leave it out")
			}
			if !provider.OpenAIReasoning(it.EncryptedContent) {
				return provider.Unreadable(p.cfg.Name, i, "a reasoning item made by another provider's model (its encrypted_content is not OpenAI's); leave it out, or continue with that provider's model")
			}
		case engram.ItemMessage:
			if p.cfg.API != "chat" {
				continue
			}
			for _, c := range it.Content {
				switch {
				case c.Type == engram.ContentInputFile:
					return provider.Unreadable(p.cfg.Name, i, "input_file parts are not supported with Chat Completions upstreams; send the text instead")
				case c.Type == engram.ContentInputImage && c.ImageURL == "":
					return provider.Unreadable(p.cfg.Name, i, "an input_image needs an image_url (a URL or a data: URL) with Chat Completions upstreams; file ids are not readable there")
				}
			}
		}
	}
	return nil
}
